"""Task metrics: accuracy, macro-F1, per-class precision/recall/F1 with class counts, QQP's positive-class F1.

Every split is scored on accuracy and macro-F1 (the unweighted mean of the per-class F1s), plus the
task's own metrics (QQP: "f1", the F1 of its positive class). Per-class scores follow
scikit-learn's defaults with `labels=` every class of the task and `zero_division=0`: a class that
is never predicted has precision 0, a class absent from the labels has recall 0 and support 0, and
either way its F1 is 0 and it still counts in macro-F1, so a dev set that lacks a class scores lower
rather than hiding it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

if TYPE_CHECKING:  # any object with .num_labels and .metrics will do
    from featherweight.data.tasks import TaskSpec

PER_CLASS = "per_class"  # summary key suffix of a split's per-class table: "dev_per_class"
CLASS_SCORES = ("precision", "recall", "f1")


def accuracy(predictions, labels) -> float:
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    if len(labels) == 0:
        raise ValueError("accuracy of an empty set is undefined")
    return float((predictions == labels).mean())


def f1(predictions, labels, positive: int = 1) -> float:
    """F1 of the positive class (QQP's 'duplicate')."""
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    true_positive = np.sum((predictions == positive) & (labels == positive))
    predicted, actual = np.sum(predictions == positive), np.sum(labels == positive)
    if predicted + actual == 0:
        return 0.0
    return float(2 * true_positive / (predicted + actual))


def confusion(predictions, labels, num_labels: int) -> np.ndarray:
    """Counts (num_labels, num_labels): row = true class, column = predicted class."""
    predictions, labels = np.asarray(predictions, dtype=np.int64), np.asarray(labels, dtype=np.int64)
    if predictions.shape != labels.shape:
        raise ValueError(f"Got {predictions.shape} predictions for {labels.shape} labels; they must match.")
    for name, values in (("prediction", predictions), ("label", labels)):
        bad = values[(values < 0) | (values >= num_labels)]
        if bad.size:
            raise ValueError(f"A {name} id {int(bad[0])} is outside 0..{num_labels - 1} for {num_labels} classes.")
    return np.bincount(labels * num_labels + predictions, minlength=num_labels ** 2).reshape(num_labels, num_labels)


def _class_scores(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class precision, recall, F1 (0 where undefined), support and predicted counts of a confusion matrix."""
    true_positive = np.diag(counts).astype(np.float64)
    support, predicted = counts.sum(axis=1), counts.sum(axis=0)
    ratio = lambda top, bottom: np.divide(top, bottom, out=np.zeros_like(top), where=bottom > 0)
    return {"precision": ratio(true_positive, predicted), "recall": ratio(true_positive, support),
            "f1": ratio(2 * true_positive, support + predicted), "support": support, "predicted": predicted}


def macro_f1(predictions, labels, num_labels: int) -> float:
    """Unweighted mean of the F1 of every class 0..num_labels-1 (undefined F1s count as 0)."""
    if len(np.asarray(labels)) == 0:
        raise ValueError("macro-F1 of an empty set is undefined")
    return float(_class_scores(confusion(predictions, labels, num_labels))["f1"].mean())


def split_metrics(task: TaskSpec, predictions, labels) -> dict[str, float]:
    """Accuracy, macro-F1 and the task's own metrics on one split, e.g. {"accuracy", "macro_f1", "f1"} for QQP."""
    functions = {"accuracy": accuracy, "f1": f1,
                 "macro_f1": lambda p, l: macro_f1(p, l, task.num_labels)}
    names = dict.fromkeys(("accuracy", "macro_f1", *task.metrics))
    return {name: functions[name](predictions, labels) for name in names}


def per_class(predictions, labels, label_names: Sequence[str]) -> dict[str, dict]:
    """{label name: {"precision", "recall", "f1", "support", "predicted"}} in label order.

    support counts the rows of that class, predicted the rows predicted as it (both ints).
    """
    scores = _class_scores(confusion(predictions, labels, len(label_names)))
    return {str(name): {**{key: float(scores[key][i]) for key in CLASS_SCORES},
                        "support": int(scores["support"][i]), "predicted": int(scores["predicted"][i])}
            for i, name in enumerate(label_names)}


def summarize(per_split: dict[str, dict[str, float]], per_class_tables: dict[str, dict] | None = None) -> dict:
    """Flatten {split: {metric: value}} to {"dev_accuracy": ...}; MNLI also gets the m/mm mean of each metric.

    `per_class_tables` ({split: per_class(...)}) are added whole as "<split>_per_class": not numbers, so
    run records skip them as metrics and the results store keeps them as one column.
    """
    flat = {f"{split}_{metric}": value for split, metrics in per_split.items()
            for metric, value in metrics.items()}
    if "dev_matched" in per_split and "dev_mismatched" in per_split:
        matched, mismatched = per_split["dev_matched"], per_split["dev_mismatched"]
        flat.update({f"dev_mean_{metric}": (matched[metric] + mismatched[metric]) / 2
                     for metric in matched if metric in mismatched})
    for split, table in (per_class_tables or {}).items():
        flat[f"{split}_{PER_CLASS}"] = table
    return flat


def format_per_class(table: dict[str, dict], title: str | None = None, digits: int = 3) -> str:
    """A per-class table as aligned text: one row per class with precision, recall, F1, support and predicted
    counts (support also as a share of all rows, so imbalance shows), then the macro average and the total."""
    total = sum(row["support"] for row in table.values())
    width = max([len("macro avg"), *(len(name) for name in table)])
    lines = [title] if title else []
    lines.append(f"{'class':<{width}}  {'precision':>9}  {'recall':>9}  {'f1':>9}  {'support':>14}  {'predicted':>9}")
    number = lambda value: f"{value:>9.{digits}f}"
    for name, row in table.items():
        share = f"{row['support']} ({row['support'] / total:.0%})" if total else str(row["support"])
        lines.append(f"{name:<{width}}  {number(row['precision'])}  {number(row['recall'])}  {number(row['f1'])}  "
                     f"{share:>14}  {row['predicted']:>9}")
    if table:
        means = [sum(row[key] for row in table.values()) / len(table) for key in CLASS_SCORES]
        lines.append(f"{'macro avg':<{width}}  {'  '.join(number(mean) for mean in means)}  {total:>14}  "
                     f"{sum(row['predicted'] for row in table.values()):>9}")
    return "\n".join(lines)
