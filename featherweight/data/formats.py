"""Row readers for each data file format (TSV, CSV, JSON Lines, Parquet, a saved Hugging Face dataset).

Each reader is a generator: it yields the column names first (None for an empty file), then
(row number, row) pairs, where a row is a {column: value} dict or a string saying why the row is
unusable. Row numbers are file lines for the text formats and 1-based row indices otherwise.
"""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Iterator

from featherweight.data.textfile import DataError, open_text

EXTENSIONS = {".tsv": "tsv", ".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet"}
ROW_FORMATS = ("parquet", "hf")  # numbered by row, not by line
DATASETS_MISSING = "needs the Hugging Face datasets package: pip install datasets"


def file_format(path: Path, fixed: str | None = None) -> str:
    """The format to read `path` as: `fixed` when the task fixes one, else a directory is a saved Hugging Face
    dataset and a file goes by its extension."""
    if fixed:
        return fixed
    if path.is_dir():
        return "hf"
    if path.suffix.lower() in EXTENSIONS:
        return EXTENSIONS[path.suffix.lower()]
    raise DataError(f"{path}: unknown data format {path.suffix or '(no extension)'!r}; expected a .tsv, .csv, "
                    f".jsonl/.json (JSON Lines) or .parquet file, or a folder written by datasets' save_to_disk. "
                    f"Rename or convert the file.")


def tsv_field(text: str) -> str:
    """A text as one TSV field: tabs and line breaks (CR, LF) become single spaces."""
    return re.sub(r"[\t\r\n]+", " ", text)


def location(path: Path, number: int, fmt: str) -> str:
    """'FILE:LINE' for text formats, 'FILE row N' for Parquet and Hugging Face datasets."""
    return f"{path} row {number}" if fmt in ROW_FORMATS else f"{path}:{number}"


def read_rows(path: Path, fmt: str) -> Iterator:
    """The reader of `fmt` over `path` (see the module docstring)."""
    return READERS[fmt](path)


def _tsv_rows(path: Path) -> Iterator:
    with open_text(path) as handle:
        first = handle.readline()
        if not first:
            yield None
            return
        header = first.rstrip("\r\n").split("\t")
        yield header
        for number, line in enumerate(handle, start=2):
            line = line.rstrip("\r\n")
            if not line:
                continue
            fields = line.split("\t")
            if len(fields) != len(header):
                yield number, (f"wrong field count: found {len(fields)} tab-separated fields, expected {len(header)} "
                               f"like the header (a tab inside a text splits it)")
            else:
                yield number, dict(zip(header, fields))


def _csv_rows(path: Path) -> Iterator:
    with open_text(path) as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
            yield None if header is None else [column.strip() for column in header]
            previous = reader.line_num
            for fields in reader:
                number, previous = previous + 1, reader.line_num  # a quoted text may span lines: its first
                if not fields:
                    continue
                if len(fields) != len(header):
                    yield number, (f"wrong field count: found {len(fields)} comma-separated fields, expected "
                                   f"{len(header)} like the header (quote a text that holds a comma)")
                else:
                    yield number, dict(zip((column.strip() for column in header), fields))
        except csv.Error as error:
            raise DataError(f"{path}:{reader.line_num}: not valid CSV ({error}); fix that row's quoting.") from None


def _jsonl_rows(path: Path) -> Iterator:
    with open_text(path) as handle:
        lines = [(number, line) for number, line in enumerate(handle, start=1) if line.strip()]
    if lines and lines[0][1].lstrip().startswith("["):
        raise DataError(f"{path}:{lines[0][0]}: a JSON array; Featherweight reads JSON Lines, one object per line "
                        f"(pandas: to_json(orient='records', lines=True)). Write the file that way.")
    rows = [(number, _json_object(line)) for number, line in lines]
    yield next((list(row) for _, row in rows if isinstance(row, dict)), [] if rows else None)
    yield from rows


def _json_object(line: str) -> dict | str:
    """The object on one JSON Lines line, or what is wrong with it."""
    try:
        value = json.loads(line)
    except json.JSONDecodeError as error:
        return f"not valid JSON: {error.msg} at column {error.colno}"
    return value if isinstance(value, dict) else f"not a JSON object: found a {type(value).__name__}"


def _parquet_rows(path: Path) -> Iterator:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as error:
        raise DataError(f"{path}: not a readable Parquet file ({error}); write it again or pass another file.") \
            from None
    yield table.column_names
    yield from enumerate(table.to_pylist(), start=1)


def _hf_rows(path: Path) -> Iterator:
    dataset = load_saved_dataset(path)
    yield dataset.column_names
    yield from enumerate(dataset, start=1)


def import_datasets():
    """The `datasets` package, or a one-line error saying how to install it."""
    try:
        import datasets
    except ImportError:
        raise DataError(f"Reading a Hugging Face dataset {DATASETS_MISSING}.") from None
    return datasets


def load_saved_dataset(path: Path):
    """The one split (a datasets.Dataset) saved in folder `path` by save_to_disk."""
    datasets = import_datasets()
    try:
        dataset = datasets.load_from_disk(str(path))
    except FileNotFoundError as error:
        raise DataError(f"{path}: not a Hugging Face dataset folder written by save_to_disk ({error}).") from None
    if isinstance(dataset, datasets.DatasetDict):
        raise DataError(f"{path} holds the splits {list(dataset)}, not one split; pass one split's folder, or "
                        f"--hf-dataset {path} with --train-split and --dev-split.")
    return dataset


def class_names(path: Path, column: str) -> list[str] | None:
    """The names of a saved Hugging Face dataset's ClassLabel column (index order), else None."""
    feature = load_saved_dataset(path).features.get(column)
    return list(feature.names) if type(feature).__name__ == "ClassLabel" else None


READERS = {"tsv": _tsv_rows, "csv": _csv_rows, "jsonl": _jsonl_rows, "parquet": _parquet_rows, "hf": _hf_rows}
