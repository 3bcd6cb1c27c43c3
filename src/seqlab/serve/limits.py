"""The server's limits in one place: batching, queueing, timeouts and input sizes (enforced in :mod:`.guards`).

Every limit is a flag of ``seqlab serve``; breaking one gets a JSON error saying which limit and its value:
413 for the body size, 422 for the number of texts and the characters per text, 503 (+ ``Retry-After``) for a
full queue, 504 for a timeout. This module imports no web framework: the CLI builds its flags from it.
"""

from __future__ import annotations

from dataclasses import dataclass

from seqlab.errors import SeqlabError


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
        counts = {"max_batch": self.max_batch, "max_queue": self.max_queue, "max_texts": self.max_texts,
                  "max_chars": self.max_chars, "max_body": self.max_body}
        for name, value in counts.items():
            if value < 1:
                raise SeqlabError(f"--{name.replace('_', '-')} must be at least 1 (got {value})")
        if self.max_wait_ms < 0 or self.timeout <= 0:
            raise SeqlabError("--max-wait-ms must be >= 0 and --timeout > 0")
        if self.max_texts > self.max_queue:
            raise SeqlabError(f"--max-texts {self.max_texts} exceeds --max-queue {self.max_queue}: "
                              "such a request could never be queued")
        return self
