"""`featherweight analyze plot`: the skyline, parameter-distribution or weight-histogram plot, as PNG and PDF."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from featherweight.analysis.figures import output_paths
from featherweight.analysis.parameters import parameter_row, plot_parameters
from featherweight.analysis.reference import PUBLISHED_BASELINES
from featherweight.analysis.skyline import plot_skyline, points_from_rows, skyline, thesis_points
from featherweight.analysis.weights import plot_weight_histograms
from featherweight.data import get_task
from featherweight.experiments.results import aggregate, collect, primary_metric, read_table

KINDS = ("skyline", "parameters", "weights")
TASK_TITLES = {"sst-2": "SST-2", "qqp": "QQP", "mnli": "MNLI"}


@dataclass
class AnalyzePlotConfig:
    """Settings of `featherweight analyze plot`."""

    kind: Literal["skyline", "parameters", "weights"] = "skyline"  # skyline (score vs size), parameters or weights
    # skyline: runs directories, results tables (.jsonl / .csv) or bench JSON files (a list of entries with
    # percentages, e.g. bench/results/skyline_sst2.json); parameters: student artifacts; weights: one artifact
    inputs: list[str] = field(default_factory=list)
    output: str = "skyline"  # file name; one file per format (a .png / .pdf suffix is replaced)
    formats: list[str] = field(default_factory=lambda: ["png", "pdf"])  # figure file formats: png and/or pdf
    task: str | None = None  # skyline: this task's runs (needed if the inputs hold several); default: the inputs' task
    metric: str = "accuracy"  # skyline: dev score plotted: accuracy, macro_f1, f1 (QQP) or a results column
    reference: bool = False  # skyline: add the thesis Table 7.5 points (published, SST-2 only)
    baselines: bool = False  # skyline: add published baselines (teacher, TinyBERT4, ...) as lines
    title: str | None = None  # figure title; default: named after the task and metric
    include_biases: bool = False  # weights: histogram biases too

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {list(KINDS)}, got {self.kind!r}.")
        if not self.inputs:
            raise ValueError(f"Give what to plot (inputs): {self._inputs_help()}.")
        if self.kind == "weights" and len(self.inputs) != 1:
            raise ValueError(f"The weights plot shows one student; got {len(self.inputs)} inputs.")
        missing = [path for path in self.inputs if not Path(path).exists()]
        if missing:
            raise FileNotFoundError(f"{missing[0]} does not exist; the inputs are {self._inputs_help()}.")
        output_paths(self.output, self.formats)  # validates the formats
        if self.task is not None:
            self.task = _task_name(self.task)
        if not self.metric.strip():
            raise ValueError("--metric must name a score (accuracy, macro_f1, f1) or a results column, got ''.")
        if (self.reference or self.baselines) and "accuracy" not in self.metric:
            raise ValueError(f"--reference and --baselines are published accuracies; they cannot go on a "
                             f"{self.metric} skyline. Drop them, or plot --metric accuracy.")

    def _inputs_help(self) -> str:
        return {"skyline": "runs directories, results tables (.jsonl/.csv) or bench JSON result files",
                "parameters": "student artifact directories", "weights": "one student artifact directory"}[self.kind]


def _task_name(task: str) -> str:
    """A GLUE name in its canonical spelling (SST2 -> sst-2); any other task name (a user's data set) as given."""
    try:
        return get_task(task).name
    except ValueError:
        return task


def skyline_rows(inputs: list[str], task: str | None = None) -> tuple[list[dict], float, str | None]:
    """(rows, scale, task) for a skyline: aggregated rows from runs directories and results tables (scores as
    fractions, scale 100) or bench JSON entries (percentages, scale 1); both kinds at once is an error."""
    records, entries = [], []
    for path in map(Path, inputs):
        if path.is_dir():
            records += collect(path)
        elif path.suffix in (".jsonl", ".csv"):
            records += read_table(path)
        elif path.suffix == ".json":
            data = json.loads(path.read_text())
            if not isinstance(data, list):
                raise ValueError(f"{path}: expected a list of result entries (a bench/results/*.json file).")
            entries += data
        else:
            raise ValueError(f"{path}: not a runs directory, results table (.jsonl/.csv) or bench JSON (.json).")
    if records and entries:
        raise ValueError("Mix of results records (fractions) and bench JSON entries (percentages); plot them apart.")
    rows, scale = (entries, 1.0) if entries else (records, 100.0)
    rows = [row for row in rows if row.get("command", "compress") == "compress"]
    tasks = sorted({row.get("task") for row in rows if row.get("task")})
    if task is None and len(tasks) > 1:
        raise ValueError(f"The inputs hold runs of tasks {tasks}; choose one with --task.")
    task = task or (tasks[0] if tasks else None)
    rows = [row for row in rows if row.get("task") in (None, task)]
    if records:
        rows = aggregate(rows)
    return rows, scale, task


def analyze_plot(config: AnalyzePlotConfig) -> dict:
    """Draw the plot; return {"kind", "files"} (plus the skyline points for a skyline)."""
    if config.kind == "parameters":

        files = plot_parameters([parameter_row(path) for path in config.inputs], config.output, title=config.title,
                                formats=config.formats)
        return {"kind": config.kind, "files": [str(path) for path in files]}
    if config.kind == "weights":

        files = plot_weight_histograms(config.inputs[0], config.output, include_biases=config.include_biases,
                                       title=config.title, formats=config.formats)
        return {"kind": config.kind, "files": [str(path) for path in files]}


    rows, scale, task = skyline_rows(config.inputs, config.task)
    metric = primary_metric(task, {key for row in rows for key in row}, config.metric)
    points = points_from_rows(rows, metric=metric, scale=scale)
    task_title = TASK_TITLES.get(task, task or "")
    label = metric.replace("_", " ")
    files = plot_skyline(points, config.output,
                         reference=thesis_points() if config.reference and task in (None, "sst-2") else (),
                         baselines=PUBLISHED_BASELINES if config.baselines and task in (None, "sst-2") else (),
                         title=config.title or f"{task_title} students: {label} against size".strip(),
                         ylabel=f"{task_title} {label} (%)".strip(), formats=config.formats)
    flags = skyline(points)
    return {"kind": config.kind, "files": [str(path) for path in files], "metric": metric, "task": task,
            "skyline": [{"label": p.label, "gzip_bytes": p.size_bytes, "score": p.score}
                        for p, flag in sorted(zip(points, flags), key=lambda item: item[0].size_bytes) if flag]}
