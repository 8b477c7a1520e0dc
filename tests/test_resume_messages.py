"""Resumed stages say what they resume: finished shards out of all, and the rows they cover."""
from __future__ import annotations

import numpy as np
import pytest

from featherweight.data import DataConfig


class SimulatedCrash(Exception):
    """Stands for an interruption (Ctrl-C, a killed job) in the middle of a run."""


def _crash_on_call(real, number: int):
    """A stand-in for `real` that raises SimulatedCrash on its `number`-th call while `crash[0]` holds."""
    calls, crash = [], [True]

    def wrapper(*args, **kwargs):
        calls.append(1)
        if len(calls) == number and crash[0]:
            raise SimulatedCrash
        return real(*args, **kwargs)

    return wrapper, crash


def test_resumed_soft_targets_say_how_many_shards_and_rows_are_done(tiny_bert, glue_dir, tmp_path, monkeypatch,
                                                                   caplog):
    """A rerun after an interruption logs 'soft-targets: resuming, 2 of 4 shards done (100 rows)'."""
    import featherweight.teacher.soft_targets as module

    config = module.SoftTargetConfig(teacher=str(tiny_bert), data_file=str(glue_dir / "SST-2" / "train.tsv"),
                                     output=str(tmp_path / "targets.npz"), shard_size=50, progress=False)
    monkeypatch.setattr(module, "load_teacher", lambda *args: (None, None, None))  # the shards are what is tested
    flaky, crash = _crash_on_call(lambda model, tokenizer, rows, **kwargs: np.zeros((len(rows), 2), np.float32), 3)
    monkeypatch.setattr(module, "predict_logits", flaky)
    with caplog.at_level("INFO"), pytest.raises(SimulatedCrash):
        module.soft_targets(config)
    assert "resuming" not in caplog.text  # a fresh run resumes nothing
    crash[0] = False
    with caplog.at_level("INFO"):
        module.soft_targets(config)
    assert "soft-targets: resuming, 2 of 4 shards done (100 rows)" in caplog.text


def test_resumed_augment_says_how_many_shards_and_rows_are_done(glue_dir, tmp_path, monkeypatch, caplog):
    """A rerun after an interruption logs 'augment: resuming, 1 of 3 shards done (40 of 120 source rows)'."""
    import featherweight.augment.run as run
    from conftest import build_tiny_glove

    config = run.AugmentConfig(data=DataConfig(task="sst-2", glue_dir=str(glue_dir), heldout_fraction=0.1),
                               output=str(tmp_path / "augmented.tsv"), glove_dir=str(build_tiny_glove(tmp_path / "g")),
                               samples=4, top_k=4, shard_rows=40, max_rows=120, progress=False)
    flaky, crash = _crash_on_call(run.augment_rows, 2)
    monkeypatch.setattr(run, "augment_rows", flaky)
    with caplog.at_level("INFO"), pytest.raises(SimulatedCrash):
        run.augment(config)
    assert "resuming" not in caplog.text
    crash[0] = False
    with caplog.at_level("INFO"):
        run.augment(config)
    assert "augment: resuming, 1 of 3 shards done (40 of 120 source rows)" in caplog.text
