"""Enforcing the request limits of :class:`.limits.ServeLimits`: text counts and lengths (422) and the body size
(413, checked on ``Content-Length`` and again while a chunked body streams in); and what every text and body must
be: valid Unicode (422) and JSON (415)."""

from __future__ import annotations

from email.message import Message

from .errors import ApiError, error_response
from .limits import ServeLimits


def check_texts(texts: list[str], limits: ServeLimits) -> None:
    """422 when a request has too many texts, a text is too long or is not valid Unicode (pydantic already checked
    the types).

    JSON can spell a lone UTF-16 surrogate (``"\\ud800"``) and Python decodes it into a ``str`` that no encoder
    will write back: refused here, naming the text and the character, before a model or the answer's encoding
    trips over it (a 500).
    """
    if not texts:
        raise ApiError(422, "no_texts", "send at least one text")
    if len(texts) > limits.max_texts:
        raise ApiError(422, "too_many_texts",
                       f"{len(texts)} texts in one request; the limit is {limits.max_texts} (--max-texts)")
    for i, text in enumerate(texts):
        if len(text) > limits.max_chars:
            raise ApiError(422, "text_too_long", f"text {i} has {len(text):,} characters; the limit is "
                                                 f"{limits.max_chars:,} (--max-chars)")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ApiError(422, "invalid_text", f"text {i} is not valid Unicode: character {exc.start} is a lone "
                                                f"surrogate (U+{ord(text[exc.start]):04X})") from None


def check_json_content_type(value: str | None) -> None:
    """415 unless the body is declared ``application/json`` (or ``application/<anything>+json``), as FastAPI reads
    only those as JSON (anything else would fail validation with a puzzling message)."""
    if value:
        message = Message()
        message["content-type"] = value
        subtype = message.get_content_subtype()
        if message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json")):
            return
    got = f"got {value!r}" if value else "no Content-Type header"
    raise ApiError(415, "unsupported_media_type", f"expected application/json ({got})")


class BodyLimitMiddleware:
    """Pure ASGI middleware: 413 before reading a body whose ``Content-Length`` is too big, and 413 as soon as a
    body without one (chunked) grows past the limit. Streaming responses pass through untouched."""

    def __init__(self, app, max_body: int) -> None:
        self.app, self.max_body = app, max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_body:
                    response = error_response(413, "body_too_large", self._message(declared))
                    return await response(scope, receive, send)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise ApiError(413, "body_too_large", self._message(seen, streamed=True))
            return message

        return await self.app(scope, counted, send)

    def _message(self, size: int, streamed: bool = False) -> str:
        size_text = f"more than {size:,}" if streamed else f"{size:,}"
        return f"the request body is {size_text} bytes; the limit is {self.max_body:,} (--max-body)"
