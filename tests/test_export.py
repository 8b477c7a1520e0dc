"""ONNX export of students: fp32 parity with PyTorch for every arch and embedding, int8 graphs, the export directory.

The tiny untrained students come from conftest's `make_student` (parity does not need training: the exports
must compute what the PyTorch model computes, whatever it is).
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import ARCHS, CHECK_TEXTS, EMBEDDINGS, make_quantized, padded, torch_logits
from featherweight.artifact import load_student
from featherweight.data import DataConfig, load_splits
from featherweight.deploy import ExportConfig, export
from featherweight.deploy.golden import GOLDEN_SENTENCES
from featherweight.deploy.runtime import ort_logits, ort_session
from featherweight.deploy.weights import int8_reference_model

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("embedding", EMBEDDINGS)
@pytest.mark.parametrize("arch", ARCHS)
def test_onnx_fp32_computes_the_pytorch_logits(arch, embedding, students, tmp_path):
    """For every arch and embedding, onnxruntime gives the PyTorch logits (1e-5) on padded rows of all lengths."""
    directory = students(arch, embedding)
    manifest = export(ExportConfig(model=str(directory), output=str(tmp_path / "onnx"), format="onnx"))
    student = load_student(directory)
    ids = padded(student, CHECK_TEXTS)
    got = ort_logits(ort_session(tmp_path / "onnx" / "model.onnx"), (ids,))
    np.testing.assert_allclose(got, torch_logits(student.model, ids), atol=1e-5)
    assert manifest["parity"]["max_abs_logit_diff"] <= 1e-5
    assert manifest["tokenizer_parity"]["python_port_mismatches"] == []


@pytest.mark.parametrize("pooling", ["max", "mean"])
def test_onnx_fp32_keeps_max_and_mean_pooling(pooling, students, tmp_path):
    """Max and mean pooling over a BiLSTM export as exactly as the default last-state pooling."""
    directory = students("bilstm", "hash", pooling=pooling)
    export(ExportConfig(model=str(directory), output=str(tmp_path / "onnx"), format="onnx"))
    student = load_student(directory)
    ids = padded(student, CHECK_TEXTS)
    got = ort_logits(ort_session(tmp_path / "onnx" / "model.onnx"), (ids,))
    np.testing.assert_allclose(got, torch_logits(student.model, ids), atol=1e-5)


def test_onnx_graph_takes_any_batch_and_sequence_length(students, tmp_path):
    """The batch and token axes are dynamic: one row of one token and 7 rows of 40 tokens both run exactly."""
    directory = students("bilstm", "hash")
    export(ExportConfig(model=str(directory), output=str(tmp_path / "onnx"), format="onnx"))
    student, session = load_student(directory), ort_session(tmp_path / "onnx" / "model.onnx")
    for texts in (["good"], [" ".join(["word"] * 40)] + CHECK_TEXTS[:6]):
        ids = padded(student, texts)
        np.testing.assert_allclose(ort_logits(session, (ids,)), torch_logits(student.model, ids), atol=1e-5)


def test_exporter_and_opset_are_pinned(students, tmp_path):
    """Exports use the TorchScript exporter at opset 17, pass onnx.checker and say so in export.json."""
    import onnx

    manifest = export(ExportConfig(model=str(students("ffn", "hash")), output=str(tmp_path / "x"), format="onnx"))
    proto = onnx.load(str(tmp_path / "x" / "model.onnx"))
    onnx.checker.check_model(proto, full_check=True)
    assert manifest["onnx"]["exporter"] == "torch.onnx.export(dynamo=False)" and manifest["onnx"]["opset"] == 17
    assert {o.domain: o.version for o in proto.opset_import}[""] == 17 and proto.producer_name == "pytorch"
    assert [i.name for i in proto.graph.input] == ["ids"] and [o.name for o in proto.graph.output] == ["logits"]


def test_pair_model_exports_with_two_id_inputs(students, tmp_path):
    """A QQP student exports with inputs ids and ids_b and matches PyTorch on pairs of different lengths."""
    directory = students("rnn", "hash", pair=True)
    manifest = export(ExportConfig(model=str(directory), output=str(tmp_path / "onnx"), format="onnx"))
    student = load_student(directory)
    a, b = padded(student, CHECK_TEXTS), padded(student, CHECK_TEXTS[::-1][:3] + CHECK_TEXTS[3:])
    got = ort_logits(ort_session(tmp_path / "onnx" / "model.onnx"), (a, b))
    np.testing.assert_allclose(got, torch_logits(student.model, a, b), atol=1e-5)
    assert manifest["inputs"] == ["ids", "ids_b"]


@pytest.mark.parametrize("arch,embedding", [("bilstm", "bpe"), ("rnn", "char"), ("ffn", "hash")])
def test_int8_weights_graph_stores_int8_and_computes_the_int8_reference(arch, embedding, students, tmp_path):
    """The `weights` int8 graph keeps every matrix as int8 + per-row scales and equals the PyTorch int8 reference."""
    import onnx

    directory = students(arch, embedding)
    manifest = export(ExportConfig(model=str(directory), output=str(tmp_path / "q"), format="onnx-int8"))
    proto = onnx.load(str(tmp_path / "q" / "model.onnx"))
    student = load_student(directory)
    state = student.model.state_dict()
    biases = sum(v.numel() for v in state.values() if v.dim() == 1)
    matrices = sum(v.numel() for k, v in state.items() if v.dim() == 2 and not k.endswith("importance.weight"))
    assert manifest["int8"]["parameters"]["int8"] == matrices, "a weight matrix was left in float"
    assert manifest["int8"]["parameters"]["float32"] == biases
    assert any(i.data_type == onnx.TensorProto.INT8 for i in proto.graph.initializer)
    assert manifest["int8"]["int8_bytes"] < manifest["int8"]["fp32_bytes"]
    ids = padded(student, CHECK_TEXTS)
    session = ort_session(tmp_path / "q" / "model.onnx", config_entries=manifest["onnxruntime"]["session_config"])
    np.testing.assert_allclose(ort_logits(session, (ids,)), torch_logits(int8_reference_model(student), ids), atol=1e-5)


def test_onnxruntime_dynamic_int8_quantizes_the_lstm(students, tmp_path):
    """`dynamic` int8 turns the LSTM into onnxruntime's DynamicQuantizeLSTM and MatMuls into int8 ones."""
    import onnx

    manifest = export(ExportConfig(model=str(students("bilstm", "hash")), output=str(tmp_path / "d"),
                                   format="onnx-int8", int8_method="dynamic"))
    ops = {node.op_type for node in onnx.load(str(tmp_path / "d" / "model.onnx")).graph.node}
    assert "DynamicQuantizeLSTM" in ops and "LSTM" not in ops and "MatMul" not in ops
    assert manifest["int8"]["method"] == "dynamic" and np.isfinite(manifest["parity"]["max_abs_logit_diff"])


def test_static_int8_calibrates_on_the_heldout_slice_and_evaluate_scores_dev(students, glue_dir, tmp_path):
    """`static` int8 calibrates on the student's held-out train rows; evaluate reports dev accuracy of both."""
    import onnx

    directory = students("ffn", "hash", glue_dir=glue_dir)
    manifest = export(ExportConfig(model=str(directory), output=str(tmp_path / "s"), format="onnx-int8",
                                   int8_method="static", calibration_rows=64, evaluate=True))
    heldout = load_splits(DataConfig(task="sst-2", glue_dir=str(glue_dir), heldout_fraction=0.1))["heldout"]
    assert manifest["int8"]["calibration_rows"] == 64 and len(heldout) >= 1
    assert "QuantizeLinear" in {n.op_type for n in onnx.load(str(tmp_path / "s" / "model.onnx")).graph.node}
    scores = manifest["evaluation"]["dev"]
    assert {"pytorch_accuracy", "export_accuracy", "label_agreement"} <= set(scores)


def test_export_directory_holds_spec_port_golden_vectors_and_manifest(students, tmp_path):
    """An export carries tokenizer.json, port.json, the BPE model, golden.json and export.json, not training vectors."""
    directory = students("bilstm", "bpe")
    export(ExportConfig(model=str(directory), output=str(tmp_path / "e"), format="onnx"))
    names = {p.relative_to(tmp_path / "e").as_posix() for p in (tmp_path / "e").rglob("*") if p.is_file()}
    assert {"export.json", "golden.json", "model.onnx", "tokenizer/tokenizer.json", "tokenizer/port.json",
            "tokenizer/bpe.model"} <= names
    assert "tokenizer/vectors.npy" not in names
    golden = json.loads((tmp_path / "e" / "golden.json").read_text())
    assert [row["text"] for row in golden] == list(GOLDEN_SENTENCES)


def test_export_refuses_to_overwrite_a_directory_that_is_not_an_export(students, tmp_path):
    """An --output holding other files is refused instead of being wiped."""
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not an export directory"):
        export(ExportConfig(model=str(students("ffn", "hash")), output=str(tmp_path / "keep")))
    assert (tmp_path / "keep" / "notes.txt").read_text() == "mine"


def test_export_config_names_the_valid_choices():
    """Unknown formats, int8 methods, opsets and C prefixes are rejected with the valid choices."""
    with pytest.raises(ValueError, match="format must be one of"):
        ExportConfig(model="m", output="o", format="tflite")
    with pytest.raises(ValueError, match="int8_method must be one of"):
        ExportConfig(model="m", output="o", int8_method="fp16")
    with pytest.raises(ValueError, match="opset must be"):
        ExportConfig(model="m", output="o", opset=9)
    with pytest.raises(ValueError, match="C prefix"):
        ExportConfig(model="m", output="o", c_prefix="9bad-name")


@pytest.mark.parametrize("arch,embedding", [("bilstm", "hash"), ("rnn", "bpe")])
def test_quantized_artifact_exports_its_stored_int8_weights(arch, embedding, students, tmp_path):
    """From a quantized artifact, int8 exports use its stored int8 rows and scales, and are checked against them."""
    from featherweight.deploy.weights import QuantizedTensor, int8_weights
    from featherweight.compression.quantize import int8_weights as stored_weights

    quantized_dir = make_quantized(students(arch, embedding))
    quantized = load_student(quantized_dir)
    stored = stored_weights(quantized.model)
    ours = int8_weights(quantized)
    assert set(ours) == set(stored)
    for name, value in stored.items():
        if hasattr(value, "scales"):
            assert isinstance(ours[name], QuantizedTensor)
            np.testing.assert_array_equal(ours[name].values, value.values.numpy())
            np.testing.assert_array_equal(ours[name].scales, value.scales.numpy())
    manifest = export(ExportConfig(model=str(quantized_dir), output=str(tmp_path / "q"), format="onnx-int8"))
    assert manifest["parity"]["reference"] == "pytorch-int8-weights"
    assert manifest["parity"]["max_abs_logit_diff"] <= 1e-5
    assert "label_agreement" in manifest["parity"]["quantized_model"]  # its dynamic int8 kernels: reported
