"""soft-targets and augment with backend ray: one Ray task per missing shard, the same shards and output as local."""
from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import pytest

from conftest import local_ray_instance

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'featherweight[ray]'); optional")


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray instance with two CPUs, shut down after the module."""
    yield from local_ray_instance(num_cpus=2)


@pytest.fixture
def keep_shards(monkeypatch):
    """Leave the shard folders in place after a run (the driver's rmtree only), to compare and resume them."""
    from featherweight.teacher import soft_targets as soft_targets_module
    from featherweight.augment import run as augment_module

    for module in (soft_targets_module, augment_module):
        monkeypatch.setattr(module, "shutil", types.SimpleNamespace(rmtree=lambda path: None))


def _shards(folder: Path, pattern: str) -> dict[str, int]:
    """{shard file name: mtime in ns} of `folder`."""
    return {path.name: path.stat().st_mtime_ns for path in sorted(folder.glob(pattern))}


def _rerun_after_losing(shard: Path, output: Path, run, pattern: str):
    """Delete `shard` (and the finished output), rerun, and return (shards before, shards after, result)."""
    before = _shards(shard.parent, pattern)
    shard.unlink()
    output.unlink()
    result = run()
    return before, _shards(shard.parent, pattern), result


def _only_changed(before: dict, after: dict, names: list[str]) -> None:
    assert after.keys() == before.keys()
    assert [name for name in before if after[name] != before[name]] == names


def test_soft_targets_on_ray_match_local_and_redo_only_a_missing_shard(local_ray, keep_shards, one_thread,
                                                                       finetuned_teacher, glue_dir, tmp_path):
    """Ray gives the local logits and shard files; a lost shard is the only one recomputed on rerun."""
    from featherweight.teacher.soft_targets import SoftTargetConfig, soft_targets

    def config(folder, **backend):
        return SoftTargetConfig(teacher=str(finetuned_teacher), data_file=str(glue_dir / "SST-2" / "train.tsv"),
                                output=str(tmp_path / folder / "targets.npz"), shard_size=70, progress=False,
                                **backend)

    local = soft_targets(config("local"))
    on_ray = soft_targets(config("ray", backend="ray"))
    assert on_ray.logits.shape == (200, 2) and on_ray.meta["backend"] == "ray"
    np.testing.assert_allclose(on_ray.logits, local.logits, rtol=0, atol=1e-6)
    assert (on_ray.line_numbers == local.line_numbers).all()
    shards = {folder: tmp_path / folder / "targets.shards" for folder in ("local", "ray")}
    names = _shards(shards["ray"], "shard-*")
    assert list(names) == ["shard-00000.npy", "shard-00001.npy", "shard-00002.npy"] == list(
        _shards(shards["local"], "shard-*"))
    for name in names:
        np.testing.assert_allclose(np.load(shards["ray"] / name), np.load(shards["local"] / name), atol=1e-6)

    before, after, again = _rerun_after_losing(shards["ray"] / "shard-00001.npy", tmp_path / "ray" / "targets.npz",
                                               lambda: soft_targets(config("ray", backend="ray")), "shard-*")
    _only_changed(before, after, ["shard-00001.npy"])
    assert np.array_equal(again.logits, on_ray.logits)


def test_augment_on_ray_writes_the_local_rows_and_redoes_only_a_missing_shard(local_ray, keep_shards, glue_dir,
                                                                             tmp_path):
    """GloVe-only augmentation on Ray writes the same file (rows, order, no repeats) as local, and a rerun
    after a lost shard rewrites only that shard."""
    from featherweight.augment import AugmentConfig, augment
    from featherweight.data import DataConfig
    from conftest import build_tiny_glove

    glove_dir = str(build_tiny_glove(tmp_path / "glove"))

    def config(folder, **backend):
        return AugmentConfig(data=DataConfig(task="sst-2", glue_dir=str(glue_dir), heldout_fraction=0.1),
                             output=str(tmp_path / folder / "augmented.tsv"), glove_dir=glove_dir, samples=6,
                             top_k=6, shard_rows=40, max_rows=120, progress=False, **backend)

    local = augment(config("local"))
    on_ray = augment(config("ray", backend="ray"))
    text = (tmp_path / "ray" / "augmented.tsv").read_text()
    assert text == (tmp_path / "local" / "augmented.tsv").read_text()
    lines = text.splitlines()[1:]
    assert len(lines) == len(set(lines)) == on_ray["rows"] == local["rows"] > 0
    assert on_ray["counts"] == local["counts"]
    shards = tmp_path / "ray" / "augmented.shards"
    assert list(_shards(shards, "shard-*")) == list(_shards(tmp_path / "local" / "augmented.shards", "shard-*"))

    before, after, again = _rerun_after_losing(shards / "shard-00002.json", tmp_path / "ray" / "augmented.tsv",
                                               lambda: augment(config("ray", backend="ray")), "shard-*")
    _only_changed(before, after, ["shard-00002.json", "shard-00002.tsv"])
    assert again["rows"] == on_ray["rows"] and (tmp_path / "ray" / "augmented.tsv").read_text() == text


def test_onnx_labelling_on_ray_matches_local_onnx(local_ray, one_thread, finetuned_teacher, glue_dir, tmp_path):
    """--runtime onnx on Ray: each worker runs the cached ONNX teacher and gives the local ONNX logits."""
    from featherweight.teacher.soft_targets import SoftTargetConfig, soft_targets

    def config(folder, **backend):
        return SoftTargetConfig(teacher=str(finetuned_teacher), data_file=str(glue_dir / "SST-2" / "dev.tsv"),
                                output=str(tmp_path / folder / "targets.npz"), shard_size=25, progress=False,
                                runtime="onnx", **backend)

    local = soft_targets(config("local"))
    on_ray = soft_targets(config("ray", backend="ray"))
    assert on_ray.meta["backend"] == "ray" and on_ray.meta["runtime"] == local.meta["runtime"] == "onnx"
    np.testing.assert_allclose(on_ray.logits, local.logits, rtol=0, atol=1e-5)
    assert (on_ray.line_numbers == local.line_numbers).all()


def test_masked_lm_augmentation_on_ray_writes_the_local_rows(local_ray, one_thread, glue_dir, tmp_path):
    """Augmentation with a masked LM on Ray: every worker loads the MLM and writes the rows the local run writes."""
    from featherweight.augment import AugmentConfig, augment
    from featherweight.data import DataConfig
    from conftest import build_tiny_glove, build_tiny_mlm

    glove_dir, mlm = str(build_tiny_glove(tmp_path / "glove")), str(build_tiny_mlm(tmp_path / "mlm"))

    def config(folder, **backend):
        return AugmentConfig(data=DataConfig(task="sst-2", glue_dir=str(glue_dir), heldout_fraction=0.1),
                             output=str(tmp_path / folder / "augmented.tsv"), glove_dir=glove_dir, mlm=mlm,
                             samples=4, top_k=4, shard_rows=30, max_rows=60, progress=False, **backend)

    local = augment(config("local"))
    on_ray = augment(config("ray", backend="ray"))
    assert on_ray["candidate_source"] == local["candidate_source"] == "masked LM + GloVe"
    assert (tmp_path / "ray" / "augmented.tsv").read_text() == (tmp_path / "local" / "augmented.tsv").read_text()
    assert on_ray["rows"] == local["rows"] > 0
