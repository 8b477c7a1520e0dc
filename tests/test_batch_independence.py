"""A sentence's logits and label are the same alone and in any batch: every variant, PyTorch and ONNX."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from conftest import ARCHS, CHECK_TEXTS, EMBEDDINGS, TRAIN_TEXTS, make_sentences
from featherweight.artifact import load_student, save_student
from featherweight.deploy import ExportConfig, export
from featherweight.deploy.predict import load
from featherweight.compression.prune import prune
from featherweight.compression.quantize import QuantizeConfig, quantize, saved_quantize_config
from featherweight.compression.quantized import DynamicInt8Linear, WeightInt8Linear
from featherweight.tokens import encode_texts

# Lengths from empty to 600 characters, so every short row of a batch carries a lot of padding.
TEXTS = CHECK_TEXTS + make_sentences(12, seed=11)[0]
ATOL = 1e-6  # float sums may round differently for another batch shape; int8 rounding may not

pytestmark = pytest.mark.usefixtures("one_thread")


def shuffled(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).permutation(len(TEXTS))


def torch_alone_and_batched(model, tokenizer) -> tuple[np.ndarray, np.ndarray]:
    """Logits of TEXTS one at a time and in one shuffled, length-mixed batch, both in the shuffled order."""
    encoded, order = encode_texts(tokenizer, TEXTS), shuffled()
    with torch.no_grad():
        alone = np.concatenate([model(encoded.batch(np.array([row]))).numpy() for row in order])
        batched = model(encoded.batch(order)).numpy()
    return alone, batched


def assert_batch_independent(alone: np.ndarray, batched: np.ndarray) -> None:
    np.testing.assert_allclose(batched, alone, atol=ATOL, rtol=0)
    assert (batched.argmax(1) == alone.argmax(1)).all()


def variants(student, embedding: str) -> dict:
    """distilled, pruned, quantized and pruned-quantized with the default settings, and a static int8 classifier."""
    model, pruned = student.model, prune(student.model)
    calibration = [(encode_texts(student.tokenizer, TRAIN_TEXTS[:40]).batch(np.arange(40)),)]
    static = QuantizeConfig(classifier_quantization="static")
    return {"distilled": model, "pruned": pruned, "quantized": quantize(model),
            "pruned-quantized": quantize(pruned), "quantized-static": quantize(model, static, calibration)}


@pytest.mark.parametrize("embedding", EMBEDDINGS)
@pytest.mark.parametrize("arch", ARCHS)
def test_pytorch_logits_of_every_variant_do_not_depend_on_the_batch(arch, embedding, students):
    """Each variant's logits for a sentence alone equal those in a shuffled, padded batch (labels identical)."""
    student = load_student(students(arch, embedding))
    for name, model in variants(student, embedding).items():
        alone, batched = torch_alone_and_batched(model.eval(), student.tokenizer)
        try:
            assert_batch_independent(alone, batched)
        except AssertionError as error:
            raise AssertionError(f"{arch}-{embedding} {name}: {error}") from None


@pytest.mark.parametrize("arch", ARCHS)
def test_dynamic_per_batch_classifier_stays_available_and_depends_on_the_batch(arch, students):
    """classifier_quantization="dynamic-per-batch" keeps the one-scale-per-batch int8 classifier, which it names."""
    student = load_student(students(arch, "hash"))
    model = quantize(student.model, QuantizeConfig(classifier_quantization="dynamic-per-batch"))
    assert any(isinstance(layer, DynamicInt8Linear) for layer in model.classifier)
    alone, batched = torch_alone_and_batched(model, student.tokenizer)
    assert not np.allclose(batched, alone, atol=ATOL, rtol=0)
    assert all(isinstance(layer, WeightInt8Linear) for layer in quantize(student.model).classifier
               if not isinstance(layer, (torch.nn.Dropout, torch.nn.ReLU)))


def test_artifacts_saved_with_the_dynamic_classifier_reload_and_predict_as_before(students, tmp_path):
    """An artifact whose settings say "dynamic" (or predate the setting) reloads with the per-batch dynamic
    classifier and gives exactly the logits it gave when saved."""
    student = load_student(students("ffn", "char"))
    config = QuantizeConfig(classifier_quantization="dynamic-per-batch")
    model = quantize(student.model, config)
    saved = {**config.to_dict(), "classifier_quantization": "dynamic"}  # as written before the rename
    directory = save_student(tmp_path / "old", model, student.tokenizer,
                             dataclasses.replace(student.meta, variant="quantized", quantization=saved))
    loaded = load_student(directory)
    assert loaded.meta.quantization["classifier_quantization"] == "dynamic"
    assert any(isinstance(layer, DynamicInt8Linear) for layer in loaded.model.classifier)
    ids = encode_texts(student.tokenizer, TEXTS).batch(np.arange(len(TEXTS)))
    with torch.no_grad():
        assert torch.equal(loaded.model(ids), model(ids))
    older = {key: value for key, value in saved.items() if key != "classifier_quantization"}
    assert saved_quantize_config(older).classifier_quantization == "dynamic-per-batch"
    assert QuantizeConfig(classifier_quantization="dynamic") == config


@pytest.fixture(scope="module")
def onnx_exports(students, tmp_path_factory):
    """onnx_exports(arch) -> {"fp32": dir, "int8": dir, "quantized": artifact}: a float student's fp32 export and
    its default quantized artifact's int8 (weights) export."""
    made = {}

    def get(arch):
        if arch not in made:
            root = tmp_path_factory.mktemp(f"onnx-{arch}")
            directory = students(arch, "char")
            student = load_student(directory)
            quantized = save_student(root / "quantized", quantize(student.model), student.tokenizer,
                                     dataclasses.replace(student.meta, variant="quantized",
                                                         quantization=QuantizeConfig().to_dict()))
            export(ExportConfig(model=str(directory), output=str(root / "fp32"), format="onnx"))
            export(ExportConfig(model=str(quantized), output=str(root / "int8"), format="onnx-int8"))
            made[arch] = {"fp32": root / "fp32", "int8": root / "int8", "quantized": quantized}
        return made[arch]

    return get


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("kind", ["fp32", "int8"])
def test_onnx_logits_do_not_depend_on_the_batch(arch, kind, onnx_exports):
    """The predictor on an ONNX fp32 or int8 export gives each sentence the same logits alone and in a batch."""
    predictor = load(onnx_exports(arch)[kind])
    texts = [TEXTS[row] for row in shuffled()]
    assert_batch_independent(predictor.logits(texts, batch_size=1), predictor.logits(texts, batch_size=len(texts)))


@pytest.mark.parametrize("arch", ARCHS)
def test_default_int8_artifact_computes_what_its_onnx_int8_export_computes(arch, onnx_exports):
    """With the batch-independent default, the quantized artifact's own PyTorch logits are its ONNX int8 export's."""
    exports = onnx_exports(arch)
    student = load_student(exports["quantized"])
    texts = [TEXTS[row] for row in shuffled()]
    with torch.no_grad():
        own = student.model(encode_texts(student.tokenizer, texts).batch(np.arange(len(texts)))).numpy()
    onnx = load(exports["int8"]).logits(texts, batch_size=1)
    np.testing.assert_allclose(onnx, own, atol=1e-5, rtol=0)
    assert (onnx.argmax(1) == own.argmax(1)).all()
