"""Length-bucketed batch orders: similar lengths share a batch, so padding (and time) is small."""
from __future__ import annotations

import numpy as np


def bucketed_batches(lengths, batch_size: int, *, shuffle: bool, seed: int = 0,
                     bucket_factor: int = 50) -> list[np.ndarray]:
    """Split row indices into batches of rows of similar length.

    With `shuffle`, rows are shuffled, sorted by length inside chunks of
    `bucket_factor * batch_size` rows, cut into batches, and the batches shuffled: every
    epoch (seed) sees different batches, each nearly free of padding. Without it, all rows
    are sorted by length (longest first), which is fastest for inference.
    """
    lengths = np.asarray(lengths)
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if not shuffle:
        order = np.argsort(-lengths, kind="stable")
        return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(lengths))
    chunk = batch_size * bucket_factor
    batches = []
    for start in range(0, len(order), chunk):
        part = order[start:start + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches.extend(part[i:i + batch_size] for i in range(0, len(part), batch_size))
    rng.shuffle(batches)
    return batches


def sequential_batches(n_rows: int, batch_size: int) -> list[np.ndarray]:
    """Batches in file order (the unbucketed baseline)."""
    order = np.arange(n_rows)
    return [order[i:i + batch_size] for i in range(0, n_rows, batch_size)]
