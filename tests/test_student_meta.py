"""StudentMeta: student.json as a typed, versioned record; embedding modules that carry their kind."""
from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys

import pytest
import torch

from conftest import tiny_student
from featherweight.artifact import build_model, load_student, save_student, student_meta
from featherweight.compression.quantize import QuantizeConfig, quantize
from featherweight.data import get_task
from featherweight.embeddings import TokenEmbedding
from featherweight.student_meta import FORMAT_VERSION, EmbeddingMeta, StudentMeta, read_student_meta
from featherweight.students import student_preset

# a student.json as Featherweight has written it since format 1 (trimmed: no history, training or scores)
VERSION_1 = {"format": 1, "task": "sst-2", "label_names": ["negative", "positive"], "pair": False, "num_labels": 2,
             "student": {"arch": "ffn", "hidden_dim": 0, "classifier_dim": 8, "dropout": 0.2, "pooling": "mean"},
             "embedding": {"type": "hash", "dim": 8}, "parameters": {"embedding": 10, "encoder": 0, "classifier": 9},
             "distill_config": {"hash_buckets": 2500, "seed": 3, "data": {"task": "sst-2", "glue_dir": "glue"}},
             "teacher": None, "soft_targets": None, "variant": "distilled"}


def _write(directory, data) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "student.json").write_text(json.dumps(data))


def test_saved_meta_reloads_equal_under_the_same_key_names(tmp_path):
    """save_student writes format 1 with the key names of before; load_student and student_meta give back an equal
    StudentMeta, and sections the student does not record are left out of the file."""
    model, tokenizer, meta = tiny_student("bilstm", "char", tmp_path)
    meta = dataclasses.replace(meta, scores={"dev_accuracy": 0.5}, sparsity={"overall": 0.25})
    directory = save_student(tmp_path / "s", model, tokenizer, meta)
    written = json.loads((directory / "student.json").read_text())
    assert written["format"] == FORMAT_VERSION == 1
    assert written["embedding"] == {"type": "char", "dim": 8} and written["student"] == meta.student.to_dict()
    assert written["teacher"] is None and written["soft_targets"] is None  # "none", as distill records them
    assert not {"pruning", "quantization", "qat_history", "sizes", "distill_config"} & set(written)
    assert load_student(directory).meta == meta == student_meta(directory)


def test_a_version_1_student_json_reads_with_every_default_in_place(tmp_path):
    """A format-1 file without task_spec, scores or a quantization section reads as a GLUE distilled student."""
    _write(tmp_path, VERSION_1)
    meta = read_student_meta(tmp_path)
    assert meta.resolved_task == get_task("sst-2") and meta.task_spec is None
    assert (meta.variant, meta.scores, meta.is_quantized, meta.pruning) == ("distilled", {}, False, None)
    assert meta.student == student_preset("ffn", classifier_dim=8)
    assert (meta.embedding, meta.hash_buckets) == (EmbeddingMeta("hash", 8), 2500)
    assert meta.data_settings == {"task": "sst-2", "glue_dir": "glue"}
    written = meta.to_dict()
    assert written == {**VERSION_1, "scores": {}} and list(written)[:2] == ["format", "task"]


def test_a_file_without_a_format_is_read_as_version_1(tmp_path):
    """student.json files written by hand without "format" are the version-1 layout."""
    _write(tmp_path, {key: value for key, value in VERSION_1.items() if key != "format"})
    assert read_student_meta(tmp_path).to_dict() == {**VERSION_1, "scores": {}}


def test_data_settings_and_hash_buckets_are_none_when_not_recorded():
    """A student made in code records no distillation: no data settings, and hash buckets only for hash students."""
    meta = StudentMeta.from_dict({key: value for key, value in VERSION_1.items() if key != "distill_config"})
    assert meta.data_settings is None and meta.hash_buckets is None
    char = dataclasses.replace(StudentMeta.from_dict(VERSION_1), embedding=EmbeddingMeta("char", 8))
    assert char.hash_buckets is None


def test_a_newer_format_is_refused_with_the_file_named(tmp_path):
    """A student.json from a newer Featherweight says so, and how to read it."""
    _write(tmp_path, {**VERSION_1, "format": 2})
    with pytest.raises(ValueError, match=r"student\.json has format 2; this Featherweight reads formats 1 to 1\. "
                                         r"Upgrade Featherweight"):
        read_student_meta(tmp_path)


def test_unknown_fields_are_named(tmp_path):
    """A field StudentMeta does not know is an error naming it and the file, not silently dropped."""
    _write(tmp_path, {**VERSION_1, "colour": "blue"})
    with pytest.raises(ValueError, match=r"student\.json has unknown field\(s\) \['colour'\]"):
        read_student_meta(tmp_path)


@pytest.mark.parametrize("change, message", [
    ({"embedding": {"type": "glove", "dim": 8}}, r"embedding type must be one of hash, char, bpe, got 'glove'"),
    ({"num_labels": 3}, r"label_names must list the 3 label names in logit order"),
    ({"pair": "no"}, r"pair must be true or false, got 'no'"),
    ({"student": {"arch": "transformer"}}, r"Unknown student arch 'transformer'"),
])
def test_bad_values_are_errors_naming_the_file_and_the_fix(tmp_path, change, message):
    """Wrong values in student.json are one error that names the file, what is wrong and to write it again."""
    _write(tmp_path, {**VERSION_1, **change})
    with pytest.raises(ValueError, match=rf"{re.escape(str(tmp_path / 'student.json'))}: {message}.* re-run "):
        read_student_meta(tmp_path)


def test_save_student_and_build_model_take_a_student_meta_only(tmp_path):
    """A plain dict of student.json contents is refused before anything is written, saying how to convert it."""
    model, tokenizer, meta = tiny_student("ffn", "hash", tmp_path)
    with pytest.raises(TypeError, match=r"Expected a StudentMeta, got dict; .*StudentMeta\.from_dict"):
        save_student(tmp_path / "s", model, tokenizer, meta.to_dict())
    assert not (tmp_path / "s").exists()
    with pytest.raises(TypeError, match="Expected a StudentMeta, got dict"):
        build_model(meta.to_dict(), tokenizer)
    with pytest.raises(TypeError, match=r"student must be a StudentConfig, got dict"):
        dataclasses.replace(meta, student=meta.student.to_dict())


def test_a_quantized_model_without_its_settings_is_refused(tmp_path):
    """int8 weights saved with no quantization settings could not be loaded again: save_student refuses them."""
    model, tokenizer, meta = tiny_student("ffn", "hash", tmp_path)
    with pytest.raises(ValueError, match=r"holds int8 or float16 weights but meta has no quantization settings"):
        save_student(tmp_path / "q", quantize(model), tokenizer, meta)


def test_reading_student_json_does_not_import_torch():
    """StudentMeta (and its StudentConfig) load without torch, so size and results readers stay light."""
    child = ("import sys; from featherweight.student_meta import StudentMeta; "
             "from featherweight.students import StudentConfig; print('torch' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "False"


@pytest.mark.parametrize("embedding", ["hash", "char", "bpe"])
def test_embedding_modules_carry_their_kind_through_quantization(embedding, tmp_path):
    """The built embedding says which kind it is, and a quantized student's embedding still does."""
    model, _, meta = tiny_student("ffn", embedding, tmp_path)
    assert model.embedding.kind == meta.embedding.type == embedding
    assert quantize(model, QuantizeConfig()).embedding.kind == embedding


def test_a_token_embedding_of_an_unknown_kind_is_refused():
    """Token tables are char or bpe; another kind is an error listing both."""
    assert TokenEmbedding(5, 4, "bpe").kind == "bpe"
    with pytest.raises(ValueError, match=r"A token embedding's kind is one of char, bpe, got 'hash'"):
        TokenEmbedding(5, 4, "hash")
    with pytest.raises(ValueError, match="kind is one of char, bpe"):
        TokenEmbedding(5, 4, "glove", torch.zeros(5, 4))
