"""Teacher fine-tuning, resuming, best-model copies, label order checks and evaluation."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from featherweight.data import DataConfig, get_task
from featherweight.measure.evaluate import EvaluateConfig, evaluate
from featherweight.teacher.finetune import FinetuneConfig, finetune
from featherweight.compression.distill import DistillConfig, saved_soft_targets
from featherweight.teacher.model import TEACHER_INFO, label_permutation, load_teacher, predict_logits, teacher_exists


def distill_run_config(glue_dir, teacher, out, **overrides) -> FinetuneConfig:
    settings = dict(data=DataConfig(task="sst-2", glue_dir=str(glue_dir), heldout_fraction=0.1),
                    teacher=str(teacher), output_dir=str(out), epochs=2, learning_rate=1e-3,
                    batch_size=16, progress=False)
    settings.update(overrides)
    return FinetuneConfig(**settings)


def test_finetuned_tiny_teacher_learns_the_task(finetuned_teacher, glue_dir):
    """Fine-tuning a 2-layer BERT on toy sentiment reaches high held-out and dev accuracy."""
    info = json.loads((finetuned_teacher / TEACHER_INFO).read_text())
    assert info["label_names"] == ["negative", "positive"]
    assert info["scores"]["heldout_accuracy"] >= 0.9
    scores = evaluate(EvaluateConfig(model=str(finetuned_teacher),
                                     data=DataConfig(task="sst-2", glue_dir=str(glue_dir)), progress=False))
    assert scores["dev_accuracy"] >= 0.9


def test_best_model_is_a_real_copy_chosen_on_heldout(tmp_path, glue_dir, tiny_bert):
    """The best directory holds its own weights, from the epoch with the best held-out score."""
    config = distill_run_config(glue_dir, tiny_bert, tmp_path / "t", epochs=3)
    summary = finetune(config)
    heldout = [entry["heldout_accuracy"] for entry in summary["history"]]
    assert summary["best_epoch"] == int(np.argmax(heldout)) + 1
    assert (config.best_dir / "model.safetensors").is_file()
    assert not (config.best_dir / "model.safetensors").is_symlink()
    assert not (tmp_path / "t" / "checkpoint").exists()


def test_interrupted_finetuning_resumes_to_the_same_model(tmp_path, glue_dir, tiny_bert, monkeypatch):
    """A run stopped after a mid-epoch checkpoint resumes and ends with the uninterrupted run's weights."""
    straight = distill_run_config(glue_dir, tiny_bert, tmp_path / "straight", checkpoint_every=4)
    finetune(straight)

    resumed = distill_run_config(glue_dir, tiny_bert, tmp_path / "resumed", checkpoint_every=4)
    import featherweight.teacher.finetune as module

    calls = {"n": 0}
    real_save = module._save_checkpoint

    def save_then_stop(*args, **kwargs):
        real_save(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(module, "_save_checkpoint", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        finetune(resumed)
    monkeypatch.setattr(module, "_save_checkpoint", real_save)
    assert (tmp_path / "resumed" / "checkpoint" / "training_state.pt").is_file()
    finetune(resumed)

    from safetensors.torch import load_file
    a = load_file(straight.best_dir / "model.safetensors")
    b = load_file(resumed.best_dir / "model.safetensors")
    assert all(torch.allclose(a[key], b[key], atol=1e-5) for key in a)


def test_output_dir_with_other_settings_is_refused(tmp_path, glue_dir, tiny_bert):
    """Reusing an output directory with changed settings is an error naming what changed."""
    finetune(distill_run_config(glue_dir, tiny_bert, tmp_path / "t", epochs=1))
    with pytest.raises(ValueError, match=r"other settings \(changed: \['learning_rate'\]\)"):
        finetune(distill_run_config(glue_dir, tiny_bert, tmp_path / "t", epochs=1, learning_rate=5e-4))


def test_finished_run_is_reused_not_retrained(tmp_path, glue_dir, tiny_bert):
    """A second call with the same settings returns the saved summary without training."""
    config = distill_run_config(glue_dir, tiny_bert, tmp_path / "t", epochs=1)
    first = finetune(config)
    modified = (config.best_dir / "model.safetensors").stat().st_mtime_ns
    assert finetune(config) == first
    assert (config.best_dir / "model.safetensors").stat().st_mtime_ns == modified


def test_the_same_data_folder_written_relatively_resumes_the_run(tmp_path, glue_dir, tiny_bert, monkeypatch):
    """--glue-dir ../data and its absolute form name the same data: the finished run is reused, not refused."""
    config = distill_run_config(glue_dir, tiny_bert, tmp_path / "t", epochs=1)
    first = finetune(config)
    monkeypatch.chdir(tmp_path)
    relative = distill_run_config(os.path.relpath(glue_dir, tmp_path), tiny_bert, tmp_path / "t", epochs=1)
    assert relative.data.glue_dir != config.data.glue_dir
    assert finetune(relative) == first


def test_label_order_mismatch_is_reordered_or_refused():
    """A teacher naming the task's labels in another order is reordered; foreign labels are refused."""
    mnli = get_task("mnli")
    order = label_permutation({0: "contradiction", 1: "neutral", 2: "entailment"}, mnli)
    logits = np.array([[0.0, 1.0, 2.0]])  # contradiction, neutral, entailment
    assert logits[:, order].tolist() == [[2.0, 1.0, 0.0]]  # entailment, neutral, contradiction
    assert label_permutation({0: "entailment", 1: "neutral", 2: "contradiction"}, mnli) is None
    with pytest.raises(ValueError, match=r"labels \['label_0', 'label_1'\] do not match task sst-2"):
        label_permutation({0: "LABEL_0", 1: "LABEL_1"}, get_task("sst-2"))


def test_bucketed_and_unbucketed_logits_agree(finetuned_teacher, glue_dir):
    """Length-bucketed inference returns the same logits, in row order, as file-order batches."""
    model, tokenizer, order = load_teacher(str(finetuned_teacher), get_task("sst-2"))
    rows = [("good film",), ("the movie was very very dull and boring really",), ("a plot",)]
    bucketed = predict_logits(model, tokenizer, rows, batch_size=2, show_progress=False)
    plain = predict_logits(model, tokenizer, rows, batch_size=2, bucketed=False, show_progress=False)
    single = np.concatenate([predict_logits(model, tokenizer, [r], show_progress=False) for r in rows])
    assert np.allclose(bucketed, plain, atol=1e-5) and np.allclose(bucketed, single, atol=1e-5)


def test_evaluate_scores_any_labelled_file(finetuned_teacher, glue_dir):
    """evaluate with data_file scores that file and names the split after it."""
    scores = evaluate(EvaluateConfig(model=str(finetuned_teacher), data=DataConfig(task="sst-2"),
                                     data_file=str(glue_dir / "SST-2" / "dev.tsv"), progress=False))
    assert 0.0 <= scores["dev_accuracy"] <= 1.0 and scores["task"] == "sst-2"


def test_teacher_exists_for_a_directory_or_a_fairseq_checkpoint(tmp_path):
    assert teacher_exists(str(tmp_path)) and teacher_exists("fairseq:/models/roberta/checkpoint_best.pt")
    assert not teacher_exists(str(tmp_path / "missing")) and not teacher_exists(None)


def test_a_fairseq_teacher_labels_what_a_soft_target_folder_lacks(glue_dir, tmp_path):
    """A folder of saved soft targets without the file's: a fairseq:PATH teacher can label it (no error),
    a missing teacher directory cannot."""
    (tmp_path / "saved").mkdir()
    data_file = glue_dir / "SST-2" / "train.tsv"
    config = DistillConfig(data=DataConfig(task="sst-2", glue_dir=str(glue_dir)), soft_targets=str(tmp_path / "saved"),
                           teacher="fairseq:/models/roberta/checkpoint_best.pt")
    assert saved_soft_targets(config, data_file, train=True) is None
    with pytest.raises(FileNotFoundError, match="there is no teacher"):
        saved_soft_targets(DistillConfig(data=config.data, soft_targets=config.soft_targets,
                                         teacher=str(tmp_path / "missing")), data_file, train=True)
