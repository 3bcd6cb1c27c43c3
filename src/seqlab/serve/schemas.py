"""The JSON every route shares, as pydantic models: the request base, the model list, and JSON-safe numbers.

Each task's own request and response models live in its ``serve.py`` (``seqlab/tasks/<name>/serve.py``).

Requests forbid unknown fields, so that a typo (``"beams": 5``) is a 422 and not a silently ignored option.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


def texts_field() -> Any:
    return Field(min_length=1, description="the texts, one result each, in order")


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------------------- models
class ModelInfo(BaseModel):
    name: str
    task: str
    routes: list[str] = Field(description="the POST routes this model answers")
    labels: list[str] | None = None
    languages: dict[str, Any] | None = None
    has_attention: bool | None = None
    text_vector: str | None = Field(None, description="what the embed route's vector of a text is, for a model that has one")
    config: dict[str, Any] = Field(default_factory=dict, description="a summary of the run config")
    metrics: dict[str, Any] | None = Field(None, description="the model directory's metrics.json")
    load_seconds: float | None = None


class ModelList(BaseModel):
    models: list[ModelInfo]


# ---------------------------------------------------------------------------- errors
class ErrorInfo(BaseModel):
    status: int = Field(description="the HTTP status, again")
    code: str = Field(description="what went wrong, for programs: unknown_model, wrong_task, invalid_request, ...")
    message: str = Field(description="what went wrong, for people")
    details: list[dict[str, Any]] | None = Field(None, description="validation errors: loc, msg, type of each")


class ErrorResponse(BaseModel):
    """Every error the server answers (:mod:`.errors`)."""

    error: ErrorInfo


def error_responses(**descriptions: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for error statuses (``e404="no such model"``), each with the error's JSON shape."""
    return {int(key[1:]): {"model": ErrorResponse, "description": text} for key, text in descriptions.items()}


def finite(value: Any) -> Any:
    """JSON has no NaN/Infinity: turn them into null, recursively (a failed beam scores -inf)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value
