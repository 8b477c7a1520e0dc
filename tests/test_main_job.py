"""The main job: compress without a teacher uses the committed soft targets, exports, summarises, writes atomically."""
from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path

import pytest

from conftest import make_sentences, saved_soft_targets_folder, spy_on_finetune, write_tsv
from featherweight.cli import main
from featherweight.data import DataConfig
from featherweight.compression.distill import DistillConfig, distill

SMALL = ["--embedding-dim", "16", "--hidden-dim", "16", "--classifier-dim", "16", "--batch-size", "16",
         "--epochs", "2", "--no-progress"]


@pytest.fixture(scope="module")
def committed_dir(tmp_path_factory, glue_dir, finetuned_teacher) -> Path:
    """Soft targets of the toy SST-2 train file, laid out like bench/results/soft_targets with a teacher note."""
    from featherweight.teacher.soft_targets import SoftTargetConfig, soft_targets

    directory = tmp_path_factory.mktemp("committed")
    output = directory / "sst-2-train.npz"
    soft_targets(SoftTargetConfig(teacher=str(finetuned_teacher), data_file=str(glue_dir / "SST-2" / "train.tsv"),
                                  output=str(output), progress=False))
    meta_path = output.with_suffix(".json")
    meta = json.loads(meta_path.read_text())
    meta.update(teacher=str(directory / "gone-teacher"), teacher_description="Tiny BERT of the test suite",
                teacher_dev_accuracy=0.875)
    meta_path.write_text(json.dumps(meta))
    return directory


@pytest.fixture
def committed(monkeypatch, committed_dir) -> Path:
    import featherweight.experiments.pipeline as pipeline

    monkeypatch.setattr(pipeline, "COMMITTED_SOFT_TARGETS", committed_dir)
    return committed_dir


@pytest.fixture
def finetune_spy(monkeypatch, finetuned_teacher):
    """Stands in for fine-tuning the default teacher: records the call and copies the tiny fine-tuned teacher."""
    return spy_on_finetune(monkeypatch, finetuned_teacher)


def _compress_args(glue_dir, tmp_path, *extra) -> list[str]:
    return ["compress", "--glue-dir", str(glue_dir), "--heldout-fraction", "0.1", "--work-dir", str(tmp_path / "work"),
            "--output-dir", str(tmp_path / "student"), "--runs-dir", str(tmp_path / "runs"), *SMALL, *extra]


def test_compress_without_a_teacher_uses_the_committed_soft_targets_and_exports(
        glue_dir, tmp_path, committed, finetune_spy, caplog, capsys, one_thread):
    """Without a teacher, compress uses the committed soft targets, names their teacher, exports and summarises."""
    from featherweight.deploy.predict import load

    caplog.set_level(logging.INFO)
    args = _compress_args(glue_dir, tmp_path, "--compression-actions", "distill", "prune", "quantize",
                          "--export", "onnx-int8")
    assert main(args) == 0
    assert not finetune_spy and not (tmp_path / "work" / "teacher-sst-2").exists()
    log = caplog.text
    assert "committed soft targets" in log and "Tiny BERT of the test suite" in log
    assert "dev accuracy 87.5%" in log and "--finetune-teacher" in log

    summary = json.loads(capsys.readouterr().out)
    export_dir = tmp_path / "student-export-onnx-int8"
    assert summary["exports"] == {"onnx-int8": str(export_dir)}
    assert json.loads((export_dir / "export.json").read_text())["source"].endswith("student-pruned-quantized")
    assert load(export_dir).predict(["a great and charming film"])[0].label in ("negative", "positive")
    assert "teacher" not in summary  # no teacher on disk: no size row, and no failure after training

    meta = json.loads((tmp_path / "student" / "student.json").read_text())
    assert meta["teacher"] is None
    assert meta["soft_targets"]["file"] == str(committed / "sst-2-train.npz")
    assert meta["soft_targets"]["teacher_description"] == "Tiny BERT of the test suite"
    assert len(meta["soft_targets"]["teacher_sha256"]) == 64

    for name in ("distilled", "pruned", "quantized", "pruned-quantized"):
        assert any(line.strip().startswith(name) and "deployable" in line for line in caplog.messages)
    assert f'featherweight predict --model {export_dir} "' in log
    assert "featherweight evaluate --model" in log


def test_analyze_sizes_works_without_a_teacher(glue_dir, tmp_path, committed, capsys, one_thread):
    """`analyze sizes` of a student distilled from saved soft targets measures it without a teacher row."""
    assert main(_compress_args(glue_dir, tmp_path, "--epochs", "1", "--no-record")) == 0
    capsys.readouterr()
    assert main(["analyze", "sizes", "--models", str(tmp_path / "student"), "--no-record"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert "teacher" not in result and result["students"][0]["deployable_bytes"] > 0


def test_finetune_teacher_flag_fine_tunes_instead(glue_dir, tmp_path, committed, finetune_spy, one_thread):
    """--finetune-teacher restores the full path: the default teacher is fine-tuned and labels the train file."""
    assert main(_compress_args(glue_dir, tmp_path, "--finetune-teacher", "--epochs", "1", "--no-record")) == 0
    assert [config.best_dir for config in finetune_spy] == [tmp_path / "work" / "teacher-sst-2" / "best"]
    meta = json.loads((tmp_path / "student" / "student.json").read_text())
    assert meta["teacher"] == str(tmp_path / "work" / "teacher-sst-2" / "best") and meta["soft_targets"] is None


@pytest.mark.parametrize("layout", ["absent", "other-file"])
def test_without_matching_committed_soft_targets_the_teacher_is_fine_tuned(
        layout, glue_dir, tmp_path, committed_dir, finetune_spy, monkeypatch, one_thread):
    """With no committed soft targets (a pip install) or ones of another train file, compress fine-tunes as before."""
    import featherweight.experiments.pipeline as pipeline

    directory = tmp_path / "committed"
    if layout == "other-file":
        shutil.copytree(committed_dir, directory)
        meta_path = directory / "sst-2-train.json"
        meta_path.write_text(json.dumps({**json.loads(meta_path.read_text()), "data_sha256": "0" * 64}))
    monkeypatch.setattr(pipeline, "COMMITTED_SOFT_TARGETS", directory)
    assert main(_compress_args(glue_dir, tmp_path, "--epochs", "1", "--no-record")) == 0
    assert len(finetune_spy) == 1


def test_student_names_the_soft_targets_teacher_only_while_its_directory_holds_it(committed_dir, finetuned_teacher,
                                                                                  tiny_bert, tmp_path):
    """student.json names the soft targets' teacher directory only while it holds that teacher (same hash)."""
    from featherweight.compression.distill import teacher_record

    shutil.copytree(committed_dir, tmp_path / "targets")
    meta_path = tmp_path / "targets" / "sst-2-train.json"
    meta = json.loads(meta_path.read_text())
    config = DistillConfig(soft_targets=str(tmp_path / "targets" / "sst-2-train.npz"))
    for directory, recorded in [(finetuned_teacher, str(finetuned_teacher)), (tiny_bert, None),
                                (tmp_path / "gone", None)]:
        meta_path.write_text(json.dumps({**meta, "teacher": str(directory)}))
        record = teacher_record(config)
        assert record["teacher"] == recorded
        assert record["soft_targets"]["teacher_sha256"] == meta["teacher_sha256"]


def test_a_failure_mid_training_leaves_no_student_behind(glue_dir, tmp_path, monkeypatch):
    """Ctrl-C in a training step leaves no output directory, and an older student there is left untouched."""
    import featherweight.compression.distill as module

    config = DistillConfig(data=DataConfig(task="sst-2", glue_dir=str(glue_dir), heldout_fraction=0.1), alpha=1.0,
                           embedding_dim=16, hidden_dim=16, classifier_dim=16, batch_size=16, epochs=1,
                           work_dir=str(tmp_path / "work"), output_dir=str(tmp_path / "student"), progress=False)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    real_loss = module.distillation_loss
    monkeypatch.setattr(module, "distillation_loss", interrupted)
    with pytest.raises(KeyboardInterrupt):
        distill(config)
    assert list(tmp_path.glob("student*")) == []

    monkeypatch.setattr(module, "distillation_loss", real_loss)
    distill(config)
    before = (tmp_path / "student" / "student.json").read_text()
    monkeypatch.setattr(module, "distillation_loss", interrupted)
    with pytest.raises(KeyboardInterrupt):
        distill(config)
    assert (tmp_path / "student" / "student.json").read_text() == before
    assert [path.name for path in tmp_path.glob("student*")] == ["student"]


def test_a_failure_while_saving_a_variant_leaves_no_variant_behind(glue_dir, tmp_path, monkeypatch):
    """A variant that fails while it is written leaves no directory at its place."""
    import featherweight.measure.size as size
    from featherweight.experiments.pipeline import make_variants
    from featherweight.compression.quantize import QuantizeConfig

    summary = distill(DistillConfig(data=DataConfig(task="sst-2", glue_dir=str(glue_dir), heldout_fraction=0.1),
                                    alpha=1.0, embedding_dim=16, hidden_dim=16, classifier_dim=16, batch_size=16,
                                    epochs=1, work_dir=str(tmp_path / "work"), output_dir=str(tmp_path / "student"),
                                    progress=False))

    def broken(directory):
        raise OSError("disk full")

    monkeypatch.setattr(size, "weights_sizes", broken)
    with pytest.raises(OSError, match="disk full"):
        make_variants(summary["output_dir"], quantization=QuantizeConfig())
    assert [path.name for path in tmp_path.glob("student*")] == ["student"]


def test_history_holds_each_epochs_dev_score(glue_dir, tmp_path):
    """Every epoch's history entry records the dev accuracy, scored for the record next to the held-out one."""
    summary = distill(DistillConfig(data=DataConfig(task="sst-2", glue_dir=str(glue_dir), heldout_fraction=0.1),
                                    alpha=1.0, embedding_dim=16, hidden_dim=16, classifier_dim=16, batch_size=16,
                                    epochs=2, patience=5, work_dir=str(tmp_path / "work"),
                                    output_dir=str(tmp_path / "student"), progress=False))
    history = json.loads((Path(summary["output_dir"]) / "student.json").read_text())["history"]
    assert [entry["epoch"] for entry in history] == [1, 2]
    assert all(0.0 <= entry["dev_accuracy"] <= 1.0 for entry in history)
    best = max(history, key=lambda entry: (entry["heldout_accuracy"], -entry["heldout_loss"]))
    assert summary["dev_accuracy"] == pytest.approx(best["dev_accuracy"])


def test_finetune_says_where_the_teacher_goes_the_time_left_and_what_it_resumes(
        glue_dir, tiny_bert, tmp_path, monkeypatch, caplog, capsys):
    """Fine-tuning logs where the teacher goes, the time left after each epoch, and where a rerun resumes."""
    import featherweight.teacher.finetune as module
    from featherweight.teacher.finetune import FinetuneConfig, finetune

    caplog.set_level(logging.INFO)
    config = FinetuneConfig(data=DataConfig(task="sst-2", glue_dir=str(glue_dir), heldout_fraction=0.1),
                            teacher=str(tiny_bert), output_dir=str(tmp_path / "t"), epochs=2, batch_size=16,
                            checkpoint_every=4, progress=False)
    real_save = module._save_checkpoint
    calls = []

    def save_then_stop(*args, **kwargs):
        real_save(*args, **kwargs)
        calls.append(1)
        if len(calls) == 5:  # 12 steps an epoch: steps 4 and 8, epoch 1's end, then step 4 and 8 of epoch 2
            raise KeyboardInterrupt

    monkeypatch.setattr(module, "_save_checkpoint", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        finetune(config)
    assert f"into {tmp_path / 't'}" in caplog.text and str(tmp_path / "t" / "best") in caplog.text
    assert re.search(r"epoch 1/2: heldout_accuracy .*; about \d+ (s|min) left", capsys.readouterr().err)
    monkeypatch.setattr(module, "_save_checkpoint", real_save)
    caplog.clear()
    finetune(config)
    assert "finetune: resuming from epoch 2 (step 8 of 12)" in caplog.text


def test_a_folder_of_soft_targets_for_every_file_needs_no_teacher(glue_dir, finetuned_teacher, tmp_path,
                                                                  finetune_spy, one_thread):
    """compress with augmented rows and --soft-targets FOLDER holding theirs fine-tunes no teacher."""
    sentences, _ = make_sentences(30, seed=5)
    augmented = write_tsv(tmp_path / "aug.tsv", ["sentence", "label"], [[s, 0] for s in sentences])
    folder = saved_soft_targets_folder(finetuned_teacher, tmp_path / "saved",
                                       [glue_dir / "SST-2" / "train.tsv", augmented])
    assert main(_compress_args(glue_dir, tmp_path, "--augmented-file", str(augmented), "--soft-targets", str(folder),
                               "--epochs", "1", "--no-record")) == 0
    assert finetune_spy == []
