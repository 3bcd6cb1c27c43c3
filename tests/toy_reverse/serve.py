"""The ``POST /v1/models/{name}/reverse`` route."""

from __future__ import annotations

from pydantic import BaseModel

from seqlab.serve.handlers import Handler
from seqlab.serve.schemas import Request, texts_field


class ReverseRequest(Request):
    texts: list[str] = texts_field()


class ReverseResult(BaseModel):
    reversed: str


class ReverseResponse(BaseModel):
    model: str
    results: list[ReverseResult]


class ReverseHandler(Handler):
    route = "reverse"
    request_model, response_model = ReverseRequest, ReverseResponse
    summary = "Spell each word backwards"

    def infer(self, predictor, options, texts):
        return [{"reversed": r} for r in predictor.reverse(texts)]


ROUTES = [ReverseHandler()]
