"""featherweight compose: long pseudo-documents joined from training rows, never from held-out rows."""
from __future__ import annotations

import json

import numpy as np
import pytest

from featherweight.augment.compose import ComposeConfig, compose, compose_texts
from featherweight.cli import main
from featherweight.data import DataConfig, get_task, load_splits, read_task_file


def distill_run_config(glue_dir, tmp_path, **overrides):
    return ComposeConfig(data=DataConfig(task="sst-2", glue_dir=str(glue_dir), heldout_fraction=0.1),
                         output=str(tmp_path / "composed.tsv"), **overrides)


def test_composed_texts_join_between_min_and_max_parts_of_the_given_rows(tmp_path):
    """Every composed text is a space-joined run of 2..4 source rows; the same seed gives the same texts."""
    texts = [f"row{i} says {'good' if i % 2 else 'bad'}" for i in range(50)]
    labels = np.arange(50) % 2
    config = ComposeConfig(output=str(tmp_path / "x.tsv"), rows=200, min_parts=2, max_parts=4, max_words=1000)
    composed, drawn = compose_texts(texts, labels, config)
    assert len(composed) == len(drawn) == 200 and set(drawn.tolist()) == {0, 1}
    parts = [text.count("says") for text in composed]
    assert min(parts) == 2 and max(parts) == 4
    assert all(piece.strip() in texts for text in composed for piece in text.replace(" row", "\nrow").split("\n"))
    assert compose_texts(texts, labels, config)[0] == composed


def test_most_parts_agree_with_the_drawn_label(tmp_path):
    """With agree = 0.8, about 80% of the parts carry the label the text was drawn for."""
    texts = [f"t{i}" for i in range(100)]
    labels = np.arange(100) % 2
    config = ComposeConfig(output=str(tmp_path / "x.tsv"), rows=2000, min_parts=3, max_parts=3, agree=0.8)
    composed, drawn = compose_texts(texts, labels, config)
    agree = np.mean([labels[int(part[1:])] == label for text, label in zip(composed, drawn) for part in text.split()])
    assert 0.77 < agree < 0.83


def test_max_words_stops_adding_parts(tmp_path):
    """No text grows past max_words once it has a part; a single long part is kept whole."""
    texts, labels = ["one two three four five"] * 10, np.array([0, 1] * 5)
    config = ComposeConfig(output=str(tmp_path / "x.tsv"), rows=50, min_parts=4, max_parts=4, max_words=12)
    composed, _ = compose_texts(texts, labels, config)
    assert {len(text.split()) for text in composed} == {10}


def test_compose_writes_a_task_file_from_train_rows_only(glue_dir, tmp_path):
    """The output reads as an SST-2 file; its parts come from train less the held-out slice; a rerun reuses it."""
    config = distill_run_config(glue_dir, tmp_path, rows=30)
    summary = compose(config)
    data = read_task_file(summary["output"], get_task("sst-2"))
    assert len(data.texts_a) == 30 == summary["rows"]
    splits = load_splits(config.data)
    heldout_only = set(splits["heldout"].texts_a) - set(splits["train"].texts_a)
    assert not any(sentence in text for text in data.texts_a for sentence in heldout_only)
    before = (tmp_path / "composed.tsv").stat().st_mtime_ns
    assert compose(config) == summary and (tmp_path / "composed.tsv").stat().st_mtime_ns == before
    assert json.loads((tmp_path / "composed.json").read_text())["config"]["rows"] == 30


def test_compose_refuses_pairs_and_bad_settings(glue_dir, tmp_path):
    """Pair tasks and impossible part counts are clear errors."""
    with pytest.raises(ValueError, match="sentence pairs"):
        compose(ComposeConfig(data=DataConfig(task="qqp", glue_dir=str(glue_dir)), output=str(tmp_path / "q.tsv")))
    with pytest.raises(ValueError, match="min_parts <= max_parts"):
        ComposeConfig(min_parts=5, max_parts=2)


def test_compose_command_writes_the_file(glue_dir, tmp_path, capsys):
    """`featherweight compose` runs from the command line and prints its summary."""
    code = main(["compose", "--task", "sst-2", "--glue-dir", str(glue_dir), "--rows", "12",
                 "--output", str(tmp_path / "c.tsv"), "--no-record"])
    assert code == 0 and json.loads(capsys.readouterr().out)["rows"] == 12
