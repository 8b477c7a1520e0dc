"""Locate a task's files (downloading GLUE when no directory is given) and split train into train and held-out."""
from __future__ import annotations

import logging
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from featherweight.data.glue import DataError, TaskData, read_task_file
from featherweight.data.tasks import TASKS, TaskSpec, get_task
from featherweight.download import download

logger = logging.getLogger(__name__)

GLUE_DIR_ENV = "FEATHERWEIGHT_GLUE_DIR"
CACHE_DIR_ENV = "FEATHERWEIGHT_CACHE"


def cache_root() -> Path:
    """Featherweight's cache directory: $FEATHERWEIGHT_CACHE or ~/.cache/featherweight."""
    return Path(os.environ.get(CACHE_DIR_ENV) or Path.home() / ".cache" / "featherweight")


@dataclass
class DataConfig:
    """Where a task's data lives and how the held-out slice of train is drawn."""

    task: str = "sst-2"  # GLUE task: sst-2, qqp or mnli
    glue_dir: str | None = None  # folder of <TASK>/*.tsv; default: $FEATHERWEIGHT_GLUE_DIR, else the download cache
    heldout_fraction: float = 0.05  # fraction of train held out for model selection and calibration
    heldout_seed: int = 0  # seed of the held-out draw, fixed so every model is selected on the same slice
    skip_bad_rows: bool = False  # skip malformed TSV rows (counted and logged) instead of stopping at the first
    download_url: str | None = None  # GLUE zip to fetch if files are missing; default: the task's official URL

    def __post_init__(self):
        self.task = get_task(self.task).name
        if not 0.0 < self.heldout_fraction < 1.0:
            raise ValueError(f"heldout_fraction must be in (0, 1), got {self.heldout_fraction}.")

    @property
    def spec(self) -> TaskSpec:
        return get_task(self.task)


def task_directory(config: DataConfig, *, show_progress: bool = True) -> Path:
    """The directory holding the task's TSV files.

    A given GLUE directory (--glue-dir, else $FEATHERWEIGHT_GLUE_DIR) must hold them; only without one,
    or with an explicit `download_url`, is the GLUE zip downloaded into the cache when they are missing.
    """
    spec = config.spec
    given, option = _given_glue_dir(config)
    download_root = cache_root() / "glue"
    if given and not _missing_files(given / spec.directory, spec):
        return given / spec.directory
    if given and config.download_url is None:  # the user named the data: never swap in other files
        raise _glue_dir_error(given, option, spec, download_root)
    if not _missing_files(download_root / spec.directory, spec):
        return download_root / spec.directory
    url = config.download_url or spec.download_url
    logger.warning("%s files not found in %s; downloading %s into %s", spec.directory,
                   given or "(no --glue-dir given)", url, download_root)
    try:
        archive = download(url, download_root / f"{spec.directory}.zip", show_progress=show_progress)
    except ConnectionError as error:
        raise ConnectionError(f"{error} Or pass --glue-dir DIR, the directory holding "
                              f"{_required_paths(spec)}.") from None
    with zipfile.ZipFile(archive) as handle:
        handle.extractall(download_root)
    directory = download_root / spec.directory
    missing = _missing_files(directory, spec)
    if missing:
        raise DataError(f"{archive}: the downloaded archive has no {spec.directory}/{missing[0]}.")
    return directory


def _given_glue_dir(config: DataConfig) -> tuple[Path | None, str | None]:
    """The GLUE directory the user named and how (the option or the environment variable), else (None, None)."""
    if config.glue_dir:
        return Path(config.glue_dir), "--glue-dir"
    if os.environ.get(GLUE_DIR_ENV):
        return Path(os.environ[GLUE_DIR_ENV]), f"${GLUE_DIR_ENV}"
    return None, None


def _required_paths(spec: TaskSpec) -> str:
    return ", ".join(f"{spec.directory}/{name}" for name in spec.required_files)


def _missing_files(directory: Path, spec: TaskSpec) -> list[str]:
    return [name for name in spec.required_files if not (directory / name).is_file()]


def _glue_dir_error(glue_dir: Path, option: str, spec: TaskSpec, download_root: Path) -> DataError:
    """A missing GLUE directory, or one without the task's files: what was looked for and what to do."""
    download = f"leave {option} unset to download {spec.download_url} into {download_root}"
    if not glue_dir.is_dir():
        problem = "is not a directory" if glue_dir.exists() else "does not exist"
        return DataError(f"{option} {glue_dir} {problem}; pass the directory that holds "
                         f"{', '.join(f'{t.directory}/' for t in TASKS.values())} (each with train.tsv and "
                         f"dev files), or {download}.")
    missing = _missing_files(glue_dir / spec.directory, spec)
    return DataError(f"{option} {glue_dir}: no {spec.directory}/{missing[0]} (looked for "
                     f"{glue_dir / spec.directory / missing[0]}); the {spec.name} task needs "
                     f"{_required_paths(spec)} there. "
                     f"Put the files there, or {download}.")


def heldout_indices(n_rows: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of range(n_rows) into sorted (train, held-out) index arrays."""
    order = np.random.default_rng(seed).permutation(n_rows)
    n_heldout = max(1, int(round(n_rows * fraction)))
    return np.sort(order[n_heldout:]), np.sort(order[:n_heldout])


def load_splits(config: DataConfig, *, show_progress: bool = True) -> dict[str, TaskData]:
    """Return {"train", "heldout", <dev splits present>} for the task.

    "train" excludes the held-out slice; dev splits are for reporting only.
    """
    spec = config.spec
    directory = task_directory(config, show_progress=show_progress)
    full_train = read_task_file(directory / spec.train_file, spec, skip_bad_rows=config.skip_bad_rows)
    train_index, heldout_index = heldout_indices(len(full_train), config.heldout_fraction,
                                                 config.heldout_seed)
    splits = {"train": full_train.subset(train_index), "heldout": full_train.subset(heldout_index)}
    splits["train"].skipped = full_train.skipped
    for split, name in spec.dev_files.items():
        path = directory / name
        if path.is_file():
            splits[split] = read_task_file(path, spec, skip_bad_rows=config.skip_bad_rows)
        else:
            logger.info("%s: not present; %s is not evaluated", path, split)
    return splits


def dev_splits(splits: dict[str, TaskData]) -> dict[str, TaskData]:
    """The reporting splits of `load_splits`' result (everything but train and held-out)."""
    return {name: data for name, data in splits.items() if name not in ("train", "heldout")}
