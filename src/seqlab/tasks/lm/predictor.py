"""Using a trained language model: perplexity and token log-probabilities, generation (streamed), evaluation,
and the ``seqlab generate`` command."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqlab.data.batching import pad_batch
from seqlab.data.corpus import Corpus, LMDataConfig, is_file_source, load_split, load_train_valid, read_whole
from seqlab.data.splits import same_data, scored_part
from seqlab.decode import SamplingConfig, sample
from seqlab.errors import SeqlabError
from seqlab.inference import Predictor, check_texts, masked_mean, pooled_vectors, timed, with_valid_metric
from seqlab.metrics import bits_per_token, perplexity
from seqlab.modeldir import read_json
from seqlab.runtime import Timer, autocast_context
from seqlab.tasks.lm import EVAL_STREAMS
from seqlab.tasks.lm.prompt import PromptedGeneration
from seqlab.tasks.lm.recipe import SCHEMA, TEXT_FILE, LMConfig, build_model, stream_nll
from seqlab.text.stream import StreamTokenizer
from seqlab.text.subword import PAD_ID, SOS_ID


class LanguageModel(PromptedGeneration, Predictor):
    """A loaded language model: ``perplexity``/``token_logprobs`` of texts, ``generate``/``stream`` from a prompt."""

    task = "lm"
    schema = SCHEMA
    config: LMConfig

    def __init__(self, model_dir: Path, device: str = "cpu", precision: str = "fp32") -> None:
        super().__init__(model_dir, device, precision)
        self.tokenizer = StreamTokenizer.from_json(read_json(self.model_dir, TEXT_FILE))
        self.model: Any = self.restore(build_model(self.config, len(self.tokenizer)))
        self.context: int | None = self.model.context  # a Transformer's window; None: no limit

    @property
    def stateful(self) -> bool:
        """Scored as carried-state streams (the rnn), or as windows (the Transformer)."""
        return bool(self.model.stateful)

    def stream_nll(self, stream: Any, *, streams: int = EVAL_STREAMS, segment: int = 70) -> tuple[float, int]:
        """Summed NLL and count of a token stream (:func:`~seqlab.tasks.lm.recipe.stream_nll`); an export's
        predictor has the same method over ONNX Runtime, so ``evaluate`` scores both."""
        return stream_nll(self.model, stream, self.device, streams=streams, segment=segment)

    @property
    def not_text(self) -> list[int]:
        """Ids generation never chooses: ``<unk>`` (no word in particular) and BPE's ``<pad>`` and ``<sos>``."""
        if self.tokenizer.kind == "bpe":
            return sorted({PAD_ID, SOS_ID, self.tokenizer.unk_id})
        return [self.tokenizer.unk_id]

    # -- scoring
    def _stream(self, texts: list[str], call: str = "perplexity()") -> torch.Tensor:
        texts = check_texts(texts, call)
        # a leading <eos>: the first word is predicted as the start of a line, as in training
        return torch.as_tensor([self.tokenizer.eos_id, *self.tokenizer.encode_lines(texts).tolist()])

    def perplexity(self, texts: list[str]) -> float:
        """Perplexity of ``texts`` read as consecutive lines (each closed by ``<eos>``, which is scored too)."""
        with autocast_context(self.device, self.precision):
            total, count = stream_nll(self.model, self._stream(texts), self.device, streams=1)
        if count == 0:
            raise SeqlabError("nothing to score: the texts are empty")
        return perplexity(total, count)

    @torch.no_grad()
    def token_logprobs(self, texts: list[str]) -> list[list[dict[str, Any]]]:
        """Per text, each token (and the closing ``<eos>``) with its natural-log probability given the text before it."""
        out = []
        for text in check_texts(texts, "token_logprobs()"):
            ids = self._stream([text], "token_logprobs()")  # (<eos>, tokens..., <eos>)
            if self.context is not None and ids.numel() - 1 > self.context:
                raise SeqlabError(f"a text of {ids.numel() - 1} tokens is longer than the model's context "
                                  f"({self.context}); use perplexity() for long texts")
            x = ids[:-1].view(1, -1).to(self.device)
            with autocast_context(self.device, self.precision):
                hidden, _ = self.model(x)
            log_probs = self.model.output.log_probs(hidden[0])  # (T, V)
            targets = ids[1:].to(self.device)
            scores = log_probs.gather(1, targets[:, None]).squeeze(1).tolist()
            out.append([{"token": self.tokenizer.token(t), "logprob": s} for t, s in zip(targets.tolist(), scores,
                                                                                           strict=True)])
        return out

    # -- generation
    def _draw(self, prompts: list[list[int]], max_tokens: int, config: SamplingConfig,
              seed: int | None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        generator = torch.Generator(device=self.device)
        generator.manual_seed(seed if seed is not None else int(torch.randint(0, 2**31 - 1, (1,))))
        prompt_ids = torch.tensor(prompts, dtype=torch.long, device=self.device)  # (N, T)
        with torch.no_grad(), autocast_context(self.device, self.precision):
            yield from sample(self.model, prompt_ids, max_tokens, config, generator, banned=self.not_text)

    # -- vectors
    def _table(self) -> tuple[list[str], torch.Tensor]:
        """The words (or BPE pieces, named as :func:`~seqlab.tasks.translate.predictor.piece_names` names them)."""
        if self.tokenizer.kind == "bpe":
            from seqlab.tasks.translate.predictor import piece_names

            return piece_names(self.tokenizer.subword), self.model.embedding.weight
        return [self.tokenizer.token(i) for i in range(len(self.tokenizer))], self.model.embedding.weight

    def _embed(self, texts: list[str], batch_size: int) -> np.ndarray:
        """Each text read as a line (after ``<eos>``, as in training); its vector is the mean of the states after
        each of its tokens. A Transformer reads the first ``context - 1`` tokens of a longer text."""
        limit = (self.context - 1) if self.context is not None else None
        ids = [self.tokenizer.encode(t)[:limit] for t in texts]

        def run(batch: list[int]) -> torch.Tensor:
            x, lens = pad_batch([[self.tokenizer.eos_id, *ids[i]] for i in batch], self.tokenizer.eos_id)
            hidden, _ = self.model(x.to(self.device))  # (B, 1 + T, D); causal: padding after a text changes nothing
            steps = torch.arange(x.size(1), device=self.device)[None, :]  # (1, 1 + T)
            mask = (steps >= 1) & (steps < lens.to(self.device)[:, None])  # (B, 1 + T) after each real token
            return masked_mean(hidden, mask)

        return pooled_vectors([len(i) for i in ids], run, batch_size, self.model.state_size)


def load(model_dir: Path, device: str = "cpu", precision: str = "fp32") -> LanguageModel:
    return LanguageModel(model_dir, device=device, precision=precision)



def eval_corpus(predictor: LanguageModel, data: str, split: str, log=print) -> tuple[Corpus, str]:
    """The lines to score and the name of what they are. Text files are scored whole (``"whole"``) unless they are
    the model's own training data and ``split`` is train or valid: then exactly the lines training used (the
    seeded carve-out, or ``--valid-data``). A dataset or folder gives its split. Scoring what training learnt from
    is said with a warning through ``log``."""
    cfg = predictor.config.data
    own = same_data(data, cfg.data)
    data_cfg = LMDataConfig(data=data, valid_data=cfg.valid_data if own else None, split_seed=cfg.split_seed)
    return scored_part(data, split, cfg.data, "lines", train_valid=lambda: load_train_valid(data_cfg),
                       whole=(lambda: read_whole(data)) if is_file_source(data) else None,
                       split_of=lambda name: load_split(data_cfg, name), log=log)

def evaluate(predictor: LanguageModel, *, data: str, split: str = "test", options: dict[str, Any] | None = None,
             log=print) -> dict[str, Any]:
    """Perplexity over a whole split as the standard protocol computes it: one stream, ``<eos>`` at each line
    end, every token scored once (stateful RNN over ``streams`` parts; overlapping windows for a Transformer)."""
    options = options or {}
    corpus, split = eval_corpus(predictor, data, split, log)
    stream = predictor.tokenizer.encode_lines(corpus.lines)
    streams = int(options.get("streams") or EVAL_STREAMS)
    with Timer() as timer, predictor.autocast():
        total, count = predictor.stream_nll(stream, streams=streams, segment=predictor.config.stream.bptt)
    report = {"perplexity": perplexity(total, count), "bits_per_token": bits_per_token(total, count),
              "tokens": count + 1, "scored_tokens": count, "lines": len(corpus), "data": data, "split": split,
              "unk_tokens": int((stream == predictor.tokenizer.unk_id).sum()),
              "protocol": (f"stateful, {streams} parallel streams, segments of {predictor.config.stream.bptt}"
                           if predictor.stateful else
                           f"windows of {predictor.context} tokens overlapping by half, each token scored once")}
    return with_valid_metric(timed(report, timer, count, "tokens"), predictor, "perplexity")
