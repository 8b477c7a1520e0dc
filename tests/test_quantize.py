"""INT8 quantization: the Elman RNN rewrite, closeness to float, calibration on held-out rows, artifacts, warnings."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import TINY_TEXTS, padded_ids, tiny_student
from featherweight.artifact import load_student, predict_data, predict_encoded, save_student
from featherweight.cli import main
from featherweight.data import DataConfig, load_splits
from featherweight.compression.prune import prune
from featherweight.compression.quantize import QuantizeConfig, calibration_batches, quantize
from featherweight.compression.quantized import ElmanEncoder, Int8RowEmbedding, quiet
from featherweight.tokens import encode_data

ARCHS = ("bilstm", "rnn", "ffn")
EMBEDDINGS = ("hash", "char", "bpe")
TEXTS = TINY_TEXTS


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("pooling", ["last", "max", "mean"])
def test_elman_encoder_computes_the_float_rnn_exactly(pooling):
    """Before quantization our step-by-step Elman RNN equals nn.RNN on packed sequences, both directions."""
    from featherweight.students import RecurrentEncoder

    torch.manual_seed(0)
    float_encoder = RecurrentEncoder("rnn", 8, 6, pooling).eval()
    ours = ElmanEncoder.from_recurrent(float_encoder).eval()
    lengths = torch.tensor([7, 3, 1, 0, 5])  # includes an empty row and a one-token row
    mask = torch.arange(7)[None] < lengths[:, None]  # (B, T)
    x = torch.randn(5, 7, 8) * mask[..., None]  # embeddings are zero at padding
    with torch.no_grad():
        assert torch.allclose(ours(x, mask), float_encoder(x, mask), atol=1e-6, rtol=0)
        real = mask[..., None]
        assert torch.allclose(ours.states(x, mask) * real, float_encoder.states(x, mask) * real, atol=1e-6, rtol=0)


def test_elman_backward_direction_starts_at_each_rows_last_real_token():
    """Padding after a row's end changes nothing: the backward pass starts at the last real token."""
    torch.manual_seed(1)
    encoder = ElmanEncoder(4, 3, "last").eval()
    x = torch.randn(1, 3, 4)
    padded = torch.cat([x, torch.randn(1, 4, 4)], dim=1)  # garbage after the real tokens
    mask = torch.tensor([[True] * 3 + [False] * 4])
    with torch.no_grad():
        assert torch.allclose(encoder(x, torch.ones(1, 3, dtype=torch.bool)), encoder(padded, mask), atol=1e-7)


@pytest.mark.parametrize("arch, embedding, step", [("rnn", "char", "forward_hh"), ("bilstm", "bpe", "rnn")])
def test_int8_recurrent_encoders_compute_the_float_encoder_with_int8_weights_whatever_the_batch(
        tmp_path, arch, embedding, step):
    """The default int8 Elman RNN and BiLSTM keep their state in float: their sentence features are those of the
    int8-weight reference that the C and ONNX exports compute, whatever the other sentences of the batch; with a
    weight-only classifier the logits are the reference's too."""
    from featherweight.deploy.weights import int8_reference_model
    from featherweight.compression.quantized import WeightInt8Linear, WeightInt8LSTM

    model, tokenizer, meta = tiny_student(arch, embedding, tmp_path)
    config = QuantizeConfig(classifier_quantization="weight-only")
    quantized = quantize(model, config)
    assert isinstance(getattr(quantized.encoder, step), WeightInt8Linear if arch == "rnn" else WeightInt8LSTM)
    save_student(tmp_path / "q", quantized, tokenizer,
                 dataclasses.replace(meta, variant="quantized", quantization=config.to_dict()))
    loaded = load_student(tmp_path / "q")
    reference = int8_reference_model(loaded)
    texts = TEXTS[:12]
    with torch.no_grad():
        together = quantized.features(padded_ids(tokenizer, texts))  # (B, 2H) pooled states
        alone = torch.cat([quantized.features(padded_ids(tokenizer, [text])) for text in texts])
        assert torch.allclose(together, reference.features(padded_ids(tokenizer, texts)), atol=1e-6, rtol=0)
        assert not torch.allclose(together, model.features(padded_ids(tokenizer, texts)), atol=1e-6)  # int8 weights
        assert torch.allclose(loaded.model(padded_ids(tokenizer, texts)), reference(padded_ids(tokenizer, texts)),
                              atol=1e-5, rtol=0)
    assert torch.allclose(together, alone, atol=1e-6, rtol=0)


@pytest.mark.parametrize("arch, setting", [("bilstm", "lstm_activations"), ("rnn", "elman_activations")])
def test_dynamic_int8_recurrent_steps_remain_available(tmp_path, arch, setting):
    """The thesis's dynamic int8 encoder steps are one setting away, and differ from the float-state default."""
    from featherweight.compression.quantized import DynamicInt8Linear, DynamicInt8LSTM

    model, tokenizer, _ = tiny_student(arch, "hash", tmp_path)
    dynamic = quantize(model, QuantizeConfig(**{setting: "dynamic-int8"}))
    part = dynamic.encoder.rnn if arch == "bilstm" else dynamic.encoder.forward_ih
    assert isinstance(part, DynamicInt8LSTM if arch == "bilstm" else DynamicInt8Linear)
    ids = padded_ids(tokenizer, TEXTS[:8])
    with torch.no_grad():
        assert not torch.allclose(dynamic.features(ids), quantize(model).features(ids), atol=1e-7)


@pytest.mark.parametrize("arch, setting", [("bilstm", "lstm_activations"), ("rnn", "elman_activations")])
def test_artifacts_saved_before_the_activations_settings_reload_with_dynamic_steps(tmp_path, arch, setting):
    """An int8 artifact whose saved settings lack lstm_activations / elman_activations was made with dynamic int8
    recurrent steps, and reloads so."""
    from featherweight.compression.quantized import DynamicInt8Linear, DynamicInt8LSTM

    model, tokenizer, meta = tiny_student(arch, "hash", tmp_path)
    config = QuantizeConfig(**{setting: "dynamic-int8"})
    saved = {key: value for key, value in config.to_dict().items() if not key.endswith("_activations")}
    save_student(tmp_path / "old", quantize(model, config), tokenizer,
                 dataclasses.replace(meta, variant="quantized", quantization=saved))
    loaded = load_student(tmp_path / "old")
    part = loaded.model.encoder.rnn if arch == "bilstm" else loaded.model.encoder.backward_ih
    assert isinstance(part, DynamicInt8LSTM if arch == "bilstm" else DynamicInt8Linear)
    ids = padded_ids(tokenizer, TEXTS[:8])
    with torch.no_grad():
        assert torch.equal(loaded.model(ids), quantize(model, config)(ids))


def test_embedding_rows_are_int8_with_one_scale_each_and_padding_stays_zero():
    """Embeddings quantize weight-only per row: int8 values, a float scale per row, row 0 exactly zero."""
    torch.manual_seed(0)
    table = torch.nn.Embedding(10, 5, padding_idx=0)
    quantized = Int8RowEmbedding.from_float(table)
    assert quantized.weight.dtype == torch.int8 and quantized.weight_scale.shape == (10,)
    rows = quantized(torch.arange(10))
    assert torch.equal(rows[0], torch.zeros(5))
    assert ((rows - table.weight).abs() <= quantized.weight_scale[:, None] / 2 + 1e-7).all()


def test_hash_importance_weights_are_stored_in_float16(tmp_path):
    """A quantized hash student keeps its importance weights in float16 and components in int8."""
    model, _, _ = tiny_student("ffn", "hash", tmp_path)
    state = quantize(model).state_dict()
    assert state["embedding.importance.weight"].dtype == torch.float16
    assert state["embedding.components.weight"].dtype == torch.int8


@pytest.mark.parametrize("arch,setting", [("rnn", "static"), ("bilstm", "dynamic"), ("ffn", "static")])
def test_int8_weights_come_back_under_the_float_students_names(arch, setting, tmp_path):
    """Exporters read a quantized student's stored int8 rows and scales under the float state-dict names."""
    from featherweight.compression.quantize import Int8Weight, int8_weights

    model, tokenizer, _ = tiny_student(arch, "hash", tmp_path)
    calibration = [(padded_ids(tokenizer, TEXTS[:8]),)]
    weights = int8_weights(quantize(model, QuantizeConfig(classifier_quantization=setting), calibration))
    state = model.state_dict()
    assert set(weights) == set(state)
    for name, stored in weights.items():
        if isinstance(stored, Int8Weight):
            error = (stored.values.float() * stored.scales[:, None] - state[name]).abs()
            assert (error <= stored.scales[:, None] / 2 + 1e-7).all(), name
        else:
            assert torch.allclose(stored.float(), state[name], atol=1e-3), name
    assert weights["embedding.importance.weight"].dtype == torch.float16


def test_static_classifier_quantization_needs_calibration_batches(tmp_path):
    """Static quantization without calibration data is refused, naming the held-out slice."""
    model, _, _ = tiny_student("ffn", "char", tmp_path)
    with pytest.raises(ValueError, match="held-out train slice"):
        quantize(model, QuantizeConfig(classifier_quantization="static"))


def test_bad_quantize_settings_are_clear_errors():
    """Unknown choices name the field and the allowed values."""
    with pytest.raises(ValueError, match=r"classifier_quantization must be one of \['weight-only', 'dynamic-per-batch', 'static', 'int4-row', "
                                         r"'int2-row', 'none'\]"):
        QuantizeConfig(classifier_quantization="int4")


def _train_tiny(glue_dir, tmp_path, arch: str) -> str:
    from featherweight.compression.distill import DistillConfig, distill

    config = DistillConfig(data=DataConfig(task="sst-2", glue_dir=str(glue_dir), heldout_fraction=0.1), alpha=1.0,
                           student_arch=arch, embedding_type="hash", embedding_dim=16, hidden_dim=16,
                           classifier_dim=16, batch_size=16, epochs=4, optimizer="adam",
                           learning_rate={"ffn": 3e-2}.get(arch, 1e-2), progress=False,
                           work_dir=str(tmp_path / "work"), output_dir=str(tmp_path / arch))
    return distill(config)["output_dir"]


@pytest.mark.parametrize("arch", ARCHS)
def test_quantized_student_predicts_like_the_float_one(arch, glue_dir, tmp_path):
    """Dynamic and static int8 students give the float student's label on nearly every dev row."""
    student = load_student(_train_tiny(glue_dir, tmp_path, arch))
    splits = load_splits(DataConfig(task="sst-2", glue_dir=str(glue_dir), heldout_fraction=0.1))
    dev = encode_data(student.tokenizer, splits["dev"])
    calibration = calibration_batches(encode_data(student.tokenizer, splits["heldout"]))
    reference = predict_encoded(student.model, dev)
    for setting in ("dynamic", "static"):
        model = quantize(student.model, QuantizeConfig(classifier_quantization=setting), calibration)
        logits = predict_encoded(model, dev)
        assert (logits.argmax(1) == reference.argmax(1)).mean() >= 0.9, setting
        assert np.abs(logits - reference).mean() < 0.1 * np.abs(reference).mean(), setting


def test_static_calibration_reads_the_heldout_slice_never_dev(glue_dir, tmp_path, monkeypatch):
    """The pipeline calibrates static scales on the held-out train rows, not on dev."""
    import featherweight.experiments.pipeline as module  # where make_variants looks calibration_batches up
    from featherweight.experiments.pipeline import make_variants

    seen = []
    real = module.calibration_batches
    monkeypatch.setattr(module, "calibration_batches",
                        lambda encoded, **kw: seen.append(len(encoded)) or real(encoded, **kw))
    directory = _train_tiny(glue_dir, tmp_path, "ffn")
    data = DataConfig(task="sst-2", glue_dir=str(glue_dir), heldout_fraction=0.1)
    variants = make_variants(directory, quantization=QuantizeConfig(classifier_quantization="static"), data=data)
    splits = load_splits(data)
    assert seen == [len(splits["heldout"])] and len(splits["heldout"]) != len(splits["dev"])
    assert set(variants) == {"distilled", "quantized"}


# One fresh Python process loads every saved artifact and also quantizes a student from scratch while
# recording warnings: torch raises some of its deprecation warnings once per process, so only a fresh
# process shows what a user would see.
FRESH_SCRIPT = """
import json, sys, warnings
warnings.simplefilter("always")
caught = []
warnings.showwarning = lambda message, category, *rest: caught.append([category.__name__, str(message)])
import numpy as np, torch
torch.set_num_threads(1)
from featherweight.artifact import load_student, predict_data
from featherweight.data import DataConfig, load_splits
from featherweight.compression.quantize import QuantizeConfig, calibration_batches, quantize
from featherweight.tokens import encode_data
glue_dir, out, directories = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
splits = load_splits(DataConfig(task="sst-2", glue_dir=glue_dir, heldout_fraction=0.1), show_progress=False)
logits = {}
for name, directory in directories.items():
    logits[name] = predict_data(load_student(directory), splits["dev"])
float_student = load_student(directories["float"])
calibration = calibration_batches(encode_data(float_student.tokenizer, splits["heldout"]))
for setting in ("dynamic", "static"):
    predict_data(type(float_student)(quantize(float_student.model, QuantizeConfig(classifier_quantization=setting),
                                              calibration), float_student.tokenizer, float_student.meta), splits["dev"])
np.savez(out + "/logits.npz", **logits)
json.dump(caught, open(out + "/warnings.json", "w"))
"""


@pytest.fixture(scope="module")
def fresh_process(glue_dir, tmp_path_factory):
    """Pruned, quantized and pruned+quantized artifacts of every arch x embedding, reloaded in another process."""
    root = tmp_path_factory.mktemp("fresh")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    data = DataConfig(task="sst-2", glue_dir=str(glue_dir), heldout_fraction=0.1)
    splits = load_splits(data, show_progress=False)
    directories = {}
    for arch in ARCHS:
        for embedding in EMBEDDINGS:
            model, tokenizer, meta = tiny_student(arch, embedding, root)
            calibration = calibration_batches(encode_data(tokenizer, splits["heldout"]))
            pruned = prune(model)
            static = QuantizeConfig(classifier_quantization="static")
            variants = {"pruned": (pruned, {}),
                        "quantized": (quantize(model, static, calibration), {"quantization": static.to_dict()}),
                        "pruned-quantized": (quantize(pruned), {"quantization": QuantizeConfig().to_dict()})}
            for variant, (variant_model, extra) in variants.items():
                name = f"{arch}-{embedding}-{variant}"
                directories[name] = str(save_student(root / name, variant_model, tokenizer,
                                                     dataclasses.replace(meta, variant=variant, **extra)))
    directories["float"] = str(save_student(root / "float", *tiny_student("rnn", "hash", root)))
    torch.set_num_threads(threads)
    subprocess.run([sys.executable, "-c", FRESH_SCRIPT, str(glue_dir), str(root), json.dumps(directories)],
                   check=True, env={"PYTHONHASHSEED": "7", "PATH": "", "FEATHERWEIGHT_NO_PROGRESS": "1"})
    return {"directories": directories, "logits": dict(np.load(root / "logits.npz")), "dev": splits["dev"],
            "warnings": json.loads((root / "warnings.json").read_text())}


@pytest.mark.parametrize("embedding", EMBEDDINGS)
@pytest.mark.parametrize("arch", ARCHS)
def test_pruned_and_quantized_artifacts_reload_identically_in_a_fresh_process(arch, embedding, fresh_process):
    """Every pruned / int8 artifact predicts the same logits here and in a fresh process (both on one thread)."""
    for variant in ("pruned", "quantized", "pruned-quantized"):
        name = f"{arch}-{embedding}-{variant}"
        here = predict_data(load_student(fresh_process["directories"][name]), fresh_process["dev"])
        assert np.array_equal(here, fresh_process["logits"][name]), name


def test_no_torch_ao_deprecation_warning_reaches_the_user(fresh_process):
    """Quantizing, saving, loading and predicting in a fresh process shows no deprecation warnings."""
    assert [w for w in fresh_process["warnings"] if "deprecat" in w[1].lower()] == []


def test_quiet_hides_only_our_known_warnings():
    """The filter drops torch.ao's known deprecation messages and lets every other warning through."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with quiet():
            warnings.warn("torch.ao.quantization is deprecated and will be removed", DeprecationWarning)
            warnings.warn("something else is deprecated", DeprecationWarning)
            warnings.warn("an unrelated problem", UserWarning)
    assert [str(w.message) for w in caught] == ["something else is deprecated", "an unrelated problem"]


@pytest.fixture(scope="module")
def sst2_teacher(tiny_bert, tmp_path_factory):
    """The untrained tiny BERT labelled with SST-2's label names: a teacher that costs no fine-tuning."""
    import shutil

    directory = shutil.copytree(tiny_bert, tmp_path_factory.mktemp("teacher") / "best")
    config = json.loads((directory / "config.json").read_text())
    config["id2label"], config["label2id"] = {"0": "negative", "1": "positive"}, {"negative": 0, "positive": 1}
    (directory / "config.json").write_text(json.dumps(config))
    return directory


def test_compress_command_saves_reloadable_pruned_and_int8_variants(glue_dir, sst2_teacher, tmp_path, capsys):
    """compress.py with distill prune quantize writes four loadable variants and prints their sizes."""
    out = tmp_path / "student"
    args = ["--student-arch", "bilstm", "--task", "sst-2", "--glue-dir", str(glue_dir), "--heldout-fraction", "0.1",
            "--teacher", str(sst2_teacher), "--embedding-type", "hash", "--embedding-dim", "16", "--hidden-dim", "16",
            "--classifier-dim", "16", "--batch-size", "16", "--epochs", "1", "--output-dir", str(out),
            "--work-dir", str(tmp_path / "w"), "--no-progress", "--no-record",
            "--compression-actions", "distill", "prune", "quantize", "--classifier-quantization", "static"]
    assert main(["compress", *args]) == 0
    printed = json.loads(capsys.readouterr().out)
    variants = printed["variants"]
    assert set(variants) == {"distilled", "pruned", "quantized", "pruned-quantized"}
    assert variants["quantized"]["bytes_by_dtype"]["int8"] > 0
    assert variants["pruned-quantized"]["gzip_bytes"] < variants["pruned"]["gzip_bytes"] < \
        variants["distilled"]["gzip_bytes"]
    assert printed["teacher"]["measure"].startswith("gzip -9 of model.safetensors")
    ratio = printed["teacher"]["gzip_bytes"] / variants["pruned-quantized"]["gzip_bytes"]
    assert variants["pruned-quantized"]["gzip_bytes_ratio"] == pytest.approx(ratio)
    directory = Path(variants["pruned-quantized"]["output_dir"])
    assert directory == tmp_path / "student-pruned-quantized"
    student = load_student(directory)
    assert student.meta.variant == "pruned-quantized" and student.meta.pruning["pruning_method"] == "top-v"
    assert student.meta.quantization["classifier_quantization"] == "static"
    dev = load_splits(DataConfig(task="sst-2", glue_dir=str(glue_dir)))["dev"]
    accuracy = (predict_data(student, dev).argmax(1) == dev.labels).mean()
    assert accuracy == pytest.approx(variants["pruned-quantized"]["dev_accuracy"])
    assert student.meta.scores["dev_accuracy"] == pytest.approx(accuracy)
