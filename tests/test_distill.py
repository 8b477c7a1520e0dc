"""Distillation into students, best-model selection, artifacts, evaluation and the compress command."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
import sys

import numpy as np
import pytest
import torch

from conftest import make_sentences, saved_soft_targets_folder, write_tsv
from featherweight.artifact import load_student, predict_data
from featherweight.cli import main
from featherweight.data import DataConfig, get_task, load_splits
from featherweight.compression.distill import DistillConfig, distill, distillation_loss
from featherweight.measure.evaluate import EvaluateConfig, evaluate
from featherweight.experiments.pipeline import CompressConfig
from featherweight.tokens import encode_data

FAST = dict(hidden_dim=16, classifier_dim=16, batch_size=16, epochs=2, progress=False)


def distill_run_config(glue_dir, teacher, tmp_path, **overrides) -> DistillConfig:
    settings = dict(data=DataConfig(task="sst-2", glue_dir=str(glue_dir), heldout_fraction=0.1),
                    teacher=str(teacher), work_dir=str(tmp_path / "work"), embedding_dim=16,
                    bpe_cache=str(tmp_path / "no-bpemb"), **FAST)
    settings.update(overrides)
    return DistillConfig(**settings)


def test_loss_is_alpha_ce_plus_one_minus_alpha_mse():
    """The loss is alpha * CE(label) + (1 - alpha) * MSE(student logits, teacher logits)."""
    student = torch.tensor([[2.0, -1.0], [0.5, 0.5]])
    teacher = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    labels = torch.tensor([0, 1])
    ce = torch.nn.functional.cross_entropy(student, labels)
    mse = ((student - teacher) ** 2).mean()
    got = distillation_loss(student, teacher, labels, alpha=0.3, soft_loss="mse-logits", temperature=3.0)
    assert torch.isclose(got, 0.3 * ce + 0.7 * mse)
    soft = distillation_loss(student, teacher, labels, alpha=0.0, soft_loss="mse-softmax", temperature=3.0)
    expected = ((torch.softmax(student / 3, -1) - torch.softmax(teacher / 3, -1)) ** 2).mean()
    assert torch.isclose(soft, expected)
    assert distillation_loss(student, None, labels, alpha=1.0, soft_loss="mse-logits", temperature=3.0) == ce


def test_ffn_defaults_to_temperature_softmax_and_recurrent_to_logits():
    """The FFN uses MSE of temperature-3 softmaxes by default, the recurrent students MSE of logits."""
    assert DistillConfig(student_arch="ffn").soft_loss == "mse-softmax"
    assert DistillConfig(student_arch="bilstm").soft_loss == "mse-logits"
    assert DistillConfig(student_arch="rnn", soft_loss="mse-softmax").soft_loss == "mse-softmax"


def test_thesis_presets_apply_unless_overridden():
    """Batch size, optimizer and dims come from the thesis presets; pairs double them."""
    single = DistillConfig(student_arch="bilstm")
    assert single.training_settings() == {"optimizer": "adadelta", "lr": 1.0, "weight_decay": 0.0, "batch_size": 50}
    assert single.student_config().hidden_dim == 150
    pair = DistillConfig(student_arch="rnn", data=DataConfig(task="qqp"), learning_rate=1e-3)
    assert pair.training_settings()["batch_size"] == 256 and pair.training_settings()["lr"] == 1e-3
    assert pair.student_config().hidden_dim == 200


@pytest.mark.parametrize("arch", ["bilstm", "rnn", "ffn"])
def test_student_learns_from_the_teacher(arch, glue_dir, finetuned_teacher, tmp_path):
    """Each student distils the toy sentiment task to high dev accuracy."""
    lr = {"bilstm": 1e-2, "rnn": 1e-2, "ffn": 3e-2}[arch]
    summary = distill(distill_run_config(glue_dir, finetuned_teacher, tmp_path, student_arch=arch, epochs=8,
                              optimizer="adam", learning_rate=lr, embedding_type="hash"))
    assert summary["dev_accuracy"] >= 0.85, summary


@pytest.mark.parametrize("embedding", ["hash", "char", "bpe"])
@pytest.mark.parametrize("arch", ["bilstm", "rnn", "ffn"])
def test_saved_student_reloads_to_identical_predictions(arch, embedding, glue_dir, finetuned_teacher, tmp_path):
    """A saved student loads back and predicts exactly the same logits, for every arch and embedding."""
    config = distill_run_config(glue_dir, finetuned_teacher, tmp_path, student_arch=arch, embedding_type=embedding, epochs=1)
    summary = distill(config)
    student = load_student(summary["output_dir"])
    dev = load_splits(config.data)["dev"]
    logits = predict_data(student, dev)
    meta = json.loads((Path(summary["output_dir"]) / "student.json").read_text())
    assert meta["scores"]["dev_accuracy"] == pytest.approx((logits.argmax(1) == dev.labels).mean())
    again = predict_data(load_student(summary["output_dir"]), dev)
    assert np.array_equal(logits, again)


def test_student_predicts_the_same_in_a_fresh_process(glue_dir, finetuned_teacher, tmp_path):
    """A student loaded in another Python process (other hash seed) gives the same logits."""
    summary = distill(distill_run_config(glue_dir, finetuned_teacher, tmp_path, embedding_type="hash", epochs=1))
    dev = load_splits(DataConfig(task="sst-2", glue_dir=str(glue_dir)))["dev"]
    here = predict_data(load_student(summary["output_dir"]), dev)
    script = (f"import numpy as np; from featherweight.artifact import load_student, predict_data; "
              f"from featherweight.data import DataConfig, load_splits; "
              f"dev = load_splits(DataConfig(task='sst-2', glue_dir={str(glue_dir)!r}))['dev']; "
              f"np.save({str(tmp_path / 'there.npy')!r}, predict_data(load_student({summary['output_dir']!r}), dev))")
    subprocess.run([sys.executable, "-c", script], check=True, env={"PYTHONHASHSEED": "123", "PATH": ""})
    there = np.load(tmp_path / "there.npy")  # thread counts differ, so summation order may too
    assert np.allclose(here, there, atol=1e-6) and np.array_equal(here.argmax(1), there.argmax(1))


def _train_tiny_student(config):
    """A 16-dim student of `config` and what distill._train returns for it (Adam, lr 1e-2, batches of 16)."""
    import featherweight.compression.distill as module
    from featherweight.embeddings import build_embedding
    from featherweight.students import build_student

    tokenizer = module.fit_student_tokenizer(config, [])
    splits = load_splits(config.data)
    model = build_student(config.student_config(), build_embedding(tokenizer, 16), 2, False)
    training = module.TrainingSet(encode_data(tokenizer, splits["train"]), splits["train"].labels, None)
    heldout = (splits["heldout"], encode_data(tokenizer, splits["heldout"]))
    settings = {"optimizer": "adam", "lr": 1e-2, "weight_decay": 0, "batch_size": 16}
    return model, module._train(model, training, heldout, settings, config)


def test_best_model_is_the_best_heldout_epoch_not_the_last(glue_dir, tmp_path, monkeypatch):
    """Training returns a copy of the weights from the best held-out epoch, even when later epochs are worse."""
    import featherweight.compression.distill as module

    scores = iter([0.9, 0.5, 0.4])
    snapshots = []
    real_predict = module.predict_encoded

    def snapshot_predict(model, encoded, *args):
        snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
        return real_predict(model, encoded, *args)

    monkeypatch.setattr(module, "split_metrics", lambda *args: {"accuracy": next(scores)})
    monkeypatch.setattr(module, "predict_encoded", snapshot_predict)
    config = distill_run_config(glue_dir, tmp_path, tmp_path, alpha=1.0, epochs=3, patience=5)
    model, (history, best_state, best_score, _) = _train_tiny_student(config)
    assert best_score == 0.9 and [h["heldout_accuracy"] for h in history] == [0.9, 0.5, 0.4]
    assert all(torch.equal(best_state[k], snapshots[0][k]) for k in best_state)
    assert any(not torch.equal(best_state[k], model.state_dict()[k]) for k in best_state)


def test_equal_heldout_accuracy_with_a_falling_loss_is_not_stale(glue_dir, tmp_path, monkeypatch):
    """A student stuck at one accuracy (the majority class) while its held-out loss falls keeps training, and
    a tie with a rising loss counts towards patience."""
    import featherweight.compression.distill as module

    monkeypatch.setattr(module, "split_metrics", lambda *args: {"accuracy": 0.6})
    losses = iter([0.9, 0.8, 0.7, 0.75, 0.76, 0.5])
    real_ce = module.F.cross_entropy
    monkeypatch.setattr(module.F, "cross_entropy",
                        lambda logits, labels, *a, **k: torch.tensor(next(losses)) if logits.dim() == 2 and
                        not logits.requires_grad else real_ce(logits, labels, *a, **k))
    config = distill_run_config(glue_dir, tmp_path, tmp_path, alpha=1.0, epochs=6, patience=2)
    _, (history, _, best_score, _) = _train_tiny_student(config)
    # epochs 1-3 improve the loss (patience resets); 4 and 5 are worse than 3: stopped after epoch 5
    assert [h["heldout_loss"] for h in history] == pytest.approx([0.9, 0.8, 0.7, 0.75, 0.76]) and best_score == 0.6


@pytest.mark.parametrize("task", ["qqp", "mnli"])
def test_pair_tasks_distil_with_the_pair_classifier(task, glue_dir, tmp_path, tiny_bert):
    """QQP and MNLI students read two sentences and report the task's metrics (F1 for QQP)."""
    from featherweight.teacher.finetune import FinetuneConfig, finetune
    from conftest import build_tiny_bert

    data = DataConfig(task=task, glue_dir=str(glue_dir), heldout_fraction=0.1)
    teacher = build_tiny_bert(tmp_path / "bert", num_labels=get_task(task).num_labels)
    finetune(FinetuneConfig(data=data, teacher=str(teacher), output_dir=str(tmp_path / "t"), epochs=1, progress=False))
    summary = distill(distill_run_config(glue_dir, tmp_path / "t" / "best", tmp_path, data=data, student_arch="rnn"))
    student = load_student(summary["output_dir"])
    assert student.meta.pair and student.model.classifier is not None
    expected = {"qqp": {"dev_accuracy", "dev_f1"}, "mnli": {"dev_matched_accuracy"}}[task]
    assert expected <= set(summary)


def test_alpha_one_trains_without_a_teacher(glue_dir, tmp_path):
    """alpha = 1 is plain supervised training and needs no teacher at all."""
    summary = distill(distill_run_config(glue_dir, tmp_path / "no-teacher", tmp_path, alpha=1.0))
    assert load_student(summary["output_dir"]).meta.teacher is None


def test_augmented_rows_are_labelled_by_the_teacher(glue_dir, finetuned_teacher, tmp_path):
    """Augmented rows join training with the teacher's argmax as their label."""
    sentences, _ = make_sentences(40, seed=9)
    augmented = write_tsv(tmp_path / "aug.tsv", ["sentence", "label"], [[s, 0] for s in sentences])
    import featherweight.compression.distill as module

    seen = {}
    real_train = module._train

    def spy(model, training, *args):
        seen["rows"], seen["labels"] = len(training.labels), training.labels.copy()
        return real_train(model, training, *args)

    module._train = spy
    try:
        distill(distill_run_config(glue_dir, finetuned_teacher, tmp_path, augmented_file=str(augmented), epochs=1))
    finally:
        module._train = real_train
    assert seen["rows"] == 180 + 40
    assert seen["labels"][180:].sum() > 0  # not the file's all-zero labels


def test_composed_and_augmented_rows_both_join_training(glue_dir, finetuned_teacher, tmp_path):
    """A composed file is labelled by the teacher like an augmented one, and both join the training rows."""
    from featherweight.augment.compose import ComposeConfig, compose

    sentences, _ = make_sentences(30, seed=9)
    augmented = write_tsv(tmp_path / "aug.tsv", ["sentence", "label"], [[s, 0] for s in sentences])
    composed = compose(ComposeConfig(data=DataConfig(task="sst-2", glue_dir=str(glue_dir), heldout_fraction=0.1),
                                     output=str(tmp_path / "composed.tsv"), rows=25))["output"]
    import featherweight.compression.distill as module

    seen = {}
    real_train = module._train

    def spy(model, training, *args):
        seen["rows"] = len(training.labels)
        return real_train(model, training, *args)

    module._train = spy
    try:
        distill(distill_run_config(glue_dir, finetuned_teacher, tmp_path, augmented_file=str(augmented),
                        composed_file=composed, epochs=1))
    finally:
        module._train = real_train
    assert seen["rows"] == 180 + 30 + 25


def test_token_ids_are_cached_on_disk(glue_dir, tmp_path):
    """Encoding the same split with the same tokenizer twice reads the cache the first call wrote."""
    config = distill_run_config(glue_dir, tmp_path, tmp_path)
    from featherweight.compression.distill import fit_student_tokenizer

    tokenizer = fit_student_tokenizer(config, ["x"])
    train = load_splits(config.data)["train"]
    first = encode_data(tokenizer, train, cache_dir=tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1
    second = encode_data(tokenizer, train, cache_dir=tmp_path / "cache")
    assert np.array_equal(first.columns[0].ids, second.columns[0].ids)
    batch = first.inputs(np.array([0, 1]))[0]
    assert batch.shape[0] == 2 and batch.dtype == torch.int64


def test_compress_command_runs_end_to_end(glue_dir, finetuned_teacher, tmp_path, capsys):
    """compress.py trains a student, prints dev accuracy and size, and evaluate scores the artifact."""
    out = tmp_path / "student"
    args = ["--student-arch", "ffn", "--task", "sst-2", "--glue-dir", str(glue_dir), "--teacher",
            str(finetuned_teacher), "--embedding-type", "char", "--embedding-dim", "8", "--epochs", "1",
            "--output-dir", str(out), "--work-dir", str(tmp_path / "w"), "--no-progress",
            "--runs-dir", str(tmp_path / "runs")]
    assert main(["compress", *args]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert {"dev_accuracy", "params", "disk_bytes"} <= set(printed)
    scores = evaluate(EvaluateConfig(model=str(out), data=DataConfig(task="sst-2", glue_dir=str(glue_dir)),
                                     progress=False))
    assert scores["dev_accuracy"] == pytest.approx(printed["dev_accuracy"])


def test_missing_teacher_is_a_clear_error(tmp_path, glue_dir):
    """A teacher path that does not exist names the fix instead of failing deep inside."""
    from featherweight.experiments.pipeline import compress

    config = CompressConfig(data=DataConfig(task="sst-2", glue_dir=str(glue_dir)), teacher=str(tmp_path / "nope"),
                            progress=False)
    with pytest.raises(FileNotFoundError, match="featherweight finetune --task sst-2"):
        compress(config)


def test_evaluate_refuses_a_student_of_another_task(glue_dir, tmp_path):
    """Scoring an SST-2 student on QQP is refused with the task it was trained for."""
    summary = distill(distill_run_config(glue_dir, tmp_path, tmp_path, alpha=1.0, epochs=1))
    with pytest.raises(ValueError, match="is a sst-2 student"):
        evaluate(EvaluateConfig(model=summary["output_dir"], data=DataConfig(task="qqp", glue_dir=str(glue_dir)),
                                progress=False))


def test_saved_soft_targets_replace_the_teacher(glue_dir, finetuned_teacher, tmp_path):
    """Distillation can start from saved soft targets alone, and refuses ones made from another file."""
    from featherweight.experiments.pipeline import compress
    from featherweight.teacher.soft_targets import SoftTargetConfig, soft_targets

    saved = tmp_path / "saved" / "train.npz"
    soft_targets(SoftTargetConfig(teacher=str(finetuned_teacher), data_file=str(glue_dir / "SST-2" / "train.tsv"),
                                  output=str(saved), progress=False))
    config = CompressConfig(data=DataConfig(task="sst-2", glue_dir=str(glue_dir), heldout_fraction=0.1),
                            teacher=str(tmp_path / "absent"), soft_targets=str(saved),
                            work_dir=str(tmp_path / "work"), embedding_dim=16, **FAST)
    assert 0.0 <= compress(config)["dev_accuracy"] <= 1.0
    other = soft_targets(SoftTargetConfig(teacher=str(finetuned_teacher), data_file=str(glue_dir / "SST-2" / "dev.tsv"),
                                          output=str(tmp_path / "dev.npz"), progress=False))
    assert len(other.logits) == 60
    with pytest.raises(ValueError, match="computed from another file"):
        compress(CompressConfig(**{**config.__dict__, "soft_targets": str(tmp_path / "dev.npz")}))


def test_a_folder_of_saved_soft_targets_replaces_the_teacher_for_every_file(glue_dir, finetuned_teacher, tmp_path):
    """--soft-targets FOLDER serves the train and augmented files by content, so no teacher is needed at all."""
    sentences, _ = make_sentences(40, seed=11)
    augmented = write_tsv(tmp_path / "aug.tsv", ["sentence", "label"], [[s, 0] for s in sentences])
    folder = saved_soft_targets_folder(finetuned_teacher, tmp_path / "saved", [glue_dir / "SST-2" / "train.tsv", augmented])
    with_teacher = distill(distill_run_config(glue_dir, finetuned_teacher, tmp_path / "a", augmented_file=str(augmented),
                                   epochs=1))
    saved = distill(distill_run_config(glue_dir, tmp_path / "no-teacher", tmp_path / "b", augmented_file=str(augmented),
                            soft_targets=str(folder), epochs=1))
    assert saved["heldout_accuracy"] == with_teacher["heldout_accuracy"]  # the very same logits
    meta = load_student(saved["output_dir"]).meta
    assert meta.soft_targets["file"] == str(folder / "train.npz")
    assert meta.teacher == meta.soft_targets["teacher"]  # the teacher that made them, still on disk


def test_a_folder_without_a_file_s_soft_targets_and_no_teacher_is_a_clear_error(glue_dir, finetuned_teacher,
                                                                                  tmp_path):
    """A file the folder holds no soft targets for, with no teacher to label it, names the folder and the file."""
    sentences, _ = make_sentences(20, seed=12)
    augmented = write_tsv(tmp_path / "aug.tsv", ["sentence", "label"], [[s, 0] for s in sentences])
    folder = saved_soft_targets_folder(finetuned_teacher, tmp_path / "saved", [glue_dir / "SST-2" / "train.tsv"])
    with pytest.raises(FileNotFoundError, match=r"holds no soft targets made from .*aug\.tsv"):
        distill(distill_run_config(glue_dir, tmp_path / "no-teacher", tmp_path, augmented_file=str(augmented),
                        soft_targets=str(folder), epochs=1))
