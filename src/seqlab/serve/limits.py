"""The server's limits in one place: batching, queueing, timeouts and input sizes, with their checks.

Every limit is a flag of ``seqlab serve``; breaking one gets a JSON error saying which limit and its value:
413 for the body size (checked on ``Content-Length`` and again while a chunked body streams in), 422 for the
number of texts and the characters per text, 503 (+ ``Retry-After``) for a full queue, 504 for a timeout.
"""

from __future__ import annotations

from dataclasses import dataclass

from seqlab.errors import SeqlabError

from .errors import ApiError, error_response

MAX_BEAM = 16  # beam sizes above this cost much and gain nothing measurable (and would let one request hog the CPU)
MAX_NEW_TOKENS = 1024  # the most tokens one generate request may ask for


@dataclass(frozen=True)
class ServeLimits:
    max_batch: int = 64  # texts in one model call
    max_wait_ms: float = 5.0  # how long the oldest request of a batch may wait for company
    max_queue: int = 1024  # texts waiting per model before new requests get 503
    timeout: float = 30.0  # seconds a request may wait (queue + run) before it gets 504
    max_texts: int = 64  # texts in one request
    max_chars: int = 20_000  # characters in one text (an IMDB review has at most ~14k)
    max_body: int = 2 * 1024 * 1024  # bytes of a request body

    def validate(self) -> ServeLimits:
        for name in ("max_batch", "max_queue", "max_texts", "max_chars", "max_body"):
            if getattr(self, name) < 1:
                raise SeqlabError(f"--{name.replace('_', '-')} must be at least 1 (got {getattr(self, name)})")
        if self.max_wait_ms < 0 or self.timeout <= 0:
            raise SeqlabError("--max-wait-ms must be >= 0 and --timeout > 0")
        if self.max_texts > self.max_queue:
            raise SeqlabError(f"--max-texts {self.max_texts} exceeds --max-queue {self.max_queue}: "
                              "such a request could never be queued")
        return self


def check_texts(texts: list[str], limits: ServeLimits) -> None:
    """422 when a request has too many texts or a text is too long (pydantic already checked the types)."""
    if not texts:
        raise ApiError(422, "no_texts", "send at least one text")
    if len(texts) > limits.max_texts:
        raise ApiError(422, "too_many_texts",
                       f"{len(texts)} texts in one request; the limit is {limits.max_texts} (--max-texts)")
    for i, text in enumerate(texts):
        if len(text) > limits.max_chars:
            raise ApiError(422, "text_too_long", f"text {i} has {len(text):,} characters; the limit is "
                                                 f"{limits.max_chars:,} (--max-chars)")


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
