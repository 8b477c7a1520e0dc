"""Embedding modules: ids (B, T, C) -> vectors (B, T, dim), exactly zero at padding (id 0).

Each module carries its `kind` (its tokenizer's type: hash, char or bpe), so pruning, quantization and export
read it from the model instead of being told.
"""
import torch
from torch import nn

from .base import Tokenizer


class HashEmbedding(nn.Module):
    """Svenstrup et al. (2017): e(w) = sum_i p_w[i] * E[h_i(w)], with B shared component vectors E
    (B x dim) and K rows of k importance weights P (K x k). Row 0 of both tables is padding.
    With word n-grams, a token's vector is the sum of the vectors of the n-grams ending at it.
    """

    kind = "hash"

    def __init__(self, num_components: int, num_buckets: int, num_hashes: int, dim: int, word_ngrams: int = 1):
        super().__init__()
        self.embedding_dim, self.num_hashes, self.word_ngrams = dim, num_hashes, word_ngrams
        self.components = nn.Embedding(num_components + 1, dim, padding_idx=0)  # N(0, 1) init
        self.importance = nn.Embedding(num_buckets + 1, num_hashes, padding_idx=0)
        with torch.no_grad():  # equal weights whose sum keeps the N(0, 1) scale of the components
            self.importance.weight.fill_(num_hashes ** -0.5)
            self.importance.weight[0] = 0

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        k = self.num_hashes
        _check_ids(ids, (k + 1) * self.word_ngrams)
        ids = ids.reshape(*ids.shape[:2], self.word_ngrams, k + 1)  # (B, T, n, k + 1)
        vectors = self.components(ids[..., :k])  # (B, T, n, k, dim)
        weights = self.importance(ids[..., k])  # (B, T, n, k)
        return (weights.unsqueeze(-1) * vectors).sum((-3, -2))  # (B, T, dim)


class TokenEmbedding(nn.Module):
    """One row per id; row 0 is padding. `kind` says whose ids they are: "char" (characters) or "bpe" (subwords)."""

    KINDS = ("char", "bpe")

    def __init__(self, num_embeddings: int, dim: int, kind: str, vectors: torch.Tensor | None = None):
        super().__init__()
        if kind not in self.KINDS:
            raise ValueError(f"A token embedding's kind is one of {', '.join(self.KINDS)}, got {kind!r}.")
        self.embedding_dim, self.kind = dim, kind
        self.table = nn.Embedding(num_embeddings, dim, padding_idx=0)
        if vectors is not None:
            if tuple(vectors.shape) != (num_embeddings, dim):
                raise ValueError(f"Pretrained vectors have shape {tuple(vectors.shape)}, "
                                 f"expected {(num_embeddings, dim)}.")
            with torch.no_grad():
                self.table.weight.copy_(vectors)
                self.table.weight[0] = 0

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        _check_ids(ids, 1)
        return self.table(ids[..., 0])  # (B, T, dim)

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}"


def _check_ids(ids: torch.Tensor, columns: int) -> None:
    if ids.dim() != 3 or ids.shape[-1] != columns:
        raise ValueError(f"Expected ids of shape (batch, tokens, {columns}), got {tuple(ids.shape)}.")


def build_embedding(tokenizer: Tokenizer, dim: int) -> nn.Module:
    """The embedding module for `tokenizer`; BPE starts from the tokenizer's pretrained vectors."""
    spec = tokenizer.spec
    if not isinstance(dim, int) or dim < 1:
        raise ValueError(f"dim must be a positive int, got {dim!r}.")
    if spec.type == "hash":
        return HashEmbedding(spec.num_components, spec.num_buckets, spec.num_hashes, dim, spec.word_ngrams)
    vectors = None
    if spec.type == "bpe" and getattr(tokenizer, "vectors", None) is not None:
        vectors = torch.from_numpy(tokenizer.pretrained_vectors(dim))
    return TokenEmbedding(tokenizer.num_embeddings, dim, spec.type, vectors)
