"""The JSON the server takes and gives, as pydantic models: validation of requests and the OpenAPI schema (/docs).

Requests forbid unknown fields, so that a typo (``"beams": 5``) is a 422 and not a silently ignored option.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .limits import MAX_BEAM, MAX_NEW_TOKENS


def _texts():
    return Field(min_length=1, description="the texts, one result each, in order")


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------------------- classify
class ClassifyRequest(Request):
    texts: list[str] = _texts()
    explain: bool = Field(False, description="also return the tokens and, for models that pool with attention, "
                                             "each token's attention weight")


class ClassifyResult(BaseModel):
    label: str
    confidence: float
    probabilities: dict[str, float]
    tokens: list[str] | None = None
    attention: list[float] | None = Field(None, description="one weight per token (they sum to 1); null for models "
                                                            "without attention pooling")


class ClassifyResponse(BaseModel):
    model: str
    results: list[ClassifyResult]


# ---------------------------------------------------------------------------- translate
class TranslateRequest(Request):
    texts: list[str] = _texts()
    beam: int | None = Field(None, ge=1, le=MAX_BEAM, description="beam size (default: the model's; 1 = greedy)")
    nbest: int = Field(1, ge=1, le=MAX_BEAM, description="how many translations per text (at most the beam size)")
    attention: bool = Field(False, description="return source/target tokens and the cross-attention matrix")


class Hypothesis(BaseModel):
    translation: str
    score: float | None = Field(None, description="log-probability")
    normalized_score: float | None = Field(None, description="log-probability with the length penalty")


class TranslateResult(Hypothesis):
    nbest: list[Hypothesis]
    src_tokens: list[str] | None = None
    tgt_tokens: list[str] | None = None
    attention: list[list[float]] | None = Field(None, description="(target tokens, source tokens) weights")


class TranslateResponse(BaseModel):
    model: str
    results: list[TranslateResult]


# ---------------------------------------------------------------------------- tag
class TagRequest(Request):
    texts: list[str] = _texts()


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


# ---------------------------------------------------------------------------- generate
class GenerateRequest(Request):
    prompt: str = Field(description="the text to continue")
    max_tokens: int = Field(64, ge=1, le=MAX_NEW_TOKENS)
    temperature: float = Field(1.0, ge=0.0, le=10.0, description="0 = greedy")
    top_k: int | None = Field(None, ge=1)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    seed: int | None = Field(None, description="the same seed, prompt and options give the same text")
    stream: bool = Field(False, description="answer with Server-Sent Events: one `token` event per token "
                                            '(`{"token", "prob"}`), then `done` (`{"text"}`) or `error`')


class GenerateResponse(BaseModel):
    model: str
    text: str


# ---------------------------------------------------------------------------- models
class ModelInfo(BaseModel):
    name: str
    task: str
    routes: list[str] = Field(description="the POST routes this model answers")
    labels: list[str] | None = None
    languages: dict[str, Any] | None = None
    has_attention: bool | None = None
    config: dict[str, Any] = Field(default_factory=dict, description="a summary of the run config")
    metrics: dict[str, Any] | None = Field(None, description="the model directory's metrics.json")
    load_seconds: float | None = None


class ModelList(BaseModel):
    models: list[ModelInfo]


def finite(value: Any) -> Any:
    """JSON has no NaN/Infinity: turn them into null, recursively (a failed beam scores -inf)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value
