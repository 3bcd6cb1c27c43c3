"""Switchable text cleaning, applied identically at training and prediction time.

The steps run as a Rust ``tokenizers`` normalizer, so the same cleaning is part
of the fast batched encoder used at prediction time (see :mod:`seqlab.text.pipeline`).
"""

from __future__ import annotations

import re
import unicodedata

_HTML_TAG = re.compile(r"<[^>]{0,200}>")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_SPACES = re.compile(r"\s+")


def make_normalizer(*, strip_html: bool = True, strip_urls: bool = False, lowercase: bool = True,
                    normalize_unicode: bool = True):
    """A ``tokenizers`` normalizer doing exactly what :func:`clean_text` does."""
    from tokenizers import Regex, normalizers

    steps = [normalizers.NFKC()] if normalize_unicode else []
    if strip_html:
        steps.append(normalizers.Replace(Regex(_HTML_TAG.pattern), " "))
    if strip_urls:
        steps.append(normalizers.Replace(Regex(r"(?i)(?:https?://|www\.)\S+"), " "))
    if lowercase:
        steps.append(normalizers.Lowercase())
    steps += [normalizers.Replace(Regex(r"\s+"), " "), normalizers.Strip()]
    return normalizers.Sequence(steps)


def clean_text(text: str, *, strip_html: bool = True, strip_urls: bool = False, lowercase: bool = True,
               normalize_unicode: bool = True) -> str:
    """Return ``text`` cleaned with the chosen steps.

    HTML tags such as IMDB's ``<br />`` become a space (not nothing) so that the
    words on either side stay apart; unicode is NFKC-normalised so that
    typographic spaces and ligatures tokenise like their plain forms.
    """
    if normalize_unicode:
        text = unicodedata.normalize("NFKC", text)
    if strip_html:
        text = _HTML_TAG.sub(" ", text)
    if strip_urls:
        text = _URL.sub(" ", text)
    if lowercase:
        text = text.lower()
    return _SPACES.sub(" ", text).strip()
