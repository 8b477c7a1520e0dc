"""Embedding parameter counts: the thesis formulas and what our modules actually hold.

Thesis formulas (d = embedding dim):
  hash  B*d + K*k   (B shared component vectors, K rows of k importance weights; B = K/10)
  char  |A|*d       (|A| = alphabet size: 33 for the thesis alphabet)
  bpe   V*d         (V = BPEmb vocabulary, 5000; or the kept pieces after pruning)
Our tables add one all-zero padding row to each table (id 0), and the char table an
unknown-character row (id 1), so:
  hash  thesis + d + k,   char  thesis + 2*d,   bpe  thesis + d.
The padding rows never train (padding_idx) and cost nothing in an export that skips id 0.
"""
from .spec import TokenizerSpec


def thesis_parameter_count(spec: TokenizerSpec, dim: int) -> int:
    """Parameters of the embedding under the thesis formula for the same settings."""
    if spec.type == "hash":
        return spec.num_components * dim + spec.num_buckets * spec.num_hashes
    if spec.type == "char":
        return len(spec.alphabet) * dim
    pieces = spec.vocab_size if spec.kept_pieces is None else len(spec.kept_pieces)
    return pieces * dim


def parameter_count(spec: TokenizerSpec, dim: int) -> int:
    """Parameters of build_embedding(tokenizer, dim): the thesis count plus padding/unknown rows."""
    extra = {"hash": dim + (spec.num_hashes or 0), "char": 2 * dim, "bpe": dim}[spec.type]
    return thesis_parameter_count(spec, dim) + extra
