"""Student artifacts: a directory with student.json, the tokenizer and the weights; load and predict.

Pruned students are saved with their masks folded into the weights (no *_orig / *_mask tensors).
Quantized students store plain tensors (int8 weights, float scales); student.json records the
quantization settings, and loading rebuilds the float skeleton, applies the same quantized structure
and loads the tensors, so nothing is ever pickled.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from featherweight.batching import bucketed_batches
from featherweight.compression.prune import permanent_state_dict
from featherweight.compression.quantize import quantized_skeleton, saved_quantize_config
from featherweight.data import TaskData, TaskSpec
from featherweight.devices import model_device
from featherweight.embeddings import build_embedding, load_tokenizer
from featherweight.measure.metrics import split_metrics, summarize
from featherweight.student_meta import (RECOMPRESS, STUDENT_FILE, StudentMeta, check_student_meta, read_student_meta,
                                        write_student_meta)
from featherweight.students import build_student
from featherweight.tokens import EncodedData, encode_data

WEIGHTS_FILE = "model.safetensors"
TOKENIZER_DIR = "tokenizer"


@dataclass
class Student:
    """A loaded student: the model, its tokenizer and its metadata."""

    model: torch.nn.Module
    tokenizer: object
    meta: StudentMeta

    @property
    def task(self) -> TaskSpec:
        """The task it was trained on: the spec stored in student.json (older students: the GLUE task named)."""
        return self.meta.resolved_task


def build_model(meta: StudentMeta, tokenizer) -> torch.nn.Module:
    """Rebuild an untrained student from its metadata and tokenizer."""
    check_student_meta(meta)
    embedding = build_embedding(tokenizer, meta.embedding.dim)
    return build_student(meta.student, embedding, meta.num_labels, meta.pair)


def save_student(directory, model: torch.nn.Module, tokenizer, meta: StudentMeta) -> Path:
    """Write the artifact; the tokenizer goes in first so the weights never stand without it.

    The weights are saved from CPU copies, so a student trained on a GPU loads on a machine without one.
    A quantized model needs meta.quantization (QuantizeConfig.to_dict()) so that it can be loaded.
    """
    from safetensors.torch import save_file


    check_student_meta(meta)
    directory = Path(directory)
    state = {key: value.detach().cpu().contiguous() for key, value in permanent_state_dict(model).items()}
    if not meta.is_quantized and any(value.dtype in (torch.int8, torch.float16) for value in state.values()):
        raise ValueError("This model holds int8 or float16 weights but meta has no quantization settings, so it "
                         "could not be loaded again; pass dataclasses.replace(meta, quantization="
                         "QuantizeConfig(...).to_dict()).")
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer.save(directory / TOKENIZER_DIR)
    save_file(state, directory / WEIGHTS_FILE)
    write_student_meta(directory, meta)
    return directory


def student_meta(directory) -> StudentMeta:
    """The checked student.json of a complete student artifact, without loading its weights."""
    return read_student_meta(_complete_student_dir(directory))


def load_student(directory) -> Student:
    """Load a saved student; it predicts exactly what it predicted when saved."""
    directory = _complete_student_dir(directory)
    meta = read_student_meta(directory)
    tokenizer = load_tokenizer(directory / TOKENIZER_DIR)
    model = build_model(meta, tokenizer)
    if meta.is_quantized:

        model = quantized_skeleton(model, saved_quantize_config(meta.quantization))
    _load_weights(model, directory / WEIGHTS_FILE)
    model.eval()
    return Student(model, tokenizer, meta)


STUDENT_PARTS = (STUDENT_FILE, WEIGHTS_FILE, TOKENIZER_DIR)


def is_student(directory) -> bool:
    return (Path(directory) / STUDENT_FILE).is_file()


def looks_like_student(directory) -> bool:
    """True for a student artifact, even an incomplete one (a teacher's config.json rules the partial ones out)."""
    directory = Path(directory)
    return is_student(directory) or (not (directory / "config.json").is_file()
                                     and len(missing_student_parts(directory)) < len(STUDENT_PARTS))


def missing_student_parts(directory) -> list[str]:
    """The parts of a student artifact (student.json, model.safetensors, tokenizer/) that `directory` lacks."""
    return [name for name in STUDENT_PARTS if not (Path(directory) / name).exists()]


def _complete_student_dir(directory) -> Path:
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory} is not a student artifact: no such directory. Pass a directory "
                                "`featherweight compress` wrote (its --output-dir).")
    missing = missing_student_parts(directory)
    if len(missing) == len(STUDENT_PARTS):
        raise FileNotFoundError(f"{directory} is not a student artifact: it has no {STUDENT_FILE}.")
    if missing:
        raise FileNotFoundError(f"{directory} is an incomplete student artifact: {' and '.join(missing)} "
                                f"missing; {RECOMPRESS}.")
    return directory


def _load_weights(model: torch.nn.Module, path: Path) -> None:
    """Load safetensors weights into `model`; a damaged file or one of another model is a one-line error."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(path)
    except SafetensorError as error:
        raise ValueError(f"{path} is damaged or truncated ({error}); {RECOMPRESS}.") from None
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        detail = " ".join(str(error).split())[:300]
        raise ValueError(f"{path} does not hold the weights {path.parent / STUDENT_FILE} describes ({detail}); "
                         f"{RECOMPRESS}.") from None


@torch.no_grad()
def predict_encoded(model: torch.nn.Module, encoded: EncodedData, batch_size: int = 256) -> np.ndarray:
    """Logits (N, num_labels) for encoded rows, in row order, batched by length, on the device the model is on."""
    model.eval()
    device = model_device(model)
    logits = np.zeros((len(encoded), model.num_labels), dtype=np.float32)
    for index in bucketed_batches(encoded.lengths, batch_size, shuffle=False):
        logits[index] = model(*(ids.to(device) for ids in encoded.inputs(index))).cpu().numpy()
    return logits


def score_encoded(task, model: torch.nn.Module, splits: dict) -> dict:
    """{"heldout_accuracy": ..., "dev_accuracy": ...} of `model` on {name: (TaskData, EncodedData)}."""
    return summarize({name: split_metrics(task, predict_encoded(model, encoded).argmax(1), data.labels)
                      for name, (data, encoded) in splits.items()})


def predict_data(student: Student, data: TaskData, batch_size: int = 256) -> np.ndarray:
    """Logits of a student for a task split."""
    return predict_encoded(student.model, encode_data(student.tokenizer, data), batch_size)
