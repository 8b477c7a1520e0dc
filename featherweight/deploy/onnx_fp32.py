"""Trace a student into an ONNX fp32 graph with the pinned exporter (TorchScript, opset 17) and check it.

The exporter is pinned: torch.onnx.export(dynamo=False). The dynamo exporter needs onnxscript,
which Featherweight does not install. Inputs: `ids` (and `ids_b` for pairs), int64 (B, T, C) with
dynamic batch and sequence axes; output: `logits` float32 (B, num_labels).
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path

import torch

from featherweight.deploy.padded import PaddedStudent

OPSET = 17
EXPORTER = "torch.onnx.export(dynamo=False)"  # TorchScript-based; recorded in export.json and pinned by a test


def input_names(pair: bool) -> list[str]:
    return ["ids", "ids_b"] if pair else ["ids"]


def example_inputs(model, ids_per_token: int) -> tuple:
    """Two rows of different lengths (one with padding) to trace with."""
    ids = torch.ones(2, 3, ids_per_token, dtype=torch.int64)
    ids[1, 2:] = 0
    return (ids, ids.clone()) if model.pair else (ids,)


def export_onnx_fp32(model: torch.nn.Module, path, ids_per_token: int, opset: int = OPSET) -> Path:
    """Write the student `model` (a StudentModel) as an fp32 ONNX file at `path`, checked with onnx.checker."""
    import onnx

    if opset < 13:
        raise ValueError(f"opset must be >= 13 (per-axis DequantizeLinear for the int8 graph), got {opset}.")
    padded = PaddedStudent(model)
    names = input_names(model.pair)
    axes = {name: {0: "batch", 1: f"tokens_{name}"} for name in names}
    axes["logits"] = {0: "batch"}
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        # The legacy exporter warns that it is legacy, and about LSTM batch sizes (h0 is built from the
        # input's shape here, so any batch size works; a test runs several).
        warnings.simplefilter("ignore")
        torch.onnx.export(padded, example_inputs(model, ids_per_token), buffer, dynamo=False, opset_version=opset,
                          input_names=names, output_names=["logits"], dynamic_axes=axes, do_constant_folding=True)
    proto = onnx.load_from_string(buffer.getvalue())
    onnx.checker.check_model(proto, full_check=True)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(path))
    return path


def set_metadata(path, entries: dict[str, str]) -> Path:
    """Store `entries` in the ONNX file's metadata_props (onnxruntime: session.get_modelmeta().custom_metadata_map),
    replacing any of the same keys."""
    import onnx

    proto = onnx.load(str(path))
    kept = [prop for prop in proto.metadata_props if prop.key not in entries]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept + [onnx.StringStringEntryProto(key=key, value=value)
                                        for key, value in entries.items()])
    onnx.save(proto, str(path))
    return Path(path)
