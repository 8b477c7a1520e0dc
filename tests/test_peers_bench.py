"""bench/peers.py on tiny inputs: budget selection on held-out accuracy, deployable sizes of the peers, the table."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from conftest import load_bench
from featherweight.data import TaskData


@pytest.fixture(scope="module")
def peers():
    return load_bench("peers")


def record(system, name, size, heldout, dev, imdb, amazon):
    return {"system": system, "name": name, "deployable_bytes": size,
            "accuracy": {"heldout": heldout, "sst2_dev": dev, "imdb": imdb, "amazon": amazon}}


def tiny_sets(seed=0) -> dict:
    """Four seeded splits of a separable toy sentiment task."""
    rng = np.random.default_rng(seed)
    good, bad = ["great", "fine", "lovely", "superb"], ["awful", "dull", "poor", "bad"]

    def split(n, words=6):
        labels = rng.integers(0, 2, n)
        texts = [" ".join(rng.choice(good if y else bad, 2).tolist() + rng.choice(["the", "film", "a", "plot"],
                                                                              words - 2).tolist()) for y in labels]
        return TaskData(task="sst-2", path=Path("toy.tsv"), texts_a=texts, texts_b=None, labels=labels,
                        line_numbers=np.arange(2, n + 2))

    return {"train": split(200), "heldout": split(40), "sst2_dev": split(40), "imdb": split(30, 30),
            "amazon": split(30, 12)}


def test_best_under_a_budget_is_chosen_on_held_out_accuracy_only(peers):
    """Dev and shifted scores never choose: the better held-out model wins even with worse dev accuracy."""
    records = [record("fasttext", "small", 20_000, 80, 90, 90, 90), record("fasttext", "mid", 40_000, 85, 70, 70, 70),
               record("fasttext", "big", 90_000, 99, 99, 99, 99)]
    assert peers.best_under(records, 50_000)["name"] == "mid"
    assert peers.best_under(records, 25_000)["name"] == "small"
    assert peers.best_under(records, 10_000) is None


def test_budget_rows_compare_our_best_with_the_best_peer_and_judge_the_goal(peers):
    """Each budget row holds both names, the SST-2 dev and shifted-mean differences, and whether both beat 1.5."""
    records = [record("featherweight", "ours", 45_000, 90, 82.0, 80.0, 84.0),
               record("fasttext", "theirs", 48_000, 88, 80.0, 79.0, 81.0),
               record("tfidf-lr", "tfidf", 600_000, 95, 85.0, 85.0, 85.0)]
    rows = {row["budget_kb"]: row for row in peers.budget_rows(records)}
    assert rows[25] == {"budget_kb": 25, "featherweight": None, "peer": None}
    assert rows[50]["featherweight"] == "ours" and rows[50]["peer"] == "theirs"
    assert rows[50]["sst2_dev_difference"] == 2.0 and rows[50]["shifted_mean_difference"] == 2.0
    assert rows[50]["goal_met"] is True
    assert rows[1000]["peer"] == "tfidf" and rows[1000]["goal_met"] is False
    table = peers.markdown(records, peers.budget_rows(records))
    assert "| 50 KB | ours (45 KB): 82.0 / 82.0 | theirs (48 KB): 80.0 / 80.0 | +2.00 | +2.00 | +2.00 | +2.00 |" in table


def test_hindsight_columns_compare_each_score_with_the_peer_best_on_it(peers):
    """A peer chosen on held-out can be beaten while another peer is better on dev or the shifted sets."""
    records = [record("featherweight", "ours", 45_000, 90, 82.0, 80.0, 84.0),
               record("fasttext", "memoriser", 40_000, 95, 80.0, 70.0, 70.0),
               record("fasttext", "dev-best", 44_000, 85, 83.0, 70.0, 70.0),
               record("tfidf-lr", "shift-best", 30_000, 80, 70.0, 90.0, 84.0)]
    row = {row["budget_kb"]: row for row in peers.budget_rows(records)}[50]
    assert row["peer"] == "memoriser" and row["goal_met"] is True
    assert row["sst2_dev_difference_vs_hindsight_peer"] == -1.0
    assert row["shifted_mean_difference_vs_hindsight_peer"] == -5.0


def test_peer_text_lowercases_and_splits_punctuation():
    """The peers read the words our hash tokenizer reads: lower case, punctuation as tokens."""
    assert load_bench("common").peer_text("Don't STOP, now!") == "don ' t stop , now !"


def test_tfidf_peer_is_scored_everywhere_and_sized_as_its_gzip_pickle(peers):
    """TF-IDF + LR learns the toy task; its size is gzip -9 of the pipeline it loads, which still predicts."""
    pytest.importorskip("sklearn")
    peers.TFIDF_FEATURES, peers.TFIDF_C = (50,), (1.0, 4.0)
    sets = tiny_sets()
    (rec,) = peers.tfidf_records(sets, "cmd")
    assert rec["system"] == "tfidf-lr" and rec["command"] == "cmd" and rec["settings"]["C"] in (1.0, 4.0)
    assert set(rec["accuracy"]) == {"heldout", "sst2_dev", "imdb", "amazon"} and rec["accuracy"]["sst2_dev"] > 90
    assert 1000 < rec["deployable_bytes"] < 20_000


def test_fasttext_peer_is_quantized_and_sized_as_its_gzip_ftz(peers, tmp_path):
    """fastText trains with one thread and a seed, is quantized at the cutoff, and repeats exactly."""
    pytest.importorskip("fasttext")
    peers.FASTTEXT_GRID, peers.FASTTEXT_CUTOFFS = {"dim": (4,), "word_ngrams": (2,), "epoch": (20,)}, (300,)
    sets = tiny_sets()
    first = peers.fasttext_records(sets, tmp_path / "a", "cmd")
    again = peers.fasttext_records(sets, tmp_path / "b", "cmd")
    assert len(first) == 1 and first == again
    ftz = tmp_path / "a" / "model.ftz"
    assert first[0]["deployable_bytes"] == len(gzip.compress(ftz.read_bytes(), compresslevel=9, mtime=0))
    assert first[0]["settings"]["quantize"]["cutoff"] == 300 and first[0]["accuracy"]["sst2_dev"] > 80
