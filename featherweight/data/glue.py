"""Read and validate a task's data files (any format of `formats`) into `TaskData`; bad rows are errors or skips."""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from featherweight.data.formats import file_format, location, read_rows
from featherweight.data.tasks import TaskSpec
from featherweight.data.textfile import DataError, not_utf8_message, open_text, read_text

logger = logging.getLogger(__name__)

__all__ = ["DataError", "RawRows", "TaskData", "not_utf8_message", "open_text", "read_raw_rows", "read_task_file",
           "read_text"]


@dataclass
class TaskData:
    """The rows of one task file: texts, integer labels (None when unlabelled) and source lines."""

    task: TaskSpec
    path: Path
    texts_a: list[str]
    texts_b: list[str] | None
    labels: np.ndarray | None  # (N,) int64 indices into task.label_names
    line_numbers: np.ndarray  # (N,) 1-based line numbers in `path` (row numbers for Parquet and datasets)
    skipped: Counter = field(default_factory=Counter)  # reason -> rows skipped

    def __len__(self) -> int:
        return len(self.texts_a)

    def subset(self, indices) -> "TaskData":
        """A new TaskData holding only the given row indices, in that order."""
        indices = np.asarray(indices, dtype=np.int64)
        return TaskData(
            task=self.task,
            path=self.path,
            texts_a=[self.texts_a[i] for i in indices],
            texts_b=None if self.texts_b is None else [self.texts_b[i] for i in indices],
            labels=None if self.labels is None else self.labels[indices],
            line_numbers=self.line_numbers[indices],
            skipped=Counter(),
        )

    def texts(self) -> list[tuple[str, ...]]:
        """Rows as tuples of one or two texts."""
        if self.texts_b is None:
            return [(a,) for a in self.texts_a]
        return list(zip(self.texts_a, self.texts_b))


@dataclass
class RawRows:
    """The usable rows of a file before labels are mapped: texts per column, label values as written, lines."""

    texts: list[list[str]]  # one list per text column
    labels: list[str] | None  # label values as strings, None when unlabelled
    line_numbers: list[int]
    skipped: Counter
    format: str


def read_task_file(path, task: TaskSpec, *, labelled: bool = True, skip_bad_rows: bool = False) -> TaskData:
    """Read a task file (UTF-8, a leading byte-order mark allowed) with the task's columns and labels.

    A missing, empty, header-only or non-UTF-8 file or a missing column is always an error. A bad
    row (wrong field count, unknown or empty label, empty text) is an error naming file and line unless
    `skip_bad_rows`, in which case it is counted in `TaskData.skipped` and reported in the log.
    """
    path = Path(path)
    label_of = {value: index for index, value in enumerate(task.label_values)}
    rows = read_raw_rows(path, task.text_columns, task.label_column if labelled else None, fixed_format=task.format,
                         label_of=label_of, skip_bad_rows=skip_bad_rows, layout=_layout(task),
                         label_hint="" if task.is_glue else " (the labels of train, in --labels order)",
                         missing_hint=_missing_hint(task, path))
    return TaskData(
        task=task,
        path=path,
        texts_a=rows.texts[0],
        texts_b=rows.texts[1] if task.is_pair else None,
        labels=np.asarray([label_of[value] for value in rows.labels], dtype=np.int64) if labelled else None,
        line_numbers=np.asarray(rows.line_numbers, dtype=np.int64),
        skipped=rows.skipped,
    )


def _layout(task: TaskSpec) -> str:
    return f"the GLUE {task.directory} layout" if task.is_glue else f"the {task.name} task's columns"


def _missing_hint(task: TaskSpec, path: Path) -> str:
    if task.is_glue:
        return f"Pass --glue-dir pointing at a GLUE directory that contains {task.directory}/{path.name}."
    return "Check the path (--train-file, --dev-file or --data-file)."


def read_raw_rows(path: Path, text_columns, label_column: str | None, *, fixed_format: str | None = None,
                  label_of: dict | None = None, skip_bad_rows: bool = False, layout: str = "the task's columns",
                  label_hint: str = "", missing_hint: str = "Check the path.") -> RawRows:
    """The usable rows of `path`: texts of `text_columns` and values of `label_column` (None: unlabelled).

    `label_of` (value -> index), when given, makes a value outside it a bad row. Bad rows raise a
    DataError at file:line, or are counted and logged with `skip_bad_rows`.
    """
    if not path.exists():
        raise DataError(f"{path}: file not found. {missing_hint}")
    fmt = file_format(path, fixed_format)
    needed = list(text_columns) + ([label_column] if label_column else [])
    records = read_rows(path, fmt)
    header = next(records)
    _check_header(header, path, fmt, needed, layout)
    texts = [[] for _ in text_columns]
    labels, lines, skipped = [], [], Counter()
    for number, row in records:
        problem = row if isinstance(row, str) else _row_problem(row, text_columns, label_column, label_of, label_hint)
        if problem:
            if not skip_bad_rows:
                raise DataError(f"{location(path, number, fmt)}: {problem}. Fix the row, or pass "
                                f"--skip-bad-rows to skip and count such rows.")
            skipped[problem.split(":")[0]] += 1
            continue
        for column, values in zip(text_columns, texts):
            values.append(_text(row[column]))
        if label_column:
            labels.append(label_value(row[label_column]))
        lines.append(number)
    _check_rows(path, fmt, lines, skipped, needed, layout)
    return RawRows(texts, labels if label_column else None, lines, skipped, fmt)


def _check_header(header, path: Path, fmt: str, needed: list[str], layout: str) -> None:
    """An empty file or a header without the `needed` columns is a DataError saying what was expected."""
    if header is None:
        expected = {"tsv": "a tab-separated header line", "csv": "a comma-separated header line"}.get(fmt)
        what = (f"{expected} with columns {needed}, then one row per line" if expected
                else f"one JSON object per line with fields {needed}")
        raise DataError(f"{path}: the file is empty; expected {what}.")
    missing = [column for column in needed if column not in header]
    if missing:
        hint = " The header has no tab: save the file tab-separated." if fmt == "tsv" and len(header) == 1 else ""
        where = f"{path}:1" if fmt in ("tsv", "csv", "jsonl") else str(path)
        raise DataError(f"{where}: missing column(s) {missing}; the {'header' if fmt in ('tsv', 'csv') else 'data'} "
                        f"has {header}. Expected {layout} with columns {needed}.{hint}")


def _check_rows(path: Path, fmt: str, lines: list, skipped: Counter, needed: list[str], layout: str) -> None:
    counts = ", ".join(f"{reason}: {count}" for reason, count in skipped.items())
    if skipped and not lines:
        raise DataError(f"{path}: all {sum(skipped.values())} rows are bad ({counts}); expected rows in "
                        f"{layout} with columns {needed}. Fix the file.")
    if not lines:
        what = ("only a header line, no rows; expected one row per line after the header"
                if fmt in ("tsv", "csv") else "no rows; expected rows")
        raise DataError(f"{path}: {what}, with columns {needed}. Add the rows, or pass the file that holds them.")
    if skipped:
        logger.warning("%s: skipped %d bad rows (%s)", path, sum(skipped.values()), counts)


def _text(value) -> str:
    return "" if value is None else str(value).strip()


def label_value(value) -> str:
    """A label as written in a file, as a string: 3 and 3.0 read as "3", None as ""."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return _text(value)


def _row_problem(row: dict, text_columns, label_column, label_of, label_hint: str) -> str | None:
    """Describe what is wrong with one row, or None when it is usable."""
    for column in text_columns:
        if not _text(row.get(column)):
            return f"empty text: column {column!r} is empty, expected a text"
    if label_column is None:
        return None
    value = label_value(row.get(label_column))
    if not value:
        return f"empty label: column {label_column!r} is empty, expected a label"
    if label_of is not None and value not in label_of:
        return (f"unknown label: {row[label_column]!r} in column {label_column!r}, "
                f"expected one of {sorted(label_of)}{label_hint}")
    return None
