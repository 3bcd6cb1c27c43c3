"""The translator's route, ``POST /v1/models/{name}/translate``, and its part of the server's page (``page.js``,
with the attention view of ``seqlab translate --attention`` put in by :func:`page_script`)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from seqlab.serve.embed import EmbedHandler
from seqlab.serve.errors import ApiError
from seqlab.serve.handlers import WARMUP_TEXT, Handler
from seqlab.serve.schemas import Request, texts_field

MAX_BEAM = 16  # beam sizes above this cost much and gain nothing measurable (and would let one request hog the CPU)


class TranslateRequest(Request):
    texts: list[str] = texts_field()
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


class TranslateHandler(Handler):
    route = "translate"
    request_model, response_model = TranslateRequest, TranslateResponse
    summary = "Translate texts (beam search, n-best); with attention, the tokens and the cross-attention"

    def options(self, predictor, request):
        beam = request.beam if request.beam is not None else predictor.config.decoding.beam
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

    def describe(self, predictor):
        data = predictor.config.data
        return {"languages": {"src": data.src, "tgt": data.tgt}}


def _display(token: str) -> str:
    """A subword piece as people read it (``▁Mann`` -> ``Mann``), as the CLI's attention page shows it."""
    from seqlab.text.subword import display_token

    return display_token(token)


ROUTES = [TranslateHandler(), EmbedHandler()]  # embed: the vector of a text (seqlab.serve.embed)
