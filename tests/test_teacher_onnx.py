"""The teacher through ONNX Runtime: fp32 logits equal torch's, int8 only when it agrees, soft targets by runtime."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import cli_error
from featherweight.teacher import onnx as teacher_onnx
from featherweight.data import get_task, read_task_file
from featherweight.teacher.soft_targets import SoftTargetConfig, soft_targets
from featherweight.teacher.model import load_teacher, predict_logits


def distill_run_config(teacher, data_file, tmp_path, **overrides) -> SoftTargetConfig:
    return SoftTargetConfig(teacher=str(teacher), data_file=str(data_file), task="sst-2",
                            output=str(tmp_path / "targets.npz"), progress=False, **overrides)


def _own_teacher(finetuned_teacher, tmp_path):
    """A copy of the shared teacher, so that its ONNX cache (beside it) and int8 verdict belong to one test."""
    return shutil.copytree(finetuned_teacher, tmp_path / "own" / "best")


def test_onnx_logits_match_torch(finetuned_teacher, glue_dir, tmp_path, one_thread):
    """The exported fp32 graph gives the torch teacher's logits within 1e-4 (padded, bucketed batches) and its
    labels; the graph takes BERT's three inputs, and the model stays in eval mode."""
    model, tokenizer, order = load_teacher(str(finetuned_teacher), get_task("sst-2"))
    path = teacher_onnx.teacher_onnx(str(finetuned_teacher), "onnx", model, tokenizer, cache_dir=tmp_path)
    assert path.parent.parent == tmp_path and path.is_file() and not model.training
    session = teacher_onnx.onnx_session(path, threads=1)
    assert [node.name for node in session.get_inputs()] == ["input_ids", "attention_mask", "token_type_ids"]
    rows = read_task_file(glue_dir / "SST-2" / "dev.tsv", get_task("sst-2"), labelled=False).texts()
    expected = predict_logits(model, tokenizer, rows, batch_size=7, order=order, show_progress=False)
    logits = teacher_onnx.onnx_predict_logits(session, tokenizer, rows, batch_size=7, order=order,
                                              show_progress=False)
    assert logits.dtype == np.float32 and logits.shape == (60, 2)
    assert np.abs(logits - expected).max() < 1e-4
    assert teacher_onnx.label_agreement(logits, expected) == {"agree": 60, "total": 60, "fraction": 1.0}


def test_onnx_soft_targets_keep_the_shard_layout_and_record_the_runtime(finetuned_teacher, glue_dir, tmp_path,
                                                                        monkeypatch, one_thread):
    """runtime onnx writes the same resumable shards and .npz/.json as torch, with the torch logits within 1e-4,
    and its metadata names the runtime and the ONNX file."""
    data_file = glue_dir / "SST-2" / "train.tsv"
    config = distill_run_config(finetuned_teacher, data_file, tmp_path, runtime="onnx", shard_size=50)
    real, calls, crash = teacher_onnx.onnx_predict_logits, [], [True]

    def crash_on_third(*args, **kwargs):
        calls.append(len(args[2]))
        if len(calls) == 3 and crash[0]:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(teacher_onnx, "onnx_predict_logits", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        soft_targets(config)
    shards = tmp_path / "targets.shards"
    assert sorted(p.name for p in shards.iterdir()) == ["identity.json", "shard-00000.npy", "shard-00001.npy"]
    assert json.loads((shards / "identity.json").read_text())["runtime"] == "onnx"
    calls.clear()
    crash[0] = False
    targets = soft_targets(config)
    assert calls == [50, 50] and not shards.exists()
    assert sorted(np.load(tmp_path / "targets.npz").files) == ["line_numbers", "logits"]
    meta = json.loads((tmp_path / "targets.json").read_text())
    assert meta["runtime"] == "onnx" and meta["onnx_file"].endswith("teacher.onnx") and meta["rows"] == 200
    torch_targets = soft_targets(distill_run_config(finetuned_teacher, data_file, tmp_path / "torch"))
    assert np.abs(targets.logits - torch_targets.logits).max() < 1e-4
    assert np.array_equal(targets.line_numbers, torch_targets.line_numbers)


def test_switching_runtime_never_reuses_the_other_runtimes_cache(finetuned_teacher, glue_dir, tmp_path, caplog,
                                                                 one_thread):
    """Soft targets (and unfinished shards) of one runtime are stale for another; records made before runtimes
    were recorded count as torch."""
    config = distill_run_config(finetuned_teacher, glue_dir / "SST-2" / "dev.tsv", tmp_path)
    torch_logits = soft_targets(config).logits
    config.runtime = "onnx"
    with caplog.at_level("INFO"):
        soft_targets(config)
    assert "stale (runtime changed)" in caplog.text
    assert json.loads((tmp_path / "targets.json").read_text())["runtime"] == "onnx"

    config.runtime = "torch"
    soft_targets(config)
    meta = json.loads((tmp_path / "targets.json").read_text())
    del meta["runtime"]  # as written before the runtime was recorded
    (tmp_path / "targets.json").write_text(json.dumps(meta))
    caplog.clear()
    with caplog.at_level("INFO"):
        soft_targets(config)
    assert "cache hit" in caplog.text

    shards = tmp_path / "targets.shards"
    shards.mkdir()
    (shards / "identity.json").write_text(json.dumps({**meta, "runtime": "torch"}))
    np.save(shards / "shard-00000.npy", np.zeros((60, 2), np.float32))
    (tmp_path / "targets.npz").unlink()
    config.runtime = "onnx"
    caplog.clear()
    targets = soft_targets(config)
    assert "holds shards of another teacher, file or setting" in caplog.text
    assert np.abs(targets.logits - torch_logits).max() < 1e-4  # the torch shard of zeros was not mixed in


def test_each_runtime_keeps_its_own_default_cache_file(finetuned_teacher, glue_dir, tmp_path, one_thread):
    """Without --output, torch and ONNX labels go to different files beside the teacher, so labelling with one
    runtime leaves the other's logits in place (a cache hit later)."""
    teacher = tmp_path / "teacher" / "best"
    shutil.copytree(finetuned_teacher, teacher)
    data_file = str(glue_dir / "SST-2" / "dev.tsv")
    by_torch = SoftTargetConfig(teacher=str(teacher), data_file=data_file, progress=False)
    by_onnx = SoftTargetConfig(teacher=str(teacher), data_file=data_file, progress=False, runtime="onnx")
    assert Path(by_torch.output).name == "sst-2-dev.npz" and Path(by_onnx.output).name == "sst-2-dev.onnx.npz"
    soft_targets(by_torch)
    written = Path(by_torch.output).stat().st_mtime_ns
    soft_targets(by_onnx)
    assert Path(by_torch.output).stat().st_mtime_ns == written
    assert json.loads(Path(by_onnx.output).with_suffix(".json").read_text())["runtime"] == "onnx"


def test_onnx_int8_labels_only_when_it_agrees_with_torch(finetuned_teacher, glue_dir, tmp_path, monkeypatch,
                                                        one_thread):
    """onnx-int8 either passes the agreement check on the dev rows (recorded in the metadata) or is refused; the
    verdict is measured once per teacher, and a stricter threshold refuses it with one line."""
    teacher = _own_teacher(finetuned_teacher, tmp_path)
    data_file = glue_dir / "SST-2" / "train.tsv"
    config = distill_run_config(teacher, data_file, tmp_path, runtime="onnx-int8")
    try:
        targets = soft_targets(config)
    except ValueError as error:
        assert "--runtime onnx-int8 refused" in str(error)
    else:
        agreement = targets.meta["int8_agreement"]
        assert targets.meta["runtime"] == "onnx-int8" and agreement["fraction"] >= 0.995
        assert agreement["total"] == 60 and agreement["rows"].endswith("dev.tsv")
        assert targets.logits.shape == (200, 2)
    verdict = json.loads(next((tmp_path / "own" / "teacher-onnx").glob("*/int8-agreement.json")).read_text())
    assert verdict["total"] == 60

    import featherweight.teacher.soft_targets as module

    monkeypatch.setattr(module, "predict_logits", lambda *args, **kwargs: pytest.fail("the verdict is cached"))
    monkeypatch.setattr(teacher_onnx, "INT8_MIN_AGREEMENT", 1.01)
    with pytest.raises(ValueError, match=r"--runtime onnx-int8 refused: .* agree with the torch teacher's on "
                                         r"[\d.]+% of 60 rows \(.*dev.tsv\), below the 101.0% required"):
        soft_targets(distill_run_config(teacher, data_file, tmp_path / "again", runtime="onnx-int8"))
    assert not (tmp_path / "again" / "targets.npz").exists()


def test_refused_int8_is_one_cli_line(finetuned_teacher, glue_dir, tmp_path, monkeypatch, caplog, one_thread):
    """`featherweight soft-targets --runtime onnx-int8` below the threshold exits 2 with one error line."""
    teacher = _own_teacher(finetuned_teacher, tmp_path)
    monkeypatch.setattr(teacher_onnx, "INT8_MIN_AGREEMENT", 1.01)
    error = cli_error(["soft-targets", "--teacher", str(teacher), "--data-file", str(glue_dir / "SST-2" / "dev.tsv"),
                       "--output", str(tmp_path / "targets.npz"), "--runtime", "onnx-int8", "--no-progress"], caplog)
    assert error.startswith("--runtime onnx-int8 refused") and "use --runtime onnx (fp32) or torch" in error


def test_agreement_rows_without_a_dev_file_are_held_out_rows(finetuned_teacher, glue_dir, tmp_path, monkeypatch):
    """Data with no dev file beside it is checked on the first AGREEMENT_ROWS rows of a seeded held-out draw."""
    from featherweight.teacher.soft_targets import agreement_rows

    data_file = shutil.copy(glue_dir / "SST-2" / "train.tsv", tmp_path / "reviews.tsv")
    monkeypatch.setattr(teacher_onnx, "AGREEMENT_ROWS", 4)
    rows, source = agreement_rows(distill_run_config(finetuned_teacher, data_file, tmp_path))
    texts = read_task_file(data_file, get_task("sst-2"), labelled=False).texts()
    assert source == f"held-out rows of {data_file}" and len(rows) == 4 and set(rows) <= set(texts)
    rows, source = agreement_rows(distill_run_config(finetuned_teacher, glue_dir / "SST-2" / "train.tsv", tmp_path))
    assert source.endswith("dev.tsv") and rows == read_task_file(
        glue_dir / "SST-2" / "dev.tsv", get_task("sst-2"), labelled=False).texts()[:4]


def test_soft_targets_options_offer_the_runtimes_and_devices():
    """`featherweight soft-targets` takes --runtime torch|onnx|onnx-int8 and --device."""
    from featherweight.cli import build_parser

    argv = ["soft-targets", "--teacher", "t", "--data-file", "d.tsv", "--runtime", "onnx-int8", "--device", "cpu"]
    args = build_parser(argv).parse_args(argv)
    assert (args.runtime, args.device) == ("onnx-int8", "cpu")
    with pytest.raises(SystemExit):
        build_parser(argv).parse_args([*argv[:5], "--runtime", "tensorrt"])
