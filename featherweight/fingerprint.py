"""Content hashes of files and directories, used to tell a fresh cache from a stale one."""
from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path, chunk_size: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def directory_sha256(path) -> str:
    """SHA-256 over the relative names and contents of every file under a directory, in sorted order."""
    root = Path(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(file.relative_to(root).as_posix().encode() + b"\0")
        digest.update(file_sha256(file).encode())
    return digest.hexdigest()


def path_sha256(path) -> str:
    """Hash of a file or of a directory tree."""
    path = Path(path)
    return directory_sha256(path) if path.is_dir() else file_sha256(path)
