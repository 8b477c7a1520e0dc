"""Quantization-aware distillation: fake quantization computes the quantized model, QAT beats post-training 2-bit."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from featherweight.artifact import load_student, predict_encoded
from featherweight.data import DataConfig, load_splits
from featherweight.compression.distill import DistillConfig, distill
from featherweight.experiments.pipeline import make_variants
from featherweight.compression.prune import PruneConfig, prune
from featherweight.compression.qat import FakeQuantization, fake_quantized_weights
from featherweight.compression.quantize import QuantizeConfig, quantize
from featherweight.tokens import encode_data

pytestmark = pytest.mark.usefixtures("one_thread")
ARCHS = ("bilstm", "rnn", "ffn")
LOW_BITS = dict(embedding_quantization="int2-row", encoder_quantization="int2-row",
                classifier_quantization="int2-row", hash_importance_dtype="int2")


def data_config(glue_dir) -> DataConfig:
    return DataConfig(task="sst-2", glue_dir=str(glue_dir), heldout_fraction=0.1)


@pytest.fixture(scope="module")
def students(glue_dir, tmp_path_factory) -> dict:
    """A tiny trained student of each arch on the toy SST-2 (gold labels only)."""
    root = tmp_path_factory.mktemp("qat")
    out = {}
    for arch in ARCHS:
        torch.set_num_threads(1)
        config = DistillConfig(data=data_config(glue_dir), alpha=1.0, student_arch=arch, embedding_type="hash",
                               embedding_dim=16, hidden_dim=16, classifier_dim=16, batch_size=16, epochs=4,
                               optimizer="adam", learning_rate={"ffn": 3e-2}.get(arch, 1e-2), progress=False,
                               work_dir=str(root / "work"), output_dir=str(root / arch))
        out[arch] = distill(config)["output_dir"]
    return out


def dev_inputs(student, glue_dir):
    return encode_data(student.tokenizer, load_splits(data_config(glue_dir))["dev"])


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("scheme", ["int8-row", "int4-row", "int2-row"])
def test_fake_quantized_forward_is_the_quantized_model(arch, scheme, students, glue_dir):
    """With fake quantization on, the float student computes what quantize() then stores; removing it gives
    back plain float parameters under their own names."""
    student = load_student(students[arch])
    importance = {"int8-row": "int8", "int4-row": "int4", "int2-row": "int2"}[scheme]
    config = QuantizeConfig(embedding_quantization=scheme, encoder_quantization=scheme if scheme != "int8-row"
                            else "dynamic-int8", classifier_quantization=scheme if scheme != "int8-row"
                            else "weight-only", hash_importance_dtype=importance)
    model, names = student.model, sorted(student.model.state_dict())
    dev = dev_inputs(student, glue_dir)
    fake = FakeQuantization(model, config)
    assert len(fake.weights) == len(fake_quantized_weights(load_student(students[arch]).model, config)) >= 3
    faked = predict_encoded(model, dev)
    fake.remove()
    assert sorted(model.state_dict()) == names
    assert all(isinstance(p, torch.nn.Parameter) for p in model.parameters())
    np.testing.assert_allclose(predict_encoded(quantize(model, config), dev), faked, atol=1e-5)
    assert not np.allclose(predict_encoded(model, dev), faked, atol=1e-3)  # the float model differs


def test_fake_quantization_keeps_pruned_weights_at_zero(students):
    """Weights pruned before QAT are zero in every forward pass and after remove(), whatever the optimizer does."""
    student = load_student(students["rnn"])
    model = prune(student.model, PruneConfig(sparsity_rnn=0.5, sparsity_linear=0.5))
    from featherweight.compression.prune import make_permanent

    model = make_permanent(model)
    zeros = model.encoder.rnn.weight_hh_l0.detach() == 0
    assert zeros.float().mean() >= 0.4
    fake = FakeQuantization(model, QuantizeConfig(encoder_quantization="int4-row"))
    with torch.no_grad():
        model.encoder.rnn.weight_hh_l0_float.add_(1.0)  # an optimizer step that would revive them
    model(torch.ones(1, 3, 4, dtype=torch.long))
    assert (model.encoder.rnn.weight_hh_l0[zeros] == 0).all()
    fake.remove()
    assert (model.encoder.rnn.weight_hh_l0[zeros] == 0).all()


def test_qat_beats_post_training_two_bit_quantization(students, glue_dir, tmp_path):
    """A short QAT fine-tune recovers what post-training 2-bit quantization loses, and its variant records it."""
    scores = {}
    for epochs in (0, 4):
        variants = make_variants(students["ffn"], quantization=QuantizeConfig(**LOW_BITS, qat_epochs=epochs,
                                                                             qat_learning_rate=1e-2),
                                 output_dir=tmp_path / f"qat{epochs}")
        scores[epochs] = variants["quantized"]
    student = load_student(scores[4]["output_dir"])
    assert len(student.meta.qat_history) >= 1 and student.meta.quantization["qat_epochs"] == 4
    saved = json.loads((Path(scores[4]["output_dir"]) / "student.json").read_text())
    assert saved["quantization"]["hash_importance_dtype"] == "int2" and saved["sizes"]["params"] > 0
    heldout = load_splits(data_config(glue_dir))["heldout"]
    losses = {}
    for epochs, summary in scores.items():
        quantized = load_student(summary["output_dir"])
        logits = torch.as_tensor(predict_encoded(quantized.model, encode_data(quantized.tokenizer, heldout)))
        losses[epochs] = torch.nn.functional.cross_entropy(logits, torch.as_tensor(heldout.labels)).item()
    assert losses[4] < 0.8 * losses[0]
    assert scores[4]["heldout_accuracy"] >= scores[0]["heldout_accuracy"]
