"""The recipe: a text file's words -> (word id -> reversed word id) with a tiny embedding + linear model."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from seqlab.config import TaskConfigSchema
from seqlab.errors import SeqlabError
from seqlab.modeldir import save_model_dir
from seqlab.models.base import Capabilities
from seqlab.runtime import pick_device
from seqlab.tasks.common import fit_task
from seqlab.train import TrainableTask, TrainConfig

TEXT_FILE = "text.json"


@dataclass
class ReverseDataConfig:
    data: str = field(default="words.txt", metadata={"help": "a text file; every word is an example"})


@dataclass
class LookupConfig:
    emb_size: int = field(default=16, metadata={"help": "embedding size"})

    def __post_init__(self) -> None:
        if self.emb_size < 1:
            raise SeqlabError(f"--emb-size must be >= 1, got {self.emb_size}")

    def capabilities(self) -> Capabilities:
        return Capabilities(vector_width="emb_size")


@dataclass
class ReverseConfig:
    data: ReverseDataConfig = field(default_factory=ReverseDataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    model_name: str = "lookup"
    model: Any = None


RECIPE = {"train": {"epochs": 30, "lr": 0.05, "batch_size": 16, "patience": 30, "progress": False}}
SCHEMA = TaskConfigSchema(ReverseConfig, {"lookup": LookupConfig}, {"lookup": RECIPE})


class LookupModel(nn.Module):
    def __init__(self, config: LookupConfig, vocab_size: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, config.emb_size)
        self.out = nn.Linear(config.emb_size, vocab_size)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:  # (B,) -> (B, V)
        return self.out(self.embedding(ids))


def read_words(path: str) -> list[str]:
    file = Path(path)
    if not file.is_file():
        raise SeqlabError(f"data file not found: {path}")
    words = file.read_text(encoding="utf-8").split()
    if not words:
        raise SeqlabError(f"{path} holds no words")
    return words


class ReverseTask(TrainableTask):
    default_metric = "accuracy"
    metric_modes = {"accuracy": "max"}

    def __init__(self, config: ReverseConfig) -> None:
        self.config = config
        words = sorted(set(read_words(config.data.data)))
        self.vocab = sorted(set(words) | {w[::-1] for w in words})
        index = {w: i for i, w in enumerate(self.vocab)}
        self.x = torch.tensor([index[w] for w in words])
        self.y = torch.tensor([index[w[::-1]] for w in words])
        torch.manual_seed(config.train.seed)
        self.model = LookupModel(config.model, len(self.vocab))
        self.device = pick_device(config.train.device)
        self.stats = {"words": len(words)}

    def train_batches(self, generator: torch.Generator) -> list[list[int]]:
        order = torch.randperm(len(self.x), generator=generator).tolist()
        size = self.config.train.batch_size
        return [order[i: i + size] for i in range(0, len(order), size)]

    def loss(self, batch: list[int]) -> tuple[torch.Tensor, int]:
        logits = self.model(self.x[batch].to(self.device))
        return F.cross_entropy(logits, self.y[batch].to(self.device)), len(batch)

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        pred = self.model(self.x.to(self.device)).argmax(-1).cpu()
        return {"accuracy": float((pred == self.y).float().mean())}

    def save(self, out_dir: Path, metrics: dict[str, Any]) -> None:
        save_model_dir(out_dir, task="reverse", config=SCHEMA.to_dict(self.config), state_dict=self.model.state_dict(),
                       json_files={TEXT_FILE: {"vocab": self.vocab}}, metrics=metrics)


def train(config: ReverseConfig, out_dir: Path, *, resume: bool = False, log=print) -> dict[str, Any]:
    return fit_task(ReverseTask(config), config, SCHEMA, out_dir, resume=resume, log=log)
