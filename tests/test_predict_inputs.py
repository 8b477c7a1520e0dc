"""`featherweight predict` inputs: empty texts refused (or --allow-empty), texts from --input FILE or `-` (stdin)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import cli_error, make_student
from featherweight.cli import main
from featherweight.deploy import ExportConfig, export
from featherweight.deploy.predict import PredictConfig

pytestmark = pytest.mark.usefixtures("one_thread")




@pytest.fixture(scope="module")
def pair_export(tmp_path_factory):
    """A tiny sentence-pair (QQP) student exported as ONNX."""
    root = tmp_path_factory.mktemp("predict-pairs")
    out = root / "onnx"
    export(ExportConfig(model=str(make_student(root, "ffn", "hash", pair=True)), output=str(out), format="onnx"))
    return out


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def predicted(capsys, *argv) -> list[dict]:
    """Run `featherweight predict ARGV` (exit 0) and return its predictions, from JSON or JSON Lines."""
    capsys.readouterr()
    assert main(["predict", *argv]) == 0
    out = capsys.readouterr().out
    return json.loads(out)["predictions"] if out.startswith("{\n") else json_lines(out)


@pytest.mark.parametrize("texts, which", [([""], "text 1 of 1"), (["good", " \t "], "text 2 of 2")])
def test_empty_or_whitespace_text_is_refused_naming_which(ffn_onnx_export, texts, which, caplog):
    """`predict ""` or a whitespace-only text exits 2 naming the text and --allow-empty, instead of a label."""
    error = cli_error(["predict", "--model", str(ffn_onnx_export), *texts], caplog)
    assert error.startswith(which) and "is empty or whitespace only" in error and "--allow-empty" in error


def test_allow_empty_classifies_an_empty_text(ffn_onnx_export, capsys):
    """With --allow-empty an empty text gets a label and probabilities like any other."""
    [prediction] = predicted(capsys, "--model", str(ffn_onnx_export), "--allow-empty", "")
    assert prediction["text"] == "" and prediction["label"] in prediction["probabilities"]


def test_input_file_prints_one_json_line_per_text(ffn_onnx_export, tmp_path, capsys):
    """--input FILE (BOM, CRLF and a trailing newline) gives one JSON object a line, as the TEXT arguments do."""
    path = tmp_path / "texts.txt"
    path.write_bytes("\ufeffa charming, funny film\r\nawful and dull\n".encode("utf-8"))
    lines = predicted(capsys, "--model", str(ffn_onnx_export), "--input", str(path))
    assert [line["text"] for line in lines] == ["a charming, funny film", "awful and dull"]
    assert lines == predicted(capsys, "--model", str(ffn_onnx_export), "a charming, funny film", "awful and dull")
    for line in lines:
        assert set(line["probabilities"]) == {"negative", "positive"}
        assert line["label"] == ["negative", "positive"][line["label_id"]]
        assert abs(sum(line["probabilities"].values()) - 1) < 1e-5


def test_empty_line_of_an_input_file_is_refused_with_its_line_number(ffn_onnx_export, tmp_path, caplog):
    """An empty line in --input is named file:line; nothing else is wrong with the file."""
    path = tmp_path / "texts.txt"
    path.write_text("good\n   \nbad\n", encoding="utf-8")
    error = cli_error(["predict", "--model", str(ffn_onnx_export), "--input", str(path)], caplog)
    assert error.startswith(f"{path}:2: empty or whitespace-only text") and "--allow-empty" in error


def test_pair_model_reads_tab_separated_lines(pair_export, tmp_path, capsys, caplog):
    """A pair model's --input lines are text<TAB>text_b; a line without the tab is named."""
    path = tmp_path / "pairs.txt"
    path.write_text("is it good?\tis it fine?\nwho won?\twhen was it?\n", encoding="utf-8")
    lines = predicted(capsys, "--model", str(pair_export), "--input", str(path))
    assert [(line["text"], line["text_b"]) for line in lines] == [("is it good?", "is it fine?"),
                                                                 ("who won?", "when was it?")]
    path.write_text("is it good?\tis it fine?\nno tab here\n", encoding="utf-8")
    error = cli_error(["predict", "--model", str(pair_export), "--input", str(path)], caplog)
    assert error.startswith(f"{path}:2: a sentence-pair model needs text<TAB>text_b")


def run_stdin(export_dir, data: bytes) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([sys.executable, "-m", "featherweight.cli", "predict", "--model", str(export_dir), "-"],
                          input=data, capture_output=True, env=env, timeout=120)


def test_dash_reads_texts_from_standard_input(ffn_onnx_export):
    """`predict -` reads one text a line from stdin and prints JSON Lines; empty stdin is one error line, exit 2."""
    done = run_stdin(ffn_onnx_export, "\ufeffgood film\nCafé naïve, dull\n".encode("utf-8"))
    assert done.returncode == 0, done.stderr
    assert [line["text"] for line in json_lines(done.stdout.decode("utf-8"))] == ["good film", "Café naïve, dull"]
    empty = run_stdin(ffn_onnx_export, b"")
    assert empty.returncode == 2 and empty.stdout == b""
    assert empty.stderr.decode().strip() == "ERROR featherweight: standard input holds no texts; write one text a line."


def test_predict_without_texts_or_input_exits_2(ffn_onnx_export, caplog):
    """No TEXT and no --input is refused in one line that names both ways to give texts."""
    error = cli_error(["predict", "--model", str(ffn_onnx_export)], caplog)
    assert "TEXT arguments, or - to read standard input" in error and "--input FILE" in error


def test_predict_config_takes_texts_or_input_not_both():
    """texts and input together, `-` among other texts, or texts_b with --input are refused at the boundary."""
    with pytest.raises(ValueError, match="or --input t.txt, not both"):
        PredictConfig(model="m", texts=["good"], input="t.txt")
    with pytest.raises(ValueError, match="must be the only TEXT"):
        PredictConfig(model="m", texts=["-", "good"])
    with pytest.raises(ValueError, match=r"write text<TAB>text_b on each line"):
        PredictConfig(model="m", input="t.txt", texts_b=["b"])
    assert PredictConfig(model="m", input="t.txt").streamed and PredictConfig(model="m", texts=["-"]).streamed


def test_missing_input_file_is_named(ffn_onnx_export, tmp_path, caplog):
    """An --input that does not exist is named with what to pass instead."""
    error = cli_error(["predict", "--model", str(ffn_onnx_export), "--input", str(tmp_path / "none.txt")], caplog)
    assert error == f"--input {tmp_path / 'none.txt'}: no such file; pass a UTF-8 text file with one text a line."
