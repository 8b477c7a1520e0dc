"""Offline BPE fallback: a SentencePiece BPE model and PPMI + SVD piece vectors trained on the task's text.

Used when the BPEmb files are neither cached nor downloadable; recorded as
source="fallback-sentencepiece-ppmi" (or "-glove") in the spec, never as BPEmb.
"""
import io

import numpy as np
import sentencepiece as spm


def train_sentencepiece(texts: list, vocab_size: int) -> bytes:
    """Serialized BPE model trained on `texts` (already normalised), deterministic for a given input."""
    if not any(t.strip() for t in texts):
        raise ValueError("The BPE fallback needs non-empty training texts; got none.")
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts), model_writer=buf, model_type="bpe", vocab_size=vocab_size,
        hard_vocab_limit=False,  # a small corpus gets a smaller vocabulary instead of an error
        bos_id=-1, eos_id=-1,  # only <unk> (id 0); sentence markers are never used
        num_threads=1, input_sentence_size=0, shuffle_input_sentence=False,  # determinism
        minloglevel=2)
    return buf.getvalue()


def ppmi_vectors(id_lists: list, vocab_size: int, dim: int, seed: int, window: int = 5) -> np.ndarray:
    """(vocab_size, dim) float32 unit-norm vectors: truncated SVD (U * sqrt(S)) of the PPMI matrix of
    1/distance-weighted co-occurrences within `window` pieces (both directions). Pieces never seen,
    or seen without context, get seeded random rows."""
    rng = np.random.default_rng(seed)
    out = rng.standard_normal((vocab_size, dim))
    ids = np.concatenate([np.asarray(x, dtype=np.int64) for x in id_lists] + [np.zeros(0, np.int64)])
    if ids.size == 0:
        return unit_rows(out)
    sentence = np.repeat(np.arange(len(id_lists)), [len(x) for x in id_lists])
    seen, inv = np.unique(ids, return_inverse=True)
    counts = np.zeros((len(seen), len(seen)), dtype=np.float32)
    for offset in range(1, window + 1):
        same = sentence[:-offset] == sentence[offset:]
        np.add.at(counts, (inv[:-offset][same], inv[offset:][same]), 1.0 / offset)
    counts += counts.T
    factors = _top_factors(_ppmi(counts), min(dim, len(seen)), rng)  # (seen, rank)
    vectors = 0.01 * rng.standard_normal((len(seen), dim))  # columns beyond the rank: small noise
    vectors[:, :factors.shape[1]] = unit_rows(factors)
    no_context = counts.sum(1) == 0  # e.g. one-piece texts: keep a random row
    vectors[no_context] = out[seen][no_context]
    out[seen] = vectors
    return unit_rows(out)


def _ppmi(counts: np.ndarray) -> np.ndarray:
    """Positive PMI with context-distribution smoothing 0.75 (Levy et al., 2015)."""
    total = counts.sum()
    if total == 0:
        return counts
    word = counts.sum(1, keepdims=True) / total
    context = counts.sum(0, keepdims=True) ** 0.75
    context /= context.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        pmi = np.log(counts / total / (word * context))
    return np.where(counts > 0, np.maximum(pmi, 0), 0).astype(np.float32)


def _top_factors(m: np.ndarray, rank: int, rng: np.random.Generator, iters: int = 4) -> np.ndarray:
    """U[:, :rank] * sqrt(S[:rank]) by randomized SVD, signs fixed so each column's largest entry is positive."""
    if m.shape[0] <= 2 * (rank + 10):
        u, s, _ = np.linalg.svd(m.astype(np.float64))
    else:
        y = m @ rng.standard_normal((m.shape[1], rank + 10)).astype(np.float32)
        for _ in range(iters):
            y = m @ (m.T @ np.linalg.qr(y)[0])
        q = np.linalg.qr(y)[0]
        u, s, _ = np.linalg.svd((q.T @ m).astype(np.float64), full_matrices=False)
        u = q @ u
    u, s = u[:, :rank], s[:rank]
    sign = np.sign(u[np.abs(u).argmax(0), np.arange(u.shape[1])])
    return u * np.where(sign == 0, 1, sign) * np.sqrt(s)


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero), as float32."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(norms == 0, 1, norms)).astype(np.float32)
