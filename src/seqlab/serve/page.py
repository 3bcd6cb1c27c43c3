"""The web page at ``/``: one self-contained HTML file (``page.html``: inline style and script, no CDN, no network).

The translation attention view is the translation task's own (:mod:`seqlab.attention_view`): its style and script
are put into the page here, and the page runs them in an iframe per translation, exactly as in the HTML file that
``seqlab translate --attention out.html`` writes.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib.resources import files


def _js_string(text: str) -> str:
    """A JavaScript string literal that cannot end the page's <script> element."""
    return json.dumps(text).replace("</", "<\\/")


@lru_cache(maxsize=1)
def page_html() -> str:
    from seqlab import attention_view

    page = files("seqlab.serve").joinpath("page.html").read_text(encoding="utf-8")
    return (page.replace('"/*ATTENTION_STYLE*/"', _js_string(attention_view._STYLE))
                .replace('"/*ATTENTION_SCRIPT*/"', _js_string(attention_view._SCRIPT)))
