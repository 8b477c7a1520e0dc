"""Benchmark results are traceable: each records its command and git commit and holds only relative paths; every
study point records the `featherweight compress` command that reproduces it."""
from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import BENCH_DIR, load_bench
from featherweight.cli import build_parser
from featherweight.cli_args import dataclass_from_args
from featherweight.experiments.pipeline import CompressConfig

RESULTS = BENCH_DIR / "results"
ABSOLUTE = re.compile(r"""(?:^|[\s"'=(])/[^\s"'/]+/""")  # "/x/..." after a start, a space, a quote, = or (


@pytest.fixture(scope="module")
def common():
    return load_bench("common")


def committed_results() -> list:
    """The JSON and JSON Lines files under bench/results that git tracks (new ones not yet added included)."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", str(RESULTS)],
                            cwd=BENCH_DIR.parent, capture_output=True, text=True, check=True).stdout.split()
    return [BENCH_DIR.parent / name for name in listed if name.endswith((".json", ".jsonl"))]


def strings(value):
    """Every string inside JSON data, keys left out."""
    if isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
    elif isinstance(value, str):
        yield value


def records(path) -> list:
    text = path.read_text()
    return [json.loads(line) for line in text.splitlines()] if path.suffix == ".jsonl" else [json.loads(text)]


def traced(result: dict) -> bool:
    """A command and the code's commit: git_commit, or for a file from before it, the commit that added it."""
    return bool(result.get("command")) and bool(result.get("git_commit") or result.get("committed_in"))


def parse_compress(line: str) -> CompressConfig:
    words = shlex.split(line)
    assert words[:2] == ["featherweight", "compress"], line
    return dataclass_from_args(CompressConfig, build_parser(words[1:]).parse_args(words[1:]))


def test_no_committed_result_holds_an_absolute_path():
    """No string of any committed result starts an absolute path or names this checkout's location."""
    root, found = str(BENCH_DIR.parent), []
    for path in committed_results():
        for record in records(path):
            found += [(path.name, text[:90]) for text in strings(record) if ABSOLUTE.search(text) or root in text]
    assert not found


def test_every_committed_result_records_its_command_and_commit():
    """A dict result carries them at its top, a list of entries in its <stem>_meta.json, a table in each record."""
    untraced = []
    for path in committed_results():
        if path.suffix == ".jsonl":
            untraced += [(path.name, number) for number, record in enumerate(records(path), 1) if not traced(record)]
            continue
        [result] = records(path)
        meta = path.with_name(path.stem + "_meta.json")
        if not traced(result if isinstance(result, dict) else json.loads(meta.read_text()) if meta.is_file() else {}):
            untraced.append(path.name)
    assert not untraced


def test_every_study_point_records_the_compress_command_that_reproduces_it():
    """Each record of the study table has a `featherweight compress` line; read by the CLI parser it gives the config
    the run saved (the sub-8-bit recipes save only their quantization settings)."""
    for record in records(RESULTS / "skyline_runs.jsonl"):
        config = parse_compress(record["cli_command"])
        saved = {key[len("config."):]: value for key, value in record.items() if key.startswith("config.")}
        if "output_dir" in saved:  # a sweep run: its whole config
            assert config.output_dir == saved["output_dir"] and config.data.task == saved["data.task"] == record["task"]
            assert config.seed == record["seed"] and config.alpha == record["alpha"]
        quantization = config.quantization.to_dict()
        assert all(quantization[key.split(".", 1)[1]] == value for key, value in saved.items()
                   if key.startswith("quantization.") and key != "quantization.classifier_quantization")


def test_a_result_is_written_with_its_provenance_and_relative_paths(common, tmp_path):
    """save_result stamps command and commit on top, makes paths relative (the data folder as ../shared), rewrites
    them inside text too, and drops what a result from before provenance said instead."""
    root, shared = common.ROOT, common.ROOT.parent / "shared"
    result = {"artifact": str(root / "bench" / "work" / "x"), "glue": str(shared / "data" / "glue"),
              "log": f'{{"model": "{root}/bench/work/export"}}', "url": "https://example.org/a/b", "kb": "q4/2",
              "committed_in": "0" * 40, "score": 0.8125}
    path = common.save_result(tmp_path / "r.json", result, command=f"python bench/x.py --out {root}/bench/results")
    saved = json.loads(path.read_text())
    assert list(saved)[:2] == ["command", "git_commit"] and len(saved["git_commit"]) == 40
    assert saved["command"] == "python bench/x.py --out bench/results" and "committed_in" not in saved
    assert saved["artifact"] == "bench/work/x" and saved["glue"] == "../shared/data/glue"
    assert saved["log"] == '{"model": "bench/work/export"}' and saved["score"] == 0.8125
    assert saved["url"] == "https://example.org/a/b" and saved["kb"] == "q4/2"


def test_a_list_of_entries_keeps_its_layout_and_gets_its_provenance_beside_it(common, tmp_path):
    """A list result stays a list (its readers expect one); command, commit and meta go to <stem>_meta.json."""
    common.save_result(tmp_path / "skyline_x.json", [{"artifact": str(common.ROOT / "a")}], meta={"seconds": 2})
    assert json.loads((tmp_path / "skyline_x.json").read_text()) == [{"artifact": "a"}]
    meta = json.loads((tmp_path / "skyline_x_meta.json").read_text())
    assert meta["seconds"] == 2 and meta["command"].startswith("python ") and "git_commit" in meta


def test_the_command_names_the_script_and_its_arguments_with_relative_paths(common):
    """A benchmark's main called from Python records its own script and arguments, paths relative."""
    line = common.command_line(["--glue-dir", str(common.ROOT.parent / "shared" / "data"), "--name", "a b"],
                               common.ROOT / "bench" / "peers.py")
    assert line == "python bench/peers.py --glue-dir ../shared/data --name 'a b'"


def test_study_records_are_stored_once_with_relative_paths(common, tmp_path):
    """store_records appends new records only and rewrites those a sweep appended with absolute paths."""
    from featherweight.experiments.results import read_table, write_table

    table = tmp_path / "runs.jsonl"
    swept = {"config_id": "a", "started": "1", "variant": "distilled", "artifact": str(common.ROOT / "bench" / "s")}
    write_table([swept], table)
    assert common.store_records(table, [swept, {**swept, "config_id": "b"}]) == 1
    assert [(r["config_id"], r["artifact"]) for r in read_table(table)] == [("a", "bench/s"), ("b", "bench/s")]


def test_kept_soft_targets_are_the_teachers_bytes_with_a_traced_meta(common, tmp_path):
    """keep_soft_targets copies the .npz unchanged and writes its .json with the extra keys, provenance and
    relative paths (compress matches soft targets by the content hashes inside)."""
    source = tmp_path / "made" / "sst-2-train.npz"
    source.parent.mkdir()
    np.savez(source, logits=np.ones((2, 2), np.float32), line_numbers=np.arange(2))
    source.with_suffix(".json").write_text(json.dumps({"data_sha256": "d", "teacher": str(common.ROOT / "t")}))
    kept = common.keep_soft_targets(source, tmp_path / "kept", teacher_dev_accuracy=0.9)
    assert kept.read_bytes() == source.read_bytes()
    meta = json.loads(kept.with_suffix(".json").read_text())
    assert meta["data_sha256"] == "d" and meta["teacher"] == "t" and meta["teacher_dev_accuracy"] == 0.9
    assert traced(meta)
    common.keep_soft_targets(source, tmp_path / "kept", teacher_description="a later benchmark")
    assert json.loads(kept.with_suffix(".json").read_text()) == meta  # the same logits keep their first provenance
    np.savez(source, logits=np.zeros((2, 2), np.float32), line_numbers=np.arange(2))
    common.keep_soft_targets(source, tmp_path / "kept", teacher_description="relabelled")
    assert json.loads(kept.with_suffix(".json").read_text())["teacher_description"] == "relabelled"


def test_the_compression_benchmark_averages_seeds_with_the_results_store(monkeypatch):
    """bench/compress_sst2.py's table rows come from results.aggregate: seed means and sds in percent, mean sizes
    rounded, the first seed's bytes by dtype, thesis order and the thesis cell."""
    bench = load_bench("compress_sst2")
    keys = {"a": ("ffn", "hash", 25, 5000), "b": ("ffn", "hash", 25, 5000), "c": ("bilstm", "hash", 100, 5000)}
    monkeypatch.setattr(bench, "read_student_meta", lambda directory: directory.name)  # a student per folder name
    monkeypatch.setattr(bench, "student_key", lambda name: keys[name])
    run = lambda seed, accuracy, size: {"seed": seed, "dev_accuracy": accuracy, "heldout_accuracy": accuracy,
                                        "gzip_bytes": size, "raw_bytes": 2 * size, "params": 10, "nonzero_params": 9,
                                        "bytes_by_dtype": {"int8": size}}
    runs = [{"quantized": run(1, 0.80, 100), "distilled": run(1, 0.81, 400)}, {"quantized": run(2, 0.82, 101)},
            {"distilled": run(1, 0.86, 900)}]
    rows = bench.summarize([Path(name) for name in keys], runs)
    assert [(row["name"], row["variant"]) for row in rows] == [
        ("BiLSTM Hash100", "distilled"), ("FFN Hash25", "distilled"), ("FFN Hash25", "quantized")]
    ffn = rows[2]
    assert ffn["seeds"] == [1, 2] and ffn["dev_accuracy_mean"] == pytest.approx(81.0)
    assert ffn["dev_accuracy_sd"] == pytest.approx(np.std([80.0, 82.0], ddof=1))
    assert ffn["gzip_bytes"] == 100 and ffn["raw_bytes"] == 201 and ffn["bytes_by_dtype"] == {"int8": 100}
    assert (ffn["thesis_dev_accuracy"], ffn["thesis_zipped_mb"]) == bench.THESIS_TABLE_7_5[keys["a"]][2]
