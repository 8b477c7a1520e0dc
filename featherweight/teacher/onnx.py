"""Run a fine-tuned teacher through ONNX Runtime: export it once (fp32, and dynamic int8) and label rows with it.

The ONNX files are cached per teacher content (featherweight.fingerprint.path_sha256) in
`<teacher's folder>/../teacher-onnx/<hash>/`, beside the teacher's soft-targets folder, or under a given
cache directory. `onnx_predict_logits` keeps `teacher.predict_logits`' contract: rows in, float32 logits
in row order and task label order out, length-bucketed batches, a progress bar.

Dynamic int8 (onnxruntime.quantization.quantize_dynamic: int8 weights, activations quantized on the fly)
changes the logits, so it labels only when its labels agree with the torch teacher's on at least
INT8_MIN_AGREEMENT of the rows it is checked on; the verdict is cached beside the int8 file.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from featherweight import workspace
from featherweight.deploy.runtime import ort_session
from featherweight.fingerprint import path_sha256
from featherweight.teacher.model import TEACHER_MAX_LENGTH, batched_logits, collate, resolve_teacher, tokenize_rows

logger = logging.getLogger(__name__)

RUNTIMES = ("torch", "onnx", "onnx-int8")
OPSET = 17
INT8_MIN_AGREEMENT = 0.995  # int8 labels must agree with torch's on this fraction of the checked rows
AGREEMENT_ROWS = 1000  # rows the int8 teacher is checked on (the first of the task's dev rows)
FILE_NAMES = {"onnx": "teacher.onnx", "onnx-int8": "teacher-int8.onnx"}
VERDICT_FILE = "int8-agreement.json"
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")  # in the order of BERT-style forward()
SAMPLE_ROWS = [("a short text",), ("a somewhat longer text, so that the first one is padded",)]


class _LogitsOf(torch.nn.Module):
    """A sequence classifier taking its inputs positionally (as ONNX export passes them) and giving its logits."""

    def __init__(self, model, input_names: list[str]):
        super().__init__()
        self.model = model
        self.input_names = input_names

    def forward(self, *inputs):
        return self.model(**dict(zip(self.input_names, inputs))).logits


def onnx_cache_dir(teacher: str, cache_dir=None, teacher_sha256: str | None = None) -> Path:
    """Where the teacher's ONNX files live: `cache_dir` (default: teacher-onnx/ beside the teacher's folder)
    / the first 16 hex digits of the teacher's content hash (`teacher_sha256` when known; of its name for a hub
    model)."""
    location = Path(resolve_teacher(teacher))
    if not location.exists():
        teacher_sha256 = hashlib.sha256(str(teacher).encode()).hexdigest()
    elif teacher_sha256 is None:
        teacher_sha256 = path_sha256(location)
    root = Path(cache_dir) if cache_dir else workspace.teacher_onnx_root(location)
    return root / teacher_sha256[:16]


def model_input_names(model, tokenizer) -> list[str]:
    """The inputs the graph takes: input_ids and attention_mask, and token_type_ids when the tokenizer gives
    them and the model takes them."""
    takes = inspect.signature(model.forward).parameters
    gives = set(tokenizer.model_input_names) | {"input_ids", "attention_mask"}
    return [name for name in INPUT_NAMES if name in gives and name in takes]


def export_onnx(model, tokenizer, path) -> Path:
    """Export a Hugging Face sequence classifier to ONNX (opset 17, dynamic batch and sequence axes) at `path`."""
    path = Path(path)
    names = model_input_names(model, tokenizer)
    sample = collate(tokenize_rows(tokenizer, SAMPLE_ROWS, 64), tokenizer.pad_token_id)
    axes = {name: {0: "batch", 1: "sequence"} for name in names} | {"logits": {0: "batch"}}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.stem}.{os.getpid()}.tmp.onnx")
    wrapper = _LogitsOf(model.cpu(), names).eval()  # export restores this mode on the model: it must stay eval
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)  # dynamo=False: the TorchScript exporter, on purpose
        warnings.filterwarnings("ignore", "Exporting aten::index")  # no negative indices here; parity is tested
        torch.onnx.export(wrapper, tuple(sample[name] for name in names), str(partial), dynamo=False,
                          opset_version=OPSET, input_names=names, output_names=["logits"], dynamic_axes=axes)
    partial.replace(path)
    return path


class _WithoutPreprocessAdvice(logging.Filter):
    """Drops quantize_dynamic's advice to pre-process first: its symbolic shape inference fails on these graphs."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


def quantize_int8(fp32_path, path) -> Path:
    """Dynamic int8 quantization of an ONNX teacher at `path` (onnxruntime quantize_dynamic): int8 weights, one
    scale per output channel, of the MatMuls with constant weights (the encoder's dense layers); activations are
    quantized on the fly; embeddings, attention scores, layer norms and the classifier head stay float.
    (Of the architecture-independent recipes tried on the SST-2 MiniLM teacher, this one agreed with torch best.)"""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    path = Path(path)
    partial = path.with_name(f"{path.stem}.{os.getpid()}.tmp.onnx")
    advice = _WithoutPreprocessAdvice()
    logging.getLogger().addFilter(advice)
    try:
        quantize_dynamic(str(fp32_path), str(partial), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul"])
    finally:
        logging.getLogger().removeFilter(advice)
    partial.replace(path)
    return path


def teacher_onnx(teacher: str, runtime: str, model, tokenizer, *, cache_dir=None,
                 teacher_sha256: str | None = None) -> Path:
    """The teacher's ONNX file for `runtime` ("onnx" or "onnx-int8"), exported (and quantized) on first use."""
    if runtime not in FILE_NAMES:
        raise ValueError(f"ONNX runtime must be one of {list(FILE_NAMES)}, got {runtime!r}.")
    folder = onnx_cache_dir(teacher, cache_dir, teacher_sha256)
    fp32 = folder / FILE_NAMES["onnx"]
    if not fp32.is_file():
        logger.info("Exporting teacher %s to ONNX: %s", teacher, fp32)
        export_onnx(model, tokenizer, fp32)
    if runtime == "onnx":
        return fp32
    int8 = folder / FILE_NAMES[runtime]
    if not int8.is_file():
        logger.info("Quantizing the ONNX teacher to dynamic int8: %s", int8)
        quantize_int8(fp32, int8)
    return int8


def onnx_session(path, threads: int = 1):
    """An onnxruntime CPU session of a teacher's ONNX file with `threads` intra-op threads (0: onnxruntime's
    default)."""
    return ort_session(path, threads=threads)


def onnx_predict_logits(session, tokenizer, rows: list[tuple[str, ...]], *, batch_size: int = 128,
                        max_length: int = TEACHER_MAX_LENGTH, bucketed: bool = True, order: np.ndarray | None = None,
                        show_progress: bool = True, desc: str = "teacher (onnx)") -> np.ndarray:
    """Logits (N, num_labels) float32 for rows of texts from an ONNX teacher session, in row order and task
    label order (teacher.predict_logits' contract)."""
    names = [node.name for node in session.get_inputs()]
    forward = lambda batch: session.run(["logits"], {name: batch[name].numpy() for name in names})[0]
    return batched_logits(tokenizer, rows, session.get_outputs()[0].shape[1], forward, batch_size=batch_size,
                          max_length=max_length, bucketed=bucketed, order=order, show_progress=show_progress,
                          desc=desc)


def label_agreement(logits: np.ndarray, reference: np.ndarray) -> dict:
    """How often the labels (argmax) of `logits` equal those of `reference`: agree, total, fraction."""
    same = logits.argmax(1) == reference.argmax(1)
    return {"agree": int(same.sum()), "total": len(same), "fraction": float(same.mean()) if len(same) else 1.0}


def rows_sha256(rows: list[tuple[str, ...]]) -> str:
    """A hash of the texts of `rows` (what an agreement verdict was measured on)."""
    return hashlib.sha256(json.dumps(rows, ensure_ascii=False).encode()).hexdigest()


def int8_verdict(int8_path, rows: list[tuple[str, ...]], source: str, max_length: int,
                 measure: Callable[[], dict]) -> dict:
    """The label agreement of the int8 teacher at `int8_path` with torch on `rows` (from `source`) as saved beside
    it, else `measure()` (a label_agreement dict) saved there with what it was checked on."""
    path = Path(int8_path).parent / VERDICT_FILE
    checked_on = {"model_sha256": path_sha256(int8_path), "rows_sha256": rows_sha256(rows),
                  "max_length": max_length}
    saved = json.loads(path.read_text()) if path.is_file() else None
    if saved and saved.get("checked_on") == checked_on:
        logger.info("int8 teacher agreement from %s: %.2f%%", path, 100 * saved["fraction"])
        return saved
    verdict = {**measure(), "rows": source, "checked_on": checked_on}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(verdict, indent=2))
    return verdict


def require_agreement(verdict: dict) -> None:
    """Refuse (one-line ValueError) an int8 teacher whose labels agree with torch's on too few rows."""
    if verdict["fraction"] < INT8_MIN_AGREEMENT:
        raise ValueError(f"--runtime onnx-int8 refused: the int8 teacher's labels agree with the torch teacher's "
                         f"on {100 * verdict['fraction']:.2f}% of {verdict['total']} rows "
                         f"({verdict['rows']}), below the {100 * INT8_MIN_AGREEMENT:.1f}% "
                         "required; use --runtime onnx (fp32) or torch.")
