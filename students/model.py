"""The student model: embedding -> encoder -> (pair features) -> classifier, with input checks at the boundary."""
from __future__ import annotations

import torch
from torch import nn

from .classifier import Classifier, pair_features
from .config import StudentConfig


def _check_ids(ids: object, name: str) -> torch.Tensor:
    """Raise a clear error unless `ids` is an integer tensor (B, T, C) with right padding (id 0 in column 0)."""
    if not isinstance(ids, torch.Tensor):
        raise TypeError(f"Expected {name} to be a torch.Tensor of token ids, got {type(ids).__name__}.")
    if ids.dim() != 3:
        raise ValueError(
            f"Expected {name} of shape (B, T, C), got shape {tuple(ids.shape)}. "
            "For one id per token add a trailing axis with ids.unsqueeze(-1)."
        )
    if ids.dtype not in (torch.int64, torch.int32):
        raise TypeError(f"Expected {name} with dtype torch.long, got {ids.dtype}.")
    if not (torch.jit.is_tracing() or torch.compiler.is_compiling()):
        mask = ids[..., 0] != 0  # (B, T)
        if bool((mask[:, 1:] & ~mask[:, :-1]).any()):
            raise ValueError(
                f"{name} has a real token after padding (id 0 in column 0); students expect right padding. "
                "Pad at the end of each row."
            )
    return ids


class StudentModel(nn.Module):
    """A tiny text classifier: forward(ids, ids_b=None) -> logits (B, num_labels)."""

    def __init__(
        self,
        config: StudentConfig,
        embedding: nn.Module,
        encoder: nn.Module,
        classifier: Classifier,
        num_labels: int,
        pair: bool,
    ) -> None:
        super().__init__()
        self.config = config
        self.embedding = embedding
        self.encoder = encoder
        self.classifier = classifier
        self.num_labels = num_labels
        self.pair = pair

    def encode(self, ids: torch.Tensor) -> torch.Tensor:
        """One sentence vector per row: ids (B, T, C) -> (B, E)."""
        return self._encode(ids, "ids")

    def _encode(self, ids: torch.Tensor, name: str) -> torch.Tensor:
        """`encode`, with errors naming the argument `name`."""
        _check_ids(ids, name)
        mask = ids[..., 0] != 0  # (B, T)
        x = self.embedding(ids)  # (B, T, D)
        if x.shape[:2] != ids.shape[:2]:
            raise ValueError(
                f"The embedding returned shape {tuple(x.shape)} for ids of shape {tuple(ids.shape)}; "
                "expected (B, T, D) with the same B and T."
            )
        return self.encoder(x, mask)  # (B, E)

    def features(self, ids: torch.Tensor, ids_b: torch.Tensor | None = None) -> torch.Tensor:
        """Classifier input: (B, E) for single sentences, [u; v; |u-v|; u*v] (B, 4E) for pairs."""
        if not self.pair:
            if ids_b is not None:
                raise ValueError("This is a single-sentence model; call it as model(ids) without ids_b.")
            return self._encode(ids, "ids")  # (B, E)
        if ids_b is None:
            raise ValueError("This is a sentence-pair model; call it as model(ids, ids_b) with the second sentence.")
        u = self._encode(ids, "ids")  # (B, E)
        v = self._encode(ids_b, "ids_b")  # (B, E)
        if u.size(0) != v.size(0):
            raise ValueError(f"ids and ids_b must hold the same number of rows, got {u.size(0)} and {v.size(0)}.")
        return pair_features(u, v)  # (B, 4E)

    def forward(self, ids: torch.Tensor, ids_b: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, num_labels) for ids (B, T, C) and, for pair models, ids_b (B, T', C)."""
        return self.classifier(self.features(ids, ids_b))  # (B, num_labels)
