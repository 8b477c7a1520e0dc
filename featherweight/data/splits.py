"""Locate a task's files (downloading GLUE when no directory is given) and split train into train and held-out."""
from __future__ import annotations

import dataclasses
import logging
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from featherweight.data.glue import DataError, TaskData, read_task_file
from featherweight.data.custom import custom_files, custom_spec
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
    """Where a task's data lives and how the held-out slice of train is drawn.

    A GLUE task is a preset (--task sst-2, qqp or mnli); your own data set is files plus columns
    (--train-file with --text-column and --label-column), or a Hugging Face dataset (--hf-dataset).
    """

    task: str = "sst-2"  # GLUE task: sst-2, qqp or mnli (your own data: see --task-name)
    glue_dir: str | None = None  # folder of <TASK>/*.tsv; default: $FEATHERWEIGHT_GLUE_DIR, else the download cache
    train_file: str | None = None  # your own rows: .tsv, .csv, .jsonl/.json or .parquet; default: none, a GLUE task
    dev_file: str | None = None  # labelled rows to report scores on; default: the dev split, else a slice of train
    text_column: str | None = None  # your own data: the text column; default: "text", else "sentence"
    text_pair_column: str | None = None  # your own data: a second text column (pairs); default: none, single texts
    label_column: str | None = None  # your own data: the label column (strings or integers); default: "label"
    labels: str | None = None  # your own data: all labels in order, "a,b,c"; default: train's, sorted
    task_name: str | None = None  # your own data: the task's name; default: the train file's folder (or dataset) name
    hf_dataset: str | None = None  # Hugging Face dataset: hub name or save_to_disk folder; default: none
    hf_config: str | None = None  # --hf-dataset's configuration (subset); default: its only one
    train_split: str | None = None  # --hf-dataset's split to train on; default: train
    dev_split: str | None = None  # --hf-dataset's dev split; default: validation, dev or test, else a slice of train
    dev_fraction: float = 0.1  # your own data without a dev file or split: share of train carved off as dev
    heldout_fraction: float = 0.05  # fraction of train held out for model selection and calibration
    heldout_seed: int = 0  # seed of the held-out draw, fixed so every model is selected on the same slice
    skip_bad_rows: bool = False  # skip malformed rows (counted and logged) instead of stopping at the first
    download_url: str | None = None  # GLUE zip to fetch if files are missing; default: the task's official URL

    def __post_init__(self):
        for name in ("heldout_fraction", "dev_fraction"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in (0, 1), got {getattr(self, name)} "
                                 f"(--{name.replace('_', '-')}).")
        if isinstance(self.labels, (list, tuple)):
            self.labels = ",".join(str(label) for label in self.labels)
        if self.train_file and self.hf_dataset:
            raise ValueError("Pass either --train-file or --hf-dataset, not both.")
        if self.is_custom:
            self.task = self.task_name = self.task_name or _default_task_name(self)
            return
        own = [name for name in CUSTOM_ONLY if getattr(self, name) is not None]
        if own:
            raise ValueError(f"--{own[0].replace('_', '-')} describes your own data set: pass --train-file (or "
                             f"--hf-dataset) too, or leave it out for the GLUE task {self.task}.")
        self.task = get_task(self.task).name

    @property
    def is_custom(self) -> bool:
        """True for a user's own data set (--train-file or --hf-dataset), False for a GLUE task."""
        return bool(self.train_file or self.hf_dataset)

    @property
    def is_pair(self) -> bool:
        """Whether rows are text pairs, known without reading the data."""
        return bool(self.text_pair_column) if self.is_custom else get_task(self.task).is_pair

    def label_list(self) -> list[str]:
        """--labels as a list ([] when not given)."""
        return [label.strip() for label in (self.labels or "").split(",") if label.strip()]

    @property
    def spec(self) -> TaskSpec:
        """The task's spec; for your own data its labels are read from the training rows (once per config)."""
        if not self.is_custom:
            return get_task(self.task)
        cached = self.__dict__.get("_spec")
        if cached is None:
            cached = custom_spec(self, *custom_files(self, cache_root()))
            self.__dict__["_spec"] = cached
        return cached


def recorded_data_config(record: dict) -> DataConfig:
    """The DataConfig an artifact recorded (dataclasses.asdict), fields of other versions left out."""
    known = {item.name for item in dataclasses.fields(DataConfig)}
    return DataConfig(**{key: value for key, value in record.items() if key in known})


CUSTOM_ONLY = ("text_column", "text_pair_column", "label_column", "labels", "task_name", "hf_config",
               "train_split", "dev_split")


def _default_task_name(config: DataConfig) -> str:
    """The train file's folder name (e.g. "trec"), or the Hugging Face dataset's name."""
    if config.train_file:
        path = Path(config.train_file).resolve()
        return (path.parent.name or path.stem).lower()
    return Path(config.hf_dataset.rstrip("/")).name.lower()


def train_path(config: DataConfig, *, show_progress: bool = True) -> Path:
    """The file (or saved dataset folder) of the task's training rows."""
    if config.is_custom:
        return Path(config.spec.train_file)
    return task_directory(config, show_progress=show_progress) / config.spec.train_file


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

    "train" excludes the held-out slice; dev splits are for reporting only. --dev-file replaces the dev
    split(s); your own data without one has a seeded --dev-fraction slice of train carved off as "dev".
    """
    spec = config.spec
    train_file = train_path(config, show_progress=show_progress)
    full_train = read_task_file(train_file, spec, skip_bad_rows=config.skip_bad_rows)
    dev_files = {"dev": Path(config.dev_file)} if config.dev_file else {
        split: (Path(name) if spec.directory is None else train_file.parent / name)
        for split, name in spec.dev_files.items()}
    splits = {}
    if not dev_files:
        rest, dev = heldout_indices(len(full_train), config.dev_fraction, config.heldout_seed + 1)
        splits["dev"] = full_train.subset(dev)
        logger.info("%s: no dev file or split given (--dev-file / --dev-split); scores are reported on a seeded "
                    "%.0f%% slice of train (%d rows, --dev-fraction), kept out of training.", train_file,
                    100 * config.dev_fraction, len(dev))
    else:
        rest = np.arange(len(full_train))
    train_index, heldout_index = heldout_indices(len(rest), config.heldout_fraction, config.heldout_seed)
    splits = {"train": full_train.subset(rest[train_index]), "heldout": full_train.subset(rest[heldout_index]),
              **splits}
    splits["train"].skipped = full_train.skipped
    for split, path in dev_files.items():
        if path.is_file() or path.is_dir():
            splits[split] = read_task_file(path, spec, skip_bad_rows=config.skip_bad_rows)
        elif spec.is_glue and not config.dev_file:
            logger.info("%s: not present; %s is not evaluated", path, split)
        else:
            raise DataError(f"{path}: file not found; check --dev-file (or --dev-split).")
    return splits


def dev_splits(splits: dict[str, TaskData]) -> dict[str, TaskData]:
    """The reporting splits of `load_splits`' result (everything but train and held-out)."""
    return {name: data for name, data in splits.items() if name not in ("train", "heldout")}
