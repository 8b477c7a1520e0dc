"""Results store: records from sacred runs, JSON Lines / CSV tables, seed aggregation, `analyze results`."""
from __future__ import annotations


import pytest

from conftest import distill_run_config, write_sacred_run
from featherweight.compression.distill import DistillConfig
from featherweight.experiments.results import (AnalyzeResultsConfig, aggregate, analyze_results, append_records, collect,
                                   config_id, read_table, setting_id, write_table)


def _summary(seed: int, accuracy: float, variants: bool = True) -> dict:
    """What compress() returns for one student: top-level distilled scores, and the variants' sizes."""
    summary = {"name": f"sst-2-ffn-hash25-a0.5-s{seed}", "output_dir": f"/a/s{seed}", "params": 1000,
               "disk_bytes": 4100, "epoch_seconds": 2.0, "epochs_run": 3, "dev_accuracy": accuracy,
               "heldout_accuracy": accuracy - 0.01}
    if variants:
        summary["variants"] = {
            "distilled": {"variant": "distilled", "output_dir": f"/a/s{seed}", "dev_accuracy": accuracy,
                          "gzip_bytes": 3000, "params": 1000, "bytes_by_dtype": {"float32": 4000}},
            "quantized": {"variant": "quantized", "output_dir": f"/a/s{seed}-quantized",
                          "dev_accuracy": accuracy - 0.02, "gzip_bytes": 900, "params": 1000,
                          "bytes_by_dtype": {"int8": 1000}}}
    return summary


def test_a_non_default_pooling_is_part_of_the_students_name(tmp_path):
    """Two settings that differ only in pooling get different names, so they never share a row or a label."""
    from featherweight.analysis.reference import student_label

    for number, pooling in enumerate((None, "mean", "max"), 1):
        write_sacred_run(tmp_path, number, "compress", distill_run_config(1, pooling=pooling),
                         _summary(1, 0.8, variants=False))
    assert [record["name"] for record in collect(tmp_path)] == ["FFN Hash25", "FFN Hash25",
                                                                "FFN Hash25 (max pooling)"]
    assert student_label("rnn", "char", 100, None, "last") == "RNN Char100"
    assert student_label("rnn", "char", 100, None, "max") == "RNN Char100 (max pooling)"
    assert student_label("ffn", "hash", 25, 2500, "max") == "FFN Hash25 (K=2500, max pooling)"


def test_collect_reads_runs_that_record_run_wrote(tmp_path):
    """A compress run recorded with sacred gives one flat record per variant with config, metrics and versions."""
    from featherweight.experiments.records import record_run

    config = DistillConfig(student_arch="ffn", embedding_type="hash", embedding_dim=25, seed=7)
    record_run("compress", config, lambda: _summary(7, 0.8), runs_dir=tmp_path / "runs", seed=7)
    records = collect(tmp_path / "runs")
    assert [record["variant"] for record in records] == ["distilled", "quantized"]
    distilled, quantized = records
    assert distilled["name"] == "FFN Hash25" and distilled["seed"] == 7 and distilled["arch"] == "ffn"
    assert distilled["dev_accuracy"] == 0.8 and distilled["gzip_bytes"] == 3000 and distilled["disk_bytes"] == 4100
    assert quantized["dev_accuracy"] == pytest.approx(0.78) and quantized["gzip_bytes"] == 900
    assert "disk_bytes" not in quantized and quantized["epoch_seconds"] == 2.0  # training cost is shared
    assert quantized["artifact"] == "/a/s7-quantized" and quantized["bytes_by_dtype.int8"] == 1000
    assert distilled["config_id"] == config_id(config) and distilled["setting_id"] == setting_id(config)
    assert distilled["config.embedding_dim"] == 25 and "torch" in {k.split(".")[1] for k in distilled
                                                                   if k.startswith("versions.")}


def test_failed_runs_and_other_commands_are_left_out(tmp_path):
    """Only completed compress and evaluate runs become records."""
    write_sacred_run(tmp_path, 1, "compress", distill_run_config(1), _summary(1, 0.8), status="FAILED")
    write_sacred_run(tmp_path, 2, "analyze", {}, {"students": []})
    write_sacred_run(tmp_path, 3, "compress", distill_run_config(1), _summary(1, 0.8, variants=False))
    (tmp_path / "_sources").mkdir()
    records = collect(tmp_path)
    assert [(record["run_id"], record["variant"]) for record in records] == [("3", "distilled")]


def test_a_run_without_sizes_is_measured_from_its_artifact(tmp_path):
    """A compress run without prune/quantize reports no gzip size; the record measures its artifact's weights."""
    import numpy as np
    from safetensors.numpy import save_file

    artifact = tmp_path / "student"
    artifact.mkdir()
    save_file({"w": np.zeros((10, 10), dtype=np.float32)}, str(artifact / "model.safetensors"))
    write_sacred_run(tmp_path / "runs", 1, "compress", distill_run_config(1), {**_summary(1, 0.8, variants=False),
                                                              "output_dir": str(artifact)})
    write_sacred_run(tmp_path / "runs", 2, "compress", distill_run_config(2),
                     _summary(2, 0.8, variants=False))  # its artifact is gone
    measured, gone = collect(tmp_path / "runs")
    assert measured["gzip_bytes"] > 0 and measured["params"] == 100 and measured["nonzero_params"] == 0
    assert "gzip_bytes" not in gone


def test_evaluate_runs_are_records_of_the_evaluated_model(tmp_path):
    """An evaluate run gives one record with the model as artifact and the scores it printed."""
    config = {"model": str(tmp_path / "teacher"), "data": {"task": "sst-2"}, "batch_size": 128}
    write_sacred_run(tmp_path / "runs", 1, "evaluate", config, {"model": config["model"], "task": "sst-2",
                                                          "dev_accuracy": 0.91})
    [record] = collect(tmp_path / "runs")
    assert record["command"] == "evaluate" and record["dev_accuracy"] == 0.91
    assert record["artifact"] == config["model"] and record["task"] == "sst-2"


def test_missing_runs_directory_says_how_runs_are_recorded(tmp_path):
    """Collecting from a directory that does not exist names it and the commands that record runs."""
    with pytest.raises(FileNotFoundError, match="No runs directory .*featherweight compress"):
        collect(tmp_path / "nowhere")


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_tables_round_trip(suffix, tmp_path):
    """Records written as JSON Lines or CSV read back equal, numbers, booleans and lists included."""
    records = [{"run_id": "1", "config_id": "0123456789", "dev_accuracy": 0.5, "augmented": False, "seed": 3,
                "seeds": [1, 2], "name": "FFN Hash25"},
               {"run_id": "2", "config_id": "1e5", "dev_accuracy": 0.75, "augmented": True, "extra": "x"}]
    path = write_table(records, tmp_path / f"results{suffix}")
    assert read_table(path) == records


def test_table_suffix_must_be_jsonl_or_csv(tmp_path):
    """Another suffix is an error that says which two are understood."""
    with pytest.raises(ValueError, match=r"\.jsonl\) or CSV \(\.csv\)"):
        write_table([], tmp_path / "results.xlsx")


def test_aggregate_gives_mean_sd_and_n_over_seeds(tmp_path):
    """The seeds of one setting and variant reduce to one row with mean, sample sd, n and the seeds."""
    for run_id, (seed, accuracy) in enumerate([(1, 0.80), (2, 0.84), (3, 0.82)], 1):
        write_sacred_run(tmp_path, run_id, "compress", distill_run_config(seed), _summary(seed, accuracy))
    rows = {row["variant"]: row for row in aggregate(collect(tmp_path))}
    assert set(rows) == {"distilled", "quantized"}
    distilled = rows["distilled"]
    assert distilled["n"] == 3 and distilled["seeds"] == [1, 2, 3] and distilled["name"] == "FFN Hash25"
    assert distilled["dev_accuracy_mean"] == pytest.approx(0.82)
    assert distilled["dev_accuracy_sd"] == pytest.approx(0.02)
    assert rows["quantized"]["gzip_bytes_mean"] == 900 and rows["quantized"]["gzip_bytes_sd"] == 0
    assert "seed_mean" not in distilled and "alpha_mean" not in distilled


def test_aggregate_keeps_settings_apart_and_counts_a_rerun_once(tmp_path):
    """Different settings are different groups; a rerun of one config counts once, with its latest result."""
    write_sacred_run(tmp_path, 1, "compress", distill_run_config(1), _summary(1, 0.70), started="2024-01-01T00:00:00")
    write_sacred_run(tmp_path, 2, "compress", distill_run_config(1), _summary(1, 0.80), started="2024-01-02T00:00:00")
    write_sacred_run(tmp_path, 3, "compress", distill_run_config(1, epochs=2), _summary(1, 0.60))
    rows = [row for row in aggregate(collect(tmp_path)) if row["variant"] == "distilled"]
    assert sorted((row["n"], row["dev_accuracy_mean"]) for row in rows) == [(1, 0.6), (1, 0.8)]


def test_aggregate_by_an_unknown_column_lists_the_columns(tmp_path):
    """Grouping by a column no record has is an error listing the columns there are."""
    write_sacred_run(tmp_path, 1, "compress", distill_run_config(1), _summary(1, 0.8))
    with pytest.raises(ValueError, match="Cannot group by \\['archh'\\].*'arch'"):
        aggregate(collect(tmp_path), by=("archh",))


def test_append_records_adds_only_new_records(tmp_path):
    """Appending the same records twice leaves one copy of each in the table."""
    records = [{"config_id": "a", "started": "t1", "variant": "distilled", "dev_accuracy": 0.5}]
    table = tmp_path / "results.jsonl"
    assert append_records(records, table) == 1
    assert append_records(records + [{**records[0], "started": "t2"}], table) == 1
    assert len(read_table(table)) == 2


def test_analyze_results_writes_records_and_aggregates(tmp_path):
    """`analyze results` writes every record and the per-setting table, and returns the groups."""
    for run_id, seed in enumerate([1, 2], 1):
        write_sacred_run(tmp_path / "runs", run_id, "compress", distill_run_config(seed), _summary(seed, 0.8))
    result = analyze_results(AnalyzeResultsConfig(runs_dir=str(tmp_path / "runs"), output=str(tmp_path / "r.csv"),
                                                  aggregated=str(tmp_path / "a.jsonl")))
    assert result["records"] == 4 and len(result["groups"]) == 2
    assert len(read_table(tmp_path / "r.csv")) == 4 and len(read_table(tmp_path / "a.jsonl")) == 2


def test_analyze_results_without_runs_says_how_to_make_some(tmp_path):
    """An empty runs directory is an error that names the commands that record runs."""
    (tmp_path / "runs").mkdir()
    with pytest.raises(ValueError, match="No completed compress or evaluate runs.*featherweight sweep"):
        analyze_results(AnalyzeResultsConfig(runs_dir=str(tmp_path / "runs")))


def test_config_id_ignores_how_a_run_runs_but_not_its_seed():
    """progress, output_dir, num_threads and device leave config_id alone; the seed changes it but not setting_id."""
    base = DistillConfig(seed=1)
    assert config_id(base) == config_id(DistillConfig(seed=1, progress=False, output_dir="x", num_threads=4,
                                                      device="cpu"))
    assert config_id(base) != config_id(DistillConfig(seed=2))
    assert setting_id(base) == setting_id(DistillConfig(seed=2))
    assert setting_id(base) != setting_id(DistillConfig(seed=1, alpha=0.0))
