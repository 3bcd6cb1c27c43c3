"""What every task's predictor shares: loading a model directory, the one length-bucketed inference loop, and the
evaluate plumbing (timing, rates, the validation figures training recorded).

A task's ``predictor.py`` subclasses :class:`Predictor` and adds its own methods (``predict``, ``translate``,
``tag``, ``generate``); the server and the CLI see predictors only through this base and those methods.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from seqlab.config import TaskConfigSchema
from seqlab.data.batching import bucketed_map  # the one inference loop (here for predictors too)
from seqlab.errors import SeqlabError
from seqlab.modeldir import load_weights, read_model_config
from seqlab.models.configs import Capabilities
from seqlab.reports import timed, training_metrics, with_valid_metric  # noqa: F401  (re-exported: torch-free)
from seqlab.runtime import autocast_context, resolve_precision, warn
from seqlab.text.validity import check_text, check_texts  # noqa: F401  (the Unicode rule, for predictors)


class Predictor:
    """A loaded model directory of one task: its metadata, typed config, device and precision.

    Subclasses set :attr:`task` and :attr:`schema`, call ``super().__init__`` and build their model with
    :meth:`restore`; :meth:`autocast` runs a block in the resolved precision.
    """

    task: ClassVar[str]
    schema: ClassVar[TaskConfigSchema]

    def __init__(self, model_dir: str | Path, device: str = "cpu", precision: str = "fp32") -> None:
        """``precision="bf16"`` autocasts inference (about 2x faster for an LSTM on an AVX-512 BF16 CPU; on a CPU
        without hardware bf16 it would be emulated and much slower, so it runs fp32 there, with a warning);
        ``"auto"`` is bf16 where the hardware has it."""
        self.model_dir = Path(model_dir)
        self.meta: dict[str, Any] = read_model_config(self.model_dir, expect_task=self.task)
        self.config: Any = self.schema.from_dict(self.meta["config"])
        self.device = torch.device(device)
        self.precision = resolve_precision(self.device, precision, log=warn)

    def restore(self, model: torch.nn.Module) -> Any:
        """Load the directory's safetensors weights into ``model``, move it to the device, eval mode."""
        load_weights(self.model_dir, model)
        return model.to(self.device).eval()

    def autocast(self):
        return autocast_context(self.device, self.precision)

    def training_metrics(self) -> dict[str, Any]:
        return training_metrics(self.model_dir)

    def valid_metric(self, name: str) -> float | None:
        """The best validation ``name`` training recorded (None when it did not)."""
        value = self.training_metrics().get("valid", {}).get(name)
        return value if isinstance(value, (int, float)) else None

    @property
    def capabilities(self) -> Capabilities:
        """What the model declares it can do (its config's :class:`~seqlab.models.configs.Capabilities`)."""
        return self.config.model.capabilities()

    def _lacks(self, what: str) -> SeqlabError:
        return SeqlabError(f"{self.model_dir} holds a {self.task} {self.config.model_name} model "
                           f"({_settings(self.config)}), which has no {what}")

    def embedding_table(self) -> tuple[list[str], np.ndarray]:
        """The model's input embedding table: one token per row (words, or sub-word pieces) and the (V, D) float32
        matrix, padding and special rows left out, so ``seqlab vectors MODEL_DIR`` explores the space the model
        learnt. A model without one (``Capabilities.input_table``) is refused."""
        if not self.capabilities.input_table:
            raise self._lacks("input embedding table (no vector per word to read)")
        tokens, weight = self._table()
        keep = [i for i, t in enumerate(tokens) if t and not _special(t)]
        return [tokens[i] for i in keep], weight.detach().float().cpu().numpy()[keep]

    def embed(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """One vector per text, (N, D) float32 in input order: the pooled representation the model itself reads its
        answer from (``Capabilities.text_vector`` says which), in length-bucketed batches. A text without a single
        token gets the zero vector."""
        if self.capabilities.text_vector is None:
            raise self._lacks("vector of a text")
        texts = check_texts(texts, "embed()")
        with torch.no_grad(), self.autocast():
            return self._embed(texts, batch_size)

    def _table(self) -> tuple[list[str], torch.Tensor]:
        """(tokens, (V, D) weight) of the input embedding table; each task's predictor gives its own."""
        raise NotImplementedError

    def _embed(self, texts: list[str], batch_size: int) -> np.ndarray:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """A summary for ``GET /v1/models``: the architecture's settings and the data it learnt from (a dataset's
        or a file's name, never a path of the machine it was trained on)."""
        config = self.config
        summary: dict[str, Any] = {"model": config.model_name}
        summary.update({k: v for k, v in dataclasses.asdict(config.model).items()
                        if isinstance(v, (str, int, float, bool))})
        summary["data"] = Path(str(config.data.data)).name
        return summary


def _settings(config: Any) -> str:
    """The model's settings that decide what it has, as flags (``--weighting nb``)."""
    shown = [f"--{k.replace('_', '-')} {v}" for k, v in dataclasses.asdict(config.model).items()
             if k in ("weighting", "pooling", "cell", "char")]
    return ", ".join(shown) or "its settings"


def _special(token: str) -> bool:
    """``<pad>``, ``<unk>``, ``<eos>``, ``[CLS]``, ...: vocabulary rows that stand for no word."""
    return (token.startswith("<") and token.endswith(">")) or (token.startswith("[") and token.endswith("]"))


def pooled_vectors(lengths: Sequence[int], run: Callable[[list[int]], torch.Tensor], batch_size: int,
                   dim: int) -> np.ndarray:
    """The embedding loop of every predictor: texts with tokens go through :func:`bucketed_map` (``run(batch)`` gives
    the (len(batch), D) vectors of those text indices), texts without a token get the zero vector (no model reads
    an empty input the same way: this is one answer for all). Returns (N, D) float32 in input order."""
    out = np.zeros((len(lengths), dim), dtype=np.float32)
    keep = [i for i, n in enumerate(lengths) if n > 0]
    if keep:
        rows = bucketed_map(lambda batch: list(run([keep[i] for i in batch]).float().cpu().numpy()),
                            [lengths[i] for i in keep], batch_size)
        out[keep] = np.stack(rows)
    return out


def masked_mean(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, T, D) states, (B, T) bool mask -> (B, D) the mean over the True positions."""
    weights = mask.to(states.dtype)[..., None]  # (B, T, 1)
    return (states * weights).sum(1) / weights.sum(1).clamp(min=1)
