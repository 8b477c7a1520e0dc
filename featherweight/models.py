"""Load any model Featherweight wrote (a student artifact or an ONNX export) and predict labels with it."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from featherweight.artifact import Student, load_student, predict_data
from featherweight.data import TaskData
from featherweight.deploy.manifest import MANIFEST_FILE
from featherweight.deploy.predict import Prediction, Predictor, predictions_from_logits


def load(path, threads: int = 1) -> Student | Predictor:
    """A student artifact (`compress --output-dir`, run with torch) or an ONNX export (`export --format onnx`,
    run with onnxruntime only), told apart by the export's manifest."""
    if (Path(path) / MANIFEST_FILE).is_file():
        return Predictor(path, threads)
    return load_student(path)


def predict(model, texts: list[str], texts_b: list[str] | None = None, batch_size: int = 64) -> list[Prediction]:
    """Label, probabilities and logits of every text; `model` is a path or what `load` returned.

    Pair models (QQP, MNLI) need `texts_b`, one second sentence per text.
    """
    model = load(model) if isinstance(model, (str, Path)) else model
    texts = list(texts)
    texts_b = None if texts_b is None else list(texts_b)
    if isinstance(model, Predictor):
        return model.predict(texts, texts_b, batch_size)
    task = model.task
    if task.is_pair != (texts_b is not None):
        raise ValueError("This is a sentence-pair model; pass texts_b with one second sentence per text."
                         if task.is_pair else "This is a single-sentence model; drop texts_b.")
    if texts_b is not None and len(texts_b) != len(texts):
        raise ValueError(f"texts_b has {len(texts_b)} sentences for {len(texts)} texts; pass one per text.")
    data = TaskData(task=task, path=Path("<texts>"), texts_a=texts, texts_b=texts_b, labels=None,
                    line_numbers=np.arange(1, len(texts) + 1))
    return predictions_from_logits(predict_data(model, data, batch_size), list(task.label_names), texts, texts_b)
