"""The embeddings model's route: ``POST /v1/models/{name}/neighbours`` (the nearest words by cosine).

A word outside the vocabulary gets its neighbours from its character n-grams when the model has subwords; else
its result says ``known: false`` with no neighbours (one unknown word does not fail the others of the request).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from seqlab.serve.handlers import Handler
from seqlab.serve.schemas import Request

MAX_NEIGHBOURS = 100


class NeighboursRequest(Request):
    words: list[str] = Field(min_length=1, description="the words, one result each, in order")
    k: int = Field(10, ge=1, le=MAX_NEIGHBOURS, description="neighbours per word")


class Neighbour(BaseModel):
    word: str
    similarity: float = Field(description="cosine similarity")


class NeighboursResult(BaseModel):
    word: str
    known: bool = Field(description="in the vocabulary, or (subword models) built from known n-grams")
    neighbours: list[Neighbour]


class NeighboursResponse(BaseModel):
    model: str
    results: list[NeighboursResult]


class NeighboursHandler(Handler):
    route = "neighbours"
    request_model, response_model = NeighboursRequest, NeighboursResponse
    summary = "The nearest words (cosine) to each word; subword models answer unseen words too"

    def texts(self, request):
        return request.words

    def options(self, predictor, request):
        return (request.k,)

    def infer(self, predictor, options, texts):
        (k,) = options
        results = []
        for word in texts:
            vector = predictor.vector_of(word)
            nearest = [] if vector is None else predictor.nearest_to(vector, k, {word})
            results.append({"word": word, "known": vector is not None,
                            "neighbours": [{"word": w, "similarity": s} for w, s in nearest]})
        return results

    def warmup(self, predictor):
        predictor.nearest_to(predictor.matrix[0], 1, set())

    def describe(self, predictor):
        return {"vocabulary": len(predictor.words), "subword": bool(predictor.subword)}


ROUTES = [NeighboursHandler()]
