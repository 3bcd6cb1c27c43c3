"""The language model's route: ``POST /v1/models/{name}/generate`` (JSON, or Server-Sent Events)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from seqlab.serve.embed import EmbedHandler
from seqlab.serve.handlers import WARMUP_TEXT, Handler
from seqlab.serve.schemas import Request
from seqlab.tasks.lm.commands import MAX_NEW_TOKENS  # one cap for the route and seqlab generate --max-tokens


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


class GenerateHandler(Handler):
    route = "generate"
    request_model, response_model = GenerateRequest, GenerateResponse
    summary = "Continue a prompt; with stream, tokens arrive one by one as Server-Sent Events"
    streaming = True

    def texts(self, request):
        return [request.prompt]

    def options(self, predictor, request):
        return (request.max_tokens, request.temperature, request.top_k, request.top_p, request.seed)

    @staticmethod
    def _kwargs(options: tuple) -> dict[str, Any]:
        """Only the options the request set: the model's own defaults stand for the rest (top-k 0 = off, ...)."""
        names = ("max_tokens", "temperature", "top_k", "top_p", "seed")
        return {k: v for k, v in zip(names, options, strict=True) if v is not None}

    def infer(self, predictor, options, texts):
        # prompts with the same options share a model call slot; the LM generates them one after another
        return [{"text": predictor.generate(prompt, **self._kwargs(options))} for prompt in texts]

    def respond(self, name, request, results):
        return {"model": name, "text": results[0]["text"]}

    def streams(self, request):
        return request.stream

    def stream(self, predictor, request):
        return predictor.stream(request.prompt, **self._kwargs(self.options(predictor, request)))

    def warmup(self, predictor):
        predictor.generate(WARMUP_TEXT, max_tokens=1, seed=0)


ROUTES = [GenerateHandler(), EmbedHandler()]  # embed: the vector of a text (seqlab.serve.embed)
