"""A 4-class task of the user's own files, end to end: fine-tune, compress, evaluate and export, labels by name."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import TOPICS, TOPIC_FILLER, build_tiny_bert, custom, spy_on_finetune, topic_rows, write_rows
from featherweight.cli import main

NAMES = sorted(TOPICS)
SMALL = ["--embedding-dim", "16", "--hidden-dim", "16", "--classifier-dim", "16", "--batch-size", "16",
         "--epochs", "2", "--no-progress"]


@pytest.fixture(scope="module")
def topics(tmp_path_factory) -> Path:
    """topics/train.tsv and topics/dev.tsv with columns text and topic (four classes)."""
    root = tmp_path_factory.mktemp("data") / "topics"
    write_rows(root / "train.tsv", topic_rows(160, seed=1))
    write_rows(root / "dev.tsv", topic_rows(40, seed=2))
    return root


@pytest.fixture(scope="module")
def topic_teacher(tmp_path_factory, topics) -> Path:
    """The tiny BERT with four outputs, fine-tuned through finetune() on the topic files."""
    from featherweight.teacher.finetune import FinetuneConfig, finetune

    words = tuple(word for group in TOPICS.values() for word in group) + tuple(TOPIC_FILLER)
    tiny = build_tiny_bert(tmp_path_factory.mktemp("bert4"), num_labels=4, extra_words=words)
    config = FinetuneConfig(data=custom(topics / "train.tsv", topics / "dev.tsv", text_column="text",
                                        heldout_fraction=0.1),
                            teacher=str(tiny), output_dir=str(tmp_path_factory.mktemp("teacher4")), epochs=6,
                            learning_rate=1e-3, batch_size=16, progress=False)
    finetune(config)
    return config.best_dir


def _data_options(topics: Path) -> list[str]:
    return ["--train-file", str(topics / "train.tsv"), "--dev-file", str(topics / "dev.tsv"),
            "--text-column", "text", "--label-column", "topic", "--heldout-fraction", "0.1"]


def test_fine_tuned_teacher_records_the_task_spec_and_names_its_outputs(topic_teacher):
    """featherweight_teacher.json holds the whole task spec; the model's id2label are the label names."""
    info = json.loads((topic_teacher / "featherweight_teacher.json").read_text())
    assert info["task"] == "topics" and info["task_spec"]["label_names"] == NAMES
    assert info["task_spec"]["text_columns"] == ["text"] and info["task_spec"]["label_column"] == "topic"
    id2label = json.loads((topic_teacher / "config.json").read_text())["id2label"]
    assert [id2label[str(i)] for i in range(4)] == NAMES


def test_compress_evaluate_and_export_a_four_class_task_from_its_files(topics, topic_teacher, tmp_path, capsys,
                                                                       one_thread):
    """compress --train-file ... distils, quantizes and exports a 4-class student; evaluate and ONNX use its names."""
    from featherweight.artifact import load_student, predict_data
    from featherweight.data import read_task_file
    from featherweight.deploy.predict import load

    student_dir = tmp_path / "student"
    assert main(["compress", *_data_options(topics), "--teacher", str(topic_teacher), "--student-arch", "bilstm",
                 "--work-dir", str(tmp_path / "work"), "--output-dir", str(student_dir),
                 "--runs-dir", str(tmp_path / "runs"), "--compression-actions", "distill", "quantize",
                 "--export", "onnx", *SMALL]) == 0
    summary = json.loads(capsys.readouterr().out)
    meta = json.loads((student_dir / "student.json").read_text())
    assert meta["task"] == "topics" and meta["num_labels"] == 4 and meta["task_spec"]["label_names"] == NAMES
    targets = json.loads((topic_teacher.parent / "soft-targets" / "topics-train.json").read_text())
    assert targets["task_spec"] == meta["task_spec"]
    quantized = json.loads((tmp_path / "student-quantized" / "student.json").read_text())
    assert quantized["task_spec"] == meta["task_spec"]

    assert main(["evaluate", "--model", str(student_dir), "--no-record", "--no-progress"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["task"] == "topics" and scores["dev_accuracy"] == pytest.approx(summary["dev_accuracy"])
    assert list(scores["dev_per_class"]) == NAMES
    assert main(["evaluate", "--model", str(student_dir), "--dev-file", str(topics / "dev.tsv"),
                 "--no-record", "--no-progress"]) == 0
    assert json.loads(capsys.readouterr().out)["dev_accuracy"] == pytest.approx(summary["dev_accuracy"])

    export_dir = Path(summary["exports"]["onnx"])
    dev = read_task_file(topics / "dev.tsv", load_student(student_dir).task)
    exported = [p.label for p in load(export_dir).predict(dev.texts_a)]
    quantized_student = load_student(tmp_path / "student-quantized")
    assert exported == [NAMES[i] for i in predict_data(quantized_student, dev).argmax(1)]


def test_evaluate_of_the_custom_teacher_needs_no_data_options(topic_teacher, capsys):
    """A teacher fine-tuned on a user's files is scored on them again without --train-file."""
    assert main(["evaluate", "--model", str(topic_teacher), "--no-record", "--no-progress"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["task"] == "topics" and 0.0 <= scores["dev_macro_f1"] <= 1.0


def test_soft_targets_command_takes_the_task_from_the_teacher(topics, topic_teacher, tmp_path, capsys):
    """soft-targets of a custom teacher reads a CSV in the teacher's columns without --task."""
    rows = topic_rows(10, seed=3)
    data_file = write_rows(tmp_path / "more.csv", [{"text": row["text"]} for row in rows])
    output = tmp_path / "more.npz"
    assert main(["soft-targets", "--teacher", str(topic_teacher), "--data-file", str(data_file),
                 "--output", str(output), "--no-record", "--no-progress"]) == 0
    meta = json.loads(output.with_suffix(".json").read_text())
    assert meta["task"] == "topics" and meta["task_spec"]["label_names"] == NAMES and meta["rows"] == 10


def test_compress_of_own_data_without_a_teacher_fine_tunes_one_not_the_committed_targets(
        topics, topic_teacher, tmp_path, monkeypatch, one_thread):
    """With no teacher, a custom task fine-tunes <work-dir>/teacher-<task> and never uses SST-2's soft targets."""
    calls = spy_on_finetune(monkeypatch, topic_teacher)
    assert main(["compress", *_data_options(topics), "--work-dir", str(tmp_path / "work"), "--output-dir",
                 str(tmp_path / "student"), "--no-record", *SMALL, "--epochs", "1"]) == 0
    assert [config.best_dir for config in calls] == [tmp_path / "work" / "teacher-topics" / "best"]
    assert calls[0].data.spec.label_names == tuple(NAMES)
    meta = json.loads((tmp_path / "student" / "student.json").read_text())
    assert meta["teacher"] == str(tmp_path / "work" / "teacher-topics" / "best") and meta["soft_targets"] is None


def test_evaluate_refuses_data_whose_labels_differ_from_the_students(topics, topic_teacher, tmp_path, caplog):
    """Scoring a student on files with other labels is a one-line error naming both label lists."""
    from conftest import cli_error

    assert main(["compress", *_data_options(topics), "--teacher", str(topic_teacher), "--work-dir",
                 str(tmp_path / "work"), "--output-dir", str(tmp_path / "student"), "--no-record", *SMALL,
                 "--epochs", "1", "--student-arch", "ffn"]) == 0
    rows = [{"text": row["text"], "topic": "x" if i % 2 else "y"} for i, row in enumerate(topic_rows(8, 1))]
    other = write_rows(tmp_path / "other" / "train.tsv", rows)
    message = cli_error(["evaluate", "--model", str(tmp_path / "student"), "--train-file", str(other),
                         "--text-column", "text", "--label-column", "topic", "--no-record"], caplog)
    assert "is a topics student with labels ['food', 'music', 'sport', 'tech']" in message and "['x', 'y']" in message
