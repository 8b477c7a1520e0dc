"""Bag-of-embeddings encoder for the FFN student: masked mean (or max) of the token embeddings, no parameters."""
from __future__ import annotations

import torch
from torch import nn

from .pooling import pool


class BagOfEmbeddings(nn.Module):
    """Pools embedded tokens (B, T, D) over real tokens into (B, D)."""

    def __init__(self, input_dim: int, pooling: str) -> None:
        super().__init__()
        if pooling not in ("mean", "max"):
            raise ValueError(f"BagOfEmbeddings pools by 'mean' or 'max', got {pooling!r}.")
        self.pooling = pooling
        self.output_dim = input_dim

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Pool `x` (B, T, D) over positions where `mask` (B, T) is True into (B, D)."""
        return pool(x, mask, self.pooling)  # (B, D)
