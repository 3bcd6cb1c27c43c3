"""The route every task with text vectors declares: ``POST /v1/models/{name}/embed``, one vector per text.

Each task opts in by listing an ``EmbedHandler()`` in its ``serve.py`` (the per-task seam); the vector is the
predictor's ``embed`` (the pooled representation the model reads its answer from, as ``seqlab embed`` gives it), and
a model whose config does not declare one (``Capabilities.text_vector``: an nb-weighted bag) answers 400
``not_supported``. The server's page maps the vectors it gets here (PCA in the browser).
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field

from .handlers import WARMUP_TEXT, Handler
from .schemas import Request, texts_field

EMBED_BATCH = 64  # texts per padded batch within one served batch (the predictor sorts them by length)


class EmbedRequest(Request):
    texts: list[str] = texts_field()
    normalize: bool = Field(False, description="scale each vector to unit length (cosine similarity is then the dot "
                                               "product)")


class EmbedResult(BaseModel):
    vector: list[float] = Field(description="the text's vector (all zeros for a text without a token)")


class EmbedResponse(BaseModel):
    model: str
    dim: int = Field(description="the length of every vector")
    results: list[EmbedResult]


class EmbedHandler(Handler):
    route = "embed"
    request_model, response_model = EmbedRequest, EmbedResponse
    summary = ("Embed texts: one vector per text, the pooled representation the model itself reads its answer from "
               "(as seqlab embed gives it)")

    def options(self, predictor, request):
        return (request.normalize,)

    def unavailable(self, predictor):
        if predictor.capabilities.text_vector is None:
            return "the model has no vector of a text (e.g. an nb-weighted bag: a linear model over n-gram features)"
        return None

    def infer(self, predictor, options, texts):
        (normalize,) = options
        vectors = predictor.embed(texts, batch_size=EMBED_BATCH)  # (N, D)
        if normalize:
            vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return [{"vector": row.tolist()} for row in vectors]

    def respond(self, name, request, results):
        response = super().respond(name, request, results)
        response["dim"] = len(results[0]["vector"]) if results else 0
        return response

    def warmup(self, predictor):
        if self.unavailable(predictor) is None:
            predictor.embed([WARMUP_TEXT])

    def describe(self, predictor):
        return {"text_vector": predictor.capabilities.text_vector}
