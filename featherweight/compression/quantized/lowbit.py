"""Sub-8-bit students: 4- and 2-bit rows, product-quantized embedding tables, and the fake quantization of QAT.

b-bit rows ("int4-row", "int2-row"): symmetric codes in [-(2^(b-1) - 1), 2^(b-1) - 1] (4 bits: -7..7,
2 bits: -1..1, ternary) with one float16 scale per row (or one per tensor, for the hash importance
weights), packed 8 // b codes a byte over the whole matrix (packing.pack_flat). The scale is the one, among clipping ratios of the
row's max |w|, with the least squared error: at 2 to 4 bits clipping a few outliers beats covering them.
Dequantized values are codes times the float16 scale, computed in float32, so every exporter that
reads them as int8 rows with float32 scales computes exactly what PyTorch does.

Product quantization ("pq", as fastText's `quantize`): each table row is cut into sub-vectors of d
dims (the last padded with zeros), each sub-space gets a k-means codebook of 2^b centroids (b = 4 or 8;
centroid 0 is the zero vector, so padding and pruned rows stay exactly zero), and a row is stored as
one b-bit code per sub-space. Codebooks are int8 with one float32 scale for the whole table, so a
reconstructed row is an int8 row times that scale: the int8 exports carry it exactly.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .backend import symmetric_int8
from .modules import _Derived
from .packing import pack_flat, packed_name, packed_width, unpack_flat

LOWBIT_SCHEMES = {"int4-row": 4, "int2-row": 2}
SCHEME_BITS = {"int8-row": 8, **LOWBIT_SCHEMES}  # bits of each fake_quantize scheme
CLIP_RATIOS = torch.linspace(0.25, 1.0, 31)  # candidate scales, as fractions of max |w| / level_max
_ROW_CHUNK = 2048
PQ_ITERATIONS = 25


def level_max(bits: int) -> int:
    """Largest code of symmetric b-bit rows: 7 at 4 bits, 1 at 2 bits (ternary), 127 at 8."""
    return (1 << (bits - 1)) - 1


def _float16_exact(scale: torch.Tensor, bits: int) -> torch.Tensor:
    """Round scales up to float16 values with few enough significant bits that code * scale is exact in float16."""
    significant = 11 - max(1, (level_max(bits)).bit_length())
    mantissa, exponent = torch.frexp(scale.double())
    step = 2.0 ** significant
    return torch.ldexp(torch.ceil(mantissa * step) / step, exponent).float()


@torch.no_grad()
def lowbit_rows(weight: torch.Tensor, bits: int, per_tensor: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric b-bit codes of `weight` (R, C): (codes int8 (R, C), scales float16 (R,) or (1,) if per_tensor).

    Each scale is the least-squared-error one among CLIP_RATIOS of max|w| / level_max. Per-tensor scales are
    also rounded so that every dequantized value is exact in float16 (the exporters store those as float16).
    Zero rows get scale 1 and stay zero.
    """
    weight = weight.detach().float()
    top = level_max(bits)
    rows = weight.reshape(1, -1) if per_tensor else weight.reshape(weight.shape[0], -1)
    codes, scales = [], []
    for chunk in torch.split(rows, _ROW_CHUNK):
        amax = chunk.abs().amax(dim=1, keepdim=True)  # (r, 1)
        candidates = (amax * CLIP_RATIOS / top)  # (r, G)
        candidates = _float16_exact(candidates, bits) if per_tensor else candidates.half().float()
        candidates = torch.where(candidates > 0, candidates, torch.ones_like(candidates))
        q = torch.clamp(torch.round(chunk[:, None, :] / candidates[..., None]), -top, top)  # (r, G, C)
        error = ((q * candidates[..., None] - chunk[:, None, :]) ** 2).sum(-1)  # (r, G)
        best = error.argmin(dim=1)  # the first of equal errors: deterministic
        index = torch.arange(chunk.shape[0])
        codes.append(q[index, best])
        scales.append(candidates[index, best])
    q, scale = torch.cat(codes).to(torch.int8).reshape(weight.shape), torch.cat(scales).half()
    if per_tensor and not torch.equal((q.float() * scale.float()).half().float(), q.float() * scale.float()):
        raise ValueError("The per-tensor scale of this table leaves the float16 range; keep it in float16.")
    return q, scale


def dequantize_rows(codes: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """codes (R, C) * scale ((R,) or (1,)), computed in float32."""
    return codes.float() * scale.float().reshape(-1, *([1] * (codes.dim() - 1)))


def fake_quantize(weight: torch.Tensor, scheme: str, per_tensor: bool = False) -> torch.Tensor:
    """The weights the quantized student will hold, with a straight-through gradient (QAT).

    Exactly the values `quantize` stores for this tensor under `scheme` (int8-row, int4-row or int2-row);
    `per_tensor` (hash importance weights): b-bit codes with one scale for the tensor, int8 included.
    """
    with torch.no_grad():
        if scheme == "int8-row" and not per_tensor:
            q, scale = symmetric_int8(weight)
            value = q.float() * scale.reshape(-1, *([1] * (q.dim() - 1)))
        elif scheme in SCHEME_BITS:
            value = dequantize_rows(*lowbit_rows(weight, SCHEME_BITS[scheme], per_tensor))
        else:
            raise ValueError(f"No fake quantization for scheme {scheme!r}.")
    return weight + (value - weight).detach()


def _store_rows(module: nn.Module, name: str, rows: int, cols: int, bits: int, per_tensor: bool) -> None:
    """Register the buffers of one packed b-bit matrix: <name>_packed<b> (uint8) and <name>_scale (float16)."""
    module.register_buffer(packed_name(name, bits), torch.zeros(packed_width(rows * cols, bits), dtype=torch.uint8))
    module.register_buffer(f"{name}_scale", torch.ones(1 if per_tensor else rows, dtype=torch.float16))


def _set_rows(module: nn.Module, name: str, weight: torch.Tensor, bits: int, per_tensor: bool) -> None:
    q, scale = lowbit_rows(weight, bits, per_tensor)
    setattr(module, packed_name(name, bits), torch.from_numpy(pack_flat(q.numpy(), bits)))
    setattr(module, f"{name}_scale", scale)


def stored_codes(module: nn.Module, name: str, rows: int, cols: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(codes int8 (rows, cols), scale float16) of a packed matrix registered by `_store_rows`."""
    bits = module.bits
    codes = unpack_flat(getattr(module, packed_name(name, bits)).numpy(), bits, (rows, cols))
    return torch.from_numpy(codes), getattr(module, f"{name}_scale")


class _LowBitMatrix(_Derived):
    """Storage shared by the b-bit tables and Linear layers: one packed (rows, cols) "weight", dequantized once."""

    def __init__(self, rows: int, cols: int, bits: int, per_tensor: bool = False) -> None:
        super().__init__()
        self.bits, self.per_tensor, self.__dict__["_shape"] = bits, per_tensor, (rows, cols)
        _store_rows(self, "weight", rows, cols, bits, per_tensor)

    def codes(self) -> tuple[torch.Tensor, torch.Tensor]:
        return stored_codes(self, "weight", *self._shape)

    def _build(self):
        return dequantize_rows(*self.codes())


class LowBitEmbedding(_LowBitMatrix):
    """An embedding table of b-bit rows: one float16 scale per row, or one for the table (`per_tensor`)."""

    def __init__(self, num_embeddings: int, embedding_dim: int, bits: int, per_tensor: bool = False) -> None:
        super().__init__(num_embeddings, embedding_dim, bits, per_tensor)
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim

    @classmethod
    def from_float(cls, embedding: nn.Embedding, bits: int, per_tensor: bool = False) -> LowBitEmbedding:
        module = cls(embedding.num_embeddings, embedding.embedding_dim, bits, per_tensor)
        _set_rows(module, "weight", embedding.weight, bits, per_tensor)
        return module

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self._backend()[ids]

    def extra_repr(self) -> str:
        scales = "one scale" if self.per_tensor else "a scale per row"
        return f"{self.num_embeddings}, {self.embedding_dim}, {self.bits}-bit, {scales}"


class LowBitLinear(_LowBitMatrix):
    """nn.Linear with b-bit weights (a float16 scale per output row) and float activations and bias."""

    def __init__(self, in_features: int, out_features: int, bits: int, bias: bool = True) -> None:
        super().__init__(out_features, in_features, bits)
        self.in_features, self.out_features = in_features, out_features
        self.register_buffer("bias", torch.zeros(out_features) if bias else None)

    @classmethod
    def from_float(cls, linear: nn.Linear, bits: int) -> LowBitLinear:
        module = cls(linear.in_features, linear.out_features, bits, linear.bias is not None)
        _set_rows(module, "weight", linear.weight, bits, False)
        if linear.bias is not None:
            module.bias = linear.bias.detach().float().clone()
        return module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self._backend(), self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, {self.bits}-bit weights"


class LowBitLSTM(_Derived):
    """A one-layer (bi)LSTM with b-bit weights (float16 scale per row), float biases and state; PackedSequence in."""

    def __init__(self, input_size: int, hidden_size: int, bidirectional: bool, batch_first: bool, bits: int) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.bits = input_size, hidden_size, bits
        self.bidirectional, self.batch_first = bidirectional, batch_first
        for name in self.names():
            width = input_size if name.startswith("ih") else hidden_size
            _store_rows(self, f"weight_{name}", 4 * hidden_size, width, bits, False)
            self.register_buffer(f"bias_{name}", torch.zeros(4 * hidden_size))

    def names(self) -> list[str]:
        suffixes = ["_l0", "_l0_reverse"] if self.bidirectional else ["_l0"]
        return [f"{kind}{suffix}" for suffix in suffixes for kind in ("ih", "hh")]

    @classmethod
    def from_float(cls, lstm: nn.LSTM, bits: int) -> LowBitLSTM:
        if lstm.num_layers != 1 or not lstm.bias or lstm.proj_size:
            raise ValueError(f"{cls.__name__} quantizes one-layer LSTMs with biases and no projection, got {lstm}.")
        module = cls(lstm.input_size, lstm.hidden_size, lstm.bidirectional, lstm.batch_first, bits)
        for name in module.names():
            _set_rows(module, f"weight_{name}", getattr(lstm, f"weight_{name}"), bits, False)
            setattr(module, f"bias_{name}", getattr(lstm, f"bias_{name}").detach().float().clone())
        return module

    def codes(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        width = self.input_size if name.startswith("ih") else self.hidden_size
        return stored_codes(self, f"weight_{name}", 4 * self.hidden_size, width)

    def _build(self):
        lstm = nn.LSTM(self.input_size, self.hidden_size, batch_first=self.batch_first,
                       bidirectional=self.bidirectional)
        with torch.no_grad():
            for name in self.names():
                getattr(lstm, f"weight_{name}").copy_(dequantize_rows(*self.codes(name)))
                getattr(lstm, f"bias_{name}").copy_(getattr(self, f"bias_{name}"))
        return lstm.eval().requires_grad_(False)

    def forward(self, x, hx=None):
        return self._backend()(x, hx)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bidirectional={self.bidirectional}, {self.bits}-bit weights"


def _kmeans(points: np.ndarray, centroids: int, seed: int) -> np.ndarray:
    """k-means (Lloyd, float64) of `points` (N, d) with a fixed zero centroid at index 0; returns (K, d)."""
    nonzero = points[np.any(points != 0, axis=1)]
    free = centroids - 1
    distinct = np.unique(nonzero, axis=0)  # sorted: deterministic
    if len(distinct) <= free:  # every distinct row gets a centroid of its own
        return np.concatenate([np.zeros((1, points.shape[1])), distinct, np.zeros((free - len(distinct),
                                                                                    points.shape[1]))])
    rng = np.random.default_rng(seed)
    centres = nonzero[rng.choice(len(nonzero), free, replace=False)].astype(np.float64)
    for _ in range(PQ_ITERATIONS):
        table = np.concatenate([np.zeros((1, points.shape[1])), centres])
        nearest = _nearest(nonzero, table)
        for k in range(free):
            members = nonzero[nearest == k + 1]
            if len(members):
                centres[k] = members.mean(axis=0)
    return np.concatenate([np.zeros((1, points.shape[1])), centres])


def _nearest(points: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Index of the nearest row of `table` (K, d) for each of `points` (N, d); ties go to the lower index."""
    distances = (points ** 2).sum(1)[:, None] - 2 * points @ table.T + (table ** 2).sum(1)[None, :]
    return distances.argmin(axis=1)


class PQEmbedding(_Derived):
    """A product-quantized table: per row one b-bit code per d-dim sub-space; int8 codebooks, one float scale."""

    def __init__(self, num_embeddings: int, embedding_dim: int, subvector_dim: int, bits: int) -> None:
        super().__init__()
        if bits not in (4, 8) or subvector_dim < 1:
            raise ValueError(f"PQ takes 4- or 8-bit codes and sub-vectors of at least 1 dim, got {bits} and "
                             f"{subvector_dim}.")
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.subvector_dim, self.bits = subvector_dim, bits
        self.subspaces = -(-embedding_dim // subvector_dim)
        self.register_buffer(packed_name("codes", bits),
                             torch.zeros(packed_width(num_embeddings * self.subspaces, bits), dtype=torch.uint8))
        self.register_buffer("codebooks", torch.zeros(self.subspaces, 1 << bits, subvector_dim, dtype=torch.int8))
        self.register_buffer("codebooks_scale", torch.ones(1))

    @classmethod
    @torch.no_grad()
    def from_float(cls, embedding: nn.Embedding, subvector_dim: int, bits: int, seed: int = 0) -> PQEmbedding:
        module = cls(embedding.num_embeddings, embedding.embedding_dim, subvector_dim, bits)
        weight = embedding.weight.detach().double().numpy()
        padded = np.pad(weight, ((0, 0), (0, module.subspaces * subvector_dim - weight.shape[1])))
        parts = padded.reshape(len(padded), module.subspaces, subvector_dim)
        books = np.stack([_kmeans(parts[:, s], 1 << bits, seed + s) for s in range(module.subspaces)])  # (S, K, d)
        amax = np.abs(books).max()
        scale = np.float32(amax / 127) if amax > 0 else np.float32(1)
        books_q = np.clip(np.rint(books / scale), -127, 127)
        codes = np.stack([_nearest(parts[:, s], books_q[s] * float(scale)) for s in range(module.subspaces)], 1)
        setattr(module, packed_name("codes", bits), torch.from_numpy(pack_flat(codes, bits)))
        module.codebooks = torch.from_numpy(books_q.astype(np.int8))
        module.codebooks_scale = torch.tensor([scale], dtype=torch.float32)
        return module

    def codes(self) -> torch.Tensor:
        """(R, S) int64 centroid index per row and sub-space."""
        stored = getattr(self, packed_name("codes", self.bits)).numpy()
        shape = (self.num_embeddings, self.subspaces)
        return torch.from_numpy(unpack_flat(stored, self.bits, shape, signed=False).astype(np.int64))

    def int8_rows(self) -> torch.Tensor:
        """The reconstructed table as int8 (R, dim); times `codebooks_scale` it is the float table."""
        codes = self.codes()  # (R, S)
        parts = self.codebooks[torch.arange(self.subspaces), codes]  # (R, S, d)
        return parts.reshape(self.num_embeddings, -1)[:, :self.embedding_dim]

    def _build(self):
        return self.int8_rows().float() * self.codebooks_scale

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self._backend()[ids]

    def extra_repr(self) -> str:
        return (f"{self.num_embeddings}, {self.embedding_dim}, {self.subspaces} sub-spaces of {self.subvector_dim}, "
                f"{self.bits}-bit codes")
