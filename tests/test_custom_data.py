"""A user's own data set: every format reads the same rows, labels get a fixed order, bad input is one clear error."""
from __future__ import annotations

import json
import logging
import sys

import numpy as np
import pytest

from featherweight.data import DataConfig, DataError, TaskSpec, get_task, load_splits, read_task_file, task_from_record
from conftest import TOPICS, custom, topic_rows, write_rows


@pytest.mark.parametrize("suffix", [".tsv", ".csv", ".jsonl", ".parquet"])
def test_every_file_format_reads_the_same_splits(suffix, tmp_path):
    """TSV, CSV, JSON Lines and Parquet files of the same rows give the same spec, texts and labels."""
    train, dev = topic_rows(80, seed=1), topic_rows(20, seed=2)
    expected = load_splits(custom(write_rows(tmp_path / "tsv" / "train.tsv", train),
                                  write_rows(tmp_path / "tsv" / "dev.tsv", dev)), show_progress=False)
    config = custom(write_rows(tmp_path / "data" / f"train{suffix}", train),
                    write_rows(tmp_path / "data" / f"dev{suffix}", dev))
    splits = load_splits(config, show_progress=False)
    assert config.spec.label_names == ("food", "music", "sport", "tech") and config.spec.text_columns == ("text",)
    for name in ("train", "heldout", "dev"):
        assert splits[name].texts() == expected[name].texts()
        assert np.array_equal(splits[name].labels, expected[name].labels)


def test_csv_reads_quoted_texts_with_commas_and_line_breaks(tmp_path):
    """A quoted CSV text may hold commas and line breaks; row numbers are the lines the rows start on."""
    path = tmp_path / "train.csv"
    path.write_text('text,label\n"hello, world",a\n"two\nlines",b\nplain,a\n', encoding="utf-8")
    data = read_task_file(path, custom(path, label_column="label").spec)
    assert data.texts_a == ["hello, world", "two\nlines", "plain"]
    assert data.line_numbers.tolist() == [2, 3, 5]


def test_hugging_face_dataset_saved_to_disk_loads_its_splits(tmp_path):
    """--hf-dataset DIR reads a DatasetDict saved with save_to_disk; a ClassLabel column keeps its names and order."""
    datasets = pytest.importorskip("datasets")

    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["tech", "food", "sport", "music"])})
    split = lambda rows: datasets.Dataset.from_dict(
        {"text": [row["text"] for row in rows], "label": [sorted(TOPICS).index(row["topic"]) for row in rows]},
        features=features)
    datasets.DatasetDict({"train": split(topic_rows(80, 1)), "validation": split(topic_rows(20, 2))}).save_to_disk(
        str(tmp_path / "topics"))
    config = DataConfig(hf_dataset=str(tmp_path / "topics"))
    splits = load_splits(config, show_progress=False)
    assert config.task == "topics" and config.spec.label_names == ("tech", "food", "sport", "music")
    assert len(splits["train"]) + len(splits["heldout"]) == 80 and len(splits["dev"]) == 20
    assert splits["dev"].line_numbers[0] == 1 and splits["dev"].texts_a[0] == topic_rows(20, 2)[0]["text"]
    with pytest.raises(DataError, match=r"no split 'test'; it has \['train', 'validation'\]\. Pass --dev-split"):
        load_splits(DataConfig(hf_dataset=str(tmp_path / "topics"), dev_split="test"), show_progress=False)


def test_hugging_face_dataset_without_the_package_says_how_to_install_it(tmp_path, monkeypatch):
    """Without the datasets package, --hf-dataset is a one-line error naming `pip install datasets`."""
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(DataError, match=r"pip install datasets"):
        DataConfig(hf_dataset=str(tmp_path)).spec


def test_labels_are_sorted_with_numbers_in_numeric_order(tmp_path):
    """Labels 10, 2, 1 are ordered 1, 2, 10; JSON integer labels read as those numbers."""
    rows = [{"text": f"row {i}", "label": [10, 2, 1][i % 3]} for i in range(9)]
    config = custom(write_rows(tmp_path / "t" / "train.jsonl", rows), label_column="label")
    assert config.spec.label_values == ("1", "2", "10")
    data = load_splits(config, show_progress=False)["train"]
    assert [config.spec.label_values[i] for i in data.labels] == [str(rows[n - 1]["label"]) for n in data.line_numbers]


def test_labels_option_fixes_the_order(tmp_path):
    """--labels tech,sport,music,food is the label order, whatever train's sorted order is."""
    rows = topic_rows(40, 1)
    config = custom(write_rows(tmp_path / "t" / "train.tsv", rows), labels="tech,sport,music,food")
    assert config.spec.label_names == ("tech", "sport", "music", "food")
    data = load_splits(config, show_progress=False)["train"]
    assert [config.spec.label_names[i] for i in data.labels] == [rows[n - 2]["topic"] for n in data.line_numbers]


def test_labels_option_missing_a_train_label_is_an_error(tmp_path):
    """A train label left out of --labels is an error naming the file, the value and the fix."""
    config = custom(write_rows(tmp_path / "t" / "train.tsv", topic_rows(40, 1)), labels="tech,sport,music")
    with pytest.raises(DataError, match=r"train\.tsv: label 'food' \(column 'topic'\) is not in --labels"):
        config.spec


def test_dev_label_unseen_in_train_names_file_line_and_value(tmp_path):
    """A dev label that train never has is an error at dev's file:line with the value and train's labels."""
    dev = topic_rows(6, 2)
    dev[3]["topic"] = "weather"
    config = custom(write_rows(tmp_path / "t" / "train.tsv", topic_rows(40, 1)), write_rows(tmp_path / "dev.tsv", dev))
    with pytest.raises(DataError, match=r"dev\.tsv:5: unknown label: 'weather' in column 'topic', expected one of "
                                        r"\['food', 'music', 'sport', 'tech'\] \(the labels of train"):
        load_splits(config, show_progress=False)


def test_a_single_class_in_train_is_an_error(tmp_path):
    """Train rows of one label only cannot make a classifier: the error names the file and the label."""
    rows = [{"text": f"row {i}", "topic": "sport"} for i in range(5)]
    with pytest.raises(DataError, match=r"train\.csv: every training row has the label 'sport' \(column 'topic'\); "
                                        r"a classifier needs at least two classes"):
        custom(write_rows(tmp_path / "t" / "train.csv", rows)).spec


@pytest.mark.parametrize("suffix, where", [(".csv", r"train\.csv:4"), (".jsonl", r"train\.jsonl:3"),
                                           (".parquet", r"train\.parquet row 3")])
def test_empty_text_names_file_and_line_or_row(suffix, where, tmp_path):
    """An empty text is an error at file:line (file row N for Parquet) naming the column."""
    rows = topic_rows(5, 1)
    rows[2]["text"] = "  "
    with pytest.raises(DataError, match=where + r": empty text: column 'text' is empty"):
        custom(write_rows(tmp_path / "t" / f"train{suffix}", rows)).spec


def test_missing_column_lists_the_columns_the_file_has(tmp_path):
    """A --label-column the file lacks is an error naming it and the columns there are."""
    path = write_rows(tmp_path / "t" / "train.csv", topic_rows(5, 1))
    with pytest.raises(DataError, match=r"train\.csv:1: missing column\(s\) \['category'\]; the header has "
                                        r"\['text', 'topic'\]"):
        custom(path, label_column="category").spec


def test_skip_bad_rows_counts_and_reports_the_skips(tmp_path, caplog):
    """--skip-bad-rows skips empty texts and unknown dev labels, counting them per reason in the log."""
    train, dev = topic_rows(40, 1), topic_rows(8, 2)
    train[5]["text"] = ""
    dev[0]["topic"], dev[1]["topic"] = "weather", ""
    config = custom(write_rows(tmp_path / "t" / "train.jsonl", train), write_rows(tmp_path / "dev.jsonl", dev),
                    skip_bad_rows=True)
    caplog.set_level(logging.WARNING)
    splits = load_splits(config, show_progress=False)
    assert len(splits["dev"]) == 6 and dict(splits["dev"].skipped) == {"unknown label": 1, "empty label": 1}
    assert dict(splits["train"].skipped) == {"empty text": 1}
    assert "dev.jsonl: skipped 2 bad rows (unknown label: 1, empty label: 1)" in caplog.text


def test_without_a_dev_file_a_seeded_dev_slice_is_carved_off_and_logged(tmp_path, caplog):
    """Without --dev-file, train, held-out and dev are disjoint seeded slices of train, and the log says so."""
    caplog.set_level(logging.INFO)
    config = custom(write_rows(tmp_path / "t" / "train.tsv", topic_rows(200, 1)))
    splits = load_splits(config, show_progress=False)
    lines = [set(splits[name].line_numbers.tolist()) for name in ("train", "heldout", "dev")]
    assert sum(map(len, lines)) == 200 and len(set().union(*lines)) == 200 and len(lines[2]) == 20
    assert lines[2] == set(load_splits(config, show_progress=False)["dev"].line_numbers.tolist())
    assert "no dev file or split given" in caplog.text and "--dev-fraction" in caplog.text


def test_task_name_defaults_to_the_train_files_folder(tmp_path):
    """The task of trec/train.tsv is named "trec" (--task-name overrides it) and is never looked up in GLUE."""
    path = write_rows(tmp_path / "trec" / "train.tsv", topic_rows(8, 1))
    assert custom(path).task == "trec"
    assert custom(path, task_name="questions").task == "questions"


def test_own_data_options_without_a_train_file_are_refused():
    """--text-column with a GLUE task is a one-line error saying --train-file is missing."""
    with pytest.raises(ValueError, match=r"--text-column describes your own data set: pass --train-file"):
        DataConfig(task="sst-2", text_column="text")


def test_unknown_file_extension_names_the_formats(tmp_path):
    """A .txt train file is an error listing the formats read."""
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "train.txt").write_text("text\tlabel\n")
    with pytest.raises(DataError, match=r"train\.txt: unknown data format '\.txt'; expected a \.tsv, \.csv"):
        custom(tmp_path / "t" / "train.txt").spec


def test_task_spec_round_trips_and_old_records_fall_back_to_glue(tmp_path):
    """to_dict/from_dict rebuild a custom spec exactly; a record with only a GLUE name gives the preset."""
    spec = custom(write_rows(tmp_path / "t" / "train.tsv", topic_rows(8, 1))).spec
    stored = json.loads(json.dumps({"task": spec.name, "task_spec": spec.to_dict()}))
    assert task_from_record(stored) == spec and not spec.is_glue
    assert task_from_record({"task": "qqp"}) == get_task("qqp") and get_task("qqp").is_glue
    assert TaskSpec.from_dict(get_task("mnli").to_dict()) == get_task("mnli")
