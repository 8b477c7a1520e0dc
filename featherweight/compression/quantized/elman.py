"""A bidirectional tanh Elman RNN written out step by step, so its four Linear layers can be quantized.

h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), forward over each row's real tokens and backward
from each row's last real token (right padding, never read). Before quantization it computes what
students.recurrent.RecurrentEncoder with nn.RNN computes (packed sequences), pooling included.
"""
from __future__ import annotations

import torch
from torch import nn

from featherweight.students.pooling import pool


class ElmanEncoder(nn.Module):
    """Drop-in for a RecurrentEncoder of arch "rnn": (B, T, D) embedded tokens and mask -> (B, 2H)."""

    def __init__(self, input_dim: int, hidden_dim: int, pooling: str) -> None:
        super().__init__()
        self.hidden_dim, self.pooling, self.output_dim = hidden_dim, pooling, 2 * hidden_dim
        self.forward_ih, self.forward_hh = nn.Linear(input_dim, hidden_dim), nn.Linear(hidden_dim, hidden_dim)
        self.backward_ih, self.backward_hh = nn.Linear(input_dim, hidden_dim), nn.Linear(hidden_dim, hidden_dim)

    @classmethod
    @torch.no_grad()
    def from_recurrent(cls, encoder: nn.Module) -> ElmanEncoder:
        """Copy the weights of a RecurrentEncoder whose `rnn` is a one-layer bidirectional tanh nn.RNN."""
        rnn = getattr(encoder, "rnn", None)
        if not (isinstance(rnn, nn.RNN) and rnn.bidirectional and rnn.num_layers == 1 and rnn.bias
                and rnn.nonlinearity == "tanh" and rnn.batch_first):
            raise ValueError(f"ElmanEncoder copies a one-layer bidirectional batch-first tanh nn.RNN with biases, "
                             f"got {rnn!r}.")
        module = cls(rnn.input_size, rnn.hidden_size, encoder.pooling)
        for prefix, suffix in (("forward", "_l0"), ("backward", "_l0_reverse")):
            for kind in ("ih", "hh"):
                linear = getattr(module, f"{prefix}_{kind}")
                linear.weight.copy_(getattr(rnn, f"weight_{kind}{suffix}"))
                linear.bias.copy_(getattr(rnn, f"bias_{kind}{suffix}"))
        return module

    def _direction(self, inputs: torch.Tensor, mask: torch.Tensor, hh: nn.Module, steps) -> torch.Tensor:
        """Run one direction over `steps` (time indices in reading order); outputs (B, T, H), zero at padding."""
        batch, length, _ = inputs.shape
        h = inputs.new_zeros(batch, self.hidden_dim)  # (B, H)
        outputs = [None] * length
        for t in steps:
            new = torch.tanh(inputs[:, t] + hh(h))  # (B, H)
            real = mask[:, t].unsqueeze(-1)  # (B, 1)
            h = torch.where(real, new, h)  # padding leaves the state alone
            outputs[t] = torch.where(real, new, torch.zeros_like(new))
        return torch.stack(outputs, dim=1)  # (B, T, H)

    def states(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Per-token outputs (B, T, 2H), [forward; backward], zero at padding."""
        batch, length, _ = x.shape
        if length == 0:
            return x.new_zeros(batch, 0, self.output_dim)
        forward = self._direction(self.forward_ih(x), mask, self.forward_hh, range(length))
        backward = self._direction(self.backward_ih(x), mask, self.backward_hh, reversed(range(length)))
        return torch.cat([forward, backward], dim=-1)  # (B, T, 2H)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Encode embedded tokens `x` (B, T, D) with real-token `mask` (B, T) into (B, 2H)."""
        return pool(self.states(x, mask), mask, self.pooling)  # (B, 2H)
