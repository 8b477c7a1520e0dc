"""Run ONNX exports with onnxruntime: sessions and padded-id batches (numpy only, no torch)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def ort_session(path, threads: int = 1, config_entries: dict | None = None):
    """An onnxruntime CPU session for an exported file (one thread unless told otherwise).

    `config_entries` are session config keys an export needs (export.json "onnxruntime"); the int8
    weights graph needs {"session.disable_quant_qdq": "1"} to compute in float as it was checked.
    """
    import onnxruntime as ort
    from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors

    if not Path(path).is_file():
        raise FileNotFoundError(f"{path} is missing: the export is incomplete; export the student again.")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    for key, value in (config_entries or {}).items():
        options.add_session_config_entry(key, value)
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except (ort_errors.Fail, ort_errors.InvalidArgument, ort_errors.InvalidProtobuf, ort_errors.InvalidGraph,
            ort_errors.NoModel, ort_errors.NotImplemented, ort_errors.RuntimeException) as error:
        reason = str(error).split(":")[-1].strip().rstrip(".") or type(error).__name__
        raise ValueError(f"{path} is not a model onnxruntime can load ({reason}); the file is damaged or "
                         "truncated: export the student again.") from None


def ort_logits(session, inputs: tuple) -> np.ndarray:
    """Run a session on padded id arrays (ids[, ids_b]) and return its logits (B, num_labels)."""
    names = [i.name for i in session.get_inputs()]
    feed = {name: np.asarray(array, dtype=np.int64) for name, array in zip(names, inputs)}
    return session.run(["logits"], feed)[0]


def pad_ids(arrays: list, ids_per_token: int) -> np.ndarray:
    """Right-pad (T_i, C) id arrays into (B, T, C) int64 with id 0; T >= 1 so empty texts still run."""
    length = max([len(a) for a in arrays] + [1])
    out = np.zeros((len(arrays), length, ids_per_token), dtype=np.int64)
    for row, array in enumerate(arrays):
        out[row, :len(array)] = array
    return out
