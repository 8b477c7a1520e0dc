"""Task metrics: accuracy, F1 of the positive class, and MNLI's matched/mismatched mean."""
from __future__ import annotations

import numpy as np

from featherweight.data.tasks import TaskSpec


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


def split_metrics(task: TaskSpec, predictions, labels) -> dict[str, float]:
    """The task's metrics on one split, e.g. {"accuracy": .9, "f1": .87} for QQP."""
    functions = {"accuracy": accuracy, "f1": f1}
    return {name: functions[name](predictions, labels) for name in task.metrics}


def summarize(per_split: dict[str, dict[str, float]]) -> dict[str, float]:
    """Flatten {split: {metric: value}} to {"dev_accuracy": ...}; MNLI also gets the m/mm mean."""
    flat = {f"{split}_{metric}": value for split, metrics in per_split.items()
            for metric, value in metrics.items()}
    if "dev_matched" in per_split and "dev_mismatched" in per_split:
        flat["dev_mean_accuracy"] = (per_split["dev_matched"]["accuracy"]
                                     + per_split["dev_mismatched"]["accuracy"]) / 2
    return flat
