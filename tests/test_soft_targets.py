"""Cached teacher soft targets: computed once, reused, recomputed when stale, resumable by shard."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from conftest import write_tsv
from featherweight.data import DataConfig, get_task, load_splits
from featherweight.teacher.soft_targets import SoftTargetConfig, soft_targets
from featherweight.teacher.model import load_teacher, predict_logits


def distill_run_config(teacher, data_file, tmp_path, **overrides) -> SoftTargetConfig:
    return SoftTargetConfig(teacher=str(teacher), data_file=str(data_file), task="sst-2",
                            output=str(tmp_path / "targets.npz"), progress=False, **overrides)


def test_soft_targets_equal_the_teachers_logits(finetuned_teacher, glue_dir, tmp_path):
    """The cached logits are the teacher's logits for every row, in file order, as float32."""
    path = glue_dir / "SST-2" / "dev.tsv"
    targets = soft_targets(distill_run_config(finetuned_teacher, path, tmp_path, batch_size=7))
    model, tokenizer, _ = load_teacher(str(finetuned_teacher), get_task("sst-2"))
    rows = [(line.split("\t")[0],) for line in path.read_text().splitlines()[1:]]
    expected = predict_logits(model, tokenizer, rows, bucketed=False, show_progress=False)
    assert targets.logits.dtype == np.float32 and targets.logits.shape == (60, 2)
    assert np.allclose(targets.logits, expected, atol=1e-5)
    meta = json.loads((tmp_path / "targets.json").read_text())
    assert meta["rows"] == 60 and meta["label_names"] == ["negative", "positive"]
    assert len(meta["teacher_sha256"]) == 64 and len(meta["data_sha256"]) == 64


def test_cache_hit_is_reused(finetuned_teacher, glue_dir, tmp_path, caplog):
    """A second call with the same teacher and file loads the cache instead of recomputing."""
    config = distill_run_config(finetuned_teacher, glue_dir / "SST-2" / "dev.tsv", tmp_path)
    first = soft_targets(config)
    stamp = (tmp_path / "targets.npz").stat().st_mtime_ns
    with caplog.at_level("INFO"):
        again = soft_targets(config)
    assert "cache hit" in caplog.text
    assert (tmp_path / "targets.npz").stat().st_mtime_ns == stamp
    assert np.array_equal(first.logits, again.logits)


def test_changed_data_makes_the_cache_stale(finetuned_teacher, glue_dir, tmp_path, caplog):
    """Editing the data file triggers a recomputation, logged as stale, never a silent reuse."""
    path = shutil.copy(glue_dir / "SST-2" / "dev.tsv", tmp_path / "dev.tsv")
    config = distill_run_config(finetuned_teacher, path, tmp_path)
    soft_targets(config)
    with open(path, "a") as handle:
        handle.write("good good film\t1\n")
    targets = soft_targets(config)
    assert "stale (data_sha256 changed)" in caplog.text
    assert len(targets.logits) == 61


def test_changed_teacher_makes_the_cache_stale(finetuned_teacher, glue_dir, tmp_path, caplog):
    """Changing the teacher's files triggers a recomputation."""
    teacher = shutil.copytree(finetuned_teacher, tmp_path / "teacher")
    config = distill_run_config(teacher, glue_dir / "SST-2" / "dev.tsv", tmp_path)
    soft_targets(config)
    info = json.loads((teacher / "featherweight_teacher.json").read_text())
    info["note"] = "edited"
    (teacher / "featherweight_teacher.json").write_text(json.dumps(info))
    soft_targets(config)
    assert "stale (teacher_sha256 changed)" in caplog.text


def test_interrupted_run_resumes_from_finished_shards(finetuned_teacher, glue_dir, tmp_path, monkeypatch):
    """Shards already written are not recomputed after an interruption."""
    import featherweight.teacher.soft_targets as module

    config = distill_run_config(finetuned_teacher, glue_dir / "SST-2" / "train.tsv", tmp_path, shard_size=50)
    calls = []
    real = module.predict_logits

    def flaky(*args, **kwargs):
        calls.append(len(args[2]))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "predict_logits", flaky)
    with pytest.raises(KeyboardInterrupt):
        soft_targets(config)
    assert len(list((tmp_path / "targets.shards").glob("shard-*.npy"))) == 2
    calls.clear()
    monkeypatch.setattr(module, "predict_logits", lambda *a, **k: (calls.append(len(a[2])), real(*a, **k))[1])
    targets = soft_targets(config)
    assert calls == [50, 50]  # only shards 2 and 3 of 4
    assert len(targets.logits) == 200 and not (tmp_path / "targets.shards").exists()


def test_for_rows_aligns_a_subset_by_line(finetuned_teacher, glue_dir, tmp_path):
    """Logits of the train split (train minus held-out) line up with that split's rows."""
    targets = soft_targets(distill_run_config(finetuned_teacher, glue_dir / "SST-2" / "train.tsv", tmp_path))
    splits = load_splits(DataConfig(task="sst-2", glue_dir=str(glue_dir), heldout_fraction=0.1))
    heldout = splits["heldout"]
    assert np.array_equal(targets.for_rows(heldout), targets.logits[heldout.line_numbers - 2])


def test_for_rows_refuses_rows_it_has_not_seen(finetuned_teacher, glue_dir, tmp_path):
    """Asking for a line the soft targets do not cover is an error, not a misaligned array."""
    targets = soft_targets(distill_run_config(finetuned_teacher, glue_dir / "SST-2" / "dev.tsv", tmp_path))
    other = write_tsv(tmp_path / "long.tsv", ["sentence", "label"], [["good", 1]] * 100)
    from featherweight.data import read_task_file
    with pytest.raises(ValueError, match="have no row for line 62"):
        targets.for_rows(read_task_file(other, get_task("sst-2")))
