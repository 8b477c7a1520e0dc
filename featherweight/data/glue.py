"""Read and validate GLUE-layout TSV files into `TaskData`; bad rows are errors or counted skips."""
from __future__ import annotations

import logging
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from featherweight.data.tasks import TaskSpec

logger = logging.getLogger(__name__)


class DataError(ValueError):
    """A problem with a user's data file, with the file and line it was found at."""


@contextmanager
def open_text(path):
    """Open a user's text file as UTF-8 (a leading byte-order mark dropped); bad bytes raise DataError at file:line."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            yield handle
    except UnicodeDecodeError:
        raise DataError(not_utf8_message(path)) from None


def read_text(path) -> str:
    """The whole of a user's UTF-8 text file (see `open_text`)."""
    with open_text(path) as handle:
        return handle.read()


def not_utf8_message(path) -> str:
    """'FILE:LINE is not UTF-8 text (byte 0x.. at column N); ...' for the first undecodable byte of a file."""
    data = Path(path).read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        start = error.start
    else:
        return f"{path} is not UTF-8 text; save the file as UTF-8."
    line = data.count(b"\n", 0, start) + 1
    prefix = data[data.rfind(b"\n", 0, start) + 1:start].removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    return (f"{path}:{line} is not UTF-8 text (byte 0x{data[start]:02x} at column {len(prefix) + 1}); "
            f"save the file as UTF-8.")


@dataclass
class TaskData:
    """The rows of one task file: texts, integer labels (None when unlabelled) and source lines."""

    task: TaskSpec
    path: Path
    texts_a: list[str]
    texts_b: list[str] | None
    labels: np.ndarray | None  # (N,) int64 indices into task.label_names
    line_numbers: np.ndarray  # (N,) 1-based line numbers in `path`
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


def read_task_file(path, task: TaskSpec, *, labelled: bool = True, skip_bad_rows: bool = False) -> TaskData:
    """Read a TSV (UTF-8, a leading byte-order mark allowed) in the task's GLUE layout.

    A missing, empty, header-only or non-UTF-8 file or a missing column is always an error. A bad
    row (wrong field count, unknown label, empty text) is an error naming file and line unless
    `skip_bad_rows`, in which case it is counted in `TaskData.skipped` and reported in the log.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found. Pass --glue-dir pointing at a GLUE directory "
                        f"that contains {task.directory}/{path.name}.")
    needed = list(task.text_columns) + ([task.label_column] if labelled else [])
    with open_text(path) as handle:
        header = _read_header(handle, path, task, needed)
        text_index = [header.index(column) for column in task.text_columns]
        label_index = header.index(task.label_column) if labelled else None
        label_of = {value: index for index, value in enumerate(task.label_values)}

        texts = [[] for _ in text_index]
        labels, lines, skipped = [], [], Counter()
        for line_number, line in enumerate(handle, start=2):
            line = line.rstrip("\r\n")
            if not line:
                continue
            fields = line.split("\t")
            problem = _row_problem(fields, header, text_index, label_index, label_of)
            if problem:
                if not skip_bad_rows:
                    raise DataError(f"{path}:{line_number}: {problem}. Fix the row, or pass "
                                    f"--skip-bad-rows to skip and count such rows.")
                skipped[problem.split(":")[0]] += 1
                continue
            for column, index in enumerate(text_index):
                texts[column].append(fields[index].strip())
            if labelled:
                labels.append(label_of[fields[label_index].strip()])
            lines.append(line_number)
    counts = ", ".join(f"{reason}: {count}" for reason, count in skipped.items())
    if skipped and not lines:
        raise DataError(f"{path}: all {sum(skipped.values())} rows are bad ({counts}); expected rows in the "
                        f"GLUE {task.directory} layout with columns {needed}. Fix the file.")
    if not lines:
        raise DataError(f"{path}: only a header line, no rows; expected one row per line after the header, "
                        f"with columns {needed}. Add the rows, or pass the file that holds them.")
    if skipped:
        logger.warning("%s: skipped %d bad rows (%s)", path, sum(skipped.values()), counts)
    return TaskData(
        task=task,
        path=path,
        texts_a=texts[0],
        texts_b=texts[1] if task.is_pair else None,
        labels=np.asarray(labels, dtype=np.int64) if labelled else None,
        line_numbers=np.asarray(lines, dtype=np.int64),
        skipped=skipped,
    )


def _read_header(handle, path: Path, task: TaskSpec, needed: list[str]) -> list[str]:
    """The header's fields, checked to hold the `needed` columns."""
    first = handle.readline()
    if not first:
        raise DataError(f"{path}: the file is empty; expected a tab-separated header line with columns "
                        f"{needed}, then one row per line.")
    header = first.rstrip("\r\n").split("\t")
    missing = [column for column in needed if column not in header]
    if missing:
        hint = " The header has no tab: save the file tab-separated." if len(header) == 1 else ""
        raise DataError(f"{path}:1: missing column(s) {missing}; the header has {header}. "
                        f"Expected the GLUE {task.directory} layout with columns {needed}.{hint}")
    return header


def _row_problem(fields, header, text_index, label_index, label_of) -> str | None:
    """Describe what is wrong with one row, or None when it is usable."""
    if len(fields) != len(header):
        return (f"wrong field count: found {len(fields)} tab-separated fields, expected {len(header)} "
                f"like the header (a tab inside a text splits it)")
    for index in text_index:
        if not fields[index].strip():
            return f"empty text: column {header[index]!r} is empty, expected a text"
    if label_index is not None and fields[label_index].strip() not in label_of:
        return (f"unknown label: {fields[label_index]!r} in column {header[label_index]!r}, "
                f"expected one of {sorted(label_of)}")
    return None
