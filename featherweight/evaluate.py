"""Score a model on a task's dev split(s) or on any labelled TSV: accuracy, QQP F1, MNLI m/mm."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from featherweight.artifact import is_student, load_student, predict_data
from featherweight.data import DataConfig, dev_splits, load_splits, read_task_file
from featherweight.metrics import split_metrics, summarize
from featherweight.teacher import load_teacher, predict_logits, teacher_info


@dataclass
class EvaluateConfig:
    """Settings of `featherweight evaluate`."""

    model: str  # a fine-tuned teacher directory or a student artifact
    data: DataConfig = field(default_factory=DataConfig)
    data_file: str | None = None  # a labelled TSV in the task's layout instead of the dev split(s)
    batch_size: int = 128
    progress: bool = True


def evaluate(config: EvaluateConfig) -> dict:
    """Return {"<split>_<metric>": value, ...} for the model on the chosen data."""
    task = config.data.spec
    if config.data_file:
        splits = {Path(config.data_file).stem: read_task_file(config.data_file, task,
                                                              skip_bad_rows=config.data.skip_bad_rows)}
    else:
        splits = dev_splits(load_splits(config.data, show_progress=config.progress))
    predict = _student_predictor(config, task) if is_student(config.model) else _teacher_predictor(config, task)
    per_split = {name: split_metrics(task, predict(name, data).argmax(1), data.labels)
                 for name, data in splits.items()}
    return {"model": config.model, "task": task.name, **summarize(per_split)}


def _teacher_predictor(config: EvaluateConfig, task):
    model, tokenizer, order = load_teacher(config.model, task)
    max_length = teacher_info(config.model).get("max_length", 128)
    return lambda name, data: predict_logits(model, tokenizer, data.texts(), batch_size=config.batch_size,
                                             max_length=max_length, order=order, show_progress=config.progress,
                                             desc=name)


def _student_predictor(config: EvaluateConfig, task):
    student = load_student(config.model)
    if student.meta["task"] != task.name or student.meta["label_names"] != list(task.label_names):
        raise ValueError(f"{config.model} is a {student.meta['task']} student with labels "
                         f"{student.meta['label_names']}; pass --task {student.meta['task']}.")
    return lambda name, data: predict_data(student, data, config.batch_size)
