"""Fine-tune a Hugging Face teacher on a task (GLUE or your own), resumably, keeping the best model on held-out rows."""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from featherweight import workspace
from featherweight.batching import bucketed_batches
from featherweight.config_io import check_options
from featherweight.data import DataConfig, TaskData, dev_splits, load_splits
from featherweight.devices import (DEVICE_OPTION_RULES, PRECISION_OPTION_RULES, autocast, describe, grad_scaler,
                                   resolve_device, resolve_precision, to_cpu, to_device)
from featherweight.measure.metrics import split_metrics, summarize
from featherweight.progress import progress_bar, report
from featherweight.teacher.model import (DEFAULT_TEACHER, TEACHER_INFO, TEACHER_MAX_LENGTH, collate, predict_logits,
                                   resolve_teacher, tokenize_rows)

logger = logging.getLogger(__name__)

# field -> (is the value valid, what is expected), checked by config_io.check_options
FINETUNE_OPTION_RULES = {
    "epochs": (lambda v: v >= 1, ">= 1"),
    "learning_rate": (lambda v: v > 0, "> 0"),
    "batch_size": (lambda v: v >= 1, ">= 1"),
    "eval_batch_size": (lambda v: v >= 1, ">= 1"),
    "warmup_ratio": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "weight_decay": (lambda v: v >= 0, ">= 0"),
    "max_length": (lambda v: v >= 2, ">= 2 (room for the [CLS] and [SEP] pieces)"),
    "max_train_rows": (lambda v: v >= 1, ">= 1"),
    "checkpoint_every": (lambda v: v >= 1, ">= 1"),
    **DEVICE_OPTION_RULES,
    **PRECISION_OPTION_RULES,
}
# how and where a run runs, not which teacher it makes: a run may resume with other values
RUNTIME_FIELDS = ("progress", "output_dir", "device", "precision")
DATA_PATHS = ("glue_dir", "train_file", "dev_file")  # the same file however the path is written


@dataclass
class FinetuneConfig:
    """Settings of `featherweight finetune`."""

    data: DataConfig = field(default_factory=DataConfig)
    # model to fine-tune: hub name or local directory; "minilm" (all-MiniLM-L6-v2) and "mpnet" (all-mpnet-base-v2,
    # the featherweight[mpnet] extra) need no network
    teacher: str = DEFAULT_TEACHER
    output_dir: str | None = None  # checkpoints and best/ go here; default: artifacts/teacher-<task>
    epochs: int = 2  # passes over the training rows
    learning_rate: float = 5e-5  # AdamW peak learning rate (linear warm-up, then linear decay)
    batch_size: int = 32  # training rows per optimizer step
    eval_batch_size: int = 128  # rows per forward pass when scoring held-out and dev rows
    warmup_ratio: float = 0.06  # fraction of the optimizer steps that warm the learning rate up from 0
    weight_decay: float = 0.01  # AdamW weight decay (not on biases and LayerNorm)
    max_length: int = TEACHER_MAX_LENGTH  # word pieces kept per text; longer texts are truncated
    max_train_rows: int | None = None  # use only the first N training rows (quick runs); default: all rows
    checkpoint_every: int = 500  # optimizer steps between resumable checkpoints
    seed: int = 42  # random seed of initialisation, shuffling and dropout
    device: str = "auto"  # where the model runs: auto (cuda, then mps, then cpu), cpu, cuda or mps
    # autocast dtype of training and scoring: auto (bfloat16 on CUDA GPUs that have it, else float16 there, float32
    # on the CPU and MPS), float32, bfloat16 or float16 (these two on CUDA only; float16 trains with a gradient scaler)
    precision: str = "auto"
    progress: bool = True  # show progress bars

    def __post_init__(self):
        if isinstance(self.data, dict):
            self.data = DataConfig(**self.data)
        check_options(self, FINETUNE_OPTION_RULES)
        if self.output_dir is None:
            self.output_dir = str(workspace.teacher_dir(self.data.task))

    @property
    def best_dir(self) -> Path:
        return workspace.best_dir(self.output_dir)


def finetune(config: FinetuneConfig) -> dict:
    """Fine-tune and return the summary; a finished run in `output_dir` is reused, an interrupted one resumed."""
    device = resolve_device(config.device)  # a missing GPU is refused before anything is written
    dtype = resolve_precision(config.precision, device)
    out = Path(config.output_dir)
    summary_path = out / "summary.json"
    _check_same_config(out, config)
    if summary_path.is_file():
        logger.info("Teacher already fine-tuned in %s; reusing it.", out)
        return json.loads(summary_path.read_text())

    logger.info("finetune: %s on %s for %d epoch(s) into %s on %s (%s); the best epoch's model (by held-out "
                "accuracy) goes to %s", config.teacher, config.data.task, config.epochs, out, device,
                describe(device, dtype)["precision"], config.best_dir)
    torch.manual_seed(config.seed)
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    task = config.data.spec
    splits = load_splits(config.data, show_progress=config.progress)
    train = splits["train"]
    if config.max_train_rows:
        train = train.subset(np.arange(min(config.max_train_rows, len(train))))
    checkpoint = out / workspace.CHECKPOINT
    source = str(checkpoint) if (checkpoint / "training_state.pt").is_file() else resolve_teacher(config.teacher)
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModelForSequenceClassification.from_pretrained(
        source, num_labels=task.num_labels,
        id2label=dict(enumerate(task.label_names)), label2id={n: i for i, n in enumerate(task.label_names)})
    model.to(device)

    encodings = tokenize_rows(tokenizer, train.texts(), config.max_length)
    lengths = np.array([len(row["input_ids"]) for row in encodings])
    steps_per_epoch = math.ceil(len(train) / config.batch_size)
    optimizer, scheduler = _optimizer(model, config, steps_per_epoch * config.epochs)
    scaler = grad_scaler(device, dtype)
    state = {"epoch": 0, "step_in_epoch": 0, "best_score": -1.0, "history": [], "train_seconds": 0.0}
    if source == str(checkpoint):
        state = _resume(checkpoint, optimizer, scheduler, scaler, device)
        logger.info("finetune: resuming from epoch %d (step %d of %d) in %s", state["epoch"] + 1,
                    state["step_in_epoch"], steps_per_epoch, checkpoint)

    # one bar over every epoch, so its ETA is the whole run's (every epoch has the same number of batches)
    done = state["epoch"] * steps_per_epoch + state["step_in_epoch"]
    bar = progress_bar(total=steps_per_epoch * config.epochs, initial=done, desc="finetune", enable=config.progress)
    clock = (time.perf_counter(), done)  # this session's start: its pace estimates the time left
    for epoch in range(state["epoch"], config.epochs):
        model.train()
        batches = bucketed_batches(lengths, config.batch_size, shuffle=True, seed=config.seed + epoch)
        started = time.perf_counter()
        bar.set_description(f"finetune epoch {epoch + 1}/{config.epochs}")
        for step in range(state["step_in_epoch"], len(batches)):
            index = batches[step]
            batch = to_device(collate([encodings[i] for i in index], tokenizer.pad_token_id), device)
            loss = _train_step(model, batch, torch.as_tensor(train.labels[index], device=device),
                               (optimizer, scheduler, scaler), dtype)
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}")
            if (step + 1) % config.checkpoint_every == 0 and step + 1 < len(batches):
                state["step_in_epoch"] = step + 1
                state["train_seconds"] += time.perf_counter() - started
                started = time.perf_counter()
                _save_checkpoint(checkpoint, model, tokenizer, _training_state(optimizer, scheduler, scaler, state,
                                                                               device))
        state["train_seconds"] += time.perf_counter() - started
        scores = _evaluate_epoch(model, tokenizer, splits, config, device, dtype)
        left = _time_left(clock, (epoch + 1) * steps_per_epoch, steps_per_epoch * config.epochs)
        report(f"epoch {epoch + 1}/{config.epochs}: " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items())
               + (f"; about {left} left" if epoch + 1 < config.epochs else ""))
        state["history"].append({"epoch": epoch + 1, **scores, "device": str(device)})
        if scores["heldout_accuracy"] > state["best_score"]:
            state["best_score"] = scores["heldout_accuracy"]
            _save_best(config, model, tokenizer, epoch + 1, scores)
        state.update(epoch=epoch + 1, step_in_epoch=0)
        _save_checkpoint(checkpoint, model, tokenizer, _training_state(optimizer, scheduler, scaler, state, device))
    bar.close()

    best = json.loads((config.best_dir / TEACHER_INFO).read_text())
    summary = {"task": task.name, "teacher": config.teacher, "best_dir": str(config.best_dir),
               "epochs": config.epochs, "train_seconds": state["train_seconds"],
               "history": state["history"], "best_epoch": best["epoch"], **best["scores"], **describe(device, dtype)}
    summary_path.write_text(json.dumps(summary, indent=2))
    shutil.rmtree(checkpoint, ignore_errors=True)  # the best model is kept; resume state is spent
    return summary


def _time_left(clock: tuple[float, int], done: int, total: int) -> str:
    """The time the remaining steps take at this session's pace so far (evaluation included), e.g. "23 min"."""
    began, first = clock
    seconds = (time.perf_counter() - began) / max(1, done - first) * (total - done)
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


def _check_same_config(out: Path, config: FinetuneConfig) -> None:
    """Refuse to resume or reuse an output directory made with other settings."""
    path = out / "finetune_config.json"
    current = dataclasses.asdict(config)
    for key in RUNTIME_FIELDS:  # none changes which model is made, so a run resumes on another device
        current.pop(key)
    if path.is_file():
        previous = json.loads(path.read_text())
        # data settings added since the directory was made count as their defaults
        previous["data"] = _same_paths({**dataclasses.asdict(DataConfig()), **previous.get("data", {})})
        current = json.loads(json.dumps(current))
        current["data"] = _same_paths(current["data"])
        changed = sorted(key for key in current if previous.get(key) != current[key])
        if changed:
            raise ValueError(f"{out} holds a teacher fine-tuned with other settings (changed: {changed}). "
                             f"Use another --output-dir, or delete {out} to start over.")
    else:
        out.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(current, indent=2))


def _same_paths(data: dict) -> dict:
    """Data settings with their paths resolved, so ../shared/data/glue and its absolute form are the same data."""
    return {key: os.path.realpath(value) if key in DATA_PATHS and value else value for key, value in data.items()}


def _optimizer(model, config: FinetuneConfig, total_steps: int):
    """AdamW without decay on biases and LayerNorm, with linear warm-up then linear decay."""
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        (no_decay if parameter.ndim < 2 else decay).append(parameter)
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=config.learning_rate)
    warmup = int(config.warmup_ratio * total_steps)

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)


def _train_step(model, batch: dict, labels: torch.Tensor, optimizers: tuple, dtype: torch.dtype) -> float:
    """One optimizer step on a batch (forward under autocast to `dtype`; gradients through the scaler, which
    only scales for float16), clipped to norm 1; returns the batch's loss. `optimizers`: (optimizer, scheduler,
    scaler)."""
    optimizer, scheduler, scaler = optimizers
    with autocast(labels.device, dtype):
        loss = torch.nn.functional.cross_entropy(model(**batch).logits, labels)
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    scaler.step(optimizer)
    scaler.update()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.item()


def _evaluate_epoch(model, tokenizer, splits: dict[str, TaskData], config: FinetuneConfig, device: torch.device,
                    dtype: torch.dtype) -> dict:
    """Held-out accuracy (for model selection) and dev metrics (for reporting only), scored on `device` in `dtype`."""
    task = config.data.spec
    per_split = {}
    for name, data in {"heldout": splits["heldout"], **dev_splits(splits)}.items():
        logits = predict_logits(model, tokenizer, data.texts(), batch_size=config.eval_batch_size,
                                max_length=config.max_length, show_progress=config.progress, desc=name,
                                device=device, dtype=dtype)
        per_split[name] = split_metrics(task, logits.argmax(1), data.labels)
    model.train()
    return summarize(per_split)


def _save_best(config: FinetuneConfig, model, tokenizer, epoch: int, scores: dict) -> None:
    """Write a real copy of the best model so far, with the metadata consumers check."""
    tmp = config.best_dir.with_name(config.best_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    info = {"task": config.data.task, "task_spec": config.data.spec.to_dict(), "data": dataclasses.asdict(config.data),
            "label_names": list(config.data.spec.label_names),
            "source": config.teacher, "epoch": epoch, "scores": scores,
            "heldout_fraction": config.data.heldout_fraction, "heldout_seed": config.data.heldout_seed,
            "max_length": config.max_length}
    (tmp / TEACHER_INFO).write_text(json.dumps(info, indent=2))
    shutil.rmtree(config.best_dir, ignore_errors=True)
    tmp.rename(config.best_dir)


def _training_state(optimizer, scheduler, scaler, state: dict, device: torch.device) -> dict:
    """What resumes training besides the weights, as CPU tensors (so it resumes on any device): optimizer,
    schedule, gradient scaler, random generators and progress."""
    return {"optimizer": to_cpu(optimizer.state_dict()), "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict(), "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None, "state": state}


def _resume(checkpoint: Path, optimizer, scheduler, scaler, device: torch.device) -> dict:
    """Load a checkpoint's training state (saved on any device) into these objects; return its progress state.
    The optimizer's state follows its parameters onto `device`."""
    saved = torch.load(checkpoint / "training_state.pt", weights_only=False, map_location="cpu")
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    if saved.get("scaler"):  # empty when the run was not float16; a float16 scaler is ignored off float16
        scaler.load_state_dict(saved["scaler"])
    torch.set_rng_state(saved["torch_rng"])
    if device.type == "cuda" and saved.get("cuda_rng") is not None:
        torch.cuda.set_rng_state(saved["cuda_rng"], device)
    return saved["state"]


def _save_checkpoint(directory: Path, model, tokenizer, training_state: dict) -> None:
    """Save everything needed to resume training exactly where it stopped (safetensors weights and
    `_training_state`'s CPU tensors: nothing is tied to the device it was trained on)."""
    tmp = directory.with_name(directory.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    torch.save(training_state, tmp / "training_state.pt")
    shutil.rmtree(directory, ignore_errors=True)
    tmp.rename(directory)
