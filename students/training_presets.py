"""Thesis optimiser and batch settings per student arch (Table 6.1), for featherweight.compression.distill to read.

"adam" means torch.optim.Adam with its coupled L2 `weight_decay` (not AdamW);
"adadelta" means torch.optim.Adadelta with its other defaults (rho 0.9, eps 1e-6).
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Any, Mapping

from .config import ARCHS

TRAINING_PRESETS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "bilstm": MappingProxyType(
            {"optimizer": "adadelta", "lr": 1.0, "weight_decay": 0.0, "batch_size": 50, "pair_batch_size": 256}
        ),
        "rnn": MappingProxyType(
            {"optimizer": "adam", "lr": 1e-4, "weight_decay": 1e-5, "batch_size": 50, "pair_batch_size": 256}
        ),
        "ffn": MappingProxyType(
            {"optimizer": "adam", "lr": 1e-4, "weight_decay": 0.0, "batch_size": 50, "pair_batch_size": 256}
        ),
    }
)


def training_preset(arch: str, pair: bool = False) -> dict[str, Any]:
    """Fresh dict {optimizer, lr, weight_decay, batch_size} for `arch`, with the pair batch size when `pair`."""
    if arch not in TRAINING_PRESETS:
        raise ValueError(f"Unknown student arch {arch!r}; expected one of {', '.join(ARCHS)}.")
    preset = TRAINING_PRESETS[arch]
    return {
        "optimizer": preset["optimizer"],
        "lr": preset["lr"],
        "weight_decay": preset["weight_decay"],
        "batch_size": preset["pair_batch_size"] if pair else preset["batch_size"],
    }
