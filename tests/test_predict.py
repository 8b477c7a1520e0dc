"""The torch-free predictor: text in, label and probabilities out, from an ONNX export."""
from __future__ import annotations

import argparse
import subprocess
import sys

import numpy as np
import pytest

from featherweight.artifact import load_student
from featherweight.cli_args import add_dataclass_arguments, dataclass_from_args
from featherweight.deploy import ExportConfig, export
from featherweight.deploy.weights import int8_reference_model
from featherweight.deploy.predict import PredictConfig, load, predict
from featherweight.tokens import encode_texts
from conftest import CHECK_TEXTS, torch_logits

pytestmark = pytest.mark.usefixtures("one_thread")


def reference(model, student, *texts) -> np.ndarray:
    ids = [encode_texts(student.tokenizer, t).batch(np.arange(len(t))).numpy() for t in texts]
    return torch_logits(model, *ids)


@pytest.fixture(scope="module")
def onnx_export(students, tmp_path_factory):
    directory = students("bilstm", "bpe")
    out = tmp_path_factory.mktemp("predict") / "onnx"
    export(ExportConfig(model=str(directory), output=str(out), format="onnx"))
    return directory, out


def test_predictor_gives_the_pytorch_labels_and_probabilities(onnx_export):
    """Labels equal the PyTorch student's and probabilities are the softmax of its logits."""
    directory, out = onnx_export
    student = load_student(directory)
    predictions = load(out).predict(CHECK_TEXTS, batch_size=4)
    logits = reference(student.model, student, CHECK_TEXTS)
    softmax = np.exp(logits - logits.max(1, keepdims=True))
    softmax /= softmax.sum(1, keepdims=True)
    assert [p.label_id for p in predictions] == logits.argmax(1).tolist()
    assert [p.label for p in predictions] == [student.meta.label_names[i] for i in logits.argmax(1)]
    got = np.asarray([[p.probabilities[name] for name in student.meta.label_names] for p in predictions])
    np.testing.assert_allclose(got, softmax, atol=1e-5)


def test_predict_command_arguments_build_the_config(onnx_export):
    """The CLI shape `predict --model DIR "text" ...` (positional texts) parses into PredictConfig and runs."""
    _, out = onnx_export
    parser = argparse.ArgumentParser()
    add_dataclass_arguments(parser, PredictConfig, skip=("texts",))
    parser.add_argument("texts", nargs="+", metavar="TEXT")
    config = dataclass_from_args(PredictConfig, parser.parse_args(["--model", str(out), "a fine film", "dull"]))
    result = predict(config)
    assert [p["text"] for p in result["predictions"]] == ["a fine film", "dull"]
    assert all(abs(sum(p["probabilities"].values()) - 1) < 1e-5 for p in result["predictions"])


def test_predictor_imports_neither_torch_nor_sentencepiece(onnx_export):
    """Loading an export and predicting pulls in only numpy and onnxruntime (checked in a fresh process)."""
    _, out = onnx_export
    script = ("import sys; from featherweight.deploy.predict import load; "
              f"print(load({str(out)!r}).predict(['good'])[0].label); "
              "assert 'torch' not in sys.modules and 'sentencepiece' not in sys.modules, sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)


def test_int8_weights_export_predicts_like_the_int8_reference(students, tmp_path):
    """The predictor applies the session settings an int8 export records, so it computes what was checked."""
    directory = students("ffn", "hash")
    export(ExportConfig(model=str(directory), output=str(tmp_path / "q"), format="onnx-int8"))
    student = load_student(directory)
    np.testing.assert_allclose(load(tmp_path / "q").logits(CHECK_TEXTS),
                               reference(int8_reference_model(student), student, CHECK_TEXTS), atol=1e-5)


def test_pair_predictor_needs_second_sentences(students, tmp_path):
    """Pair models take texts_b and match PyTorch; leaving texts_b out names the fix."""
    directory = students("rnn", "hash", pair=True)
    export(ExportConfig(model=str(directory), output=str(tmp_path / "p"), format="onnx"))
    predictor, student = load(tmp_path / "p"), load_student(directory)
    a, b = CHECK_TEXTS[:5], CHECK_TEXTS[5:10]
    np.testing.assert_allclose(predictor.logits(a, b), reference(student.model, student, a, b), atol=1e-5)
    with pytest.raises(ValueError, match="texts_b"):
        predictor.predict(a)


def test_predictor_refuses_c_exports_and_student_directories(students, tmp_path):
    """A C export or an unexported student gives an error that says what to run instead."""
    directory = students("ffn", "hash")
    export(ExportConfig(model=str(directory), output=str(tmp_path / "c"), format="c", verify=False))
    with pytest.raises(ValueError, match="runs on the device"):
        load(tmp_path / "c")
    with pytest.raises(FileNotFoundError, match="featherweight export --model"):
        load(directory)


def test_predict_config_rejects_empty_or_mismatched_texts():
    """No texts, a bare string, or texts_b of another length are refused at the boundary."""
    with pytest.raises(ValueError, match="non-empty list"):
        PredictConfig(model="m", texts=[])
    with pytest.raises(ValueError, match="non-empty list"):
        PredictConfig(model="m", texts="a sentence")
    with pytest.raises(ValueError, match="one second sentence per text"):
        PredictConfig(model="m", texts=["a", "b"], texts_b=["c"])
