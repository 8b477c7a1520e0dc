"""export.json: what an export directory holds and how to run it (read without torch by the predictor)."""
from __future__ import annotations

import json
from pathlib import Path

from featherweight.config_io import read_json

MANIFEST_FILE = "export.json"
MANIFEST_VERSION = 1
FORMATS = ("onnx", "onnx-int8", "c")
TOKENIZER_DIR = "tokenizer"


def read_manifest(directory) -> dict:
    """The manifest of an export directory, with a clear error when it is not one."""
    path = Path(directory) / MANIFEST_FILE
    if not path.is_file():
        hint = (" It looks like a student artifact: export it first with "
                f"`featherweight export --model {directory} --format onnx --output EXPORT_DIR`."
                if (Path(directory) / "student.json").is_file() else "")
        raise FileNotFoundError(f"{directory} is not an export directory: it has no {MANIFEST_FILE}.{hint}")
    manifest = read_json(path)
    version = manifest.get("format_version") if isinstance(manifest, dict) else None
    if version != MANIFEST_VERSION:
        raise ValueError(f"{path}: export format_version {version!r} is not supported "
                         f"(this code reads {MANIFEST_VERSION}); re-export the student.")
    return manifest


def write_manifest(directory, manifest: dict) -> Path:
    path = Path(directory) / MANIFEST_FILE
    path.write_text(json.dumps({"format_version": MANIFEST_VERSION, **manifest}, indent=2, default=str) + "\n",
                    encoding="utf-8")
    return path
