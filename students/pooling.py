"""Pool right-padded states (B, T, F) into one vector per row (B, F), never reading padding.

Rows with no real token pool to a vector of zeros.
"""
from __future__ import annotations

import torch


def masked_mean(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `states` over positions where `mask` is True; zeros for empty rows."""
    kept = states.masked_fill(~mask.unsqueeze(-1), 0.0)  # (B, T, F)
    count = mask.sum(dim=1, keepdim=True).clamp(min=1).to(states.dtype)  # (B, 1)
    return kept.sum(dim=1) / count  # (B, F)


def masked_max(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Element-wise max of `states` over positions where `mask` is True; zeros for empty rows."""
    kept = states.masked_fill(~mask.unsqueeze(-1), float("-inf"))  # (B, T, F)
    pooled = kept.amax(dim=1)  # (B, F), -inf on empty rows
    nonempty = mask.any(dim=1, keepdim=True)  # (B, 1)
    return torch.where(nonempty, pooled, torch.zeros_like(pooled))


def last_state(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """True final state of a bidirectional RNN whose outputs are `states` = [forward; backward] halves.

    Forward half: the output after the last real token (position length - 1).
    Backward half: the output at position 0, i.e. after reading the whole real sentence right to left.
    (The thesis code took the backward output at the last position, which has seen only one token.)
    Relies on right padding; empty rows give zeros.
    """
    batch, _, width = states.shape
    if width % 2:
        raise ValueError(f"last_state expects [forward; backward] states of even width, got width {width}.")
    half = width // 2
    lengths = mask.sum(dim=1)  # (B,)
    last = (lengths - 1).clamp(min=0)  # (B,)
    rows = torch.arange(batch, device=states.device)  # (B,)
    forward = states[rows, last, :half]  # (B, H)
    backward = states[:, 0, half:]  # (B, H)
    pooled = torch.cat([forward, backward], dim=-1)  # (B, 2H)
    nonempty = (lengths > 0).unsqueeze(-1)  # (B, 1)
    return torch.where(nonempty, pooled, torch.zeros_like(pooled))


_POOLS = {"last": last_state, "max": masked_max, "mean": masked_mean}


def pool(states: torch.Tensor, mask: torch.Tensor, method: str) -> torch.Tensor:
    """Pool `states` (B, T, F) with `mask` (B, T) by `method` ("last", "max" or "mean") into (B, F)."""
    if method not in _POOLS:
        raise ValueError(f"Unknown pooling {method!r}; expected one of {', '.join(_POOLS)}.")
    if states.size(1) == 0:  # no time steps at all: every row is empty
        return states.new_zeros(states.size(0), states.size(2))  # (B, F)
    return _POOLS[method](states, mask)
