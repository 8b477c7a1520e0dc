"""The public API: `featherweight.<name>` for load, predict, compress, distill, prune, quantize and export."""
import subprocess
import sys

import numpy as np
import pytest

import featherweight
from featherweight.artifact import load_student, predict_data
from featherweight.data import TaskData
from tests.conftest import CHECK_TEXTS


@pytest.mark.parametrize("name", featherweight.__all__)
def test_every_public_name_resolves_to_its_definition(name):
    value = getattr(featherweight, name)
    assert callable(value) and value.__name__ == name


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'distil'"):
        featherweight.distil


def test_importing_the_package_imports_no_torch():
    """The public names load lazily, so the torch-free predictor stays torch-free under `import featherweight`."""
    script = "import sys, featherweight; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)


def test_load_and_predict_a_student_artifact(students):
    directory = students("bilstm", "hash")
    student = featherweight.load(directory)
    predictions = featherweight.predict(student, CHECK_TEXTS)
    reference = load_student(directory)
    data = TaskData(task=reference.task, path=directory, texts_a=list(CHECK_TEXTS), texts_b=None, labels=None,
                    line_numbers=np.arange(1, len(CHECK_TEXTS) + 1))
    logits = predict_data(reference, data)
    assert [p.label_id for p in predictions] == logits.argmax(1).tolist()
    np.testing.assert_allclose([p.logits for p in predictions], logits, atol=1e-6)
    assert [p.label for p in predictions] == [reference.task.label_names[i] for i in logits.argmax(1)]
    assert [p.label for p in featherweight.predict(directory, CHECK_TEXTS)] == [p.label for p in predictions]


def test_load_and_predict_an_onnx_export_gives_the_students_labels(students, tmp_path):
    student_dir = students("ffn", "hash")
    export_dir = tmp_path / "onnx"
    featherweight.export(featherweight.ExportConfig(model=str(student_dir), output=str(export_dir), format="onnx"))
    predictor = featherweight.load(export_dir)
    assert type(predictor).__name__ == "Predictor"
    assert ([p.label for p in featherweight.predict(predictor, CHECK_TEXTS)]
            == [p.label for p in featherweight.predict(student_dir, CHECK_TEXTS)])


def test_a_single_sentence_student_refuses_second_sentences(students):
    with pytest.raises(ValueError, match="single-sentence model"):
        featherweight.predict(students("ffn", "hash"), ["a"], texts_b=["b"])


def test_a_pair_student_needs_one_second_sentence_per_text(students):
    directory = students("ffn", "hash", pair=True)
    with pytest.raises(ValueError, match="sentence-pair model"):
        featherweight.predict(directory, ["a"])
    with pytest.raises(ValueError, match="1 sentences for 2 texts"):
        featherweight.predict(directory, ["a", "b"], texts_b=["c"])
    assert len(featherweight.predict(directory, ["a", "b"], texts_b=["c", "d"])) == 2
