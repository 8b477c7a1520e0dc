"""Read and validate GLUE-layout TSV files into `TaskData`; bad rows are errors or counted skips."""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from featherweight.data.tasks import TaskSpec

logger = logging.getLogger(__name__)


class DataError(ValueError):
    """A problem with a user's data file, with the file and line it was found at."""


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
    """Read a TSV in the task's GLUE layout.

    A missing file or column is always an error. A bad row (wrong field count, unknown label,
    empty text) is an error naming file and line unless `skip_bad_rows`, in which case it is
    counted in `TaskData.skipped` and reported in the log.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found. Pass --glue-dir pointing at a GLUE directory "
                        f"that contains {task.directory}/{path.name}.")
    with open(path, encoding="utf-8", newline="") as handle:
        header = handle.readline().rstrip("\r\n").split("\t")
        needed = list(task.text_columns) + ([task.label_column] if labelled else [])
        missing = [column for column in needed if column not in header]
        if missing:
            raise DataError(f"{path}:1: missing column(s) {missing}; the header has {header}. "
                            f"Expected the GLUE {task.directory} layout with columns {needed}.")
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
    if skipped:
        logger.warning("%s: skipped %d bad rows (%s)", path, sum(skipped.values()),
                       ", ".join(f"{reason}: {count}" for reason, count in skipped.items()))
    return TaskData(
        task=task,
        path=path,
        texts_a=texts[0],
        texts_b=texts[1] if task.is_pair else None,
        labels=np.asarray(labels, dtype=np.int64) if labelled else None,
        line_numbers=np.asarray(lines, dtype=np.int64),
        skipped=skipped,
    )


def _row_problem(fields, header, text_index, label_index, label_of) -> str | None:
    """Describe what is wrong with one row, or None when it is usable."""
    if len(fields) != len(header):
        return f"wrong field count: found {len(fields)} tab-separated fields, expected {len(header)}"
    for index in text_index:
        if not fields[index].strip():
            return f"empty text: column {header[index]!r} is empty"
    if label_index is not None and fields[label_index].strip() not in label_of:
        return (f"unknown label: {fields[label_index]!r} in column {header[label_index]!r}, "
                f"expected one of {sorted(label_of)}")
    return None
