"""Multi-class metrics: macro-F1 and per-class scores as scikit-learn computes them, summaries, results, skyline."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from featherweight.cli import main
from featherweight.data import get_task
from featherweight.measure.metrics import (confusion, format_per_class, macro_f1, per_class, split_metrics,
                                   summarize)
from featherweight.experiments.results import aggregate, read_table, write_table

NAMES = ("abbreviation", "entity", "human", "location", "number", "description")


def _random_case(seed: int, num_labels: int = 6):
    """Imbalanced labels and noisy predictions; class 4 never predicted, class 5 absent from the labels."""
    rng = np.random.default_rng(seed)
    labels = rng.choice(5, size=300, p=[0.05, 0.15, 0.3, 0.3, 0.2])
    predictions = np.where(rng.random(300) < 0.6, labels, rng.integers(0, num_labels, 300))
    predictions[predictions == 4] = 5
    return predictions, labels


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_macro_f1_and_per_class_scores_match_scikit_learn(seed):
    """Per-class precision/recall/F1/support and macro-F1 equal sklearn's with labels=all classes, zero_division=0."""
    metrics = pytest.importorskip("sklearn.metrics")
    predictions, labels = _random_case(seed)
    classes = list(range(len(NAMES)))
    precision, recall, f1, support = metrics.precision_recall_fscore_support(
        labels, predictions, labels=classes, zero_division=0)
    table = per_class(predictions, labels, NAMES)
    assert list(table) == list(NAMES)
    for i, name in enumerate(NAMES):
        assert table[name]["precision"] == pytest.approx(precision[i])
        assert table[name]["recall"] == pytest.approx(recall[i])
        assert table[name]["f1"] == pytest.approx(f1[i])
        assert table[name]["support"] == support[i]
        assert table[name]["predicted"] == int((predictions == i).sum())
    expected = metrics.f1_score(labels, predictions, labels=classes, average="macro", zero_division=0)
    assert macro_f1(predictions, labels, len(NAMES)) == pytest.approx(expected)


def test_a_class_never_predicted_scores_zero_and_still_counts_in_macro_f1():
    """Never predicted: precision 0 (by convention, not NaN); absent from the labels: support 0, F1 0, counted."""
    table = per_class([0, 0, 1, 1], [0, 2, 1, 1], ("a", "b", "c", "d"))
    assert table["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1, "predicted": 0}
    assert table["d"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0, "predicted": 0}
    assert macro_f1([0, 0, 1, 1], [0, 2, 1, 1], 4) == pytest.approx((2 / 3 + 1 + 0 + 0) / 4)


def test_split_metrics_gives_accuracy_macro_f1_and_the_tasks_own_metrics_as_floats():
    """Every task gets accuracy and macro_f1; QQP keeps its positive-class f1; all plain floats."""
    four = SimpleNamespace(num_labels=4, metrics=("accuracy",))
    scores = split_metrics(four, [0, 1, 2, 3, 3], [0, 1, 2, 2, 3])
    assert scores == {"accuracy": pytest.approx(0.8), "macro_f1": pytest.approx((1 + 1 + 2 / 3 + 2 / 3) / 4)}
    qqp = split_metrics(get_task("qqp"), [1, 0, 1], [1, 1, 1])
    assert set(qqp) == {"accuracy", "macro_f1", "f1"} and qqp["f1"] == pytest.approx(0.8)
    assert all(type(value) is float for value in [*scores.values(), *qqp.values()])


def test_an_id_outside_the_classes_is_an_error_naming_it():
    """A prediction or label id beyond the task's classes is refused, naming the id and the range."""
    with pytest.raises(ValueError, match="label id 4 is outside 0..3 for 4 classes"):
        confusion([0, 1], [0, 4], 4)
    with pytest.raises(ValueError, match="empty"):
        macro_f1([], [], 3)


def test_summary_carries_the_per_class_table_whole_and_the_mnli_mean_of_every_metric():
    """summarize adds "<split>_per_class" tables unflattened, and MNLI's m/mm mean of accuracy and macro-F1."""
    table = per_class([0, 1], [0, 1], ("yes", "no"))
    flat = summarize({"dev_matched": {"accuracy": 0.8, "macro_f1": 0.7},
                      "dev_mismatched": {"accuracy": 0.6, "macro_f1": 0.5}}, {"dev_matched": table})
    assert flat["dev_mean_accuracy"] == pytest.approx(0.7) and flat["dev_mean_macro_f1"] == pytest.approx(0.6)
    assert flat["dev_matched_per_class"] is table


def test_per_class_table_prints_every_class_with_its_counts_and_share():
    """The printed table has one row per class with P/R/F1, support (with its share) and predicted counts."""
    text = format_per_class(per_class([0, 0, 0, 1], [0, 0, 1, 1], ("spam", "ham")), title="dev")
    lines = text.splitlines()
    assert lines[0] == "dev" and lines[1].split() == ["class", "precision", "recall", "f1", "support", "predicted"]
    assert lines[2].split() == ["spam", "0.667", "1.000", "0.800", "2", "(50%)", "3"]
    assert lines[3].split() == ["ham", "1.000", "0.500", "0.667", "2", "(50%)", "1"]
    assert lines[4].split() == ["macro", "avg", "0.833", "0.750", "0.733", "4", "4"]


def _records() -> list[dict]:
    """Results records of two 4-class students over two seeds: the smaller wins on accuracy, the larger on
    macro-F1 (it does not ignore the rare classes)."""
    table = per_class([0, 1, 2, 3], [0, 1, 2, 3], ("a", "b", "c", "d"))
    return [{"command": "compress", "task": "toy4", "setting_id": setting, "config_id": f"{setting}{seed}",
             "variant": "distilled", "name": name, "arch": "ffn", "seed": seed, "dev_accuracy": accuracy,
             "dev_macro_f1": f1 + seed / 100, "dev_per_class": table, "gzip_bytes": size}
            for setting, name, size, accuracy, f1 in [("a", "FFN Hash25", 5e4, 0.90, 0.50),
                                                      ("b", "FFN BPE100", 9e5, 0.85, 0.70)]
            for seed in (1, 2)]


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_results_tables_keep_the_per_class_table_and_aggregate_macro_f1(suffix, tmp_path):
    """A results table stores dev_per_class whole; aggregate gives dev_macro_f1's mean and sd and skips the table."""
    records = read_table(write_table(_records(), tmp_path / f"results{suffix}"))
    assert records[0]["dev_per_class"]["c"]["support"] == 1
    rows = aggregate(records)
    assert rows[0]["dev_macro_f1_mean"] == pytest.approx(0.515) and rows[0]["dev_macro_f1_sd"] > 0
    assert not any("per_class" in key for row in rows for key in row)


def test_compress_run_records_keep_per_class_tables_as_one_column(tmp_path):
    """A recorded run's dev_per_class becomes one record column, not one column per class and score."""
    from featherweight.experiments.results import run_records

    from conftest import distill_run_config, write_sacred_run

    table = per_class([0, 1, 1], [0, 1, 0], ("x", "y"))
    summary = {"name": "toy", "output_dir": "/a", "dev_accuracy": 0.7, "dev_macro_f1": 0.6, "dev_per_class": table}
    record, = run_records(write_sacred_run(tmp_path, 1, "compress", distill_run_config(1), summary))
    assert record["dev_macro_f1"] == 0.6 and record["dev_per_class"] == table
    assert not any(key.startswith("dev_per_class.") for key in record)


def test_skyline_is_drawn_on_macro_f1_from_the_command_line(tmp_path, capsys):
    """`analyze plot --metric macro_f1` plots dev_macro_f1 (here the larger student wins) for a custom task."""
    table = write_table(_records(), tmp_path / "results.jsonl")
    output = tmp_path / "sky"
    assert main(["analyze", "plot", str(table), "--metric", "macro_f1", "--task", "toy4", "--output", str(output),
                 "--formats", "png"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["metric"] == "dev_macro_f1" and result["task"] == "toy4"
    assert [(p["label"], round(p["score"], 2)) for p in result["skyline"]] == [("FFN Hash25", 51.5),
                                                                              ("FFN BPE100", 71.5)]
    assert (tmp_path / "sky.png").stat().st_size > 0
    assert main(["analyze", "plot", str(table), "--output", str(output), "--formats", "png"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["metric"] == "dev_accuracy" and [p["label"] for p in result["skyline"]] == ["FFN Hash25"]


def test_skyline_refuses_a_metric_the_results_lack_and_published_accuracies_on_macro_f1(tmp_path, caplog):
    """--metric that no row holds names the metric; --reference with --metric macro_f1 is refused."""
    table = write_table(_records(), tmp_path / "results.jsonl")
    assert main(["analyze", "plot", str(table), "--metric", "recall", "--output", str(tmp_path / "s")]) == 2
    assert "No dev recall among" in caplog.text and "pass --metric accuracy, macro_f1" in caplog.text
    assert main(["analyze", "plot", str(table), "--metric", "macro_f1", "--reference"]) == 2
    assert "published accuracies; they cannot go on a macro_f1 skyline" in caplog.text
