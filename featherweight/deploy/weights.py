"""Where int8 weights come from: a quantized artifact's stored int8 rows, or per-row int8 of a float student.

Every int8 export (the ONNX `weights` graph, the C code, the PyTorch int8 reference they are checked
against) reads its weights through `int8_weights(student)`: for a quantized artifact
(student.json "quantization", written by featherweight.compression.quantize) the stored int8 values and scales;
for a float student the same recipe applied here (per-row symmetric int8, hash importance float16).
Sub-8-bit artifacts arrive as the same int8 views, with `bits` (4- and 2-bit codes, float16 scales; hash
importance with one scale for the table) or `pq` (product-quantized tables: the codes and int8 codebooks
behind the reconstructed int8 rows), so that the C export can store them at their real width.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from featherweight.artifact import build_model
from featherweight.compression.quantize import int8_weights as stored_weights
from featherweight.compression.quantized.packing import packed_width

QMAX = 127  # symmetric int8: values in [-127, 127], so negating a row never overflows
FP16_SUFFIXES = ("importance.weight",)  # hash importance scalars: fp16, as in the thesis


@dataclass
class QuantizedTensor:
    """An int8 matrix with one float scale (and optional float zero point) per row (axis 0).

    Dequantized value: (values - zero_points[:, None]) * scales[:, None]. Matrices the C code
    multiplies with must be symmetric (zero_points None); embedding tables may be affine.
    `bits` < 8: the values are b-bit codes (two's complement range) and the scales float16 values, as a
    sub-8-bit artifact stores them; `per_tensor`: one float16 scale for the whole table (hash importance),
    repeated in `scales`. `pq`: a product-quantized table (codes (rows, subspaces) of `pq_bits` bits, int8
    codebooks (subspaces, 2^pq_bits, subvector dim), pq_bits) whose reconstructed int8 rows are `values`,
    with its one float32 scale repeated in `scales`.
    """

    values: np.ndarray  # (rows, cols) int8
    scales: np.ndarray  # (rows,) float32
    zero_points: np.ndarray | None = None  # (rows,) float32, or None for symmetric
    bits: int = 8  # bits per stored code: 8, 4 or 2
    pq: tuple | None = None  # (codes, codebooks, bits) of a product-quantized table, or None
    per_tensor: bool = False  # one scale for the whole tensor (repeated in `scales`)

    def __post_init__(self):
        if self.values.dtype != np.int8 or self.values.ndim != 2:
            raise ValueError(f"QuantizedTensor.values must be a 2-D int8 array, got {self.values.dtype} "
                             f"of shape {self.values.shape}.")
        self.scales = np.asarray(self.scales, dtype=np.float32).reshape(-1)
        if self.scales.shape != (self.values.shape[0],):
            raise ValueError(f"Expected one scale per row ({self.values.shape[0]}), got {self.scales.shape}.")
        if self.zero_points is not None:
            self.zero_points = np.asarray(self.zero_points, dtype=np.float32).reshape(-1)
            if self.zero_points.shape != self.scales.shape:
                raise ValueError(f"Expected one zero point per row ({self.values.shape[0]}), "
                                 f"got {self.zero_points.shape}.")
        self._check_bits()
        if self.pq is not None:
            self.pq = _checked_pq(self.pq, self.values)
        if (self.per_tensor or self.pq is not None) and len(np.unique(self.scales)) > 1:
            raise ValueError("A per-tensor or product-quantized QuantizedTensor has one scale, got several.")

    def _check_bits(self) -> None:
        if self.bits not in (2, 4, 8):
            raise ValueError(f"QuantizedTensor.bits must be 8, 4 or 2, got {self.bits!r}.")
        top = (1 << (self.bits - 1)) - 1
        if self.bits < 8 and self.values.size and np.abs(self.values.astype(np.int16)).max() > top:
            raise ValueError(f"{self.bits}-bit codes must lie in [-{top}, {top}].")
        if self.bits < 8 and (self.zero_points is not None or self.pq is not None):
            raise ValueError("b-bit rows are symmetric and not product-quantized.")

    @property
    def shape(self) -> tuple:
        return self.values.shape

    @property
    def half_scales(self) -> bool:
        """True when the scales are float16 values (sub-8-bit rows and per-tensor scales), as stored."""
        return self.bits < 8 or self.per_tensor

    @property
    def nbytes(self) -> int:
        """Stored bytes, as the artifact holds them: codes packed at their bit width (PQ: codes and int8
        codebooks), scales float32 or float16 (one for a per-tensor or PQ table), zero points float32. The C
        export stores the same, but a b-bit matrix's scales (and the one importance scale) as float32."""
        rows = self.values.shape[0]
        zero_points = 0 if self.zero_points is None else self.zero_points.nbytes
        if self.pq is not None:
            codes, codebooks, bits = self.pq
            return packed_width(codes.size, bits) + codebooks.nbytes + 4 + zero_points
        scale_bytes = 2 if self.half_scales else 4
        return packed_width(self.values.size, self.bits) + scale_bytes * (1 if self.per_tensor else rows) + zero_points

    def dequantize(self) -> np.ndarray:
        """The float32 weights these int8 values stand for (one rounding: q * scale)."""
        q = self.values.astype(np.float32)
        if self.zero_points is not None:
            q = q - self.zero_points[:, None]
        return q * self.scales[:, None]


def _checked_pq(pq: tuple, values: np.ndarray) -> tuple:
    """(codes int64 (rows, subspaces), codebooks int8 (subspaces, 2^b, d), b), checked against the int8 rows."""
    codes, codebooks, bits = np.asarray(pq[0], dtype=np.int64), np.asarray(pq[1]), int(pq[2])
    rows, cols = values.shape
    if codebooks.dtype != np.int8 or codebooks.ndim != 3 or bits not in (4, 8) or codebooks.shape[1] != 1 << bits:
        raise ValueError(f"PQ codebooks must be int8 (subspaces, 2^bits, d) with bits 4 or 8, got "
                         f"{codebooks.dtype} {codebooks.shape} and {bits} bits.")
    subspaces, _, dim = codebooks.shape
    if codes.shape != (rows, subspaces) or subspaces * dim < cols or (subspaces - 1) * dim >= cols:
        raise ValueError(f"PQ codes {codes.shape} and codebooks {codebooks.shape} do not cover {rows} rows of "
                         f"{cols} values.")
    if codes.size and (codes.min() < 0 or codes.max() >= 1 << bits):
        raise ValueError(f"PQ codes must lie in [0, {(1 << bits) - 1}].")
    rebuilt = codebooks[np.arange(subspaces), codes].reshape(rows, -1)[:, :cols]
    if not np.array_equal(rebuilt, values):
        raise ValueError("The PQ codes and codebooks do not reconstruct the int8 rows.")
    return codes, codebooks, bits


def quantize_rows(weight: np.ndarray) -> QuantizedTensor:
    """Symmetric per-row int8: scale = max|row| / 127, values = round(w / scale); all-zero rows get scale 1.

    The recipe of featherweight.compression.quantize (quantized/backend.symmetric_int8), so a float student
    exports the same int8 values as its quantized artifact.
    """
    weight = np.asarray(weight, dtype=np.float32)
    if weight.ndim != 2:
        raise ValueError(f"quantize_rows expects a 2-D weight matrix, got shape {weight.shape}.")
    amax = np.abs(weight).max(axis=1)  # (rows,)
    scales = np.where(amax > 0, amax / np.float32(QMAX), np.float32(1)).astype(np.float32)
    values = np.clip(np.rint(weight / scales[:, None]), -QMAX, QMAX).astype(np.int8)
    return QuantizedTensor(values, scales)


def is_quantized(student) -> bool:
    """True for an artifact saved by featherweight.compression.quantize (its model holds int8 modules)."""
    return student.meta.is_quantized


def int8_weights(student) -> dict:
    """The int8 weights of `student` by float state-dict name: QuantizedTensor, or a float16 / float32 array.

    Matrices and embedding tables: per-row symmetric int8. Hash importance weights: float16.
    Biases: float32. A quantized artifact's stored values are used as they are (sub-8-bit rows, PQ tables
    and b-bit hash importance as QuantizedTensor with `bits` / `pq` / `per_tensor`); matrices it left in
    float (a "none" setting) are quantized per row here, as the C code needs int8 matrices.
    """
    if is_quantized(student):

        source = {name: _from_stored(name, value) for name, value in stored_weights(student.model).items()}
    else:
        source = {name: tensor.detach().cpu().numpy() for name, tensor in student.model.state_dict().items()}
    weights = {}
    for name, value in source.items():
        if isinstance(value, QuantizedTensor):
            weights[name] = value
        elif name.endswith(FP16_SUFFIXES):
            weights[name] = np.asarray(value).astype(np.float16)
        elif np.asarray(value).ndim == 2:
            weights[name] = quantize_rows(value)
        else:
            weights[name] = np.asarray(value, dtype=np.float32)
    return weights


def _from_stored(name: str, value):
    """A numpy view of one entry of quantize.int8_weights: QuantizedTensor for an Int8Weight, else an array."""
    if not hasattr(value, "scales"):
        return _numpy(value)
    pq = value.pq
    return QuantizedTensor(_numpy(value.values), _numpy(value.scales), bits=int(value.bits),
                           pq=None if pq is None else (_numpy(pq[0]), _numpy(pq[1]), int(pq[2])),
                           per_tensor=bool(value.per_tensor))


def _numpy(value) -> np.ndarray:
    return value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)


def dequantized_state(weights: dict) -> dict:
    """Float32 arrays by name, exactly the values the int8 exports compute with."""
    out = {}
    for name, weight in weights.items():
        out[name] = weight.dequantize() if isinstance(weight, QuantizedTensor) else np.asarray(weight, np.float32)
    return out


def int8_reference_model(student, weights: dict | None = None):
    """The float student architecture computing with the int8 weights: the PyTorch int8 reference of the exports.

    Weight-only: activations stay float, as in the C code and the ONNX `weights` graph. A quantized
    artifact with the default settings (float LSTM / Elman state, weight-only classifier) computes these
    logits; with classifier_quantization="dynamic-per-batch" its classifier rounds its input on the fly,
    so its logits are only close to these.
    """
    import torch


    weights = int8_weights(student) if weights is None else weights
    model = build_model(student.meta, student.tokenizer)
    model.load_state_dict({name: torch.from_numpy(array) for name, array in dequantized_state(weights).items()})
    return model.eval()


def float_model(student):
    """A float StudentModel for `student`: itself, or for a quantized artifact the int8 reference."""
    return int8_reference_model(student) if is_quantized(student) else student.model


def int8_bytes(weights: dict) -> int:
    """Bytes of the weights as stored: codes at their bit width + scales (QuantizedTensor.nbytes), fp16 and fp32
    arrays."""
    return sum(w.nbytes if isinstance(w, QuantizedTensor) else np.asarray(w).nbytes for w in weights.values())
