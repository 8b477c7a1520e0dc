"""Task metrics."""
import pytest

from featherweight.data import get_task
from featherweight.measure.metrics import accuracy, f1, split_metrics, summarize


def test_accuracy_and_f1_on_a_known_case():
    """Accuracy counts matches; F1 is that of the positive class."""
    predictions, labels = [1, 1, 0, 0], [1, 0, 0, 1]
    assert accuracy(predictions, labels) == 0.5
    assert f1(predictions, labels) == pytest.approx(0.5)


def test_qqp_reports_accuracy_and_f1():
    """QQP's metrics are accuracy and F1 (beside the macro-F1 every task reports)."""
    assert set(split_metrics(get_task("qqp"), [1, 0], [1, 1])) == {"accuracy", "f1", "macro_f1"}


def test_mnli_summary_has_matched_mismatched_and_mean():
    """MNLI reports matched and mismatched separately and their mean."""
    flat = summarize({"dev_matched": {"accuracy": 0.8}, "dev_mismatched": {"accuracy": 0.6}})
    assert flat == {"dev_matched_accuracy": 0.8, "dev_mismatched_accuracy": 0.6,
                    "dev_mean_accuracy": pytest.approx(0.7)}


def test_accuracy_of_nothing_is_an_error():
    """An empty split has no accuracy."""
    with pytest.raises(ValueError, match="empty"):
        accuracy([], [])
