"""Student artifacts: a directory with student.json, the tokenizer and the weights; load and predict."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from featherweight.batching import bucketed_batches
from featherweight.data import TaskData, get_task
from featherweight.tokens import EncodedData, encode_data

STUDENT_FILE = "student.json"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_DIR = "tokenizer"
FORMAT_VERSION = 1


@dataclass
class Student:
    """A loaded student: the model, its tokenizer and its metadata."""

    model: torch.nn.Module
    tokenizer: object
    meta: dict

    @property
    def task(self):
        return get_task(self.meta["task"])


def build_model(meta: dict, tokenizer) -> torch.nn.Module:
    """Rebuild an untrained student from its metadata and tokenizer."""
    from featherweight.embeddings import build_embedding
    from featherweight.students import StudentConfig, build_student

    embedding = build_embedding(tokenizer, meta["embedding"]["dim"])
    return build_student(StudentConfig.from_dict(meta["student"]), embedding, meta["num_labels"], meta["pair"])


def save_student(directory, model: torch.nn.Module, tokenizer, meta: dict) -> Path:
    """Write the artifact; the tokenizer goes in first so the weights never stand without it."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer.save(directory / TOKENIZER_DIR)
    state = {key: value.detach().contiguous() for key, value in model.state_dict().items()}
    save_file(state, directory / WEIGHTS_FILE)
    (directory / STUDENT_FILE).write_text(json.dumps({"format": FORMAT_VERSION, **meta}, indent=2, default=str))
    return directory


def load_student(directory) -> Student:
    """Load a saved student; it predicts exactly what it predicted when saved."""
    from safetensors.torch import load_file

    from featherweight.embeddings import load_tokenizer

    directory = Path(directory)
    meta_path = directory / STUDENT_FILE
    if not meta_path.is_file():
        raise FileNotFoundError(f"{directory} is not a student artifact: it has no {STUDENT_FILE}.")
    meta = json.loads(meta_path.read_text())
    tokenizer = load_tokenizer(directory / TOKENIZER_DIR)
    model = build_model(meta, tokenizer)
    model.load_state_dict(load_file(directory / WEIGHTS_FILE))
    model.eval()
    return Student(model, tokenizer, meta)


def is_student(directory) -> bool:
    return (Path(directory) / STUDENT_FILE).is_file()


@torch.no_grad()
def predict_encoded(model: torch.nn.Module, encoded: EncodedData, batch_size: int = 256) -> np.ndarray:
    """Logits (N, num_labels) for encoded rows, in row order, batched by length."""
    model.eval()
    logits = np.zeros((len(encoded), model.num_labels), dtype=np.float32)
    for index in bucketed_batches(encoded.lengths, batch_size, shuffle=False):
        logits[index] = model(*encoded.inputs(index)).numpy()
    return logits


def predict_data(student: Student, data: TaskData, batch_size: int = 256) -> np.ndarray:
    """Logits of a student for a task split."""
    return predict_encoded(student.model, encode_data(student.tokenizer, data), batch_size)
