"""bench/skyline.py on tiny inputs: the study's grids, its entries from records, and the from-results mode."""
from __future__ import annotations

import json

import pytest

from conftest import load_bench


@pytest.fixture(scope="module")
def study():
    return load_bench("skyline")


def test_study_grids_hold_the_planned_runs(study, tmp_path):
    """SST-2: ten thesis students and RNN Char100 with max pooling x two alphas x three seeds on augmented data;
    QQP and MNLI: three students, original data; every run makes all four variants."""
    from featherweight.experiments.sweep import expand

    args = study.parse_args(["--work-dir", str(tmp_path), "--augmented", "aug.tsv", "--glue-dir", "g"])
    sst2 = expand(study.study_grid("sst-2", args))
    assert len(sst2) == 11 * 2 * 3 and {c.alpha for c in sst2} == {0.0, 0.5}
    pooled = [c for c in sst2 if c.pooling is not None]
    assert len(pooled) == 6 and {(c.student_arch, c.embedding_type, c.pooling) for c in pooled} == {
        ("rnn", "char", "max")} and {study.config_label(c) for c in pooled} == {"RNN Char100 (max pooling)"}
    assert all(c.augmented_file == "aug.tsv" and c.compression_actions == ["distill", "prune", "quantize"]
               for c in sst2)
    assert {(c.student_arch, c.embedding_type, c.embedding_dim, c.hash_buckets) for c in sst2 if
            c.embedding_type == "hash"} == {("bilstm", "hash", 100, 5000), ("rnn", "hash", 100, 5000),
                                           ("ffn", "hash", 25, 5000), ("ffn", "hash", 25, 2500)}
    assert {c.learning_rate for c in sst2 if c.student_arch in ("rnn", "ffn")} == {1e-3}  # --adam-learning-rate
    assert {c.learning_rate for c in sst2 if c.student_arch == "bilstm"} == {None}  # AdaDelta preset, lr 1
    for task in ("qqp", "mnli"):
        pair = expand(study.study_grid(task, args))
        assert len(pair) == 3 * 2 * 3 and all(c.augmented_file is None and c.data.task == task for c in pair)
        assert {c.batch_size for c in pair} == {32}  # not the thesis's 256: 9k pairs would give 35 steps an epoch
    assert {c.batch_size for c in sst2} == {None}  # the thesis presets


def test_students_option_runs_only_the_named_students(study, tmp_path, capsys):
    """--students picks runs by thesis-style name, K=2500 hash students apart from K=5000 ones."""
    from featherweight.experiments.sweep import expand

    args = study.parse_args(["--work-dir", str(tmp_path), "--augmented", "none", "--glue-dir", "g", "--seeds", "1"])
    labels = {study.config_label(config) for config in expand(study.study_grid("sst-2", args))}
    assert {"FFN Hash25", "FFN Hash25 (K=2500)", "BiLSTM Char100", "RNN Char100"} <= labels and len(labels) == 11
    study.main(["--work-dir", str(tmp_path), "--augmented", "none", "--glue-dir", "g", "--seeds", "1", "--dry-run",
                "--tasks", "sst-2", "--students", "FFN Hash25 (K=2500)", "RNN BPE100"])
    assert "sst-2: 4 of 22 runs chosen" in capsys.readouterr().out


def test_entries_from_records_are_percent_means_over_seeds(study):
    """Per-seed records become one entry per student, alpha and variant, in percent, marked on the skyline."""
    records = [{"command": "compress", "task": "sst-2", "setting_id": f"{name}{alpha}",
                "config_id": f"{name}{alpha}{s}", "variant": variant, "name": name, "arch": arch,
                "embedding": "hash", "dim": dim, "alpha": alpha, "hash_buckets": 5000, "seed": s,
                "dev_accuracy": accuracy + 0.01 * s, "gzip_bytes": size, "raw_bytes": 2 * size, "params": 10,
                "nonzero_params": 9}
               for name, arch, dim, alpha, variant, accuracy, size in [
                   ("FFN Hash25", "ffn", 25, 0.0, "quantized", 0.80, 40000),
                   ("BiLSTM Hash100", "bilstm", 100, 0.5, "distilled", 0.85, 1500000),
                   ("BiLSTM Hash100", "bilstm", 100, 0.5, "quantized", 0.84, 400000),
                   ("BiLSTM Hash100", "bilstm", 100, 0.0, "quantized", 0.83, 390000)]
               for s in (1, 2)]
    entries = study.entries_from_records(records, "sst-2")
    assert [(e["name"], e["alpha"], e["variant"]) for e in entries] == [
        ("BiLSTM Hash100", 0.0, "quantized"), ("BiLSTM Hash100", 0.5, "distilled"),
        ("BiLSTM Hash100", 0.5, "quantized"), ("FFN Hash25", 0.0, "quantized")]
    first = entries[0]
    assert first["dev_accuracy_mean"] == pytest.approx(84.5) and first["seeds"] == [1, 2]
    assert first["dev_accuracy_sd"] == pytest.approx(0.7071, abs=1e-3) and first["gzip_bytes"] == 390000
    assert [e["on_skyline"] for e in entries] == [True, True, True, True]
    assert set(study.ENTRY_KEYS) | {"on_skyline"} <= set(first)


def test_from_compress_results_writes_the_skyline_json_and_plot(study, tmp_path):
    """--from-compress-results turns bench/compress_sst2.py entries into skyline entries and a PNG, no training."""
    compress = [{"name": "FFN Hash25", "arch": "ffn", "embedding": "hash", "dim": 25, "hash_buckets": 5000,
                 "variant": variant, "seeds": [1, 2], "dev_accuracy_mean": accuracy, "dev_accuracy_sd": 0.5,
                 "gzip_bytes": size, "raw_bytes": size * 2, "params": 30000, "nonzero_params": 29000}
                for variant, accuracy, size in [("distilled", 81.0, 113000), ("pruned", 80.0, 113000),
                                                ("quantized", 81.0, 48000), ("pruned-quantized", 80.4, 48000)]]
    source = tmp_path / "compress_sst2.json"
    source.write_text(json.dumps(compress))
    assert study.main(["--from-compress-results", str(source), "--results-dir", str(tmp_path / "results"),
                       "--docs-dir", str(tmp_path / "docs")]) == 0
    entries = json.loads((tmp_path / "results" / "skyline_sst2.json").read_text())
    assert [(e["variant"], e["on_skyline"]) for e in entries] == [
        ("distilled", False), ("pruned", False), ("quantized", True), ("pruned-quantized", False)]
    assert entries[2]["dev_accuracy_mean"] == 81.0 and entries[2]["alpha"] is None
    assert (tmp_path / "docs" / "skyline_sst2.png").read_bytes()[:4] == b"\x89PNG"
    table = (tmp_path / "docs" / "skyline_sst2.md").read_text()
    assert "| FFN Hash25 | +q | 81.00% at 48.0 KB | - | 2 | 81.02% at 48.0 KB |" in table
    assert "| FFN Hash25 +q | 81.02% at 48.0 KB | FFN Hash25 +q | 81.00% at 48.0 KB | -0.02 |" in table
    assert "| FFN Hash25 (K=2500) +p+q | 80.16% at 27.0 KB | none that small | | |" in table


def test_compress_results_without_sizes_are_an_error_naming_the_entry(study):
    """An entry lacking the fields the skyline needs stops with the entry number and the missing keys."""
    with pytest.raises(SystemExit, match=r"entry 1 lacks \['gzip_bytes'\]"):
        study.entries_from_compress_results([{"arch": "ffn", "embedding": "hash", "dim": 25, "variant": "distilled",
                                              "dev_accuracy_mean": 80.0}])


def test_rerun_reruns_only_the_chosen_students(study, tmp_path, monkeypatch):
    """--rerun runs the chosen students again; the finished runs of the others are only read, never rerun."""
    import types

    import featherweight.experiments.sweep as sweep

    calls = []
    monkeypatch.setattr(sweep, "artifacts_complete", lambda config: True)
    monkeypatch.setattr(sweep, "run_configs", lambda configs, rerun=False, **kwargs: calls.append(
        ({study.config_label(c) for c in configs}, rerun)) or types.SimpleNamespace(records=[], failed=[]))
    assert study.main(["--work-dir", str(tmp_path), "--augmented", "none", "--glue-dir", "g", "--seeds", "1",
                       "--tasks", "qqp", "--students", "BiLSTM BPE25", "--rerun",
                       "--results-dir", str(tmp_path / "results"), "--docs-dir", str(tmp_path / "docs")]) == 0
    assert calls == [({"BiLSTM BPE25"}, True), ({"BiLSTM Char100", "FFN Hash25"}, False)]


def _record(name, arch, dim, alpha, variant, seed, accuracy, size):
    return {"command": "compress", "task": "sst-2", "setting_id": f"{name}{alpha}", "config_id": f"{name}{alpha}{seed}",
            "variant": variant, "name": name, "arch": arch, "embedding": "hash", "dim": dim, "alpha": alpha,
            "hash_buckets": 5000, "seed": seed, "started": "2026-12-02T10:00:00", "dev_accuracy": accuracy,
            "gzip_bytes": size, "raw_bytes": 2 * size, "params": 10, "nonzero_params": 9}


def test_report_only_writes_every_recorded_run_and_keeps_uncovered_earlier_entries(study, tmp_path, monkeypatch):
    """--report-only runs nothing; the skyline file holds every record of the table and, marked carried_over,
    the earlier file's entries no record covers (the record replaces the one it covers); the skyline is redone."""
    import featherweight.experiments.sweep as sweep
    from featherweight.experiments.results import write_table

    monkeypatch.setattr(sweep, "run_configs", lambda *a, **k: pytest.fail("--report-only must not run anything"))
    results, docs = tmp_path / "results", tmp_path / "docs"
    results.mkdir()
    write_table([_record("BiLSTM Hash100", "bilstm", 100, 0.5, "quantized", seed, 0.86 + 0.01 * seed, 400000)
                 for seed in (1, 2)], results / "skyline_runs.jsonl")
    earlier = [{"name": "BiLSTM Hash100", "arch": "bilstm", "embedding": "hash", "dim": 100, "alpha": 0.5,
                "variant": "quantized", "seeds": [1], "dev_accuracy_mean": 50.0, "gzip_bytes": 400000, "on_skyline": True},
               {"name": "FFN Hash25", "arch": "ffn", "embedding": "hash", "dim": 25, "alpha": 0.0,
                "variant": "quantized", "seeds": [1], "dev_accuracy_mean": 81.0, "gzip_bytes": 45000, "on_skyline": True},
               {"name": "FFN Hash25", "arch": "ffn", "embedding": "hash", "dim": 25, "alpha": 0.0,
                "variant": "distilled", "seeds": [1], "dev_accuracy_mean": 80.0, "gzip_bytes": 110000, "on_skyline": True}]
    (results / "skyline_sst2.json").write_text(json.dumps(earlier))
    args = ["--work-dir", str(tmp_path), "--glue-dir", "g", "--tasks", "sst-2", "--report-only",
            "--results-dir", str(results), "--docs-dir", str(docs)]
    assert study.main(args) == 0
    entries = {(e["name"], e["variant"]): e for e in json.loads((results / "skyline_sst2.json").read_text())}
    recorded = entries[("BiLSTM Hash100", "quantized")]
    assert recorded["dev_accuracy_mean"] == pytest.approx(87.5) and recorded["seeds"] == [1, 2]
    assert "carried_over" not in recorded and recorded["on_skyline"]
    assert entries[("FFN Hash25", "quantized")]["carried_over"] and entries[("FFN Hash25", "quantized")]["on_skyline"]
    assert not entries[("FFN Hash25", "distilled")]["on_skyline"]  # the FFN's +q is smaller and better
    assert study.main(args) == 0  # a second report changes nothing
    assert {(e["name"], e["variant"]): e for e in json.loads((results / "skyline_sst2.json").read_text())} == entries
    assert (docs / "skyline_sst2.png").read_bytes()[:4] == b"\x89PNG"


def test_teacher_note_reads_the_study_teachers_summary(study, tmp_path):
    """The comparison table names the teacher the study really used, from its finetune summary."""
    assert study.teacher_note(str(tmp_path), "sst-2") == "not recorded"
    (tmp_path / "teacher-sst-2").mkdir()
    (tmp_path / "teacher-sst-2" / "summary.json").write_text(json.dumps({"teacher": "minilm", "epochs": 1,
                                                                          "dev_accuracy": 0.88761}))
    assert study.teacher_note(str(tmp_path), "sst-2") == "all-MiniLM-L6-v2 (88.8% dev, 1 epoch)"


def test_teacher_note_is_kept_for_sessions_without_the_teacher(study, tmp_path):
    """With a results dir the note is saved there, and read back when the work dir has lost the teacher."""
    work, results = tmp_path / "work", tmp_path / "results"
    (work / "teacher-qqp").mkdir(parents=True)
    results.mkdir()
    (work / "teacher-qqp" / "summary.json").write_text(json.dumps({"teacher": "minilm", "epochs": 2,
                                                                   "dev_accuracy": 0.836}))
    assert study.teacher_note(str(work), "qqp", str(results)) == "all-MiniLM-L6-v2 (83.6% dev, 2 epochs)"
    (work / "teacher-qqp" / "summary.json").unlink()
    assert study.teacher_note(str(work), "qqp", str(results)) == "all-MiniLM-L6-v2 (83.6% dev, 2 epochs)"
    assert study.teacher_note(str(work), "mnli", str(results)) == "not recorded"
