"""`--device auto|cpu|cuda|mps` and `--precision`: resolved up front, refused in one line when the device is absent,
and a no-op on the CPU (same logits, same training); what is saved holds only CPU tensors."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import cli_error
from featherweight import devices
from featherweight.cli import main
from featherweight.teacher.model import collate, predict_logits, tokenize_rows


@pytest.fixture
def cpu_only(monkeypatch):
    """A machine with neither CUDA nor MPS, whatever runs the tests."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(devices, "_mps_available", lambda: False)


@pytest.fixture
def one_gpu(monkeypatch):
    """A machine with one CUDA device (only its presence is faked: nothing runs on it)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)


def test_auto_is_the_cpu_without_a_gpu(cpu_only):
    assert devices.resolve_device("auto") == torch.device("cpu")
    assert devices.resolve_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize("name, message", [("cuda", "--device cuda: no CUDA device"),
                                           ("cuda:0", "--device cuda:0: no CUDA device"),
                                           ("mps", "--device mps: Apple's MPS backend is not available")])
def test_an_absent_device_is_refused_not_replaced_by_the_cpu(name, message, cpu_only):
    with pytest.raises(ValueError, match=message) as error:
        devices.resolve_device(name)
    assert "\n" not in str(error.value) and "--device cpu or auto" in str(error.value)


def test_auto_prefers_cuda_then_mps(monkeypatch, one_gpu):
    monkeypatch.setattr(devices, "_mps_available", lambda: True)
    assert devices.resolve_device("auto") == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert devices.resolve_device("auto") == torch.device("mps")


def test_a_cuda_index_must_exist(one_gpu):
    assert devices.resolve_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(ValueError, match=r"--device cuda:1: this machine has 1 CUDA device"):
        devices.resolve_device("cuda:1")


@pytest.mark.parametrize("name", ["tpu", "gpu", "cuda:x", "CPU", ""])
def test_a_misspelt_device_names_the_option(name):
    with pytest.raises(ValueError, match=r"device must be one of auto, cpu, cuda, cuda:N, mps, got .* \(--device\)"):
        devices.resolve_device(name)


def test_auto_precision_is_bf16_on_gpus_that_have_it_else_fp16_and_float32_off_cuda(monkeypatch):
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)
    assert devices.resolve_precision("auto", cuda) == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: False)
    assert devices.resolve_precision("auto", cuda) == torch.float16
    assert devices.resolve_precision("float16", cuda) == torch.float16
    for device in (cpu, torch.device("mps")):
        assert devices.resolve_precision("auto", device) == torch.float32
        assert devices.resolve_precision("float32", device) == torch.float32


def test_half_precision_is_refused_where_it_does_not_apply(monkeypatch):
    with pytest.raises(ValueError, match=r"--precision bfloat16 is for CUDA GPUs"):
        devices.resolve_precision("bfloat16", torch.device("cpu"))
    with pytest.raises(ValueError, match=r"--precision float16 is for CUDA GPUs"):
        devices.resolve_precision("float16", torch.device("mps"))
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: False)
    with pytest.raises(ValueError, match=r"this GPU does not support bfloat16"):
        devices.resolve_precision("bfloat16", torch.device("cuda"))
    with pytest.raises(ValueError, match=r"precision must be one of auto, float32, bfloat16, float16, got 'fp8'"):
        devices.resolve_precision("fp8", torch.device("cpu"))


def test_float32_autocast_and_its_scaler_change_nothing():
    """Under float32 there is no autocast (a CPU matmul stays float32) and the gradient scaler passes through."""
    torch.manual_seed(0)
    a, b = torch.randn(4, 8), torch.randn(8, 3)
    with devices.autocast(torch.device("cpu"), torch.float32):
        product = a @ b
    assert product.dtype == torch.float32 and torch.equal(product, a @ b)
    scaler = devices.grad_scaler(torch.device("cpu"), torch.float32)
    loss = (a @ b).sum()
    assert not scaler.is_enabled() and scaler.scale(loss) is loss and scaler.state_dict() == {}


def test_describe_records_the_device_and_precision():
    assert devices.describe(torch.device("cpu"), torch.float32) == {"device": "cpu", "device_name": "cpu",
                                                                   "precision": "float32"}


def test_saved_copies_are_cpu_tensors_independent_of_the_model():
    model = torch.nn.Linear(3, 2)
    state = devices.cpu_state_dict(model)
    with torch.no_grad():
        model.weight.add_(1.0)
    assert all(value.device.type == "cpu" for value in state.values())
    assert not torch.equal(state["weight"], model.weight) and hasattr(state, "_metadata")
    nested = devices.to_cpu({"state": {0: {"exp_avg": torch.ones(2)}}, "groups": [{"lr": 0.1, "params": [0]}]})
    assert nested["groups"] == [{"lr": 0.1, "params": [0]}] and nested["state"][0]["exp_avg"].device.type == "cpu"
    assert devices.model_device(model) == torch.device("cpu")
    assert devices.model_device(torch.nn.ReLU()) == torch.device("cpu")  # no weights: the CPU


def test_predict_logits_on_the_cpu_gives_the_same_logits_as_before(tiny_bert, cpu_only):
    """device="cpu" (or "auto" here, or a torch.device) with float32 gives exactly the default call's logits,
    which are the model's own forward pass, row by row; another dtype runs under autocast, logits still float32."""
    model, tokenizer = _tiny_teacher(tiny_bert)
    rows = [("the film was good",), ("dull",), ("a very boring and tedious story really",), ("funny",)]
    default = predict_logits(model, tokenizer, rows, batch_size=2, show_progress=False)
    for device in ("cpu", "auto", torch.device("cpu")):
        placed = predict_logits(model, tokenizer, rows, batch_size=2, show_progress=False, device=device,
                                dtype=torch.float32)
        assert placed.dtype == np.float32 and np.array_equal(placed, default)
    with torch.no_grad():
        direct = np.concatenate([model(**collate(tokenize_rows(tokenizer, [row], 128), tokenizer.pad_token_id))
                                 .logits.numpy() for row in rows])
    np.testing.assert_allclose(default, direct, atol=1e-6)
    half = predict_logits(model, tokenizer, rows, batch_size=2, show_progress=False, dtype=torch.bfloat16)
    assert half.dtype == np.float32 and not np.array_equal(half, default)  # autocast ran (the GPUs' path)
    np.testing.assert_allclose(half, default, atol=0.05)


def _tiny_teacher(directory: Path):
    """The conftest tiny BERT and its tokenizer, in eval mode (its labels are not the task's: no load_teacher)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(directory).eval()
    return model, AutoTokenizer.from_pretrained(directory)


def _data(glue_dir) -> list[str]:
    return ["--glue-dir", str(glue_dir), "--heldout-fraction", "0.1", "--no-progress"]


def _finetune_args(glue_dir, tiny_bert, out, *extra) -> list[str]:
    return ["finetune", "--teacher", str(tiny_bert), "--output-dir", str(out), "--epochs", "1", "--batch-size", "16",
            "--max-train-rows", "48", *_data(glue_dir), *extra]


def _compress_args(glue_dir, work, *extra) -> list[str]:
    return ["compress", "--work-dir", str(work), "--alpha", "1", "--student-arch", "ffn", "--embedding-dim", "8",
            "--hash-buckets", "50", "--epochs", "1", *_data(glue_dir), *extra]


def _printed(capsys) -> dict:
    out = capsys.readouterr().out
    return json.loads(out[out.index("{"):])


def test_finetune_on_the_cpu_records_where_it_ran(glue_dir, tiny_bert, tmp_path, capsys, one_thread):
    """`finetune --device cpu` trains in float32 and its summary and history say so."""
    assert main(_finetune_args(glue_dir, tiny_bert, tmp_path / "t", "--device", "cpu", "--no-record")) == 0
    summary = _printed(capsys)
    assert (summary["device"], summary["device_name"], summary["precision"]) == ("cpu", "cpu", "float32")
    assert [entry["device"] for entry in summary["history"]] == ["cpu"]


def test_compress_and_evaluate_run_a_student_on_the_cpu(glue_dir, tmp_path, capsys, one_thread):
    """`compress --device cpu` trains the student there (recorded with its training settings) and
    `evaluate --device cpu` scores the saved student."""
    assert main(_compress_args(glue_dir, tmp_path / "work", "--device", "cpu", "--no-record")) == 0
    student = Path(_printed(capsys)["output_dir"])
    meta = json.loads((student / "student.json").read_text())
    assert meta["training"]["device"] == "cpu" and meta["distill_config"]["device"] == "cpu"
    assert main(["evaluate", "--model", str(student), "--device", "cpu", "--no-record", "--no-progress",
                 "--glue-dir", str(glue_dir)]) == 0
    assert 0.0 <= _printed(capsys)["dev_accuracy"] <= 1.0


@pytest.mark.parametrize("command", ["finetune", "compress", "evaluate"])
def test_an_absent_gpu_is_one_line_before_anything_is_written(command, glue_dir, tiny_bert, tmp_path, caplog,
                                                              cpu_only):
    """`--device cuda` on a machine without CUDA exits 2 with one line and writes no model or cache."""
    argv = {"finetune": _finetune_args(glue_dir, tiny_bert, tmp_path / "t"),
            "compress": _compress_args(glue_dir, tmp_path / "work"),
            "evaluate": ["evaluate", "--model", str(tiny_bert), *_data(glue_dir)]}[command]
    error = cli_error([*argv, "--device", "cuda", "--runs-dir", str(tmp_path / "runs")], caplog)
    assert error.startswith("--device cuda: no CUDA device is available")
    assert [path.name for path in tmp_path.iterdir()] == ["runs"]  # the failed run's record, nothing else


@pytest.mark.parametrize("command", ["finetune", "compress", "evaluate"])
def test_a_misspelt_device_is_refused_by_the_config(command, glue_dir, tiny_bert, tmp_path, caplog):
    argv = {"finetune": _finetune_args(glue_dir, tiny_bert, tmp_path / "t"),
            "compress": _compress_args(glue_dir, tmp_path / "work"),
            "evaluate": ["evaluate", "--model", str(tiny_bert), *_data(glue_dir)]}[command]
    error = cli_error([*argv, "--device", "gpu", "--runs-dir", str(tmp_path / "runs")], caplog)
    assert "device must be one of auto, cpu, cuda, cuda:N, mps, got 'gpu' (--device)" in error
    assert list(tmp_path.iterdir()) == []


def test_finetune_refuses_half_precision_on_the_cpu(glue_dir, tiny_bert, tmp_path, caplog, cpu_only):
    error = cli_error(_finetune_args(glue_dir, tiny_bert, tmp_path / "t", "--precision", "float16", "--no-record"),
                      caplog)
    assert "--precision float16 is for CUDA GPUs" in error and not (tmp_path / "t").exists()
    error = cli_error(_finetune_args(glue_dir, tiny_bert, tmp_path / "t", "--precision", "fp16", "--no-record"),
                      caplog)
    assert "precision must be one of auto, float32, bfloat16, float16, got 'fp16' (--precision)" in error


def test_a_checkpoint_holds_cpu_tensors_and_resumes_under_another_device_setting(glue_dir, tiny_bert, tmp_path,
                                                                                monkeypatch, caplog, one_thread):
    """A run checkpointed with --device cpu resumes with --device auto (a device is not a setting of the model),
    from a training state that holds only CPU tensors."""
    import featherweight.teacher.finetune as module
    from featherweight.data import DataConfig

    config = dict(data=DataConfig(task="sst-2", glue_dir=str(glue_dir), heldout_fraction=0.1), teacher=str(tiny_bert),
                  output_dir=str(tmp_path / "t"), epochs=1, batch_size=16, checkpoint_every=2, progress=False)
    real_save = module._save_checkpoint

    def save_then_stop(*args, **kwargs):
        real_save(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(module, "_save_checkpoint", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        module.finetune(module.FinetuneConfig(**config, device="cpu"))
    saved = torch.load(tmp_path / "t" / "checkpoint" / "training_state.pt", weights_only=False)
    tensors = [value for state in saved["optimizer"]["state"].values() for value in state.values()
               if isinstance(value, torch.Tensor)]
    assert tensors and all(tensor.device.type == "cpu" for tensor in tensors)
    assert saved["scaler"] == {} and saved["cuda_rng"] is None  # float32 on the CPU: no scaler, no CUDA generator
    monkeypatch.setattr(module, "_save_checkpoint", real_save)
    with caplog.at_level("INFO"):
        summary = module.finetune(module.FinetuneConfig(**config, device="auto", precision="float32"))
    assert "resuming from epoch 1 (step 2" in caplog.text and summary["device"] == "cpu"
