"""One handler per route of ``/v1/models/{name}/...``, registered by name: a new task is one more handler here.

A handler says which tasks it serves, its request and response models, how a request becomes texts plus a batching
key (the options that must be equal within one model call), how to run a batch on the model (called on the model's
worker thread, never on the event loop), and how the results become the answer. The app builds its routes from
:data:`HANDLERS`; nothing else in the server knows about tasks.

Predictors are used through their public methods only (duck-typed): ``predict``/``explain`` and ``labels`` of a
classifier, ``translate_detailed`` of a translator, ``tag`` of a tagger, ``generate``/``stream`` of a language model.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import Any, ClassVar

from pydantic import BaseModel

from .errors import ApiError
from .schemas import (
    ClassifyRequest,
    ClassifyResponse,
    GenerateRequest,
    GenerateResponse,
    TagRequest,
    TagResponse,
    TranslateRequest,
    TranslateResponse,
    finite,
)

PREDICT_BATCH = 256  # the classifier's own padding batches within one served batch (it sorts texts by length)
WARMUP_TEXT = "warm up"


class Handler:
    """The contract of one task route; subclasses set the class attributes and override what they need."""

    route: ClassVar[str]  # the last path segment: /v1/models/{name}/<route>
    tasks: ClassVar[tuple[str, ...]]  # the predictor ``.task`` values it serves
    request_model: ClassVar[type[BaseModel]]
    response_model: ClassVar[type[BaseModel]]
    summary: ClassVar[str]

    def texts(self, request: Any) -> list[str]:
        """The texts of a request (what the limits count and what a batch concatenates)."""
        return request.texts

    def options(self, predictor: Any, request: Any) -> tuple[Hashable, ...]:
        """The options that must be equal within a batch (defaults resolved); raise ApiError(422) if invalid."""
        return ()

    def infer(self, predictor: Any, options: tuple, texts: list[str]) -> list[dict[str, Any]]:
        """Run the model on a batch (worker thread): one result per text, in order."""
        raise NotImplementedError

    def respond(self, name: str, request: Any, results: list[dict[str, Any]]) -> dict[str, Any]:
        return {"model": name, "results": finite(results)}

    def streams(self, request: Any) -> bool:
        return False

    def stream(self, predictor: Any, request: Any) -> Iterator[dict[str, Any]]:
        raise NotImplementedError

    def warmup(self, predictor: Any) -> None:
        """Pay one-time costs (kernel set-up, lazy tables) before the first request does."""


HANDLERS: dict[str, Handler] = {}


def register(handler: Handler) -> Handler:
    HANDLERS[handler.route] = handler
    return handler


def routes_for(task: str) -> list[str]:
    return [h.route for h in HANDLERS.values() if task in h.tasks]


# ---------------------------------------------------------------------------- classify
class ClassifyHandler(Handler):
    route, tasks = "classify", ("classify",)
    request_model, response_model = ClassifyRequest, ClassifyResponse
    summary = "Classify texts: label, confidence and probabilities; with explain, tokens and attention weights"

    def options(self, predictor, request):
        return (request.explain,)

    def infer(self, predictor, options, texts):
        (explain,) = options
        results = predictor.predict(texts, batch_size=PREDICT_BATCH)
        if explain:  # explain() has tokens and attention but not every probability: merge the two
            for result, extra in zip(results, predictor.explain(texts, batch_size=PREDICT_BATCH), strict=True):
                result["tokens"], result["attention"] = extra["tokens"], extra["attention"]
        return results

    def warmup(self, predictor):
        predictor.predict([WARMUP_TEXT])


# ---------------------------------------------------------------------------- translate
class TranslateHandler(Handler):
    route, tasks = "translate", ("translate",)
    request_model, response_model = TranslateRequest, TranslateResponse
    summary = "Translate texts (beam search, n-best); with attention, the tokens and the cross-attention"

    def options(self, predictor, request):
        beam = request.beam
        if beam is None:
            beam = getattr(getattr(getattr(predictor, "config", None), "decoding", None), "beam", None) or 1
        if request.nbest > beam:
            raise ApiError(422, "invalid_request", f"nbest {request.nbest} exceeds the beam size {beam}")
        return (beam, request.nbest, request.attention)

    def infer(self, predictor, options, texts):
        beam, nbest, attention = options
        out = []
        for r in predictor.translate_detailed(texts, beam=beam, nbest=nbest):
            result = {"translation": r["translation"], "score": r.get("score"),
                      "normalized_score": r.get("normalized_score"),
                      "nbest": [{k: h.get(k) for k in ("translation", "score", "normalized_score")}
                                for h in r.get("nbest", [])]}
            if attention:
                result.update(src_tokens=[_display(t) for t in r.get("src_tokens", [])],
                              tgt_tokens=[_display(t) for t in r.get("tgt_tokens", [])],
                              attention=[[round(float(w), 4) for w in row] for row in r.get("attention", [])])
            out.append(result)
        return out

    def warmup(self, predictor):
        predictor.translate_detailed([WARMUP_TEXT], beam=1)


def _display(token: str) -> str:
    """A subword piece as people read it (``▁Mann`` -> ``Mann``), as the CLI's attention page shows it."""
    from seqlab.text.subword import display_token

    return display_token(token)


# ---------------------------------------------------------------------------- tag
class TagHandler(Handler):
    route, tasks = "tag", ("tag",)
    request_model, response_model = TagRequest, TagResponse
    summary = "Tag texts: entities (type, text, character offsets, confidence), tokens and their tags"

    def infer(self, predictor, options, texts):
        return list(predictor.tag(texts))

    def warmup(self, predictor):
        predictor.tag([WARMUP_TEXT])


# ---------------------------------------------------------------------------- generate
class GenerateHandler(Handler):
    route, tasks = "generate", ("lm",)
    request_model, response_model = GenerateRequest, GenerateResponse
    summary = "Continue a prompt; with stream, tokens arrive one by one as Server-Sent Events"

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


for _handler in (ClassifyHandler(), TranslateHandler(), TagHandler(), GenerateHandler()):
    register(_handler)
