"""The custom-task benchmark's selection and goal: held-out macro-F1 picks, dev only reports."""
from __future__ import annotations

import pytest

from conftest import load_bench


@pytest.fixture(scope="module")
def bench():
    return load_bench("custom_task")


def record(system, name, size, heldout_f1, dev_f1, dev_accuracy=50.0):
    return {"system": system, "name": name, "deployable_bytes": size,
            "heldout": {"accuracy": 0.0, "macro_f1": heldout_f1},
            "dev": {"accuracy": dev_accuracy, "macro_f1": dev_f1}}


def test_best_under_a_budget_is_chosen_on_held_out_macro_f1(bench):
    """A model better on dev but worse on held-out is never the pick, and a model over the budget never fits."""
    records = [record("featherweight", "small", 20_000, 70, 60), record("featherweight", "lucky", 30_000, 60, 90),
               record("featherweight", "big", 200_000, 99, 99)]
    assert bench.best_under(records, 50_000)["name"] == "small"
    assert bench.best_under(records, 10_000) is None


def test_goal_needs_95_percent_of_the_teacher_and_a_win_over_fasttext(bench):
    """The goal holds only when the student under 100 KB reaches 95% of the teacher and beats fastText."""
    teacher = record("teacher", "teacher", 80_000_000, 90, 90)
    student = record("featherweight", "FFN +q", 45_000, 80, 86)
    weak_peer, strong_peer = record("fasttext", "ft", 40_000, 70, 80), record("fasttext", "ft", 40_000, 90, 87)
    met = bench.goal([teacher, student, weak_peer])
    assert met["met"] is True and met["fraction_of_teacher_macro_f1"] == pytest.approx(86 / 90, abs=1e-4)
    assert bench.goal([teacher, student, strong_peer])["met"] is False
    assert bench.goal([teacher, record("featherweight", "low", 45_000, 80, 80), weak_peer])["met"] is False


def test_budget_rows_report_dev_differences_of_the_held_out_picks(bench):
    """Each budget row compares the two held-out picks on dev accuracy and macro-F1."""
    records = [record("featherweight", "ours", 45_000, 80, 85, 88), record("fasttext", "theirs", 40_000, 75, 80, 86)]
    row = {row["budget_kb"]: row for row in bench.budget_rows(records)}[50]
    assert (row["featherweight"], row["fasttext"]) == ("ours", "theirs")
    assert row["dev_macro_f1_difference"] == 5 and row["dev_accuracy_difference"] == 2
    assert "dev_macro_f1_difference" not in {row["budget_kb"]: row for row in bench.budget_rows(records)}[25]
