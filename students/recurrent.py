"""Bidirectional recurrent encoder (LSTM or tanh Elman RNN): embedded tokens (B, T, D) to one vector (B, 2H).

One plain nn.LSTM / nn.RNN layer run on packed sequences, so padding never enters either direction.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .pooling import pool


class RecurrentEncoder(nn.Module):
    """One bidirectional recurrent layer followed by a pooling that ignores padding."""

    def __init__(self, arch: str, input_dim: int, hidden_dim: int, pooling: str) -> None:
        super().__init__()
        if arch == "bilstm":
            self.rnn: nn.RNNBase = nn.LSTM(input_dim, hidden_dim, batch_first=True, bidirectional=True)
        elif arch == "rnn":
            self.rnn = nn.RNN(input_dim, hidden_dim, nonlinearity="tanh", batch_first=True, bidirectional=True)
        else:
            raise ValueError(f"RecurrentEncoder builds 'bilstm' or 'rnn', got {arch!r}.")
        self.pooling = pooling
        self.output_dim = 2 * hidden_dim

    def states(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Per-token outputs (B, T, 2H), [forward; backward], zero at padding; row lengths come from `mask`."""
        batch, steps, _ = x.shape
        if steps == 0:
            return x.new_zeros(batch, 0, self.output_dim)
        # Empty rows run one (padding) step so packing accepts them; pooling zeros them afterwards.
        lengths = mask.sum(dim=1).clamp(min=1).cpu()  # (B,)
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        states, _ = pad_packed_sequence(out, batch_first=True, total_length=steps)  # (B, T, 2H)
        return states

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Encode embedded tokens `x` (B, T, D) with real-token `mask` (B, T) into (B, 2H)."""
        return pool(self.states(x, mask), mask, self.pooling)  # (B, 2H)
