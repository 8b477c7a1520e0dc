"""Skyline of score against size: the students that no smaller-or-equal student beats, and the skyline plot.

A point is on the skyline when no other point is at most as large and at least as good, and strictly
better in one of the two (the thesis: "best accuracy at or under each size"). Identical points are all
on it. Sizes are real gzip -9 bytes of the weights file; scores are percentages.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from featherweight.analysis.figures import FORMATS, format_bytes, new_figure, place_labels, save
from featherweight.analysis.reference import THESIS_TABLE_7_5, VARIANTS, student_label

# "sub-8-bit": a bench/lowbit_sst2.py recipe, whose name says its formats (q4, q4/2, PQ, QAT)
VARIANT_SHORT = {"distilled": "", "pruned": "+p", "quantized": "+q", "pruned-quantized": "+p+q", "sub-8-bit": ""}
VARIANT_MARKERS = {"distilled": "o", "pruned": "s", "quantized": "^", "pruned-quantized": "D", "sub-8-bit": "v"}
ARCH_COLORS = {"bilstm": "#1f77b4", "rnn": "#d62728", "ffn": "#2ca02c"}
ARCH_NAMES = {"bilstm": "BiLSTM", "rnn": "RNN", "ffn": "FFN"}
REFERENCE_COLOR = "#7b3294"
DOMINATED_COLOR = "0.72"


@dataclass(frozen=True)
class Point:
    """One student (variant) on the size / score plane."""

    label: str  # e.g. "BiLSTM BPE25 +q"
    size_bytes: float  # gzip -9 bytes of the weights
    score: float  # percent
    sd: float | None = None  # over seeds
    arch: str | None = None
    variant: str | None = None


def skyline(points: Sequence) -> list[bool]:
    """For each point ((size, score) pair or Point), whether it is on the skyline; pure, O(n log n)."""
    pairs = []
    for index, point in enumerate(points):
        size, score = (point.size_bytes, point.score) if isinstance(point, Point) else point
        if not (isinstance(size, (int, float)) and isinstance(score, (int, float))
                and math.isfinite(size) and math.isfinite(score)):
            raise ValueError(f"Point {index} has size {size!r} and score {score!r}; both must be finite numbers.")
        pairs.append((float(size), float(score)))
    flags = [False] * len(pairs)
    order = sorted(range(len(pairs)), key=lambda i: pairs[i][0])
    best_smaller = -math.inf  # best score among strictly smaller points
    start = 0
    while start < len(order):
        end = start
        while end < len(order) and pairs[order[end]][0] == pairs[order[start]][0]:
            end += 1
        group = order[start:end]  # points of one size
        top = max(pairs[i][1] for i in group)
        if top > best_smaller:
            for i in group:
                flags[i] = pairs[i][1] == top
        best_smaller = max(best_smaller, top)
        start = end
    return flags


def points_from_rows(rows: Iterable[dict], metric: str = "dev_accuracy", size: str = "gzip_bytes",
                     scale: float = 100.0) -> list[Point]:
    """Points from results rows: aggregated rows (<metric>_mean, <metric>_sd) or single records (<metric>).

    `scale` turns the stored score into percent: 100 for the results store (fractions), 1 for bench
    JSON files that already hold percentages. Rows without the metric or the size are left out. Labels
    are "<name> <+p/+q/+p+q>", with the alpha added when the rows hold more than one.
    """
    rows = [row for row in rows if _value(row, metric) is not None and _value(row, size) is not None]
    alphas = {row.get("alpha") for row in rows}
    points = []
    for row in rows:
        variant = row.get("variant") or "distilled"
        name = row.get("name") or row.get("label") or str(row.get("artifact", "?"))
        label = f"{name} {VARIANT_SHORT.get(variant, variant)}".strip()
        if len(alphas) > 1 and row.get("alpha") is not None:
            label += f" α{row['alpha']:g}"
        sd = row.get(f"{metric}_sd")
        points.append(Point(label=label, size_bytes=float(_value(row, size)), score=scale * float(_value(row, metric)),
                            sd=None if sd is None else scale * float(sd), arch=row.get("arch"), variant=variant))
    return points


def _value(row: dict, key: str):
    value = row.get(f"{key}_mean", row.get(key))
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def against_reference(ours: Sequence[Point], reference: Sequence[Point]) -> list[dict]:
    """For each point on the reference skyline, our best point at or under its size (None if we have none).

    Rows: {"reference": Point, "ours": Point | None, "difference": our score minus theirs (None without ours)};
    our skyline dominates the reference one when every difference is >= 0.
    """
    rows = []
    for theirs in sorted((p for p, on in zip(reference, skyline(reference)) if on), key=lambda p: p.size_bytes):
        fitting = [p for p in ours if p.size_bytes <= theirs.size_bytes]
        best = max(fitting, key=lambda p: (p.score, -p.size_bytes)) if fitting else None
        rows.append({"reference": theirs, "ours": best,
                     "difference": None if best is None else best.score - theirs.score})
    return rows


def thesis_points() -> list[Point]:
    """The thesis Table 7.5 students (SST-2 dev %, zipped MB as 10^6 bytes), all four variants each."""
    return [Point(label=f"{student_label(*key)} {VARIANT_SHORT[variant]}".strip(), size_bytes=mb * 1e6,
                  score=accuracy, arch=key[0], variant=variant)
            for key, cells in THESIS_TABLE_7_5.items() for variant, (accuracy, mb) in zip(VARIANTS, cells)]


def _staircase(ax, points: list[Point], right: float, **style) -> tuple[list, list]:
    """Draw the skyline as a staircase (each level runs from its point to the next, the last to `right`);
    return the corners as (xs, ys)."""
    ordered = sorted(points, key=lambda p: (p.size_bytes, p.score))
    xs, ys = [], []
    for point, following in zip(ordered, ordered[1:] + [None]):
        xs += [point.size_bytes, following.size_bytes if following else right]
        ys += [point.score, point.score]
    ax.plot(xs, ys, **style)
    return xs, ys


def plot_skyline(points: Sequence[Point], output, *, reference: Sequence[Point] = (),
                 baselines: Sequence[dict] = (), title: str | None = None,
                 ylabel: str = "dev accuracy (%)", reference_name: str = "thesis Table 7.5 (published)",
                 formats=FORMATS) -> list[Path]:
    """Score against gzip size (log axis): skyline points coloured by arch and labelled, dominated points
    grey, the skyline staircase; `reference` points (published) hollow in purple with their own dashed
    skyline; `baselines` ({"name", "score", optional "size_bytes"}, published) as stars or dotted lines.
    Saves every format of `output`; returns the paths."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    if not points:
        raise ValueError("No points to plot: the results have no rows with both the score and gzip_bytes.")
    flags = skyline(points)
    on = [p for p, flag in zip(points, flags) if flag]
    off = [p for p, flag in zip(points, flags) if not flag]
    figure = new_figure(11, 6.2)
    ax = figure.add_subplot()
    ax.set_xscale("log")

    sized = list(points) + list(reference) + [Point(b["name"], b["size_bytes"], b["score"]) for b in baselines
                                              if b.get("size_bytes")]
    lowest = min(p.size_bytes for p in sized) / 1.8
    right = max(p.size_bytes for p in sized) * 1.8
    scores = ([p.score for p in sized] + [b["score"] for b in baselines]
              + [p.score + sign * p.sd for p in on for sign in (-1, 1) if p.sd])  # error bars stay inside
    spread = max(scores) - min(scores) or 1.0
    ax.set_xlim(lowest, right)
    ax.set_ylim(min(scores) - 0.08 * spread, max(scores) + 0.12 * spread)

    lines = []
    ax.scatter([p.size_bytes for p in off], [p.score for p in off], s=18, color=DOMINATED_COLOR, zorder=2,
               linewidths=0)
    if reference:
        reference_flags = skyline(reference)
        ax.scatter([p.size_bytes for p in reference], [p.score for p in reference], s=30, facecolors="none",
                   edgecolors=REFERENCE_COLOR, linewidths=0.9, marker="o", zorder=3)
        lines.append(_staircase(ax, [p for p, flag in zip(reference, reference_flags) if flag], right,
                                color=REFERENCE_COLOR, lw=1.0, ls="--", alpha=0.7, zorder=1))
    lines.append(_staircase(ax, on, right, color="0.1", lw=1.6, zorder=2))
    for point in on:
        style = {"color": ARCH_COLORS.get(point.arch, "0.3"), "marker": VARIANT_MARKERS.get(point.variant, "o")}
        if point.sd:
            ax.errorbar(point.size_bytes, point.score, yerr=point.sd, fmt="none", ecolor=style["color"], lw=0.8,
                        capsize=2, zorder=3)
        ax.scatter([point.size_bytes], [point.score], s=42, edgecolors="white", linewidths=0.6, zorder=4, **style)
    for baseline in baselines:
        if baseline.get("size_bytes"):
            ax.scatter([baseline["size_bytes"]], [baseline["score"]], marker="*", s=110, color="#e08214", zorder=4)
        else:
            ax.axhline(baseline["score"], color="#e08214", ls=":", lw=1.0, zorder=1)
            ax.annotate(f"{baseline['name']} {baseline['score']:.1f}", (0.005, baseline["score"]),
                        xycoords=("axes fraction", "data"), xytext=(2, 2), textcoords="offset points",
                        fontsize=7, color="#a6530a", va="bottom")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(format_bytes))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("size: gzip -9 of the weights file (log scale)")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="major", color="0.92", lw=0.6)
    ax.set_axisbelow(True)
    if title:
        ax.set_title(title, fontsize=11)

    handles = [Line2D([], [], color=color, marker="o", ls="", label=f"{ARCH_NAMES[arch]} (on skyline)")
               for arch, color in ARCH_COLORS.items() if any(p.arch == arch for p in on)]
    handles += [Line2D([], [], color="0.3", marker=marker, ls="", label=variant)
                for variant, marker in VARIANT_MARKERS.items() if any(p.variant == variant for p in on)]
    handles += [Line2D([], [], color=DOMINATED_COLOR, marker="o", ls="", label="dominated")] if off else []
    handles += [Line2D([], [], color="0.1", lw=1.6, label="skyline (best at or under each size)")]
    if reference:
        handles += [Line2D([], [], color=REFERENCE_COLOR, marker="o", markerfacecolor="none", ls="--", lw=1.0,
                           label=reference_name)]
    if baselines:
        handles += [Line2D([], [], color="#e08214", marker="*", ls=":",
                           label="baseline scores (names say which are published)")]
    figure.legend(handles=handles, loc="outside right upper", fontsize=8, frameon=False)
    avoid = [(p.size_bytes, p.score) for p in list(off) + list(reference)]
    lines += [([lowest, right], [b["score"], b["score"]]) for b in baselines if not b.get("size_bytes")]
    lines += [([p.size_bytes] * 2, [p.score - p.sd, p.score + p.sd]) for p in on if p.sd]  # error bars
    place_labels(ax, [p.size_bytes for p in on], [p.score for p in on], [p.label for p in on], avoid=avoid,
                 lines=lines)
    return save(figure, output, formats)
