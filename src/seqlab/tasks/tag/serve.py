"""The tagger's route: ``POST /v1/models/{name}/tag``."""

from __future__ import annotations

from pydantic import BaseModel, Field

from seqlab.serve.embed import EmbedHandler
from seqlab.serve.handlers import WARMUP_TEXT, Handler
from seqlab.serve.schemas import Request, texts_field


class TagRequest(Request):
    texts: list[str] = texts_field()


class Entity(BaseModel):
    type: str
    text: str
    start: int = Field(description="character offset of the entity in the text")
    end: int = Field(description="character offset just past the entity")
    confidence: float | None = None


class TagResult(BaseModel):
    entities: list[Entity]
    tokens: list[str]
    tags: list[str]


class TagResponse(BaseModel):
    model: str
    results: list[TagResult]


class TagHandler(Handler):
    route = "tag"
    request_model, response_model = TagRequest, TagResponse
    summary = "Tag texts: entities (type, text, character offsets, confidence), tokens and their tags"

    def infer(self, predictor, options, texts):
        return list(predictor.tag(texts))

    def warmup(self, predictor):
        predictor.tag([WARMUP_TEXT])

    def describe(self, predictor):
        return {"labels": list(predictor.labels)}


ROUTES = [TagHandler(), EmbedHandler()]  # embed: the vector of a text (seqlab.serve.embed)
