"""The classifier's route, ``POST /v1/models/{name}/classify`` (its part of the server's page is ``page.js``)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from seqlab.serve.embed import EmbedHandler
from seqlab.serve.handlers import WARMUP_TEXT, Handler
from seqlab.serve.schemas import Request, texts_field

PREDICT_BATCH = 256  # the classifier's own padding batches within one served batch (it sorts texts by length)


class ClassifyRequest(Request):
    texts: list[str] = texts_field()
    explain: bool = Field(False, description="also say why: the tokens, each token's signed score for the predicted "
                                             "label (as `seqlab predict --explain` gives them) and, for models that "
                                             "pool with attention, each token's attention weight")


class ClassifyResult(BaseModel):
    label: str
    confidence: float
    probabilities: dict[str, float]
    tokens: list[str] | None = Field(None, description="with explain: the tokens the model read")
    token_scores: list[float] | None = Field(
        None, description="with explain: one signed score per token for the predicted label (positive: for it, "
                          "negative: against it)")
    method: str | None = Field(
        None, description='with explain: how the scores were found: "linear" (bag models: exact contributions, they '
                          'and a bias add up to the logit) or "integrated gradients" (the other models)')
    attention: list[float] | None = Field(None, description="with explain: one weight per token (they sum to 1); null "
                                                            "for models without attention pooling")


class ClassifyResponse(BaseModel):
    model: str
    results: list[ClassifyResult]


class ClassifyHandler(Handler):
    route = "classify"
    request_model, response_model = ClassifyRequest, ClassifyResponse
    summary = ("Classify texts: label, confidence and probabilities; with explain, why: a signed score per token "
               "(as seqlab predict --explain) and any attention weights")

    def options(self, predictor, request):
        return (request.explain,)

    def infer(self, predictor, options, texts):
        (explain,) = options
        if not explain:
            return predictor.predict(texts, batch_size=PREDICT_BATCH)
        return [{"label": r["label"], "confidence": r["confidence"], "probabilities": probabilities, "tokens": r["tokens"],
                 "token_scores": [score for _, score in r["token_scores"]], "method": r["method"],
                 "attention": r["attention"]}
                for r, probabilities in _with_probabilities(predictor, texts)]

    def warmup(self, predictor):
        predictor.predict([WARMUP_TEXT])

    def describe(self, predictor):
        return {"labels": list(predictor.labels), "has_attention": bool(predictor.has_attention)}


def _with_probabilities(predictor, texts: list[str]) -> list[tuple[dict, dict[str, float]]]:
    """Each text's explanation and every label's probability, running the model as few times as it can: explain()
    gives the label and its confidence, which for two labels are all the probabilities; only with more labels
    does predict() run too (unless explain() gives them itself)."""
    explained = predictor.explain(texts, batch_size=PREDICT_BATCH)
    labels = list(predictor.labels)
    if all("probabilities" in r for r in explained):
        return [(r, r["probabilities"]) for r in explained]
    if len(labels) == 2:
        return [(r, {label: r["confidence"] if label == r["label"] else 1.0 - r["confidence"] for label in labels})
                for r in explained]
    predicted = predictor.predict(texts, batch_size=PREDICT_BATCH)
    return [(r, p["probabilities"]) for r, p in zip(explained, predicted, strict=True)]


ROUTES = [ClassifyHandler(), EmbedHandler()]  # embed: the vector of a text (seqlab.serve.embed)
