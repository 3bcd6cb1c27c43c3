"""The translator's part of the server's page: ``page.js`` with the attention view inlined (no web framework needed)."""

from __future__ import annotations


def page_script() -> str:
    """``page.js`` with :mod:`seqlab.attention_view`'s style and script inlined: the page shows a translation's
    attention in the very view that ``seqlab translate --attention out.html`` writes."""
    from importlib.resources import files

    from seqlab import attention_view
    from seqlab.serve.page import js_string

    script = files(__package__).joinpath("page.js").read_text(encoding="utf-8")
    return (script.replace('"/*ATTENTION_STYLE*/"', js_string(attention_view.STYLE))
                  .replace('"/*ATTENTION_SCRIPT*/"', js_string(attention_view.SCRIPT)))
