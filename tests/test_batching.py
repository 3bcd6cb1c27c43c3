import numpy as np
import torch

from seqlab.data.batching import bucket_batches, pad_batch
from seqlab.data.cache import cached_arrays, from_ragged, to_ragged


def test_bucket_batches_cover_every_index_once_and_group_lengths():
    lengths = np.random.RandomState(0).randint(1, 200, size=1000)
    batches = bucket_batches(lengths, batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(0))
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(1000))
    assert all(len(b) <= 32 for b in batches)
    spread = np.mean([lengths[b].max() - lengths[b].min() for b in batches])
    assert spread < 20  # random batches would spread ~170
    again = bucket_batches(lengths, batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(0))
    assert again == batches


def test_max_tokens_budget_counts_padding():
    lengths = [5, 50, 7, 60, 8, 3, 100]
    batches = bucket_batches(lengths, max_tokens=120)
    for b in batches:
        assert max(lengths[i] for i in b) * len(b) <= 120 or len(b) == 1
    assert sorted(i for b in batches for i in b) == list(range(7))


def test_pad_batch_shapes_and_empty_sequences():
    ids, lengths = pad_batch([[1, 2, 3], [], [4]], pad_id=0)
    assert ids.tolist() == [[1, 2, 3], [0, 0, 0], [4, 0, 0]]
    assert lengths.tolist() == [3, 0, 1]
    ids, lengths = pad_batch([[]], pad_id=0)
    assert ids.shape == (1, 1) and lengths.tolist() == [0]


def test_ragged_roundtrip_and_cache_hit(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQLAB_CACHE", str(tmp_path))
    seqs = [[1, 2], [], [3, 4, 5]]
    ragged = to_ragged(seqs)
    assert [s.tolist() for s in from_ragged(ragged["ids"], ragged["offsets"])] == seqs
    calls = []

    def compute():
        calls.append(1)
        return ragged, {"note": "x"}

    first = cached_arrays({"k": 1}, compute)
    second = cached_arrays({"k": 1}, compute)
    assert len(calls) == 1 and second[1] == {"note": "x"}
    assert second[0]["ids"].tolist() == first[0]["ids"].tolist()
    cached_arrays({"k": 2}, compute)
    assert len(calls) == 2


def test_pad_batch_rounds_width_up_to_a_multiple():
    ids, lengths = pad_batch([[1, 2, 3], [4]], pad_id=0, multiple=8)
    assert ids.shape == (2, 8) and lengths.tolist() == [3, 1] and ids[0, 3:].eq(0).all()
