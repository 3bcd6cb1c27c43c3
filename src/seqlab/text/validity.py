"""The one rule for text at every entry point: a string of valid Unicode, or a clear refusal naming where.

Plain Python: the torch predictors (through seqlab.inference) and the torch-free export predictors share it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from seqlab.errors import SeqlabError


def check_text(text: Any, where: str) -> str:
    """``text`` when it is a string of valid Unicode; else a SeqlabError naming ``where`` and the character.

    The rule of every entry point (README, "User errors"): text that is not valid Unicode is refused, never
    replaced, since a replacement would change what the model reads. In a Python string that is a lone surrogate;
    U+DC80..U+DCFF is how Python keeps a byte that was not UTF-8 (an argument, a file name), and is said so.
    """
    if not isinstance(text, str):
        raise SeqlabError(f"{where} is not a string (got {type(text).__name__})")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(text[exc.start])
        byte = f": the byte 0x{code - 0xDC00:02x} of text that was not UTF-8" if 0xDC80 <= code <= 0xDCFF else ""
        raise SeqlabError(f"{where}, character {exc.start + 1}: a lone surrogate (\\u{code:04x}{byte}) is not valid "
                          "Unicode") from None
    return text


def check_texts(texts: Any, call: str, what: str = "text") -> list[str]:
    """The texts a predictor's public method was given (``call``: ``"predict()"``), as a list; a single string,
    a non-string item or text that is not valid Unicode is refused (:func:`check_text`), naming the item."""
    if isinstance(texts, (str, bytes)) or not isinstance(texts, Iterable):
        raise SeqlabError(f"{call} takes a list of strings (one {what}: wrap it in a list)")
    texts = list(texts)
    for i, text in enumerate(texts, 1):
        check_text(text, f"{what} {i}")
    return texts
