"""bench/export_sst2.py runs end to end on tiny students and writes the entries the issue asks for."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import build_tiny_bert, load_bench
from test_export import make_student

pytestmark = pytest.mark.usefixtures("one_thread")



def untrained_sst2_teacher(directory: Path) -> Path:
    """The conftest tiny BERT with SST-2 label names (its latency is all the benchmark needs)."""
    build_tiny_bert(directory)
    config = json.loads((directory / "config.json").read_text())
    config["id2label"], config["label2id"] = {"0": "negative", "1": "positive"}, {"negative": 0, "positive": 1}
    (directory / "config.json").write_text(json.dumps(config))
    return directory


@pytest.mark.skipif(shutil.which("gcc") is None and shutil.which("cc") is None,
                    reason="no host C compiler (gcc) on PATH for the C runtime")
def test_benchmark_writes_an_entry_per_model_and_runtime(glue_dir, tmp_path):
    """A student gets PyTorch (fp32, quantized int8), onnxruntime and C entries; the teacher gets its latency."""
    bench = load_bench("export_sst2")
    rnn = make_student(tmp_path / "rnn", "rnn", "char", glue_dir=glue_dir)
    out = tmp_path / "export_sst2.json"
    teacher = untrained_sst2_teacher(tmp_path / "teacher")
    bench.main([str(rnn), "--glue-dir", str(glue_dir), "--teacher", str(teacher),
                "--work-dir", str(tmp_path / "work"), "--output", str(out), "--latency-sentences", "5"])
    entries = json.loads(out.read_text())
    runtimes = {"pytorch-fp32", "pytorch-int8", "onnxruntime-fp32", "onnxruntime-int8-weights",
                "onnxruntime-int8-dynamic", "onnxruntime-int8-static", "c-host"}
    assert {e["runtime"] for e in entries if e["model"] == "RNN Char8"} == runtimes
    required = {"model", "runtime", "dev_accuracy", "agreement", "latency_us_p50", "bytes"}
    assert all(required <= set(e) for e in entries)
    c_entries = [e for e in entries if e["runtime"] == "c-host"]
    assert all({"flash_bytes", "ram_bytes", "max_abs_logit_diff_vs_int8"} <= set(e) for e in c_entries)
    assert all(0 <= e["agreement"] <= 1 for e in entries if e["model"] != "teacher")
    assert [e["model"] for e in entries].count("teacher") == 1
