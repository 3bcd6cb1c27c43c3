"""The web page at ``/``: one self-contained HTML file (inline style and script, no CDN, no network).

The core, ``page.html``, knows no task: the model list, the API key form, the submit handler and the helpers it
hands to the tasks as ``window.seqlab`` (``el``, ``postJSON``, ``numberOption``, ...). Each registered task adds its
own part, a script that calls ``seqlab.register(task, {placeholder, options, run, ...})``: its ``serve.py``'s
``page_script()`` when it defines one, else its package's ``page.js``; a task with neither has no part, and the page
says it cannot show its models. Adding a task's part of the page touches nothing here.
"""

from __future__ import annotations

import html
import json
import re
from functools import lru_cache
from importlib.resources import files

TASK_SCRIPTS = "<!--TASK_SCRIPTS-->"  # where page.html takes the tasks' scripts
# what would end a <script> element early, or make the browser look for its end elsewhere
_UNSAFE = re.compile(r"</script|<!--", re.IGNORECASE)


def js_string(text: str) -> str:
    """A JavaScript string literal of ``text`` that is safe inside a <script> element (every ``<`` is ``\\u003c``)."""
    return json.dumps(text).replace("<", "\\u003c")


def task_scripts() -> dict[str, str]:
    """Each registered task's part of the page, by task name (tasks without one are left out)."""
    import seqlab.tasks  # noqa: F401  (registers the built-in tasks)
    from seqlab.tasks.base import TASKS

    scripts = {}
    for spec in TASKS.values():
        if spec.page_script is not None:
            script = spec.page_script()
        else:
            resource = files(spec.package).joinpath("page.js")
            if not resource.is_file():
                continue
            script = resource.read_text(encoding="utf-8")
        if _UNSAFE.search(script):
            raise RuntimeError(f"the page script of task {spec.name!r} holds '</script' or '<!--', which would break "
                               "the page: write them '<\\/script' and '<\\!--' in a string (or use js_string)")
        scripts[spec.name] = script
    return scripts


@lru_cache(maxsize=1)
def page_html() -> str:
    page = files("seqlab.serve").joinpath("page.html").read_text(encoding="utf-8")
    parts = "\n".join(f'<script data-task="{html.escape(name)}">\n{script.strip()}\n</script>'
                      for name, script in task_scripts().items())
    return page.replace(TASK_SCRIPTS, parts)
