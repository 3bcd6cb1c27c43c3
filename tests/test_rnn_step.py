"""rnn_step: one time step through the cell equations equals the nn.LSTM/nn.GRU module, stacked layers included."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from seqlab.models.rnn_step import rnn_step


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU])
@pytest.mark.parametrize("layers", [1, 3])
def test_rnn_step_equals_the_module_step_by_step(cls, layers):
    torch.manual_seed(0)
    rnn = cls(7, 5, layers, batch_first=True, dropout=0.3 if layers > 1 else 0.0).eval()
    x = torch.randn(4, 6, 7)
    with torch.no_grad():
        h0 = torch.randn(layers, 4, 5)
        state = (h0, torch.randn(layers, 4, 5)) if cls is nn.LSTM else h0
        expected, expected_state = rnn(x, state)  # (B, T, H): the whole sequence at once, from the same state
        outputs = []
        for t in range(6):
            out, state = rnn_step(rnn, x[:, t], state)
            outputs.append(out)
    torch.testing.assert_close(torch.stack(outputs, dim=1), expected, atol=1e-5, rtol=1e-5)
    for mine, theirs in zip(state if cls is nn.LSTM else (state,),
                            expected_state if cls is nn.LSTM else (expected_state,), strict=True):
        torch.testing.assert_close(mine, theirs, atol=1e-5, rtol=1e-5)
