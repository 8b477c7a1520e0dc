"""The student's function on right-padded ids without packed sequences: the module every ONNX export traces.

Packed sequences do not export to ONNX. This twin reads the same weights and computes the same
logits from ids (B, T, C) alone: the mask is `ids[..., 0] != 0`, the forward direction runs over
the padded rows (padding comes after every real token, so it never reaches a real position), and
the backward direction runs over each row with its real tokens reversed in place. Mean pooling sums
left to right (CumSum), so a row's mean never depends on the padding or the batch around it.
"""
from __future__ import annotations

import torch
from torch import nn

from featherweight.students.classifier import pair_features
from featherweight.students.pooling import pool


class MatMulLinear(nn.Module):
    """y = x @ W^T + b written as MatMul + Add, which onnxruntime's dynamic int8 quantizes (Gemm it does not)."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.weight_t = nn.Parameter(linear.weight.detach().t().contiguous(), requires_grad=False)  # (in, out)
        self.bias = nn.Parameter(linear.bias.detach().clone(), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.matmul(x, self.weight_t) + self.bias


def _one_direction(rnn: nn.RNNBase, suffix: str) -> nn.RNNBase:
    """A unidirectional copy of one direction ("" forward, "_reverse" backward) of a bidirectional layer."""
    if isinstance(rnn, nn.LSTM):
        single: nn.RNNBase = nn.LSTM(rnn.input_size, rnn.hidden_size, batch_first=True)
    else:
        single = nn.RNN(rnn.input_size, rnn.hidden_size, nonlinearity=rnn.nonlinearity, batch_first=True)
    with torch.no_grad():
        for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            getattr(single, name).copy_(getattr(rnn, name + suffix))
    return single.eval()


def sequential_mean(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Masked mean (B, T, F) -> (B, F) summed left to right: onnxruntime's ReduceSum would sum in an order that
    depends on the batch shape; CumSum read at each row's last real token does not. Empty rows give zeros."""
    lengths = mask.sum(dim=1, keepdim=True)  # (B, 1)
    running = (states * mask.unsqueeze(-1).to(states.dtype)).cumsum(dim=1)  # (B, T, F)
    last = (lengths - 1).clamp(min=0).unsqueeze(-1).expand(-1, 1, states.size(-1))  # (B, 1, F)
    return running.gather(1, last).squeeze(1) / lengths.clamp(min=1).to(states.dtype)  # (B, F)


def _pool(states: torch.Tensor, mask: torch.Tensor, method: str) -> torch.Tensor:
    """`pool`, with the mean summed in a fixed order (see sequential_mean)."""
    if method == "mean" and states.size(1) > 0:
        return sequential_mean(states, mask)
    return pool(states, mask, method)


def reversed_positions(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """(B, T) indices that reverse each row's first `length` positions and keep the padding in place."""
    positions = torch.arange(steps, device=lengths.device).unsqueeze(0)  # (1, T)
    lengths = lengths.unsqueeze(1)  # (B, 1)
    return torch.where(positions < lengths, lengths - 1 - positions, positions)  # (B, T)


def _take(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x (B, T, F) reordered along time by index (B, T)."""
    return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.size(-1)))


class PaddedStudent(nn.Module):
    """forward(ids[, ids_b]) -> logits (B, num_labels): the student's function with ONNX-friendly ops."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        model = model.eval()
        self.embedding = model.embedding
        self.pair = model.pair
        self.num_labels = model.num_labels
        self.pooling = model.config.pooling
        rnn = getattr(model.encoder, "rnn", None)
        self.recurrent = rnn is not None
        if self.recurrent:
            self.forward_rnn = _one_direction(rnn, "")
            self.backward_rnn = _one_direction(rnn, "_reverse")
        layers = []
        for layer in model.classifier:
            if isinstance(layer, nn.Linear):
                layers.append(MatMulLinear(layer))
            elif isinstance(layer, nn.ReLU):
                layers.append(nn.ReLU())
        self.classifier = nn.Sequential(*layers)  # dropout is the identity at inference
        self.eval()

    def encode(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (B, T, C) -> sentence vectors (B, E)."""
        mask = ids[..., 0] != 0  # (B, T)
        x = self.embedding(ids)  # (B, T, D)
        if not self.recurrent:
            return _pool(x, mask, self.pooling)  # (B, D)
        forward_states, _ = self.forward_rnn(x)  # (B, T, H), exact at every real position
        order = reversed_positions(mask.sum(dim=1), ids.size(1))  # (B, T)
        backward_states, _ = self.backward_rnn(_take(x, order))  # (B, T, H) in reversed time
        states = torch.cat([forward_states, _take(backward_states, order)], dim=-1)  # (B, T, 2H)
        return _pool(states, mask, self.pooling)  # (B, 2H)

    def forward(self, ids: torch.Tensor, ids_b: torch.Tensor | None = None) -> torch.Tensor:
        features = self.encode(ids)
        if self.pair:
            features = pair_features(features, self.encode(ids_b))  # (B, 4E)
        return self.classifier(features)  # (B, num_labels)
