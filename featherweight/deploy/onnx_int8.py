"""Turn an fp32 ONNX export into int8: our per-row int8 weights (DequantizeLinear), or onnxruntime dynamic/static.

Methods:
  weights  every weight matrix and embedding table stored as int8 with a float scale per row, hash
           importance as float16, dequantized in the graph by standard ONNX ops (DequantizeLinear,
           Cast); activations stay float. The same numbers as the C export and the PyTorch int8
           reference, so parity is exact to float rounding. Runs on any ONNX runtime; in onnxruntime
           set the session config WEIGHTS_SESSION_CONFIG (export.json records it; the predictor does).
  dynamic  onnxruntime.quantization.quantize_dynamic: int8 MatMul, Gather and LSTM with activations
           quantized on the fly, one scale per batch (a row's logits depend on its batch mates). LSTM becomes com.microsoft.DynamicQuantizeLSTM (a contrib op); the
           Elman RNN op has no int8 kernel and stays float.
  static   onnxruntime.quantization.quantize_static (QDQ, int8) calibrated on the held-out train
           slice; RNN and LSTM ops stay float.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from featherweight.deploy.weights import QuantizedTensor

METHODS = ("weights", "dynamic", "static")
# onnxruntime would otherwise fuse DequantizeLinear + MatMul into int8 kernels that also quantize the
# activations (extended graph optimisations), and the graph would no longer compute what was checked.
WEIGHTS_SESSION_CONFIG = {"session.disable_quant_qdq": "1"}


def int8_weight_graph(proto, weights: dict):
    """Replace the float initializers of `proto` that hold int8-weight values by int8 + scales + DequantizeLinear.

    `proto` must be the fp32 export of the int8 reference model (weights already dequantized), so each
    of its weight rows is bit-identical to a row of some QuantizedTensor in `weights`; float16 arrays
    become float16 initializers with a Cast. Returns (new proto, {"int8": n, "float16": n, "float32": n}).
    """
    import onnx
    from onnx import helper, numpy_helper

    rows, halves = {}, []
    for weight in weights.values():
        if isinstance(weight, QuantizedTensor):
            if weight.zero_points is not None:
                raise NotImplementedError("The ONNX int8 weight graph supports symmetric int8 rows only; "
                                          "this quantized tensor has zero points.")
            for row, values in enumerate(weight.dequantize()):
                rows.setdefault(values.tobytes(), (weight.values[row], weight.scales[row]))
        elif np.asarray(weight).dtype == np.float16:
            halves.append(np.asarray(weight))

    graph = proto.graph
    new_nodes, kept, counts = [], [], {"int8": 0, "float16": 0, "float32": 0}
    for init in graph.initializer:
        array = numpy_helper.to_array(init)
        replacement = None
        if array.dtype == np.float32 and array.ndim >= 2:
            replacement = _as_int8(array, rows)
            if replacement is None:
                half = next((h for h in halves
                             if h.shape == array.shape and np.array_equal(h.astype(np.float32), array)), None)
                if half is not None:
                    kept.append(numpy_helper.from_array(half, init.name + "_fp16"))
                    new_nodes.append(helper.make_node("Cast", [init.name + "_fp16"], [init.name],
                                                      to=onnx.TensorProto.FLOAT))
                    counts["float16"] += array.size
                    continue
        if replacement is None:
            kept.append(init)
            counts["float32"] += array.size if array.dtype == np.float32 else 0
            continue
        values, scales, axis = replacement
        kept += [numpy_helper.from_array(values, init.name + "_int8"),
                 numpy_helper.from_array(scales, init.name + "_scale")]
        new_nodes.append(helper.make_node("DequantizeLinear", [init.name + "_int8", init.name + "_scale"], [init.name],
                                          axis=axis))
        counts["int8"] += array.size
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = new_nodes + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(proto, full_check=True)
    return proto, counts


def _as_int8(array: np.ndarray, rows: dict):
    """(int8 values, scales, axis) if every row of `array` along its last-but-one (or last) axis is known."""
    matrix = array.reshape(-1, array.shape[-1])
    found = [rows.get(r.tobytes()) for r in matrix]
    if all(f is not None for f in found):  # rows are the output rows (tables, RNN W and R)
        values = np.stack([f[0] for f in found]).reshape(array.shape)
        scales = np.asarray([f[1] for f in found], dtype=np.float32)
        if array.ndim == 3 and array.shape[0] == 1:
            return values, scales, 1
        if array.ndim == 2:
            return values, scales, 0
    if array.ndim == 2:  # MatMul weights are stored transposed: (in, out), one scale per output column
        found = [rows.get(np.ascontiguousarray(c).tobytes()) for c in array.T]
        if all(f is not None for f in found):
            values = np.stack([f[0] for f in found]).T.copy()
            return values, np.asarray([f[1] for f in found], dtype=np.float32), 1
    return None


def quantize_with_onnxruntime(fp32_path, out_path, method: str, calibration: list | None = None) -> Path:
    """onnxruntime dynamic or static (QDQ, calibrated on `calibration`: a list of input feeds) int8 quantization."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if method not in ("dynamic", "static"):
        raise ValueError(f"onnxruntime quantization method must be 'dynamic' or 'static', got {method!r}.")
    if method == "static" and not calibration:
        raise ValueError("Static int8 quantization needs calibration batches (the held-out train slice); got none.")
    out_path = Path(out_path)
    prepared = out_path.with_name(out_path.stem + ".prepared.onnx")  # shape inference + graph clean-up, as advised
    quant_pre_process(str(fp32_path), str(prepared))
    try:
        if method == "dynamic":
            quantize_dynamic(str(prepared), str(out_path), weight_type=QuantType.QInt8,
                             extra_options={"MatMulConstBOnly": True})
        else:
            _quantize_static(prepared, out_path, calibration)
    finally:
        prepared.unlink(missing_ok=True)
    return out_path


def _quantize_static(prepared: Path, out_path: Path, calibration: list) -> None:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.feeds = iter(calibration)

        def get_next(self):
            return next(self.feeds, None)

    quantize_static(str(prepared), str(out_path), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
