"""Sweeps: grid expansion and its errors, and the local process pool running, recording and skipping runs."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from featherweight.data import DataConfig
from featherweight.experiments import sweep as sweep_module
from featherweight.experiments.pipeline import CompressConfig
from featherweight.experiments.results import collect, read_table
from featherweight.experiments.sweep import SweepConfig, expand, load_grid, run_configs, sweep
from conftest import tiny_grid


def test_grid_expands_to_the_product_of_its_axes_with_fixed_settings(tmp_path):
    """Each combination of the axes is one CompressConfig carrying every fixed setting."""
    grid = {"task": "qqp", "glue_dir": "g", "epochs": 3, "teacher": "t", "work_dir": str(tmp_path),
            "archs": ["bilstm", "ffn"], "embeddings": ["hash", "bpe"], "dims": [25], "alphas": [0, 0.5],
            "seeds": [1, 2, 3]}
    configs = expand(grid)
    assert len(configs) == 2 * 2 * 1 * 2 * 3
    assert {(c.student_arch, c.embedding_type, c.alpha, c.seed) for c in configs} == {
        (a, e, alpha, s) for a in ("bilstm", "ffn") for e in ("hash", "bpe") for alpha in (0, 0.5) for s in (1, 2, 3)}
    assert all(c.data.task == "qqp" and c.data.glue_dir == "g" and c.epochs == 3 and c.teacher == "t"
               and not c.progress and c.compression_actions == ["distill"] for c in configs)
    assert len({c.output_dir for c in configs}) == len(configs)
    assert {type(c.alpha) for c in configs} == {float}  # YAML's 0 and 0.0 are one setting
    assert all(c.output_dir.startswith(str(tmp_path / "students")) for c in configs)


def test_students_entries_augmentation_and_variants(tmp_path):
    """`students` sets settings that go together; `augmentation: [none, file]`; variants set the actions."""
    grid = {"students": [{"arch": "ffn", "embedding": "hash", "dim": 25, "hash_buckets": 2500},
                         {"arch": "bilstm", "embedding": "char", "dim": 100}],
            "augmentation": ["none", "aug.tsv"], "seeds": [1], "output_root": str(tmp_path / "out"),
            "variants": ["distilled", "pruned-quantized"]}
    configs = expand(grid)
    assert [(c.student_arch, c.hash_buckets, c.augmented_file) for c in configs] == [
        ("ffn", 2500, None), ("ffn", 2500, "aug.tsv"), ("bilstm", 5000, None), ("bilstm", 5000, "aug.tsv")]
    assert all(c.compression_actions == ["distill", "prune", "quantize"] for c in configs)
    assert all(c.output_dir.startswith(str(tmp_path / "out")) for c in configs)


@pytest.mark.parametrize("grid, message", [
    ({"archz": ["ffn"]}, r"unknown key 'archz'\. Axes \(lists\): \['alphas', 'archs'.*fixed settings: \["),
    ({"students": [{"arch": "ffn", "depth": 2}]}, r"unknown key 'depth' in students entry 1\. Axes"),
    ({"archs": "ffn"}, r"'archs' is an axis and needs a non-empty list, got 'ffn'"),
    ({"archs": ["lstm"]}, r"archs: 'lstm' is not one of \['bilstm', 'rnn', 'ffn'\]"),
    ({"arch": "ffn", "archs": ["rnn"]}, r"student_arch is set twice, by 'arch' and by 'archs'"),
    ({"variants": ["pruned", "tiny"]}, r"variants: 'tiny' is not one of \['distilled', 'pruned'"),
    ({"alphas": [0.5, 2]}, r"run 2 \(alpha=2\): alpha must be in \[0, 1\]"),
    ({"seeds": [1, 1]}, r"runs 1 and 2 have the same settings"),
    ({"output_dir": "x"}, r"unknown key 'output_dir'"),
])
def test_invalid_grids_name_the_key(grid, message):
    """A bad grid is an error naming the file, the key at fault and what is valid."""
    with pytest.raises(ValueError, match=r"g\.yaml: " + message):
        expand(grid, source="g.yaml")


def test_grid_files_are_yaml_mappings(tmp_path):
    """A grid file that is not YAML, or not a mapping, is an error with the file (and line)."""
    (tmp_path / "bad.yaml").write_text("archs: [ffn\nseeds: 1\n")
    with pytest.raises(ValueError, match=r"bad\.yaml:\d+: not valid YAML"):
        load_grid(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- ffn\n")
    with pytest.raises(ValueError, match="a grid is a YAML mapping"):
        load_grid(tmp_path / "list.yaml")
    with pytest.raises(FileNotFoundError, match="No grid file"):
        load_grid(tmp_path / "none.yaml")


def test_sweep_config_rejects_bad_settings(tmp_path):
    """Workers must be positive, the results table .jsonl or .csv, and a Ray address needs the ray backend."""
    with pytest.raises(ValueError, match="workers must be a positive int"):
        SweepConfig(grid="g.yaml", workers=0)
    with pytest.raises(ValueError, match="results must be a .jsonl or .csv"):
        SweepConfig(grid="g.yaml", results="r.txt")
    with pytest.raises(ValueError, match="add --backend ray"):
        SweepConfig(grid="g.yaml", ray_address="auto")


def test_local_pool_runs_records_and_skips_done_runs(glue_dir, tmp_path):
    """Two tiny runs on a 2-process pool are recorded with sacred and in the table; a rerun skips both,
    and so does a sweep with fresh records whose artifacts already exist."""
    import yaml

    grid_file = tmp_path / "grid.yaml"
    grid_file.write_text(yaml.safe_dump(tiny_grid(glue_dir, tmp_path)))
    runs, table = tmp_path / "runs", tmp_path / "results.csv"
    first = sweep(SweepConfig(grid=str(grid_file), workers=2, runs_dir=str(runs), results=str(table),
                              progress=False))
    assert (first["ran"], first["skipped"], first["failed"], first["records"]) == (2, 0, [], 4)
    recorded = collect(runs)
    assert sorted((r["seed"], r["variant"]) for r in recorded) == [
        (1, "distilled"), (1, "quantized"), (2, "distilled"), (2, "quantized")]
    assert all(0 <= r["dev_accuracy"] <= 1 and r["gzip_bytes"] > 0 for r in recorded)
    assert len(read_table(table)) == 4

    again = sweep(SweepConfig(grid=str(grid_file), runs_dir=str(runs), results=str(table), progress=False))
    assert (again["ran"], again["skipped"]) == (0, 2)
    assert len(read_table(table)) == 4 and len(collect(runs)) == 4  # nothing new recorded

    fresh = run_configs(expand(load_grid(grid_file)), runs_dir=tmp_path / "other-runs",
                        results=tmp_path / "other.jsonl", progress=False)
    assert (fresh.ran, fresh.skipped) == (0, 2)
    assert sorted(r["variant"] for r in fresh.records) == ["distilled", "distilled", "quantized", "quantized"]
    assert all(r["source"] == "artifact" and r["gzip_bytes"] > 0 for r in fresh.records)


def test_dry_run_lists_runs_without_running(glue_dir, tmp_path):
    """--dry-run lists each run's name and output directory and trains nothing."""
    grid_file = tmp_path / "grid.json"  # JSON is YAML too
    grid_file.write_text(json.dumps(tiny_grid(glue_dir, tmp_path)))
    listed = sweep(SweepConfig(grid=str(grid_file), dry_run=True, runs_dir=str(tmp_path / "runs")))
    assert [run["name"] for run in listed["runs"]] == ["sst-2-ffn-char8-a1-s1", "sst-2-ffn-char8-a1-s2"]
    assert not any(run["done"] for run in listed["runs"]) and not (tmp_path / "runs").exists()


def test_prepare_labels_on_the_runs_device_once_per_teacher_and_file(glue_dir, monkeypatch):
    """The shared soft targets are made on the device the runs name, and once for runs that share them."""
    labelled = []
    monkeypatch.setattr(sweep_module, "ensure_teacher", lambda config, epochs: "teacher-dir")
    monkeypatch.setattr(sweep_module, "soft_targets", labelled.append)
    data = DataConfig(task="sst-2", glue_dir=str(glue_dir))
    sweep_module.prepare([CompressConfig(data=data, device="cpu", seed=seed) for seed in (1, 2)], progress=False)
    assert [(c.teacher, Path(c.data_file).name, c.device) for c in labelled] == [("teacher-dir", "train.tsv", "cpu")]
