"""Word vectors: running text -> a vocabulary and one id stream -> skip-gram or CBOW with negative sampling.

CPU (the defaults are gensim's: 100-d, window 5, 5 noise words, min-count 5, 5 epochs, alpha 0.025 decaying
linearly, subsampling 1e-3)::

    SEQLAB_DATA=../shared/data seqlab train embeddings --data wikitext-2,imdb --out runs/w2v
    seqlab train embeddings --data my_corpus.txt --method cbow --out runs/cbow
    seqlab train embeddings --data wikitext-2 --subword --out runs/ft       # fastText-style: unseen words too
    seqlab evaluate runs/w2v                                                 # WordSim-353, SimLex-999, analogies
    seqlab export-vectors runs/w2v --out vectors.txt                         # word2vec text format

One GPU: add ``--device cuda``. A batch is ``--batch-size`` words of the stream, read in corpus order (as
word2vec reads it); the trainer's plain SGD on the summed loss with ``--schedule linear`` is word2vec's update.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqlab.errors import SeqlabError
from seqlab.modeldir import save_model_dir
from seqlab.models.word2vec import Word2Vec
from seqlab.runtime import pick_device
from seqlab.runtime import to_device as tensor_to_device
from seqlab.tasks.common import fit_task, resumed_json
from seqlab.tasks.embeddings.config import SCHEMA, EmbeddingsConfig  # noqa: F401  (re-exported)
from seqlab.tasks.embeddings.corpus import EncodedCorpus, encode
from seqlab.tasks.embeddings.windows import Batch, Windows
from seqlab.train import TrainableTask

TEXT_FILE = "text.json"  # the vocabulary, its counts and the tokenizer's settings
VALID_WORDS = 20_000  # words of the stream whose loss (fixed draws) is the per-epoch figure
VALID_SEED = 1234


def vocabulary_json(corpus: EncodedCorpus, config: EmbeddingsConfig) -> dict[str, Any]:
    return {"kind": "word-vocabulary", "words": corpus.words, "counts": corpus.counts.tolist(),
            "tokenizer": config.text.tokenizer, "lowercase": config.text.lowercase, "corpus_words": corpus.raw_words}


def to_device(batch: Batch, device: torch.device) -> tuple[torch.Tensor, ...]:
    return tuple(tensor_to_device(torch.from_numpy(a), device)
                 for a in (batch.inputs, batch.pair_centre, batch.weight, batch.centres, batch.centre_weight, batch.noise))


def mean_value_sum_gradient(total: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """The per-pair mean as the value the trainer logs; the gradient of the sum, so that SGD at word2vec's rate
    takes word2vec's step for every pair of the batch (a mean would divide each pair's step by the batch)."""
    return (total / count.clamp(min=1)).detach() + total - total.detach()


class EmbeddingsTask(TrainableTask):
    default_metric = "loss"
    metric_modes = {"loss": "min"}

    def __init__(self, config: EmbeddingsConfig, log=print, fixed_vocabulary: dict[str, Any] | None = None) -> None:
        self.config, self.log = config, log
        started = time.monotonic()
        fixed = list(fixed_vocabulary["words"]) if fixed_vocabulary else None
        self.corpus = encode(config.data, config.text, config.model, fixed)
        if len(self.corpus.ids) < 2:
            raise SeqlabError(f"--data {config.data.data}: {len(self.corpus.ids)} word(s) of the vocabulary are "
                              "too few to learn from")
        self.windows = Windows(self.corpus, config.model)
        self.cbow = config.model.method == "cbow"
        words = self.corpus.words
        self.stats = {"corpus_words": self.corpus.raw_words, "trained_words": int(len(self.corpus.ids)),
                      "sentences": int(len(self.corpus.lengths)), "vocabulary": len(words)}
        torch.manual_seed(config.train.seed)
        self.model = Word2Vec(config.model, len(words), words)
        self.device = pick_device(config.train.device)
        self.base_seed = 0
        rows = self.model.input.weight.shape[0]
        log(f"data: {self.corpus.raw_words:,} words in {len(self.corpus.lengths):,} sentences; vocabulary "
            f"{len(words):,} (--min-count {config.model.min_count}), {len(self.corpus.ids):,} words kept; prepared "
            f"in {time.monotonic() - started:.1f}s")
        log(f"model: {config.model.method}, {config.model.dim}-d, {rows:,} input rows"
            f"{f' ({rows - len(words):,} n-gram buckets)' if config.model.subword else ''}")

    # -- the TrainableTask interface
    def train_batches(self, generator: torch.Generator) -> list[tuple[int, int, int]]:
        """(start, end, seed) stretches of ``--batch-size`` words, in corpus order; ``seed`` draws the batch's
        subsampling, windows and noise words (from the epoch's generator, so a resumed epoch draws the same)."""
        size, n = self.config.train.batch_size, len(self.windows)
        base = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
        return [(s, min(n, s + size), base + i) for i, s in enumerate(range(0, n, size))]

    def loss(self, batch: tuple[int, int, int]) -> tuple[torch.Tensor, int]:
        start, end, seed = batch
        total, pairs = self.model(*to_device(self.windows.batch(start, end, np.random.default_rng(seed), self.cbow), self.device))
        return mean_value_sum_gradient(total, pairs), end - start

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """The loss per pair on the stream's first words with fixed draws: comparable from epoch to epoch (the
        vectors' quality is what ``seqlab evaluate`` measures)."""
        end = min(len(self.windows), VALID_WORDS)
        batch = to_device(self.windows.batch(0, end, np.random.default_rng(VALID_SEED), self.cbow), self.device)
        total, pairs = self.model(*batch)
        return {"loss": float(total / pairs.clamp(min=1))}

    def save(self, out_dir: Path, metrics: dict[str, Any]) -> None:
        save_model_dir(out_dir, task="embeddings", config=SCHEMA.to_dict(self.config),
                       state_dict=self.model.state_dict(), extras={"data_stats": self.stats},
                       json_files={TEXT_FILE: vocabulary_json(self.corpus, self.config)}, metrics=metrics)


def train(config: EmbeddingsConfig, out_dir: Path, *, resume: bool = False, log=print) -> dict[str, Any]:
    task = EmbeddingsTask(config, log, fixed_vocabulary=resumed_json(out_dir, TEXT_FILE, resume))
    return fit_task(task, config, SCHEMA, out_dir, resume=resume, log=log)
