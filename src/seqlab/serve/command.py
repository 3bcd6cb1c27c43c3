"""The ``seqlab serve`` command: load model directories once and serve them over HTTP (FastAPI on uvicorn).

Quick start (CPU)::

    pip install -e ".[serve]"
    seqlab serve runs/imdb-bag runs/de-en                      # http://127.0.0.1:8000 (the page), /docs (the API)
    seqlab serve bag=runs/imdb-bag --max-batch 64 --max-wait-ms 5 --max-queue 1024 --timeout 30
    SEQLAB_API_KEY=secret seqlab serve runs/imdb-bag --host 0.0.0.0   # listening beyond this machine: use a key

Without the ``seqlab`` CLI wiring, ``python -m seqlab.serve ...`` takes the same arguments.
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import logging
import os
import signal
import socket
import sys
import threading
from contextlib import contextmanager

from seqlab.commandline import add_runtime_options
from seqlab.errors import SeqlabError

from .limits import ServeLimits

DEFAULTS = ServeLimits()


def add_serve_command(subparsers) -> argparse.ArgumentParser:
    """Add ``serve`` to a subparsers object (``parser.add_subparsers()``); it calls :func:`cmd_serve`."""
    p = subparsers.add_parser("serve", help="serve model directories over HTTP (pip install 'seqlab[serve]')",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="+", metavar="MODEL_DIR|NAME=DIR",
                   help="model directories; each is served as /v1/models/NAME (default NAME: the directory's name)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: this machine only; 0.0.0.0 for every interface)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--api-key", default=None,
                   help="require 'Authorization: Bearer KEY' on every route but /health (default: $SEQLAB_API_KEY)")
    p.add_argument("--max-batch", type=int, default=DEFAULTS.max_batch,
                   help=f"texts per model call (1 turns batching off; default {DEFAULTS.max_batch})")
    p.add_argument("--max-wait-ms", type=float, default=DEFAULTS.max_wait_ms,
                   help=f"how long a request may wait for others to batch with (default {DEFAULTS.max_wait_ms:g})")
    p.add_argument("--max-queue", type=int, default=DEFAULTS.max_queue,
                   help=f"texts waiting per model before 503 (default {DEFAULTS.max_queue})")
    p.add_argument("--timeout", type=float, default=DEFAULTS.timeout,
                   help=f"seconds a request may take in the queue and the model before 504 (default {DEFAULTS.timeout:g})")
    p.add_argument("--max-texts", type=int, default=DEFAULTS.max_texts,
                   help=f"texts per request (default {DEFAULTS.max_texts})")
    p.add_argument("--max-chars", type=int, default=DEFAULTS.max_chars,
                   help=f"characters per text (default {DEFAULTS.max_chars})")
    p.add_argument("--max-body", type=int, default=DEFAULTS.max_body,
                   help=f"bytes per request body (default {DEFAULTS.max_body})")
    add_runtime_options(p)  # --device, --precision, --threads (shared by the models; default $OMP_NUM_THREADS or all cores)
    p.add_argument("--no-warmup", action="store_true", help="skip the warm-up call each model gets after loading")
    p.add_argument("--access-log", action="store_true", help="log every request (costs throughput)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.set_defaults(func=cmd_serve)
    return p


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _say(message: str) -> None:
    print(f"seqlab serve: {message}", file=sys.stderr, flush=True)


def bind(host: str, port: int) -> socket.socket:
    """The listening address, taken now (before the models load, which can take minutes) and handed to uvicorn: a
    busy port is one ``seqlab: error:`` line at once, not a traceback after the loading."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)  # as uvicorn binds one
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port in TIME_WAIT is free; a listening one is not
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        why = "the port is in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
        raise SeqlabError(f"cannot listen on {host}:{port}: {why} (--host, --port)") from None
    except (OverflowError, TypeError, ValueError):  # a port outside 0-65535, a host that is no address
        sock.close()
        raise SeqlabError(f"cannot listen on {host}:{port}: not an address and port (--host, --port)") from None
    sock.set_inheritable(True)
    return sock


def _server_class():
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, but a SIGTERM it drained cleanly ends the process with status 0: uvicorn raises the
        signal again once it has shut down, and the process then dies of it (status -15). Ctrl+C (SIGINT) still
        ends as an interrupt, once drained."""

        interrupted = False

        def handle_exit(self, sig, frame) -> None:
            self.interrupted = self.interrupted or sig == signal.SIGINT
            super().handle_exit(sig, frame)

        @contextmanager
        def capture_signals(self):
            if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
                yield
                return
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
            if self.interrupted:
                raise KeyboardInterrupt

    return Server


def cmd_serve(args: argparse.Namespace, _extra: dict | None = None) -> int:
    try:
        import fastapi  # noqa: F401
        import prometheus_client  # noqa: F401
        import uvicorn
    except ImportError:
        raise SeqlabError("'seqlab serve' needs the serve extra: pip install 'seqlab[serve]'") from None
    from seqlab.runtime import set_threads

    from .app import create_app
    from .loading import load_models, parse_specs

    limits = ServeLimits(max_batch=args.max_batch, max_wait_ms=args.max_wait_ms, max_queue=args.max_queue,
                         timeout=args.timeout, max_texts=args.max_texts, max_chars=args.max_chars,
                         max_body=args.max_body).validate()
    parse_specs(args.models)  # names checked before anything is loaded
    api_key = args.api_key or os.environ.get("SEQLAB_API_KEY") or None
    if not _is_loopback(args.host) and api_key is None:
        _say(f"warning: listening on {args.host} without an API key: anyone who reaches this port can use the models")
    sock = bind(args.host, args.port)
    try:
        # one pool of intra-op threads for all models (requests arrive in parallel already; they share the cores)
        set_threads(args.threads)
        models = load_models(args.models, device=args.device, warmup=not args.no_warmup, log=_say,
                             precision=args.precision)
        app = create_app(models, limits, api_key=api_key)
    except BaseException:
        sock.close()
        raise
    logging.getLogger("seqlab.serve").setLevel(args.log_level.upper())
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level=args.log_level,
                            access_log=args.access_log, timeout_graceful_shutdown=int(limits.timeout + 5))
    port = sock.getsockname()[1]  # the one bound (--port 0: a free one)
    _say(f"serving {', '.join(m.name for m in models)} on http://{args.host}:{port} (page: /, API: /docs); "
         f"{'API key required' if api_key else 'no API key'}")
    server = _server_class()(config)
    server.run(sockets=[sock])  # SIGTERM/SIGINT: stop accepting, finish open requests, drain the batchers
    return 0
