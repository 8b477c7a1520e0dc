"""A user's own task: find its files (a train file, or a Hugging Face dataset's splits) and build its TaskSpec.

The label set and order come from the training rows: sorted (numbers numerically) unless the user fixes the
order (--labels); a Hugging Face ClassLabel column keeps its own names and order.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

from featherweight.data.formats import DATASETS_MISSING, class_names, file_format, import_datasets, read_rows
from featherweight.data.glue import read_raw_rows
from featherweight.data.tasks import TaskSpec
from featherweight.data.textfile import DataError

logger = logging.getLogger(__name__)

TEXT_COLUMNS = ("text", "sentence")  # tried in this order when --text-column is not given
DEV_SPLITS = ("validation", "dev", "test")  # a Hugging Face dataset's first of these is its dev split


def custom_files(config, cache_root: Path) -> tuple[Path, Path | None]:
    """(train, dev or None) of a user's task: --train-file/--dev-file, or the splits of --hf-dataset as folders."""
    if config.train_file:
        return Path(config.train_file), Path(config.dev_file) if config.dev_file else None
    return hf_split_dirs(config, cache_root)


def hf_split_dirs(config, cache_root: Path) -> tuple[Path, Path | None]:
    """The folders holding --hf-dataset's train and dev splits (save_to_disk layout).

    A local folder is used in place; a hub dataset is downloaded once and saved under the cache.
    """
    datasets = import_datasets()
    local = Path(config.hf_dataset)
    if local.is_dir():
        root, splits = local, _saved_splits(local)
    else:
        parts = [re.sub(r"[^\w.-]+", "_", part) for part in (config.hf_dataset, config.hf_config or "default")]
        root = cache_root / "hf" / parts[0] / parts[1]
        if not root.is_dir():
            logger.info("Downloading Hugging Face dataset %s into %s", config.hf_dataset, root)
            try:
                datasets.load_dataset(config.hf_dataset, config.hf_config).save_to_disk(str(root))
            except (ConnectionError, OSError, ValueError) as error:
                raise DataError(f"--hf-dataset {config.hf_dataset}: could not load it ({error}); pass a hub "
                                f"name with the network on, or a folder written by save_to_disk.") from None
        splits = _saved_splits(root)
    train = config.train_split or "train"
    if train not in splits:
        raise DataError(f"--hf-dataset {config.hf_dataset} has no split {train!r}; it has {splits}. "
                        f"Pass --train-split.")
    dev = config.dev_split or next((name for name in DEV_SPLITS if name in splits), None)
    if dev is not None and dev not in splits:
        raise DataError(f"--hf-dataset {config.hf_dataset} has no split {dev!r}; it has {splits}. "
                        f"Pass --dev-split.")
    return root / train, None if dev is None else root / dev


def _saved_splits(root: Path) -> list[str]:
    """The split folders of a DatasetDict saved in `root`; a single saved Dataset counts as split "train"."""
    if (root / "dataset_dict.json").is_file():
        return sorted(path.name for path in root.iterdir() if (path / "state.json").is_file())
    if (root / "state.json").is_file():
        raise DataError(f"--hf-dataset {root} holds one split, not a dataset with splits; pass it as --train-file "
                        f"{root} (and --dev-file for the dev split).")
    raise DataError(f"--hf-dataset {root}: not a folder written by datasets' save_to_disk (no dataset_dict.json). "
                    f"Save the dataset with save_to_disk, or pass a hub name ({DATASETS_MISSING}).")


def custom_spec(config, train: Path, dev: Path | None) -> TaskSpec:
    """The TaskSpec of a user's task, its labels found in (or checked against) the training rows."""
    text_columns = (_text_column(config, train),) + ((config.text_pair_column,) if config.text_pair_column else ())
    label_column = config.label_column or "label"
    rows = read_raw_rows(train, text_columns, label_column, fixed_format=None, skip_bad_rows=config.skip_bad_rows,
                         layout="the columns you named", missing_hint="Check --train-file.")
    values, names = label_order(config, train, label_column, rows.labels, rows.format)
    return TaskSpec(name=config.task, text_columns=text_columns, label_column=label_column, label_values=values,
                    label_names=names, metrics=("accuracy",), train_file=str(train),
                    dev_files={"dev": str(dev)} if dev else {}, directory=None, download_url=None, format=None)


def _text_column(config, train: Path) -> str:
    """--text-column, else the first of "text" and "sentence" that the file has."""
    if config.text_column:
        return config.text_column

    header = next(read_rows(train, file_format(train))) or []
    return next((column for column in TEXT_COLUMNS if column in header), TEXT_COLUMNS[0])


def label_order(config, train: Path, label_column: str, found: list[str], fmt: str) -> tuple[tuple, tuple]:
    """(label values as written, label names) in label-index order; at least two classes."""
    seen = sorted(set(found), key=_sort_key)
    given = config.label_list()
    if given:
        extra = [value for value in seen if value not in given]
        if extra:
            raise DataError(f"{train}: label {extra[0]!r} (column {label_column!r}) is not in --labels {given}; "
                            f"add it to --labels, or fix the rows.")
        unused = [value for value in given if value not in seen]
        if unused:
            logger.warning("%s: --labels %s never occur in the training rows.", train, unused)
        seen = given
    elif fmt == "hf" and (names := class_names(train, label_column)):
        return tuple(str(index) for index in range(len(names))), tuple(names)
    if len(seen) < 2:
        raise DataError(f"{train}: every training row has the label {seen[0]!r} (column {label_column!r}); a "
                        f"classifier needs at least two classes. Check --label-column, or add rows of other classes.")
    return tuple(seen), tuple(seen)


def _sort_key(value: str):
    """Numbers before words, numbers by value: "2" < "10" < "a"."""
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)
