"""Bad option values are refused before any data is loaded, with one line naming the option, and nothing written."""
from __future__ import annotations

import logging
import re

import pytest

from featherweight.cli import main
from featherweight.compression.distill import DistillConfig
from featherweight.teacher.finetune import FinetuneConfig


@pytest.fixture
def no_data_loading(monkeypatch):
    """Fail the test if any command gets as far as reading the task's data."""
    import featherweight.compression.distill
    import featherweight.teacher.finetune

    def refuse(*args, **kwargs):
        raise AssertionError("the data was loaded before the options were checked")

    monkeypatch.setattr(featherweight.compression.distill, "load_splits", refuse)
    monkeypatch.setattr(featherweight.teacher.finetune, "load_splits", refuse)


@pytest.mark.parametrize("option, value, message", [
    ("--dropout", "1.5", r"dropout must be in \[0, 1\), got 1.5 \(--dropout\)"),
    ("--batch-size", "0", r"batch_size must be >= 1, got 0 \(--batch-size\)"),
    ("--learning-rate", "-1", r"learning_rate must be > 0, got -1.0 \(--learning-rate\)"),
    ("--weight-decay", "-0.1", r"\(--weight-decay\)"),
    ("--hidden-dim", "0", r"hidden_dim must be >= 1, got 0 \(--hidden-dim\)"),
    ("--classifier-dim", "-1", r"\(--classifier-dim\)"),
    ("--patience", "0", r"\(--patience\)"),
    ("--temperature", "0", r"temperature must be > 0, got 0.0 \(--temperature\)"),
    ("--num-threads", "0", r"\(--num-threads\)"),
    ("--hash-buckets", "5", r"hash_buckets must be >= 10 .*got 5 \(--hash-buckets\)"),
    ("--epochs", "0", r"\(--epochs\)"),
    ("--teacher-epochs", "0", r"\(--teacher-epochs\)"),
    ("--export", "tflite", r"export formats must be among onnx, onnx-int8, c.*\(--export\)"),
])
def test_compress_refuses_a_bad_option_before_loading_data(option, value, message, glue_dir, tmp_path, caplog,
                                                            no_data_loading):
    """`compress --dropout 1.5` (and each bad value) exits 2 with one line naming the option, writing nothing."""
    caplog.set_level(logging.ERROR)
    code = main(["compress", option, value, "--glue-dir", str(glue_dir), "--work-dir", str(tmp_path / "work"),
                 "--output-dir", str(tmp_path / "student"), "--runs-dir", str(tmp_path / "runs"), "--no-progress"])
    assert code == 2
    errors = [record.getMessage() for record in caplog.records if record.levelno == logging.ERROR]
    assert len(errors) == 1 and "\n" not in errors[0]
    assert re.search(message, errors[0])
    assert list(tmp_path.iterdir()) == []


def test_pooling_that_does_not_fit_the_arch_is_refused_up_front(glue_dir, tmp_path, caplog, no_data_loading):
    """An FFN with --pooling last is refused before training, naming --pooling and what the arch accepts."""
    code = main(["compress", "--student-arch", "ffn", "--pooling", "last", "--glue-dir", str(glue_dir),
                 "--work-dir", str(tmp_path / "work"), "--runs-dir", str(tmp_path / "runs")])
    assert code == 2 and "(--pooling) does not apply to a ffn student" in caplog.text and "mean, max" in caplog.text
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("option, value", [("--batch-size", "0"), ("--learning-rate", "0"), ("--epochs", "0"),
                                           ("--warmup-ratio", "1"), ("--weight-decay", "-1"), ("--max-length", "1")])
def test_finetune_refuses_a_bad_option_before_loading_data(option, value, glue_dir, tmp_path, caplog,
                                                            no_data_loading):
    """`finetune --batch-size 0` (and each other bad value) exits 2 naming the option and writes nothing."""
    code = main(["finetune", option, value, "--glue-dir", str(glue_dir), "--output-dir", str(tmp_path / "teacher"),
                 "--runs-dir", str(tmp_path / "runs")])
    assert code == 2 and f"({option})" in caplog.text
    assert list(tmp_path.iterdir()) == []


def test_the_python_api_checks_the_same_options():
    """DistillConfig and FinetuneConfig refuse bad values when built, with the field and its CLI option."""
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\), got 1.5 \(--dropout\)"):
        DistillConfig(dropout=1.5)
    with pytest.raises(ValueError, match=r"embedding_type must be one of hash, char, bpe"):
        DistillConfig(embedding_type="glove")
    with pytest.raises(ValueError, match=r"batch_size must be >= 1, got 0 \(--batch-size\)"):
        FinetuneConfig(batch_size=0)
    assert DistillConfig(classifier_dim=0).student_config().classifier_dim == 0  # a linear classifier stays valid
