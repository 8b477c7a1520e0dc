"""The one tokenisation path of students: texts -> id arrays (cached on disk) -> padded batch tensors."""
from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from featherweight.data import TaskData
from featherweight.progress import progress_bar

logger = logging.getLogger(__name__)


@dataclass
class EncodedTexts:
    """Ragged token ids of many texts: row i is ids[offsets[i]:offsets[i + 1]], shape (T_i, C)."""

    ids: np.ndarray  # (total tokens, C) int32
    offsets: np.ndarray  # (N + 1,) int64

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def batch(self, index) -> torch.Tensor:
        """Right-padded LongTensor (B, T, C) of the rows in `index` (T >= 1)."""
        lengths = self.lengths[index]
        out = np.zeros((len(index), max(1, int(lengths.max(initial=0))), self.ids.shape[1]), dtype=np.int64)
        for row, (i, n) in enumerate(zip(index, lengths)):
            out[row, :n] = self.ids[self.offsets[i]:self.offsets[i] + n]
        return torch.from_numpy(out)


def encode_texts(tokenizer, texts: list[str], *, show_progress: bool = False, desc: str = "tokenise") -> EncodedTexts:
    """Encode texts with the tokenizer (the same call used by training, evaluation and export tests)."""
    arrays = [tokenizer.encode(text) for text in progress_bar(texts, desc=desc, enable=show_progress)]
    offsets = np.zeros(len(arrays) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(a) for a in arrays])
    width = tokenizer.ids_per_token
    ids = np.concatenate(arrays).astype(np.int32) if offsets[-1] else np.zeros((0, width), np.int32)
    return EncodedTexts(ids.reshape(-1, width), offsets)


@dataclass
class EncodedData:
    """A task split encoded for a student: one EncodedTexts per text column."""

    columns: list[EncodedTexts]

    def __len__(self) -> int:
        return len(self.columns[0].offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.maximum.reduce([column.lengths for column in self.columns])

    def inputs(self, index) -> tuple[torch.Tensor, ...]:
        """Model inputs for rows `index`: (ids,) or (ids, ids_b)."""
        return tuple(column.batch(index) for column in self.columns)


def encode_data(tokenizer, data: TaskData, *, cache_dir=None, tokenizer_hash: str = "",
                show_progress: bool = False) -> EncodedData:
    """Encode a split's texts, reusing an on-disk cache keyed by the tokenizer and the texts.

    `tokenizer_hash` identifies the tokenizer's files (a BPE model's spec alone does not).
    """
    texts = [data.texts_a] + ([data.texts_b] if data.texts_b is not None else [])
    key = hashlib.sha256((tokenizer.spec.to_json() + tokenizer_hash).encode())
    for column in texts:
        for text in column:
            key.update(text.encode("utf-8", "surrogatepass") + b"\0")  # lone surrogates hash too
    path = Path(cache_dir) / f"{key.hexdigest()[:24]}.npz" if cache_dir else None
    if path is not None and path.is_file():
        arrays = np.load(path)
        count = len(texts)
        return EncodedData([EncodedTexts(arrays[f"ids{i}"], arrays[f"offsets{i}"]) for i in range(count)])
    encoded = EncodedData([encode_texts(tokenizer, column, show_progress=show_progress,
                                        desc=f"tokenise {data.path.name}") for column in texts])
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {}
        for i, column in enumerate(encoded.columns):
            arrays[f"ids{i}"], arrays[f"offsets{i}"] = column.ids, column.offsets
        with open(path.with_suffix(f".{os.getpid()}.tmp"), "wb") as handle:  # parallel runs share this cache
            np.savez(handle, **arrays)
        os.replace(handle.name, path)
    return encoded

