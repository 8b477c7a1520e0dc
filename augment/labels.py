"""Label distributions of augmented data against the original rows (thesis Appendix B: label skew)."""
from __future__ import annotations

import numpy as np

from featherweight.data import TaskData, TaskSpec, get_task


def label_distributions(original_labels, augmented, task: str | TaskSpec = "sst-2",
                        augmented_source_labels=None) -> dict:
    """Counts and fractions per label of the original rows and of the teacher-labelled augmented rows.

    `original_labels`: (N,) label indices (or a labelled TaskData). `augmented`: the augmented
    file's SoftTargets or an (M, num_labels) logits array; each row counts under its argmax.
    `augmented_source_labels` (optional, (M,) indices: the label column of the augmented file,
    i.e. each variant's source-row label) adds how often the teacher kept that label.
    """
    spec = get_task(task) if isinstance(task, str) else task
    names = list(spec.label_names)
    if isinstance(original_labels, TaskData):
        if original_labels.labels is None:
            raise ValueError(f"{original_labels.path}: read without labels; read it with labelled=True.")
        original_labels = original_labels.labels
    original = np.asarray(original_labels)
    logits = np.asarray(getattr(augmented, "logits", augmented))
    if original.ndim != 1 or not np.issubdtype(original.dtype, np.integer):
        raise ValueError(f"original_labels must be a 1-D array of label indices, got shape {original.shape} "
                         f"of {original.dtype}. Pass TaskData.labels, not label names.")
    if original.size and (original.min() < 0 or original.max() >= len(names)):
        raise ValueError(f"original_labels hold indices outside [0, {len(names)}) for task {spec.name}.")
    if logits.ndim != 2 or logits.shape[1] != len(names):
        raise ValueError(f"augmented must be soft targets or logits of shape (rows, {len(names)}) for task "
                         f"{spec.name}, got shape {logits.shape}.")
    teacher = logits.argmax(1)
    result = {"labels": names, "original": _distribution(original, names),
              "augmented": _distribution(teacher, names)}
    if augmented_source_labels is not None:
        source = np.asarray(augmented_source_labels)
        if source.shape != teacher.shape:
            raise ValueError(f"augmented_source_labels has shape {source.shape}; expected {teacher.shape}, "
                             f"one per augmented row.")
        result["augmented_teacher_agrees_with_source_label"] = float((source == teacher).mean()) if source.size else None
    return result


def _distribution(labels: np.ndarray, names: list[str]) -> dict:
    counts = np.bincount(labels, minlength=len(names)) if labels.size else np.zeros(len(names), np.int64)
    total = int(counts.sum())
    return {"rows": total, "counts": dict(zip(names, counts.tolist())),
            "fractions": {name: (count / total if total else 0.0) for name, count in zip(names, counts.tolist())}}
