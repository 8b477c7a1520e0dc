"""A 4-class student of a user's task: ONNX, ONNX int8 and C exports agree with PyTorch and carry the label names."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from featherweight.artifact import build_model, load_student, save_student
from featherweight.cli import main
from featherweight.deploy import ExportConfig, export
from featherweight.deploy import c_build
from featherweight.deploy.c_export import label_identifiers
from featherweight.deploy.runtime import ort_session
from featherweight.deploy.weights import int8_reference_model
from featherweight.deploy.predict import load
from featherweight.student_meta import EmbeddingMeta, StudentMeta
from featherweight.tokens import encode_texts
from conftest import CHECK_TEXTS, TRAIN_TEXTS, torch_logits

NAMES = ["abbreviation", "entity", "human being", "numeric value ??!"]  # ??! is a C trigraph unless escaped
ENUM = ["FW_LABEL_ABBREVIATION", "FW_LABEL_ENTITY", "FW_LABEL_HUMAN_BEING", "FW_LABEL_NUMERIC_VALUE"]
TEXTS = [text for text in CHECK_TEXTS if text.strip()] + ["what is the capital of peru ?", "who wrote hamlet ?"]
HAS_GCC = shutil.which("gcc") is not None or shutil.which("cc") is not None

pytestmark = pytest.mark.usefixtures("one_thread")

NAMES_PROGRAM = r"""#include <stdio.h>
#include "fw_model.h"

int main(int argc, char **argv)
{
    float logits[FW_NUM_LABELS];
    int i;
    printf("%d %d %d %d\n", FW_LABEL_ABBREVIATION, FW_LABEL_ENTITY, FW_LABEL_HUMAN_BEING, FW_LABEL_NUMERIC_VALUE);
    for (i = 1; i < argc; i++) {
        fw_label label = (fw_label)fw_predict(argv[i], logits);
        printf("%d\t%s\n", (int)label, fw_label_names[label]);
    }
    return 0;
}
"""


def make_four_class_student(directory: Path, names=NAMES) -> Path:
    """An untrained 4-class BiLSTM (hash embedding) of the task "toy4", its output bias set so that the texts fall
    into several classes."""
    from featherweight.embeddings import fit_tokenizer
    from featherweight.students import student_preset

    torch.manual_seed(2)  # every text's top two logits at least 0.01 apart: far from the C export's 1e-4 tolerance
    tokenizer = fit_tokenizer("hash", TRAIN_TEXTS, dim=8, seed=0, cache_dir=str(directory / "no-bpemb"),
                              num_buckets=200)
    config = student_preset("bilstm", False, classifier_dim=5, hidden_dim=6)
    meta = StudentMeta(task="toy4", label_names=list(names), num_labels=len(names), pair=False, student=config,
                       embedding=EmbeddingMeta("hash", 8), variant="distilled")
    model = build_model(meta, tokenizer).eval()
    ids = encode_texts(tokenizer, TRAIN_TEXTS).batch(np.arange(len(TRAIN_TEXTS)))
    with torch.no_grad():  # untrained logits differ little between texts: centre them over the training texts
        model.classifier[-1].bias -= model(ids).mean(0)
    return save_student(directory / "student", model, tokenizer, meta)


@pytest.fixture(scope="module")
def four_class(tmp_path_factory) -> Path:
    return make_four_class_student(tmp_path_factory.mktemp("toy4"))


def reference_ids(student, model) -> np.ndarray:
    ids = encode_texts(student.tokenizer, TEXTS).batch(np.arange(len(TEXTS))).numpy()
    return torch_logits(model, ids).argmax(1)


def test_the_four_class_student_predicts_every_class(four_class):
    """The fixture is a fair test: PyTorch puts the texts in all four classes."""
    student = load_student(four_class)
    assert set(reference_ids(student, student.model)) == {0, 1, 2, 3}


@pytest.mark.parametrize("fmt", ["onnx", "onnx-int8"])
def test_onnx_exports_of_four_classes_agree_with_pytorch_and_return_the_names(fmt, four_class, tmp_path):
    """ONNX fp32 / int8 give PyTorch's (int8 reference's) label ids; the predictor returns the four names, which the
    manifest and the model's metadata_props also hold."""
    out = tmp_path / fmt
    manifest = export(ExportConfig(model=str(four_class), output=str(out), format=fmt))
    student = load_student(four_class)
    reference = student.model if fmt == "onnx" else int8_reference_model(student)
    expected = reference_ids(student, reference)
    predictions = load(out).predict(TEXTS)
    assert [p.label_id for p in predictions] == expected.tolist()
    assert [p.label for p in predictions] == [NAMES[i] for i in expected]
    assert all(list(p.probabilities) == NAMES for p in predictions)
    assert manifest["label_names"] == NAMES and manifest["num_labels"] == 4 and manifest["task"] == "toy4"
    metadata = ort_session(out / "model.onnx").get_modelmeta().custom_metadata_map
    assert json.loads(metadata["label_names"]) == NAMES
    assert (metadata["num_labels"], metadata["task"], metadata["pair"]) == ("4", "toy4", "false")


def test_predict_command_prints_the_label_names_of_a_four_class_export(four_class, tmp_path, capsys):
    """`featherweight predict` on a 4-class export prints each text's label name and named probabilities."""
    export(ExportConfig(model=str(four_class), output=str(tmp_path / "onnx")))
    assert main(["predict", "--model", str(tmp_path / "onnx"), *TEXTS[:3]]) == 0
    predictions = json.loads(capsys.readouterr().out)["predictions"]
    assert [p["label"] for p in predictions] == [NAMES[p["label_id"]] for p in predictions]
    assert all(set(p["probabilities"]) == set(NAMES) for p in predictions)


@pytest.mark.skipif(not HAS_GCC, reason="no host C compiler (gcc) on PATH")
def test_c_export_of_four_classes_agrees_with_pytorch_and_names_its_labels(four_class, tmp_path):
    """The C export builds warning-free, gives the int8 reference's label ids, and a program using its header's
    label enum and name table prints the four names."""
    out = tmp_path / "c"
    manifest = export(ExportConfig(model=str(four_class), output=str(out), format="c"))
    assert manifest["parity"]["compiler_warnings"] == "" and manifest["label_names"] == NAMES
    student = load_student(four_class)
    expected = reference_ids(student, int8_reference_model(student))
    exe, _ = c_build.build_host(out, tmp_path / "harness")
    assert c_build.run_logits(exe, TEXTS)[0].argmax(1).tolist() == expected.tolist()

    header = (out / "fw_model.h").read_text()
    assert "typedef enum {" in header and "} fw_label;" in header
    assert [line.split()[0] for line in header.splitlines() if line.strip().startswith("FW_LABEL_")] == ENUM
    program = tmp_path / "names.c"
    program.write_text(NAMES_PROGRAM)
    built = subprocess.run([c_build.host_compiler(), *c_build.HOST_FLAGS, "-Werror", "-I", str(out), str(program),
                            str(out / "fw_model.c"), "-lm", "-o", str(tmp_path / "names")],
                           capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    lines = subprocess.run([str(tmp_path / "names"), *TEXTS], capture_output=True, text=True,
                           check=True).stdout.splitlines()
    assert lines[0] == "0 1 2 3"
    assert [line.split("\t") for line in lines[1:]] == [[str(i), NAMES[i]] for i in expected]


def test_label_identifiers_are_valid_unique_c_names_made_from_the_labels():
    """Names become <PREFIX>_LABEL_<NAME>: accents dropped, other characters as _, digits kept, repeats numbered."""
    names = ["Abbreviation", "not duplicate", "not-duplicate", "42", "Café", "??", "not_duplicate_2"]
    assert label_identifiers(names) == [
        "FW_LABEL_ABBREVIATION", "FW_LABEL_NOT_DUPLICATE", "FW_LABEL_NOT_DUPLICATE_2", "FW_LABEL_42",
        "FW_LABEL_CAFE", "FW_LABEL_5", "FW_LABEL_NOT_DUPLICATE_2_2"]
    assert label_identifiers(["a"], prefix="intent") == ["INTENT_LABEL_A"]


def test_c_prefix_renames_the_label_enum_but_never_the_label_names(tmp_path):
    """With --c-prefix intent the enum is INTENT_LABEL_* / intent_label; a label spelled fw_... stays as written."""
    student = make_four_class_student(tmp_path, names=["fw_spam", "ham", "eggs", "FW_SPAM"])
    export(ExportConfig(model=str(student), output=str(tmp_path / "c"), format="c", c_prefix="intent", verify=False))
    header = (tmp_path / "c" / "intent_model.h").read_text()
    source = (tmp_path / "c" / "intent_model.c").read_text()
    assert "INTENT_LABEL_FW_SPAM = 0," in header and "INTENT_LABEL_FW_SPAM_2 = 3," in header
    assert "} intent_label;" in header and '/* "fw_spam" */' in header
    assert '{"fw_spam", "ham", "eggs", "FW_SPAM"}' in source
