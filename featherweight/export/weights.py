"""Where int8 weights come from: a quantized artifact's stored int8 rows, or per-row int8 of a float student.

Every int8 export (the ONNX `weights` graph, the C code, the PyTorch int8 reference they are checked
against) reads its weights through `int8_weights(student)`: for a quantized artifact
(student.json "quantization", written by featherweight.quantize) the stored int8 values and scales;
for a float student the same recipe applied here (per-row symmetric int8, hash importance float16).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

QMAX = 127  # symmetric int8: values in [-127, 127], so negating a row never overflows
FP16_SUFFIXES = ("importance.weight",)  # hash importance scalars: fp16, as in the thesis


@dataclass
class QuantizedTensor:
    """An int8 matrix with one float scale (and optional float zero point) per row (axis 0).

    Dequantized value: (values - zero_points[:, None]) * scales[:, None]. Matrices the C code
    multiplies with must be symmetric (zero_points None); embedding tables may be affine.
    """

    values: np.ndarray  # (rows, cols) int8
    scales: np.ndarray  # (rows,) float32
    zero_points: np.ndarray | None = None  # (rows,) float32, or None for symmetric

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

    @property
    def shape(self) -> tuple:
        return self.values.shape

    @property
    def nbytes(self) -> int:
        """Stored bytes: int8 values, float32 scales and zero points."""
        return self.values.nbytes + self.scales.nbytes + (0 if self.zero_points is None else self.zero_points.nbytes)

    def dequantize(self) -> np.ndarray:
        """The float32 weights these int8 values stand for (one rounding: q * scale)."""
        q = self.values.astype(np.float32)
        if self.zero_points is not None:
            q = q - self.zero_points[:, None]
        return q * self.scales[:, None]


def quantize_rows(weight: np.ndarray) -> QuantizedTensor:
    """Symmetric per-row int8: scale = max|row| / 127, values = round(w / scale); all-zero rows get scale 1.

    The recipe of featherweight.quantize (quantized/backend.symmetric_int8), so a float student
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
    """True for an artifact saved by featherweight.quantize (its model holds int8 modules)."""
    return bool(student.meta.get("quantization"))


def int8_weights(student) -> dict:
    """The int8 weights of `student` by float state-dict name: QuantizedTensor, or a float16 / float32 array.

    Matrices and embedding tables: per-row symmetric int8. Hash importance weights: float16.
    Biases: float32. A quantized artifact's stored values are used as they are; matrices it left in
    float (a "none" setting) are quantized per row here, as the C code needs int8 matrices.
    """
    if is_quantized(student):
        from featherweight.quantize import int8_weights as stored_weights

        source = {}
        for name, value in stored_weights(student.model).items():
            if hasattr(value, "scales"):  # quantize.Int8Weight
                source[name] = QuantizedTensor(value.values.cpu().numpy(), value.scales.cpu().numpy())
            else:
                source[name] = value.detach().cpu().numpy()
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

    from featherweight.artifact import build_model

    weights = int8_weights(student) if weights is None else weights
    model = build_model(student.meta, student.tokenizer)
    model.load_state_dict({name: torch.from_numpy(array) for name, array in dequantized_state(weights).items()})
    return model.eval()


def float_model(student):
    """A float StudentModel for `student`: itself, or for a quantized artifact the int8 reference."""
    return int8_reference_model(student) if is_quantized(student) else student.model


def int8_bytes(weights: dict) -> int:
    """Bytes of the int8 weights as stored: int8 values + scales, fp16 and fp32 arrays."""
    return sum(w.nbytes if isinstance(w, QuantizedTensor) else np.asarray(w).nbytes for w in weights.values())
