"""Classifier head: an MLP with one ReLU hidden layer, and the sentence-pair feature layout [u; v; |u-v|; u*v].

ReLU rather than tanh: it quantizes to int8 without a lookup table and costs one compare on a microcontroller.
"""
from __future__ import annotations

import torch
from torch import nn


def pair_features(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Combine two sentence vectors (B, E) into the classifier input [u; v; |u-v|; u*v] of shape (B, 4E)."""
    return torch.cat([u, v, (u - v).abs(), u * v], dim=-1)  # (B, 4E)


class Classifier(nn.Sequential):
    """Dropout -> Linear -> ReLU -> Dropout -> Linear; with hidden_dim 0, Dropout -> Linear."""

    def __init__(self, in_features: int, hidden_dim: int, num_labels: int, dropout: float) -> None:
        layers: list[nn.Module] = [nn.Dropout(dropout)]
        width = in_features
        if hidden_dim > 0:
            layers += [nn.Linear(width, hidden_dim), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden_dim
        layers.append(nn.Linear(width, num_labels))
        super().__init__(*layers)
        self.in_features = in_features
        self.num_labels = num_labels
