"""Score a model on a task's dev split(s) or on any labelled TSV: accuracy, QQP F1, MNLI m/mm."""
from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from featherweight.artifact import STUDENT_FILE, load_student, looks_like_student, predict_data
from featherweight.data import DataConfig, dev_splits, load_splits, read_task_file
from featherweight.data.splits import GLUE_DIR_ENV
from featherweight.metrics import split_metrics, summarize
from featherweight.teacher import HUB_NAME, load_teacher, predict_logits, teacher_info

logger = logging.getLogger(__name__)


@dataclass
class EvaluateConfig:
    """Settings of `featherweight evaluate`.

    A student without --glue-dir (and no $FEATHERWEIGHT_GLUE_DIR) is scored on the data directory it was trained on.
    """

    model: str  # a fine-tuned teacher directory or a student artifact
    data: DataConfig = field(default_factory=DataConfig)
    data_file: str | None = None  # a labelled TSV in the task's layout to score; default: the task's dev split(s)
    batch_size: int = 128  # rows per forward pass
    progress: bool = True  # show progress bars


def evaluate(config: EvaluateConfig) -> dict:
    """Return {"<split>_<metric>": value, ...} for the model on the chosen data.

    A --data-file is read first, then the model is loaded, then the dev split(s) of the data directory.
    """
    task = config.data.spec
    splits = ({Path(config.data_file).stem: read_task_file(config.data_file, task,
                                                           skip_bad_rows=config.data.skip_bad_rows)}
              if config.data_file else None)
    if _is_student(config.model):
        student = load_student(config.model)
        predict, data_config = _student_predictor(config, student, task), _student_data(config, student)
    else:
        predict, data_config = _teacher_predictor(config, task), config.data
    splits = splits or dev_splits(load_splits(data_config, show_progress=config.progress))
    per_split = {name: split_metrics(task, predict(name, data).argmax(1), data.labels)
                 for name, data in splits.items()}
    return {"model": config.model, "task": task.name, **summarize(per_split)}


def _is_student(path: str) -> bool:
    """True for a student (even an incomplete one), False for a teacher; refuses a path that is neither."""
    directory = Path(path)
    if looks_like_student(directory):
        return True
    if directory.is_dir() and not (directory / "config.json").is_file():
        problem = f"has neither {STUDENT_FILE} (a student) nor config.json (a teacher)"
    elif not directory.is_dir() and (directory.exists() or not HUB_NAME.fullmatch(path)):
        problem = "is not a directory" if directory.exists() else "does not exist"
    else:
        return False
    raise FileNotFoundError(f"--model {path} {problem}; pass a student artifact (written by `featherweight compress`) "
                            "or a fine-tuned teacher (`featherweight finetune` writes it to its best/ directory).")


def _student_data(config: EvaluateConfig, student) -> DataConfig:
    """config.data, pointed at the GLUE directory recorded in the student when none was given."""
    if config.data.glue_dir is not None or os.environ.get(GLUE_DIR_ENV) or config.data_file:
        return config.data
    recorded = ((student.meta.get("distill_config") or {}).get("data") or {}).get("glue_dir")
    if not recorded:
        return config.data
    if not Path(recorded).is_dir():
        logger.warning("%s was trained on %s, which no longer exists; pass --glue-dir.", config.model, recorded)
        return config.data
    logger.info("Scoring on %s, the data directory %s was trained on (--glue-dir picks another).",
                recorded, config.model)
    return dataclasses.replace(config.data, glue_dir=recorded)


def _teacher_predictor(config: EvaluateConfig, task):
    model, tokenizer, order = load_teacher(config.model, task)
    max_length = teacher_info(config.model).get("max_length", 128)
    return lambda name, data: predict_logits(model, tokenizer, data.texts(), batch_size=config.batch_size,
                                             max_length=max_length, order=order, show_progress=config.progress,
                                             desc=name)


def _student_predictor(config: EvaluateConfig, student, task):
    if student.meta["task"] != task.name or student.meta["label_names"] != list(task.label_names):
        raise ValueError(f"{config.model} is a {student.meta['task']} student with labels "
                         f"{student.meta['label_names']}; pass --task {student.meta['task']}.")
    return lambda name, data: predict_data(student, data, config.batch_size)
