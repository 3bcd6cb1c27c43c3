"""The numpy CRF of the torch-free runtime decodes and scores exactly as the torch CRF it is exported from."""

import numpy as np
import pytest
import torch

from seqlab.export.crf import marginals, viterbi
from seqlab.models.crf import LinearChainCRF
from seqlab.text.tagging import allowed_transitions

LABELS = ["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC"]


@pytest.mark.parametrize("constrained", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_numpy_viterbi_and_marginals_equal_torch(seed, constrained):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    crf = LinearChainCRF(len(LABELS), *(allowed_transitions(LABELS, "bioes") if constrained else ()))
    with torch.no_grad():
        for p in crf.parameters():
            p.normal_()
    B, T = 6, 9
    emissions = torch.randn(B, T, len(LABELS)) * 3
    lengths = torch.from_numpy(rng.integers(1, T + 1, size=B))
    lengths[0] = T
    mask = torch.arange(T)[None, :] < lengths[:, None]
    trans, start, end = (s.detach().double().numpy() for s in crf._scores())
    tags = viterbi(emissions.numpy(), lengths.numpy(), trans, start, end)
    np.testing.assert_array_equal(tags, crf.viterbi(emissions, mask)[0].numpy())
    np.testing.assert_allclose(marginals(emissions.numpy(), lengths.numpy(), trans, start, end),
                               crf.marginals(emissions, mask).numpy(), atol=1e-4)  # torch sums in fp32
