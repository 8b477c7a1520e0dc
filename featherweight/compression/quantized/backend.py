"""The int8 backend: the only module that calls torch's quantized kernels (torch.ao, torch.ops.quantized).

Everything else in Featherweight sees plain tensors: int8 weights with one float32 scale per output row
(symmetric, zero point 0), float32 biases, and float32 activation scales. When torch.ao goes away, this
file is what changes; the artifacts (plain tensors in safetensors) stay valid.

Torch 2.13 warns that torch.ao.quantization and quantized-tensor constructors are deprecated. `quiet()`
hides exactly those known warnings around our own calls and lets every other warning through.
"""
from __future__ import annotations

import contextlib
import warnings

import torch

# (category, message regex) of the warnings our own backend calls are known to raise in torch 2.13.
KNOWN_WARNINGS = (
    (DeprecationWarning, r"torch\.ao\.quantization is deprecated"),
    (UserWarning, r"torch\.quantize_per_tensor, torch\.quantize_per_channel and other quantized tensor creation"),
)
INT8_MAX = 127  # symmetric weights use [-127, 127], so -w quantizes to -q
ACTIVATION_MAX = 127  # quint8 activations use 7 bits (reduce_range): x86/fbgemm kernels can saturate at 8


@contextlib.contextmanager
def quiet():
    """Hide the known torch.ao deprecation warnings raised inside this block; all others pass."""
    with warnings.catch_warnings():
        for category, message in KNOWN_WARNINGS:
            warnings.filterwarnings("ignore", message=message, category=category)
        yield


def symmetric_int8(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row symmetric int8: weight (R, C) -> (q int8 (R, C), scale float32 (R,)), weight ~= q * scale.

    Rows of zeros get scale 1 and stay exactly zero, as do pruned (zero) entries.
    """
    weight = weight.detach().float()
    rows = weight.reshape(weight.shape[0], -1)
    amax = rows.abs().amax(dim=1)  # (R,)
    scale = torch.where(amax > 0, amax / INT8_MAX, torch.ones_like(amax))
    q = torch.clamp(torch.round(rows / scale[:, None]), -INT8_MAX, INT8_MAX).to(torch.int8)
    return q.reshape(weight.shape), scale


def dequantize(q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """The float rows of `symmetric_int8`'s output: q (R, C) int8, scale (R,) -> q * scale, float32."""
    return q.float() * scale[:, None]


def _qweight(q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """A torch per-channel qint8 tensor from our int8 rows and scales."""
    zero_points = torch.zeros(scale.numel(), dtype=torch.long)
    return torch._make_per_channel_quantized_tensor(q, scale.double(), zero_points, 0)


def pack_linear(q: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor | None):
    """Prepacked int8 weights for the quantized linear kernels."""
    with quiet():
        return torch.ops.quantized.linear_prepack(_qweight(q, scale), bias)


def linear_dynamic(x: torch.Tensor, packed) -> torch.Tensor:
    """Float in, float out: x is quantized to uint8 on the fly with one scale for the whole call (all rows of the
    batch), the product runs in int8."""
    return torch.ops.quantized.linear_dynamic(x, packed, True)  # reduce_range=True


def activation_qparams(minimum: float, maximum: float) -> tuple[float, int]:
    """Affine quint8 scale and zero point covering [minimum, maximum] (always including 0)."""
    minimum, maximum = min(float(minimum), 0.0), max(float(maximum), 0.0)
    scale = (maximum - minimum) / ACTIVATION_MAX or 1.0
    zero_point = int(min(max(round(-minimum / scale), 0), ACTIVATION_MAX))
    return scale, zero_point


def quantize_activation(x: torch.Tensor, scale: float, zero_point: int) -> torch.Tensor:
    with quiet():
        return torch.quantize_per_tensor(x, scale, zero_point, torch.quint8)


def linear_static(qx: torch.Tensor, packed, scale: float, zero_point: int, relu: bool) -> torch.Tensor:
    """quint8 in, quint8 out (requantized to the calibrated output scale), optionally fused with ReLU."""
    op = torch.ops.quantized.linear_relu if relu else torch.ops.quantized.linear
    with quiet():
        return op(qx, packed, scale, zero_point)


def dynamic_lstm(input_size: int, hidden_size: int, bidirectional: bool, batch_first: bool,
                 weights: dict[str, tuple[torch.Tensor, torch.Tensor]], biases: dict[str, torch.Tensor]):
    """torch's dynamic int8 LSTM (one layer) holding our int8 weights; `weights` maps name -> (q, scale)."""
    with quiet():
        from torch.ao.nn.quantized.dynamic import LSTM

        lstm = LSTM(input_size, hidden_size, 1, True, batch_first, 0.0, bidirectional, torch.qint8)
        state = {name: _qweight(q, scale) for name, (q, scale) in weights.items()}
        lstm.set_weight_bias({**state, **biases})
    lstm.eval()
    return lstm
