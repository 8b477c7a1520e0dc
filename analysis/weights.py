"""Weight histograms: the value distribution of each weight tensor of a student artifact (int8 dequantized)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from featherweight.analysis.figures import FORMATS, new_figure, save

QPARAM_SUFFIXES = ("_scale", "_zero_point")


def weight_tensors(directory, include_biases: bool = False) -> dict[str, dict]:
    """{name: {"values", "dtype" (as stored), "dequantized", "zeros" (fraction exactly zero)}} of an artifact's
    weights file. int8 tensors with a <name>_scale (and <name>_zero_point) are dequantized, per row when the
    scale has one entry per row; scales and zero points themselves are left out, and biases unless asked."""
    from safetensors.numpy import load_file

    path = Path(directory) / "model.safetensors"
    if not path.is_file():
        raise FileNotFoundError(f"{directory} has no model.safetensors; pass a student artifact directory.")
    stored = load_file(str(path))
    tensors = {}
    for name in sorted(stored):
        if name.endswith(QPARAM_SUFFIXES) or (not include_biases and name.rsplit(".", 1)[-1].startswith("bias")):
            continue
        raw = stored[name]
        values = raw.astype(np.float32)
        scale, zero = stored.get(f"{name}_scale"), stored.get(f"{name}_zero_point")
        if scale is not None:
            if zero is not None:
                values = values - zero.astype(np.float32).reshape(_broadcast(zero, values))
            values = values * scale.astype(np.float32).reshape(_broadcast(scale, values))
        tensors[name] = {"values": values.reshape(-1), "dtype": str(raw.dtype), "dequantized": scale is not None,
                         "zeros": float(np.mean(raw == 0)) if raw.size else 0.0}
    if not tensors:
        raise ValueError(f"{path} holds no weight tensors to plot.")
    return tensors


def _broadcast(parameter: np.ndarray, values: np.ndarray) -> tuple:
    """Shape that lines a per-row (or scalar) quantization parameter up with the tensor."""
    if parameter.size == 1:
        return (1,) * values.ndim
    return (parameter.size,) + (1,) * (values.ndim - 1)


def plot_weight_histograms(directory, output, *, bins: int = 60, include_biases: bool = False,
                           title: str | None = None, formats=FORMATS) -> list[Path]:
    """One histogram per weight tensor (log count axis, so pruned zeros and tails both show); each panel names
    the tensor, its stored dtype, element count and fraction of zeros."""
    tensors = weight_tensors(directory, include_biases)
    columns = min(4, len(tensors))
    rows = math.ceil(len(tensors) / columns)
    from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

    figure = new_figure(3.1 * columns + 0.4, 2.35 * rows + 0.6)
    axes = np.atleast_1d(figure.subplots(rows, columns, squeeze=False)).reshape(-1)
    for ax, (name, tensor) in zip(axes, tensors.items()):
        values = tensor["values"]
        ax.hist(values, bins=bins, color="#4c72b0", log=True)
        ax.set_title(f"{name}\n{tensor['dtype']}, {values.size:,} values, {100 * tensor['zeros']:.0f}% zero",
                     fontsize=7.5)
        ax.tick_params(labelsize=7)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_ylim(bottom=0.7)  # counts start at 1
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
        ax.set_xlabel("weight value (dequantized)" if tensor["dequantized"] else "weight value", fontsize=7)
    for ax in axes[len(tensors):]:
        ax.set_visible(False)
    axes[0].set_ylabel("count (log scale)", fontsize=7)
    figure.suptitle(title or f"Weights of {Path(directory).name}", fontsize=10)
    return save(figure, output, formats)
