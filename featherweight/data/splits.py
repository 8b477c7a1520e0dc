"""Locate a task's files (downloading GLUE when absent) and split train into train and held-out."""
from __future__ import annotations

import logging
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from featherweight.data.glue import DataError, TaskData, read_task_file
from featherweight.data.tasks import TaskSpec, get_task
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

    task: str = "sst-2"
    glue_dir: str | None = None  # default: $FEATHERWEIGHT_GLUE_DIR, else the download cache
    heldout_fraction: float = 0.05  # slice of train for model selection and calibration
    heldout_seed: int = 0  # fixed across runs so every model is selected on the same slice
    skip_bad_rows: bool = False
    download_url: str | None = None  # override the task's official GLUE zip URL

    def __post_init__(self):
        self.task = get_task(self.task).name
        if not 0.0 < self.heldout_fraction < 1.0:
            raise ValueError(f"heldout_fraction must be in (0, 1), got {self.heldout_fraction}.")

    @property
    def spec(self) -> TaskSpec:
        return get_task(self.task)


def task_directory(config: DataConfig, *, show_progress: bool = True) -> Path:
    """The directory holding the task's TSV files, downloading the GLUE zip when they are missing."""
    spec = config.spec
    glue_dir = config.glue_dir or os.environ.get(GLUE_DIR_ENV)
    candidates = [Path(glue_dir) / spec.directory] if glue_dir else []
    download_root = cache_root() / "glue"
    candidates.append(download_root / spec.directory)
    for directory in candidates:
        if all((directory / name).is_file() for name in spec.required_files):
            return directory
    url = config.download_url or spec.download_url
    logger.warning("%s files not found in %s; downloading %s into %s", spec.directory,
                   glue_dir or "(no --glue-dir given)", url, download_root)
    archive = download(url, download_root / f"{spec.directory}.zip", show_progress=show_progress)
    with zipfile.ZipFile(archive) as handle:
        handle.extractall(download_root)
    directory = download_root / spec.directory
    missing = [name for name in spec.required_files if not (directory / name).is_file()]
    if missing:
        raise DataError(f"{archive}: the downloaded archive has no {spec.directory}/{missing[0]}.")
    return directory


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
