"""bench/export_sst2.py runs end to end on tiny students and writes the entries the issue asks for."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import build_tiny_bert, load_bench, make_student

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def bench():
    return load_bench("export_sst2")


def untrained_sst2_teacher(directory: Path) -> Path:
    """The conftest tiny BERT with SST-2 label names (its latency is all the benchmark needs)."""
    build_tiny_bert(directory)
    config = json.loads((directory / "config.json").read_text())
    config["id2label"], config["label2id"] = {"0": "negative", "1": "positive"}, {"negative": 0, "positive": 1}
    (directory / "config.json").write_text(json.dumps(config))
    return directory


def test_agreement_counts_same_labels_and_names_the_rows_that_differ(bench):
    """agreement() gives the fraction, the counts and the ids of the rows whose argmax differs."""
    logits = np.array([[1, 0], [0, 1], [1, 0], [0, 1]], dtype=np.float32)
    reference = np.array([[2, 1], [1, 0], [3, 0], [0, 5]], dtype=np.float32)
    assert bench.agreement(logits, reference, ids=[10, 11, 12, 13]) == {
        "fraction": 0.75, "agree": 3, "total": 4, "disagreeing_ids": [11]}
    assert bench.agreement(logits[:0], reference[:0])["fraction"] is None


def test_latency_percentiles_come_from_the_same_samples(bench):
    """latency_us() gives p50 and p95 in microseconds of one list of per-sentence seconds."""
    seconds = [i / 1e6 for i in range(1, 101)]  # 1 .. 100 us
    result = bench.latency_us(seconds)
    assert result["latency_us_p50"] == pytest.approx(50.5)
    assert result["latency_us_p95"] == pytest.approx(95.05)


def test_fuzz_corpus_splits_valid_text_from_invalid_bytes(bench, tmp_path):
    """load_fuzz_corpus() keeps valid UTF-8 strings and invalid byte strings by id, and drops lone surrogates."""
    corpus = tmp_path / "corpus.jsonl"
    rows = [{"id": 0, "category": "empty", "text": ""}, {"id": 1, "category": "emoji", "text": "good \U0001f600"},
            {"id": 2, "category": "surrogate", "text": "bad \ud800"},
            {"id": 3, "category": "invalid-utf8", "bytes_hex": "c080"}]
    corpus.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="ascii")
    assert bench.load_fuzz_corpus(corpus) == ({0: "", 1: "good \U0001f600"}, {3: b"\xc0\x80"})
    valid, invalid = bench.load_fuzz_corpus()  # the committed corpus
    assert len(valid) >= 1000 and len(invalid) >= 100


@pytest.mark.skipif(shutil.which("gcc") is None and shutil.which("cc") is None,
                    reason="no host C compiler (gcc) on PATH for the C runtime")
def test_benchmark_writes_an_entry_per_model_and_runtime(bench, glue_dir, tmp_path):
    """A student gets PyTorch (fp32, quantized int8), onnxruntime and C entries with p50/p95 latency and dev and
    fuzz agreement; the predictor's start is measured; the teacher gets its latency; provenance is recorded."""
    rnn = make_student(tmp_path / "rnn", "rnn", "char", glue_dir=glue_dir)
    out = tmp_path / "export_sst2.json"
    teacher = untrained_sst2_teacher(tmp_path / "teacher")
    bench.main([str(rnn), "--glue-dir", str(glue_dir), "--teacher", str(teacher), "--work-dir", str(tmp_path / "work"),
                "--output", str(out), "--latency-sentences", "5", "--predict-runs", "1"])
    results = json.loads(out.read_text())
    assert {"command", "git_commit", "host", "fuzz_corpus"} <= set(results)
    entries = results["entries"]
    runtimes = {"pytorch-fp32", "pytorch-int8", "onnxruntime-fp32", "onnxruntime-int8-weights",
                "onnxruntime-int8-dynamic", "onnxruntime-int8-static", "c-host"}
    assert {e["runtime"] for e in entries if e["model"] == "RNN Char8"} == runtimes
    required = {"model", "runtime", "dev_accuracy", "agreement", "agreeing", "latency_us_p50", "latency_us_p95",
                "bytes"}
    assert all(required <= set(e) for e in entries)
    assert all(e["latency_us_p50"] <= e["latency_us_p95"] for e in entries)
    students = [e for e in entries if e["model"] != "teacher"]
    assert all(0 <= e["agreement"] <= 1 and e["agreeing"] <= e["sentences"] for e in students)
    fuzz_total = len(bench.load_fuzz_corpus()[0])
    assert all(e["fuzz_agreement"]["valid_utf8"]["total"] == fuzz_total for e in students)
    by_runtime = {e["runtime"]: e for e in students}
    assert by_runtime["pytorch-int8"]["fuzz_agreement"]["valid_utf8"]["fraction"] == 1.0
    assert by_runtime["c-host"]["fuzz_agreement"]["invalid_utf8"]["total"] >= 100
    assert {"flash_bytes", "ram_bytes", "max_abs_logit_diff_vs_int8"} <= set(by_runtime["c-host"])
    cli = by_runtime["onnxruntime-int8-weights"]["predict_cli"]
    assert cli["seconds_p50"] > 0 and cli["max_rss_mb"] > 0 and "a fine film" in cli["command"]
    assert [e["model"] for e in entries].count("teacher") == 1
    paths = [e["student"] for e in students] + [by_runtime["pytorch-int8"]["artifact"], entries[-1]["teacher"],
                                                 results["fuzz_corpus"], cli["command"].split()[3]]
    assert not any(Path(path).is_absolute() for path in paths), paths  # no machine's absolute paths
