"""The classifier's route: ``POST /v1/models/{name}/classify``."""

from __future__ import annotations

from pydantic import BaseModel, Field

from seqlab.serve.handlers import WARMUP_TEXT, Handler
from seqlab.serve.schemas import Request, texts_field

PREDICT_BATCH = 256  # the classifier's own padding batches within one served batch (it sorts texts by length)


class ClassifyRequest(Request):
    texts: list[str] = texts_field()
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


class ClassifyHandler(Handler):
    route = "classify"
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

    def describe(self, predictor):
        return {"labels": list(predictor.labels), "has_attention": bool(predictor.has_attention)}


ROUTES = [ClassifyHandler()]
