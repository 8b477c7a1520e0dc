"""Measure students and teachers: parameters, non-zeros, bytes on disk, real gzip -9 bytes, bytes by dtype.

The weights file is measured as stored: its raw bytes, and the bytes of gzip (RFC 1952, Python's gzip
module, level 9, mtime 0) of it; never ZIP. Bytes by dtype are elements times element size of each
stored tensor, so an int8 weight counts 1 byte. Parameters are elements of stored tensors except
quantization scales and zero points (names ending in _scale / _zero_point), which still count in bytes.
A teacher is measured by the same rules, so compression ratios compare like with like.

`deployable_bytes` is what a user ships to classify raw text: gzip -9 of one tar of the weights, the
tokenizer files (tokenizer.json, bpe.model) and the label names. It is the measure against other
tools (fastText, TF-IDF + logistic regression), whose deployable size is the gzip of the file they load.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import struct
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from featherweight import workspace
from featherweight.compression.quantized.packing import packed_bits, unpack_flat
from featherweight.student_meta import STUDENT_FILE, read_student_meta

logger = logging.getLogger(__name__)

GZIP_LEVEL = 9
QPARAM_SUFFIXES = ("_scale", "_zero_point")
_CHUNK = 1 << 20
# safetensors dtype codes -> (name, bytes per element)
_DTYPES = {"F64": ("float64", 8), "F32": ("float32", 4), "F16": ("float16", 2), "BF16": ("bfloat16", 2),
           "I64": ("int64", 8), "I32": ("int32", 4), "I16": ("int16", 2), "I8": ("int8", 1), "U8": ("uint8", 1),
           "BOOL": ("bool", 1), "F8_E4M3": ("float8_e4m3", 1), "F8_E5M2": ("float8_e5m2", 1)}


class _Counter(io.RawIOBase):
    """A write-only sink that only counts bytes."""

    def __init__(self) -> None:
        self.count = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.count += len(data)
        return len(data)


def _gzip_into(path: Path, sink) -> None:
    with open(path, "rb") as source, gzip.GzipFile(filename="", mode="wb", fileobj=sink,
                                                      compresslevel=GZIP_LEVEL, mtime=0) as archive:
        while chunk := source.read(_CHUNK):
            archive.write(chunk)


def gzip_file_bytes(path) -> bytes:
    """The gzip (level 9) of a file, as bytes: what `gzip_size` counts."""
    sink = io.BytesIO()
    _gzip_into(Path(path), sink)
    return sink.getvalue()


def gzip_size(path) -> int:
    """Bytes of the gzip (level 9, mtime 0) of a file, streamed, without keeping the output."""
    sink = _Counter()
    _gzip_into(Path(path), sink)
    return sink.count


def gzip_bytes_of(data: bytes) -> int:
    """Bytes of the gzip (level 9, mtime 0) of `data`."""
    return len(gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0))


def deployable_files(directory) -> dict:
    """{name in the archive: bytes} of everything a student needs to classify raw text."""
    directory = Path(directory)
    label_names = read_student_meta(directory).label_names
    files = {path.name: path.read_bytes() for path in _weights_files(directory)}
    tokenizer = directory / "tokenizer"
    spec = json.loads((tokenizer / "tokenizer.json").read_text(encoding="utf-8"))
    for name in ["tokenizer.json"] + ([spec["model_file"]] if spec.get("model_file") else []):
        files[f"tokenizer/{name}"] = (tokenizer / name).read_bytes()  # not vectors.npy: only training starts from it
    files["labels.json"] = json.dumps(label_names).encode()
    return files


def tar_bytes(files: dict) -> bytes:
    """A deterministic uncompressed tar of {name: bytes} (no times, owners or modes)."""
    sink = io.BytesIO()
    with tarfile.open(fileobj=sink, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            archive.addfile(info, io.BytesIO(data))
    return sink.getvalue()


def deployable_sizes(directory) -> dict:
    """deployable_bytes (gzip -9 of the tar of `deployable_files`) and what it holds."""
    files = deployable_files(directory)
    return {"deployable_bytes": gzip_bytes_of(tar_bytes(files)),
            "deployable_files": {name: len(data) for name, data in files.items()},
            "deployable_measure": f"gzip -{GZIP_LEVEL} of a tar of the weights, tokenizer files and label names"}


def safetensors_header(path) -> dict:
    """The JSON header of a safetensors file: {name: {"dtype", "shape", "data_offsets"}}."""
    with open(path, "rb") as handle:
        prefix = handle.read(8)
        if len(prefix) != 8:
            raise ValueError(f"{path}: too short to be a safetensors file.")
        (length,) = struct.unpack("<Q", prefix)
        header = json.loads(handle.read(length))
    header.pop("__metadata__", None)
    return header


def is_quantization_parameter(name: str) -> bool:
    """Scales and zero points of quantized tensors: stored bytes, but not model parameters."""
    return name.endswith(QPARAM_SUFFIXES)


def tensor_sizes(path) -> dict:
    """Parameter and non-zero counts and bytes by stored dtype of one safetensors file.

    Packed b-bit codes (tensors named *_packed<b>, see featherweight.compression.quantized.packing) count one parameter a code
    (the zero codes padding the last byte included), and their bytes go under "packed<b>".
    """
    import numpy as np
    from safetensors import safe_open


    header = safetensors_header(path)
    by_dtype, params, nonzero = {}, 0, 0
    with safe_open(str(path), "pt") as handle:
        for name, info in header.items():
            dtype, width = _DTYPES.get(info["dtype"], (info["dtype"].lower(), None))
            if width is None:
                raise ValueError(f"{path}: tensor {name} has dtype {info['dtype']}, which size.py cannot measure.")
            count = 1
            for dim in info["shape"]:
                count *= dim
            bits = packed_bits(name)
            if bits is not None:  # b-bit codes, 8 // b a byte: each code is a parameter
                dtype = f"packed{bits}"
            by_dtype[dtype] = by_dtype.get(dtype, 0) + count * width
            if bits is not None:
                codes = unpack_flat(handle.get_tensor(name).numpy(), bits, (count * 8 // bits,))
                params += codes.size
                nonzero += int(np.count_nonzero(codes))
            elif not is_quantization_parameter(name):
                params += count
                nonzero += int(handle.get_tensor(name).count_nonzero()) if count else 0
    return {"params": params, "nonzero_params": nonzero, "bytes_by_dtype": dict(sorted(by_dtype.items()))}


def _weights_files(directory: Path) -> list[Path]:
    files = sorted(directory.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"{directory} has no *.safetensors weights to measure. Save the model with "
                                "safetensors (save_pretrained(..., safe_serialization=True) for a teacher).")
    return files


def weights_sizes(directory) -> dict:
    """Sizes of the weights file(s) of a student artifact or teacher directory (summed over shards)."""
    directory = Path(directory)
    files = _weights_files(directory)
    total = {"params": 0, "nonzero_params": 0, "raw_bytes": 0, "gzip_bytes": 0, "bytes_by_dtype": {}}
    for path in files:
        sizes = tensor_sizes(path)
        total["params"] += sizes["params"]
        total["nonzero_params"] += sizes["nonzero_params"]
        total["raw_bytes"] += path.stat().st_size
        total["gzip_bytes"] += gzip_size(path)
        for dtype, count in sizes["bytes_by_dtype"].items():
            total["bytes_by_dtype"][dtype] = total["bytes_by_dtype"].get(dtype, 0) + count
    names = " + ".join(path.name for path in files)
    total["measure"] = f"gzip -{GZIP_LEVEL} of {names}; raw = its bytes on disk"
    return total


def artifact_sizes(directory) -> dict:
    """Weights sizes of a student artifact plus the whole directory (tokenizer and metadata included)."""
    directory = Path(directory)
    sizes = weights_sizes(directory)
    files = [path for path in sorted(directory.rglob("*")) if path.is_file()]
    sizes["directory_bytes"] = sum(path.stat().st_size for path in files)
    sizes["directory_gzip_bytes"] = sum(gzip_size(path) for path in files)
    sizes["deployable_bytes"] = deployable_sizes(directory)["deployable_bytes"]
    return sizes


def teacher_sizes(directory, cache_dir=None) -> dict:
    """`weights_sizes` of a teacher directory, cached by path, size and modification time (gzip of a large
    teacher takes a minute)."""
    directory = Path(directory)
    files = _weights_files(directory)
    key = hashlib.sha256(json.dumps([[str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns]
                                     for p in files]).encode()).hexdigest()[:24]
    cached = Path(cache_dir) / f"teacher-{key}.json" if cache_dir else None
    if cached is not None and cached.is_file():
        return json.loads(cached.read_text())
    sizes = {"model": str(directory), "role": "teacher", **weights_sizes(directory)}
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_text(json.dumps(sizes, indent=2))
    return sizes


def compression_ratios(teacher: dict, student: dict) -> dict:
    """Teacher / student for each measure both rows share (gzip bytes, raw bytes, parameters)."""
    return {f"{measure}_ratio": teacher[measure] / student[measure]
            for measure in ("gzip_bytes", "raw_bytes", "params", "nonzero_params") if student.get(measure)}


def resolve_teacher(directory) -> Path:
    """A fine-tuned teacher directory: the directory itself or its best/ or checkpoint/ subdirectory."""
    directory = Path(directory)
    for candidate in (directory, workspace.best_dir(directory), directory / workspace.CHECKPOINT):
        if list(candidate.glob("*.safetensors")):
            return candidate
    raise FileNotFoundError(f"No teacher weights (*.safetensors) in {directory} or its best/ or checkpoint/.")


@dataclass
class AnalyzeConfig:
    """Settings of `featherweight analyze`: sizes of student artifacts, and their ratios to the teacher."""

    models: list[str] = field(default_factory=list)  # student artifact directories to measure
    teacher: str | None = None  # teacher for the ratios; default: the one in the first student's student.json
    cache_dir: str | None = "artifacts/cache/sizes"  # teacher sizes cache (gzip takes a minute); "": no cache

    def __post_init__(self):
        if not self.models:
            raise ValueError("Give at least one student artifact directory to analyze (--models DIR [DIR ...]).")
        missing = [m for m in self.models if not (Path(m) / STUDENT_FILE).is_file()]
        if missing:
            raise FileNotFoundError(f"{missing[0]} is not a student artifact (no {STUDENT_FILE}).")


def analyze(config: AnalyzeConfig) -> dict:
    """One row per student (sizes, variant, scores, ratios to the teacher) and the teacher's row."""
    rows = []
    for directory in config.models:
        meta = read_student_meta(directory)
        rows.append({"model": str(directory), "variant": meta.variant, "arch": meta.student.arch,
                     "embedding": meta.embedding.to_dict(),
                     **{k: v for k, v in meta.scores.items() if k.startswith(("dev", "heldout"))},
                     **artifact_sizes(directory)})
    result = {"students": rows}
    teacher_row = _teacher_row(config)
    if teacher_row is not None:
        result["teacher"] = teacher_row
        for row in rows:
            row.update(compression_ratios(teacher_row, row))
    return result


def _teacher_row(config: AnalyzeConfig) -> dict | None:
    """The --teacher's sizes (it must exist), else those of the teacher the first student records, if on disk."""
    if config.teacher:
        return teacher_sizes(resolve_teacher(config.teacher), config.cache_dir)
    return recorded_teacher_sizes(config.models[0], config.cache_dir)


def recorded_teacher_sizes(student_dir, cache_dir=None) -> dict | None:
    """`teacher_sizes` of the teacher a student's student.json names; None, with a note, when it names none
    (saved soft targets) or its weights are gone."""
    recorded = read_student_meta(student_dir).teacher
    if recorded:
        try:
            return teacher_sizes(resolve_teacher(recorded), cache_dir)
        except FileNotFoundError:
            pass
    logger.info("No teacher %s: no teacher size row or compression ratios (analyze sizes --teacher DIR adds them).",
                f"weights at {recorded}, which {student_dir} records" if recorded else f"recorded in {student_dir}")
    return None
