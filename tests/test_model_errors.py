"""Loading models: a missing, partial, damaged or broken model is one error line naming the file; evaluate reuses
the data directory a student records."""
from __future__ import annotations

import json
import logging
import shutil

import pytest

from conftest import build_tiny_bert, cli_error, make_student
from featherweight.cli import main
from featherweight.deploy import ExportConfig, export

pytestmark = pytest.mark.usefixtures("one_thread")

DAMAGES = {"truncated": lambda data: data[:len(data) // 2], "random": lambda data: bytes(range(256)) * 8}


@pytest.fixture(scope="module")
def student(tmp_path_factory, glue_dir):
    """A tiny SST-2 student that records the toy GLUE directory it was trained on."""
    return make_student(tmp_path_factory.mktemp("model-errors"), "ffn", "hash", glue_dir=glue_dir)


@pytest.fixture(scope="module")
def onnx_export(student, tmp_path_factory):
    out = tmp_path_factory.mktemp("model-errors-export") / "onnx"
    export(ExportConfig(model=str(student), output=str(out), format="onnx"))
    return out


def copy(directory, tmp_path):
    return shutil.copytree(directory, tmp_path / directory.name)


def damage(path, how: str) -> None:
    path.write_bytes(DAMAGES[how](path.read_bytes()))


def test_evaluate_on_a_path_that_does_not_exist_is_one_line(glue_dir, tmp_path, caplog):
    """`evaluate --model` on a missing directory names it and what to pass, instead of a Hugging Face traceback."""
    missing = tmp_path / "no" / "such-model"
    error = cli_error(["evaluate", "--model", str(missing), "--glue-dir", str(glue_dir), "--no-record"], caplog)
    assert error.startswith(f"--model {missing} does not exist; pass a student artifact")


def test_evaluate_on_a_directory_that_is_neither_student_nor_teacher(glue_dir, tmp_path, caplog):
    """A directory with neither student.json nor config.json is named as neither, not as a bad `model_type`."""
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("mine")
    error = cli_error(["evaluate", "--model", str(tmp_path / "notes"), "--glue-dir", str(glue_dir), "--no-record"],
                      caplog)
    assert "has neither student.json (a student) nor config.json (a teacher)" in error and "model_type" not in error


@pytest.mark.parametrize("part", ["student.json", "model.safetensors", "tokenizer"])
@pytest.mark.parametrize("command", ["evaluate", "export"])
def test_partial_student_names_the_missing_part(student, glue_dir, tmp_path, caplog, part, command):
    """A student directory missing student.json, its weights or its tokenizer says which and to re-run compress."""
    partial = copy(student, tmp_path)
    (shutil.rmtree if part == "tokenizer" else lambda p: p.unlink())(partial / part)
    options = {"evaluate": ["--glue-dir", str(glue_dir)], "export": ["--output", str(tmp_path / "out")]}[command]
    error = cli_error([command, "--model", str(partial), *options, "--no-record"], caplog)
    assert error == (f"{partial} is an incomplete student artifact: {part} missing; "
                     "re-run `featherweight compress` to write the student again.")


@pytest.mark.parametrize("how", DAMAGES)
@pytest.mark.parametrize("command", ["evaluate", "export"])
def test_damaged_student_weights_are_named(student, glue_dir, tmp_path, caplog, how, command):
    """A truncated or random model.safetensors is one line naming the file, for evaluate and export."""
    broken = copy(student, tmp_path)
    damage(broken / "model.safetensors", how)
    options = {"evaluate": ["--glue-dir", str(glue_dir)], "export": ["--output", str(tmp_path / "out")]}[command]
    error = cli_error([command, "--model", str(broken), *options, "--no-record"], caplog)
    assert error.startswith(f"{broken / 'model.safetensors'} is damaged or truncated (")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("how", DAMAGES)
def test_damaged_teacher_weights_are_named(glue_dir, tmp_path, caplog, how):
    """A teacher whose model.safetensors is truncated or random gives one line naming the teacher and the file."""
    teacher = build_tiny_bert(tmp_path / "teacher")
    damage(teacher / "model.safetensors", how)
    error = cli_error(["evaluate", "--model", str(teacher), "--glue-dir", str(glue_dir), "--no-record"], caplog)
    assert error.startswith(f"Could not load teacher {teacher}: its model.safetensors is damaged or truncated")


def test_broken_student_json_names_the_file_and_position(student, glue_dir, tmp_path, caplog):
    """An invalid student.json is reported as FILE:LINE:COLUMN, not as a bare JSON error."""
    broken = copy(student, tmp_path)
    (broken / "student.json").write_text('{"task": "sst-2",\n  "pair": }\n')
    error = cli_error(["evaluate", "--model", str(broken), "--glue-dir", str(glue_dir), "--no-record"], caplog)
    assert error.startswith(f"{broken / 'student.json'}:2:11: not valid JSON")


def test_student_json_without_its_fields_is_named(student, tmp_path, caplog):
    """A student.json that is valid JSON but lacks the student's settings names the file and the missing keys."""
    broken = copy(student, tmp_path)
    (broken / "student.json").write_text(json.dumps({"task": "sst-2"}))
    error = cli_error(["export", "--model", str(broken), "--output", str(tmp_path / "out"), "--no-record"], caplog)
    assert error.startswith(f"{broken / 'student.json'} lacks label_names, pair, num_labels, student, embedding")


def test_broken_export_manifest_names_the_file_and_position(onnx_export, tmp_path, caplog):
    """An invalid export.json in predict is reported as FILE:LINE:COLUMN."""
    broken = copy(onnx_export, tmp_path)
    (broken / "export.json").write_text('{"format_version": 1,\n')
    error = cli_error(["predict", "--model", str(broken), "good"], caplog)
    assert error.startswith(f"{broken / 'export.json'}:2:1: not valid JSON")


@pytest.mark.parametrize("how", DAMAGES)
def test_damaged_onnx_model_is_named_in_predict(onnx_export, tmp_path, caplog, how):
    """A truncated or random model.onnx is one line naming the file and to export again (no onnxruntime trace)."""
    broken = copy(onnx_export, tmp_path)
    damage(broken / "model.onnx", how)
    error = cli_error(["predict", "--model", str(broken), "good"], caplog)
    assert error.startswith(f"{broken / 'model.onnx'} is not a model onnxruntime can load (")
    assert error.endswith("export the student again.")


def test_evaluate_scores_a_student_on_the_data_directory_it_records(student, glue_dir, tmp_path, monkeypatch,
                                                                   caplog, capsys):
    """Without --glue-dir, evaluate reads the GLUE directory recorded in student.json instead of downloading."""
    import featherweight.data.splits as splits

    monkeypatch.delenv("FEATHERWEIGHT_GLUE_DIR", raising=False)
    monkeypatch.setenv("FEATHERWEIGHT_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(splits, "download", lambda *a, **k: pytest.fail("downloaded despite the recorded data"))
    caplog.set_level(logging.INFO)
    assert main(["evaluate", "--model", str(student), "--no-record", "--no-progress"]) == 0
    assert "dev_accuracy" in json.loads(capsys.readouterr().out)
    assert f"Scoring on {glue_dir}, the data directory {student} was trained on" in caplog.text
