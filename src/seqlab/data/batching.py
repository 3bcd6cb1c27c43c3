"""Length-bucketed batches with per-batch padding.

Sorting examples of similar length into the same batch removes most padding;
shuffling happens within large pools and then over batches, so training still
sees a different mixture every epoch (the recipe of torchtext's BucketIterator
and fairseq's token-budget batches).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

if TYPE_CHECKING:  # torch only where a tensor is made: the ONNX runtime batches with this module without torch
    import torch

T = TypeVar("T")


def bucket_batches(lengths: Sequence[int] | np.ndarray, *, batch_size: int | None = None,
                   max_tokens: int | None = None, shuffle: bool = False,
                   generator: torch.Generator | None = None, pool_factor: int = 50) -> list[list[int]]:
    """Split example indices into batches of similar length.

    Batches hold at most ``batch_size`` examples and, if ``max_tokens`` is given,
    at most ``max_tokens`` tokens counted with padding (longest x count).
    """
    if batch_size is None and max_tokens is None:
        raise ValueError("give batch_size or max_tokens")
    lengths = np.asarray(lengths, dtype=np.int64)
    n = len(lengths)
    if n == 0:
        return []
    if shuffle:
        import torch

        order = torch.randperm(n, generator=generator).numpy()
        pool = (batch_size or max(1, (max_tokens or 1) // max(1, int(lengths.mean())))) * pool_factor
        chunks = [order[i: i + pool] for i in range(0, n, pool)]
        order = np.concatenate([c[np.argsort(lengths[c], kind="stable")] for c in chunks])
    else:
        order = np.argsort(lengths, kind="stable")
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for idx in order.tolist():
        new_longest = max(longest, int(lengths[idx]), 1)
        too_many = batch_size is not None and len(current) >= batch_size
        too_long = max_tokens is not None and current and new_longest * (len(current) + 1) > max_tokens
        if too_many or too_long:
            batches.append(current)
            current, new_longest = [], max(int(lengths[idx]), 1)
        current.append(idx)
        longest = new_longest
    if current:
        batches.append(current)
    if shuffle:
        import torch

        perm = torch.randperm(len(batches), generator=generator).tolist()
        batches = [batches[i] for i in perm]
    return batches


def bucketed_map(run: Callable[[list[int]], Sequence[T]], lengths: Sequence[int] | np.ndarray, batch_size: int,
                 *, max_tokens: int | None = None) -> list[T]:
    """The one inference loop: sort examples by length into batches, ``run(batch)`` on each (the batch is a list of
    input indices; it returns one result per index, in that order), and put the results back in input order.

    Sorting keeps padding small (a batch holds texts of similar length); ``max_tokens`` also caps the padded size.
    Plain Python and numpy: the torch predictors and the torch-free ONNX ones share it.
    """
    out: list[Any] = [None] * len(lengths)
    for batch in bucket_batches(np.asarray(lengths), batch_size=batch_size, max_tokens=max_tokens):
        results = run(batch)
        if len(results) != len(batch):
            raise RuntimeError(f"a batch of {len(batch)} gave {len(results)} results")
        for i, result in zip(batch, results, strict=True):
            out[i] = result
    return out


def pad_arrays(seqs: Sequence[Sequence[int] | np.ndarray], pad_id: int = 0,
               min_len: int = 1, multiple: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """:func:`pad_batch` in numpy: ``(B, T)`` int64 ids and ``(B,)`` lengths."""
    lengths = np.fromiter(map(len, seqs), dtype=np.int64, count=len(seqs))
    width = max(int(lengths.max()) if len(seqs) else 0, min_len)
    width = -(-width // multiple) * multiple
    out = np.full((len(seqs), width), pad_id, dtype=np.int64)
    if len(seqs):
        real = np.arange(width)[None, :] < lengths[:, None]  # (B, T) True at tokens; filled in row-major order
        out[real] = np.concatenate([np.asarray(q, dtype=np.int64) for q in seqs])
    return out, lengths


def pad_tagged(words: Sequence[Sequence[int]], cases: Sequence[Sequence[int]],
               chars: Sequence[Sequence[Sequence[int]]] | None, pad_id: int, char_pad_id: int, case_pad: int,
               max_chars: int) -> dict[str, np.ndarray]:
    """A tagger's padded inputs in numpy: ``words``/``cases`` (B, T), ``chars`` (B, T, C) (each word cut to
    ``max_chars``), ``lengths`` (B,). ``chars`` None gives an all-padding (B, T, 1) character array."""
    chars = chars if chars is not None else [[] for _ in words]
    B, T = len(words), max((len(s) for s in words), default=1)
    longest = max((len(w) for s in chars for w in s), default=1)
    C = max(1, min(max_chars, longest))
    word_a = np.full((B, T), pad_id, dtype=np.int64)
    case_a = np.full((B, T), case_pad, dtype=np.int64)
    char_a = np.full((B, T, C), char_pad_id, dtype=np.int64)
    for b, sent in enumerate(words):
        n = len(sent)
        word_a[b, :n] = sent
        case_a[b, :n] = cases[b]
        for t, w in enumerate(chars[b]):
            if w:
                char_a[b, t, :len(w[:C])] = w[:C]
    lengths = np.fromiter((len(s) for s in words), dtype=np.int64, count=B)
    return {"words": word_a, "cases": case_a, "chars": char_a, "lengths": lengths}


def pad_batch(seqs: Sequence[Sequence[int] | np.ndarray], pad_id: int = 0,
              min_len: int = 1, multiple: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad id sequences into ``(B, T)`` and return their true lengths ``(B,)``.

    Empty sequences keep length 0 in ``lengths`` but get one padding column, so
    models can treat them explicitly instead of crashing on a zero-width batch.
    ``multiple`` rounds ``T`` up: fewer distinct shapes means fewer cached
    oneDNN/cuDNN kernels (memory grew to 7 GB with one shape per batch here).
    """
    import torch

    out, lengths = pad_arrays(seqs, pad_id, min_len, multiple)
    return torch.from_numpy(out), torch.from_numpy(lengths)
