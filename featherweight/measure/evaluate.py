"""Score a model on a task's dev split(s) or on any labelled file: accuracy, macro-F1, per-class scores."""
from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from featherweight.artifact import STUDENT_FILE, load_student, looks_like_student, predict_data, student_meta
from featherweight.config_io import check_options
from featherweight.data import DataConfig, TaskSpec, dev_splits, load_splits, read_task_file, task_from_record
from featherweight.data.splits import GLUE_DIR_ENV, recorded_data_config
from featherweight.devices import CPU, DEVICE_OPTION_RULES, resolve_device
from featherweight.measure.metrics import format_per_class, per_class, split_metrics, summarize
from featherweight.teacher.model import (load_teacher, predict_logits, teacher_info, teacher_max_length,
                                         unreachable_model)
from featherweight.teacher.fairseq import is_fairseq_teacher

logger = logging.getLogger(__name__)


@dataclass
class EvaluateConfig:
    """Settings of `featherweight evaluate`.

    A model is scored on its own task: a student's student.json and a fine-tuned teacher's
    featherweight_teacher.json record it. Without data options a student is scored on the data it was
    trained on (its GLUE directory, or its own files); --dev-file or --data-file scores a file instead.
    """

    model: str  # a fine-tuned teacher directory or a student artifact
    data: DataConfig = field(default_factory=DataConfig)
    data_file: str | None = None  # a labelled file in the task's columns to score; default: the task's dev split(s)
    batch_size: int = 128  # rows per forward pass
    device: str = "auto"  # where the model runs: auto (cuda, then mps, then cpu), cpu, cuda or mps
    progress: bool = True  # show progress bars

    def __post_init__(self):
        check_options(self, DEVICE_OPTION_RULES)


def evaluate(config: EvaluateConfig) -> dict:
    """Return {"<split>_<metric>": value, "<split>_per_class": {...}, ...} for the model on the chosen data.

    A --data-file (or a lone --dev-file) is read first, then the model is loaded, then the dev split(s). The
    model runs on config.device in float32 (a quantized student on the CPU, the only place its int8 kernels run).
    """
    device = resolve_device(config.device)  # a missing GPU is refused before anything is read
    student = _is_student(config.model)
    task, data_config = _task_and_data(config, *_recorded(config.model, student), "student" if student else "teacher")
    splits = _given_splits(config, task)
    if splits is None and data_config is None:
        raise ValueError(f"{config.model} records no data set to score it on; pass --dev-file FILE (labelled rows "
                         f"in its columns {list(task.text_columns) + [task.label_column]}).")
    predict = (_student_predictor(config, load_student(config.model), device) if student
               else _teacher_predictor(config, task, device))
    splits = splits or dev_splits(load_splits(data_config, show_progress=config.progress))
    per_split, tables = {}, {}
    for name, data in splits.items():
        predictions = predict(name, data).argmax(1)
        per_split[name] = split_metrics(task, predictions, data.labels)
        tables[name] = per_class(predictions, data.labels, task.label_names)
        logger.info("%s", format_per_class(tables[name], title=f"{task.name} {name} ({data.path})"))
    return {"model": config.model, "task": task.name, **summarize(per_split, tables)}


def _recorded(model: str, student: bool) -> tuple[TaskSpec | None, dict | None]:
    """The task a model records (None: a teacher that records none) and the DataConfig fields it was trained on."""
    if student:
        meta = student_meta(model)
        return meta.resolved_task, meta.data_settings
    record = teacher_info(model)
    return (task_from_record(record) if record.get("task") else None), record.get("data")


def _task_and_data(config: EvaluateConfig, recorded: TaskSpec | None, saved: dict | None,
                   kind: str) -> tuple[TaskSpec, DataConfig | None]:
    """The model's task, checked against the data options given, and the data config to score it on."""
    if config.data.is_custom:
        given = config.data.spec
        if recorded is not None and list(recorded.label_names) != list(given.label_names):
            raise ValueError(f"{config.model} is a {recorded.name} {kind} with labels {list(recorded.label_names)}; "
                             f"the data given has labels {list(given.label_names)}. Pass --labels in the model's "
                             f"order, or the model trained on this data.")
        return given, config.data
    if recorded is None or (recorded.is_glue and kind == "teacher"):
        return config.data.spec, config.data
    if recorded.is_glue:
        if config.data.task != recorded.name or list(config.data.spec.label_names) != list(recorded.label_names):
            raise ValueError(f"{config.model} is a {recorded.name} student with labels {list(recorded.label_names)}; "
                             f"pass --task {recorded.name}.")
        return recorded, _student_data(config, saved)
    return recorded, recorded_data_config(saved) if saved else None


def _given_splits(config: EvaluateConfig, task: TaskSpec) -> dict | None:
    """The file the user asked to score (--data-file, or --dev-file without --train-file), read with the model's
    task; None when the model is scored on its data set's dev split(s)."""
    path = config.data_file or (None if config.data.is_custom else config.data.dev_file)
    if path is None:
        return None
    name = Path(path).stem if config.data_file else "dev"
    return {name: read_task_file(path, task, skip_bad_rows=config.data.skip_bad_rows)}


def _is_student(path: str) -> bool:
    """True for a student (even an incomplete one), False for a teacher; refuses a path that is neither."""
    if is_fairseq_teacher(path):  # a fairseq checkpoint: a teacher, converted on first use
        return False
    directory = Path(path)
    if looks_like_student(directory):
        return True
    if directory.is_dir() and not (directory / "config.json").is_file():
        problem = f"has neither {STUDENT_FILE} (a student) nor config.json (a teacher)"
    else:
        problem = unreachable_model(path)
    if problem is None:
        return False
    raise FileNotFoundError(f"--model {path} {problem}; pass a student artifact (written by `featherweight compress`) "
                            "or a fine-tuned teacher (`featherweight finetune` writes it to its best/ directory).")


def _student_data(config: EvaluateConfig, saved: dict | None) -> DataConfig:
    """config.data, pointed at the GLUE directory a GLUE student was trained on (its `saved` data settings) when
    none was given."""
    if config.data.glue_dir is not None or os.environ.get(GLUE_DIR_ENV) or config.data_file:
        return config.data
    recorded = (saved or {}).get("glue_dir")
    if not recorded:
        return config.data
    if not Path(recorded).is_dir():
        logger.warning("%s was trained on %s, which no longer exists; pass --glue-dir.", config.model, recorded)
        return config.data
    logger.info("Scoring on %s, the data directory %s was trained on (--glue-dir picks another).",
                recorded, config.model)
    return dataclasses.replace(config.data, glue_dir=recorded)


def _teacher_predictor(config: EvaluateConfig, task: TaskSpec, device: torch.device):
    model, tokenizer, order = load_teacher(config.model, task)
    max_length = teacher_max_length(config.model)
    return lambda name, data: predict_logits(model, tokenizer, data.texts(), batch_size=config.batch_size,
                                             max_length=max_length, order=order, show_progress=config.progress,
                                             desc=name, device=device)


def _student_predictor(config: EvaluateConfig, student, device: torch.device):
    """Scores with the student on `device`; a quantized one stays on the CPU, where its int8 kernels run."""
    if student.meta.is_quantized and device != CPU:
        logger.info("%s is quantized: it runs on the CPU, not on %s.", config.model, device)
        device = CPU
    student.model.to(device)
    return lambda name, data: predict_data(student, data, config.batch_size)
