"""``seqlab serve``: an HTTP server for model directories, with dynamic micro-batching, metrics, limits and a page.

Modules, one job each: :mod:`.command` (the CLI command), :mod:`.app` (FastAPI app and routes),
:mod:`.handlers` (one handler per task route), :mod:`.batcher` (dynamic micro-batching), :mod:`.limits` (the limits)
and :mod:`.guards` (enforcing them), :mod:`.errors` (JSON errors), :mod:`.metrics` (Prometheus), :mod:`.schemas`
(request/response models), :mod:`.loading` (model directories), :mod:`.page` (the web page).

Importing this package needs nothing beyond seqlab itself; FastAPI, uvicorn and prometheus-client
(``pip install 'seqlab[serve]'``) are imported when a server is built.
"""

from .command import add_serve_command, cmd_serve

__all__ = ["add_serve_command", "cmd_serve"]
