"""Parameter distribution per model part: embedding, encoder and classifier counts of students, as stacked bars."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from featherweight.analysis.figures import FORMATS, new_figure, save
from featherweight.analysis.reference import student_label
from featherweight.student_meta import STUDENT_FILE, read_student_meta

PARTS = ("embedding", "encoder", "classifier")
PART_COLORS = {"embedding": "#4c72b0", "encoder": "#dd8452", "classifier": "#55a868"}


def parameter_row(directory) -> dict:
    """{"name", "embedding", "encoder", "classifier"} of a student artifact, from its student.json."""
    path = Path(directory) / STUDENT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{directory} is not a student artifact (no {STUDENT_FILE}).")
    meta = read_student_meta(directory)
    groups = meta.parameters
    if not groups or any(part not in groups for part in PARTS):
        raise ValueError(f"{path} has no parameter groups ({list(PARTS)}); it was saved by an older version: "
                         "re-save it or pass the counts directly.")
    name = student_label(meta.student.arch, meta.embedding.type, meta.embedding.dim, meta.hash_buckets,
                         meta.student.pooling)
    return {"name": name, **{part: int(groups[part]) for part in PARTS}}


def _count(value: float) -> str:
    return f"{value / 1e6:.2f} M" if value >= 1e6 else f"{value / 1e3:.0f} k" if value >= 1e3 else f"{value:.0f}"


def plot_parameters(rows: Sequence[dict], output, *, title: str | None = None, formats=FORMATS) -> list[Path]:
    """Two panels of stacked horizontal bars, one bar per student (largest at the top): parameter counts by
    part, and each part's share of the student. Rows: {"name", "embedding", "encoder", "classifier"}."""
    if not rows:
        raise ValueError("No students to chart; give at least one artifact directory.")
    for row in rows:
        missing = [key for key in ("name", *PARTS) if key not in row]
        if missing:
            raise ValueError(f"Parameter row {row} lacks {missing}; each row needs name and {list(PARTS)}.")
    rows = sorted(rows, key=lambda row: sum(row[part] for part in PARTS))
    figure = new_figure(11, 0.42 * len(rows) + 1.9)
    counts, shares = figure.subplots(1, 2, sharey=True, width_ratios=(3, 2))
    positions = range(len(rows))
    left_count = [0.0] * len(rows)
    left_share = [0.0] * len(rows)
    for part in PARTS:
        values = [float(row[part]) for row in rows]
        totals = [sum(row[p] for p in PARTS) or 1 for row in rows]
        share = [100 * value / total for value, total in zip(values, totals)]
        counts.barh(positions, values, left=left_count, color=PART_COLORS[part], label=part, height=0.7)
        shares.barh(positions, share, left=left_share, color=PART_COLORS[part], height=0.7)
        left_count = [a + b for a, b in zip(left_count, values)]
        left_share = [a + b for a, b in zip(left_share, share)]
    largest = max(left_count)
    for position, total in zip(positions, left_count):
        counts.annotate(_count(total), (total, position), xytext=(3, 0), textcoords="offset points", va="center",
                        fontsize=8)
    counts.set_xlim(0, largest * 1.15)
    counts.set_yticks(list(positions), [row["name"] for row in rows], fontsize=8.5)
    counts.set_xlabel("parameters")
    counts.xaxis.set_major_formatter(lambda value, _: _count(value))
    shares.set_xlim(0, 100)
    shares.set_xlabel("share of the student's parameters (%)")
    for ax in (counts, shares):
        ax.grid(True, axis="x", color="0.9", lw=0.6)
        ax.set_axisbelow(True)
    figure.legend(loc="outside lower center", ncols=3, fontsize=9, frameon=False)
    if title:
        figure.suptitle(title, fontsize=11)
    return save(figure, output, formats)
