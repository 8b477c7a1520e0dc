"""Size accounting: real gzip -9, bytes by stored dtype, parameter and non-zero counts, teacher ratios, analyze."""
from __future__ import annotations

import dataclasses
import gzip
import json

import pytest
import torch
from safetensors.torch import save_file

from featherweight.artifact import save_student
from featherweight.compression.prune import prune
from featherweight.compression.quantize import QuantizeConfig, quantize
from featherweight.measure.size import (AnalyzeConfig, analyze, artifact_sizes, compression_ratios, gzip_file_bytes,
                                gzip_size, teacher_sizes, tensor_sizes)
from conftest import tiny_student


def test_gzip_size_is_real_gzip_at_level_9(tmp_path):
    """The measured bytes are a gzip stream (not ZIP) at maximum compression that decompresses to the file."""
    data = bytes(range(256)) * 50 + b"\x00" * 10000
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    blob = gzip_file_bytes(path)
    assert blob[:3] == b"\x1f\x8b\x08" and blob[8] == 2  # gzip magic, deflate, XFL 2 = slowest / best
    assert gzip.decompress(blob) == data
    assert gzip_size(path) == len(blob) == len(gzip.compress(data, compresslevel=9, mtime=0))


def test_bytes_by_dtype_count_int8_as_one_byte_per_element(tmp_path):
    """Bytes by dtype are elements x stored element size; scales count as bytes but not as parameters."""
    path = tmp_path / "model.safetensors"
    save_file({"w": torch.ones(10, 7, dtype=torch.int8), "w_scale": torch.ones(10), "b": torch.zeros(5),
               "h": torch.ones(3, dtype=torch.float16)}, path)
    sizes = tensor_sizes(path)
    assert sizes["bytes_by_dtype"] == {"float16": 6, "float32": 60, "int8": 70}
    assert sizes["params"] == 70 + 5 + 3 and sizes["nonzero_params"] == 70 + 3


def test_student_sizes_measure_the_saved_artifact(tmp_path):
    """Raw and gzip bytes are those of model.safetensors; the directory total adds tokenizer and metadata."""
    model, tokenizer, meta = tiny_student("rnn", "char", tmp_path)
    directory = save_student(tmp_path / "s", model, tokenizer, meta)
    sizes = artifact_sizes(directory)
    weights = directory / "model.safetensors"
    assert sizes["raw_bytes"] == weights.stat().st_size and sizes["gzip_bytes"] == gzip_size(weights)
    assert sizes["params"] == sum(p.numel() for p in model.parameters())
    assert sizes["directory_bytes"] > sizes["raw_bytes"] and sizes["directory_gzip_bytes"] > sizes["gzip_bytes"]
    assert sizes["measure"] == "gzip -9 of model.safetensors; raw = its bytes on disk"


def test_pruning_lowers_non_zeros_and_int8_lowers_bytes(tmp_path):
    """Pruned weights leave the parameter count alone and drop non-zeros; int8 weights take a quarter of fp32."""
    model, tokenizer, meta = tiny_student("bilstm", "bpe", tmp_path)
    dense = artifact_sizes(save_student(tmp_path / "d", model, tokenizer, meta))
    pruned = artifact_sizes(save_student(tmp_path / "p", prune(model), tokenizer, meta))
    quantized = artifact_sizes(save_student(tmp_path / "q", quantize(model), tokenizer,
                                            dataclasses.replace(meta, quantization=QuantizeConfig().to_dict())))
    assert pruned["params"] == dense["params"] == quantized["params"]
    assert pruned["nonzero_params"] < 0.75 * dense["nonzero_params"] and pruned["gzip_bytes"] < dense["gzip_bytes"]
    weights = sum(p.numel() for name, p in model.named_parameters() if "weight" in name)
    rows = sum(p.shape[0] for name, p in model.named_parameters() if "weight" in name)  # one scale per row
    biases = sum(p.numel() for name, p in model.named_parameters() if "bias" in name)
    assert quantized["bytes_by_dtype"] == {"float32": 4 * (rows + biases), "int8": weights}
    assert dense["bytes_by_dtype"] == {"float32": 4 * (weights + biases)}
    assert quantized["raw_bytes"] < dense["raw_bytes"]


def test_teacher_row_names_its_measure_and_ratios_compare_like_with_like(tmp_path):
    """The teacher is measured by the same rules (and cached); each ratio divides one measure by itself."""
    teacher = tmp_path / "teacher"
    teacher.mkdir()
    save_file({"w": torch.randn(300, 100)}, teacher / "model.safetensors")
    row = teacher_sizes(teacher, cache_dir=tmp_path / "cache")
    assert row["measure"].startswith("gzip -9 of model.safetensors") and row["params"] == 30000
    assert len(list((tmp_path / "cache").glob("*.json"))) == 1
    assert teacher_sizes(teacher, cache_dir=tmp_path / "cache") == row
    student = {"gzip_bytes": 100, "raw_bytes": 400, "params": 50, "nonzero_params": 25}
    ratios = compression_ratios(row, student)
    assert ratios["gzip_bytes_ratio"] == row["gzip_bytes"] / 100 and ratios["raw_bytes_ratio"] == row["raw_bytes"] / 400


def test_analyze_reports_each_student_and_the_teacher(tmp_path):
    """analyze gives one row per student with its variant, sizes and ratios, plus the teacher's row."""
    model, tokenizer, meta = tiny_student("ffn", "hash", tmp_path)
    teacher = tmp_path / "teacher" / "best"
    teacher.mkdir(parents=True)
    save_file({"w": torch.randn(200, 50)}, teacher / "model.safetensors")
    directory = save_student(tmp_path / "s", model, tokenizer, dataclasses.replace(meta, teacher=str(teacher.parent)))
    result = analyze(AnalyzeConfig(models=[str(directory)], cache_dir=None))
    row = result["students"][0]
    assert row["variant"] == "distilled" and row["arch"] == "ffn"
    assert row["gzip_bytes_ratio"] == pytest.approx(result["teacher"]["gzip_bytes"] / row["gzip_bytes"])
    json.dumps(result)  # printable by the CLI


def test_analyze_refuses_a_directory_that_is_not_a_student(tmp_path):
    """A directory without student.json is named in the error."""
    with pytest.raises(FileNotFoundError, match="is not a student artifact"):
        AnalyzeConfig(models=[str(tmp_path)])


def test_deployable_bytes_count_weights_tokenizer_files_and_labels(tmp_path):
    """deployable_bytes is gzip -9 of a tar holding the weights, every tokenizer file and the label names."""
    import io
    import tarfile

    from featherweight.measure.size import deployable_files, deployable_sizes, tar_bytes

    model, tokenizer, meta = tiny_student("bilstm", "bpe", tmp_path)
    directory = save_student(tmp_path / "s", model, tokenizer, meta)
    files = deployable_files(directory)
    assert set(files) == {"model.safetensors", "tokenizer/tokenizer.json", "tokenizer/bpe.model", "labels.json"}
    assert json.loads(files["labels.json"]) == meta.label_names
    sizes = deployable_sizes(directory)
    archive = tar_bytes(files)
    assert sizes["deployable_bytes"] == len(gzip.compress(archive, compresslevel=9, mtime=0))
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:  # the archive is a real tar of exactly those files
        assert {m.name: tar.extractfile(m).read() for m in tar.getmembers()} == files
    assert tar_bytes(files) == archive  # deterministic: no times or owners
    weights_only = artifact_sizes(directory)
    assert weights_only["deployable_bytes"] == sizes["deployable_bytes"]
    assert sizes["deployable_bytes"] > weights_only["gzip_bytes"] + gzip_size(directory / "tokenizer" / "bpe.model") // 2


def test_deployable_bytes_grow_with_a_larger_tokenizer_file(tmp_path):
    """The tokenizer's model file is counted: a bigger bpe.model gives a bigger deployable size, same weights."""
    from featherweight.measure.size import deployable_sizes

    model, tokenizer, meta = tiny_student("ffn", "bpe", tmp_path)
    directory = save_student(tmp_path / "s", model, tokenizer, meta)
    before = deployable_sizes(directory)["deployable_bytes"]
    bpe = directory / "tokenizer" / "bpe.model"
    bpe.write_bytes(bpe.read_bytes() + torch.randint(0, 256, (4096,), generator=torch.Generator().manual_seed(0),
                                                     dtype=torch.uint8).numpy().tobytes())  # incompressible
    assert deployable_sizes(directory)["deployable_bytes"] > before + 4000
