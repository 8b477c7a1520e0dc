"""bench/teacher_bound.py: its students and commands, the teacher's labelling of the transfer files, comparisons."""
from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from conftest import load_bench
from featherweight.cli import build_parser
from featherweight.cli_args import dataclass_from_args
from featherweight.experiments.pipeline import CompressConfig


@pytest.fixture(scope="module")
def bench():
    return load_bench("teacher_bound")


def args_for(tmp_path, **overrides) -> argparse.Namespace:
    settings = dict(teacher=str(tmp_path / "teacher" / "best"), name="strong", runtime="torch",
                    glue_dir="../shared/data/glue", shifted_dir="../shared/data/shifted", work_dir="bench/work")
    return argparse.Namespace(**{**settings, **overrides})


def test_the_bpe100_student_is_the_bpe25_recipe_at_100_dimensions(bench):
    small, large = (bench.STUDENTS[name][0] for name in bench.STUDENTS)
    at = small.index("--embedding-dim") + 1
    assert (small[at], large[at]) == ("25", "100")
    assert small[:at] + small[at + 1:] == large[:at] + large[at + 1:]


def test_student_command_distils_from_the_kept_logits(bench, tmp_path):
    """The command parses to a compress config reading the kept soft targets, in its own output folder."""
    args = args_for(tmp_path)
    command = bench.student_command("BiLSTM BPE100 (max pooling)", args)
    assert command[0] == "compress.py"
    config = dataclass_from_args(CompressConfig, build_parser(["compress"]).parse_args(["compress", *command[1:]]))
    assert (config.student_arch, config.embedding_type, config.embedding_dim) == ("bilstm", "bpe", 100)
    assert config.soft_targets == "bench/results/soft_targets/strong"
    assert config.output_dir.endswith("bilstm-bpe100-(max-pooling)-strong")
    assert config.augmented_file and config.composed_file
    assert list(config.compression_actions) == ["distill", "prune", "quantize"]


def test_label_transfer_labels_each_file_and_keeps_its_logits(bench, tmp_path, monkeypatch):
    """Every transfer file is labelled by the teacher (the soft-targets command) and its logits are kept."""
    from featherweight import workspace

    monkeypatch.setattr(bench, "RESULTS", tmp_path / "results")
    args = args_for(tmp_path, runtime="onnx")  # ONNX logits: their own files and folder
    ran, real_run = [], bench.subprocess.run

    def fake_run(command, **options):
        if command[0] != bench.sys.executable:
            return real_run(command, **options)  # git, for the provenance of the kept copies
        command = command[1:]
        ran.append(command)
        data_file = command[command.index("--data-file") + 1]
        made = workspace.soft_targets_file(args.teacher, "sst-2", data_file, args.runtime)
        made.parent.mkdir(parents=True, exist_ok=True)
        np.savez(made, logits=np.zeros((2, 2), np.float32))
        made.with_suffix(".json").write_text(json.dumps({"data_file": data_file, "rows": 2, "compute_seconds": 1.4}))

    monkeypatch.setattr(bench.subprocess, "run", fake_run)
    lines = bench.label_transfer(args, {"scores": {"dev_accuracy": 0.94}})
    assert [c[c.index("--data-file") + 1] for c in ran] == list(bench.transfer_files(args.glue_dir).values())
    assert all(c[c.index("--runtime") + 1] == "onnx" and c[c.index("--teacher") + 1] == args.teacher for c in ran)
    kept = tmp_path / "results" / "soft_targets" / "strong-onnx"
    assert sorted(p.name for p in kept.glob("*.npz")) == ["sst-2-augmented.onnx.npz", "sst-2-composed.onnx.npz",
                                                          "sst-2-train.onnx.npz"]
    meta = json.loads((kept / "sst-2-train.onnx.json").read_text())
    assert meta["teacher_description"].startswith("strong (") and meta["teacher_dev_accuracy"] == 0.94
    assert len(lines) == 3 and all("soft-targets" in line["command"] and line["rows"] == 2 for line in lines)


def test_each_record_is_compared_with_the_thesis_and_the_minilm_student(bench):
    record = {"name": "BiLSTM BPE25 (max pooling) +q", "variant": "quantized", "accuracy": {"sst2_dev": 88.9}}
    minilm = {"BiLSTM BPE25 (max pooling) +q": {"accuracy": {"sst2_dev": 87.5}, "deployable_bytes": 415_000,
                                                 "command": "..."}}
    out = bench.compared(record, "BiLSTM BPE25 (max pooling)", minilm)
    assert out["thesis"] == {"sst2_dev": 88.33, "gzip_bytes": 404_000}
    assert out["minilm_teacher"] == {"accuracy": {"sst2_dev": 87.5}, "deployable_bytes": 415_000}
    assert bench.compared({**record, "name": "other"}, "BiLSTM BPE100 (max pooling)", minilm)["minilm_teacher"] is None
    assert bench.compared(record, "BiLSTM BPE100 (max pooling)", {})["thesis"]["sst2_dev"] == 89.08


def test_the_peer_budgets_set_these_students_against_fasttext_and_tfidf_only(bench):
    """At each budget the held-out pick among these students meets the peers' pick; the MiniLM-taught students of
    peers_sst2.json are left out."""
    def record(system, name, kb, heldout, dev, imdb, amazon):
        return {"system": system, "name": name, "deployable_bytes": kb * 1000,
                "accuracy": {"heldout": heldout, "sst2_dev": dev, "imdb": imdb, "amazon": amazon}}

    ours = [record("featherweight", "BiLSTM BPE25 (max pooling) +q", 591, 92.5, 84.5, 82.2, 84.3)]
    peer_records = [record("featherweight", "BiLSTM BPE25 (max pooling) +q", 593, 99.0, 86.8, 81.4, 81.9),
                    record("fasttext", "fastText d10", 239, 92.7, 81.2, 78.9, 76.0),
                    record("tfidf", "TF-IDF+LR 30000 features", 539, 91.0, 81.7, 80.9, 78.6)]
    rows = {row["budget_kb"]: row for row in bench.peer_budgets(ours, peer_records)}
    assert rows[500]["featherweight"] is None and rows[500]["peer"] == "fastText d10"
    assert rows[1000]["featherweight"] == "BiLSTM BPE25 (max pooling) +q" and rows[1000]["peer"] == "fastText d10"
    assert rows[1000]["sst2_dev_difference"] == 3.3 and rows[1000]["shifted_mean_difference"] == 5.8
    assert rows[1000]["sst2_dev_difference_vs_hindsight_peer"] == 2.8
