"""Shared tokenizer behaviour: batching, saving tokenizer.json, unknown-symbol counts, padding."""
from collections import Counter
from pathlib import Path

import numpy as np

from .spec import TokenizerSpec

SPEC_FILE = "tokenizer.json"


class Tokenizer:
    """Base class: subclasses implement `_ids(text) -> list of id tuples` (already truncated)."""

    def __init__(self, spec: TokenizerSpec):
        self.spec = spec
        self.unknown_counts = Counter()  # symbol -> times mapped to the unknown id by encode()

    @property
    def ids_per_token(self) -> int:
        return self.spec.ids_per_token

    @property
    def unknown_total(self) -> int:
        """How many encoded symbols mapped to the unknown id so far."""
        return sum(self.unknown_counts.values())

    def encode(self, text: str) -> np.ndarray:
        """Ids of `text`, int64 of shape (T, ids_per_token) with T <= spec.max_length."""
        rows = self._ids(text)
        return np.asarray(rows, dtype=np.int64).reshape(len(rows), self.ids_per_token)

    def _ids(self, text: str) -> list:
        raise NotImplementedError(f"{type(self).__name__} must implement _ids or encode.")

    def encode_batch(self, texts) -> list:
        return [self.encode(t) for t in texts]

    def save(self, directory) -> Path:
        """Write tokenizer.json (and any model files) into `directory`; returns the directory."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / SPEC_FILE).write_text(self.spec.to_json() + "\n", encoding="utf-8")
        self._save_files(directory)
        return directory

    def _save_files(self, directory: Path) -> None:
        """Subclasses with vocabulary or model files write them here."""

    def __repr__(self):
        return f"{type(self).__name__}({self.spec.to_dict()})"


def pad_batch(arrays, length: int | None = None) -> np.ndarray:
    """Stack (T_i, C) id arrays into (B, T, C), padding with id 0 (T = longest, or `length`)."""
    if not arrays:
        raise ValueError("pad_batch got an empty list; expected at least one (T, C) array.")
    columns = {a.shape[1] for a in arrays}
    if len(columns) != 1:
        raise ValueError(f"pad_batch got arrays with different ids_per_token {sorted(columns)}.")
    length = max(len(a) for a in arrays) if length is None else length
    out = np.zeros((len(arrays), length, columns.pop()), dtype=np.int64)
    for i, a in enumerate(arrays):
        out[i, :min(len(a), length)] = a[:length]
    return out
