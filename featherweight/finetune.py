"""Fine-tune a Hugging Face teacher on a task (GLUE or your own), resumably, keeping the best model on held-out rows."""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from featherweight.batching import bucketed_batches
from featherweight.config_io import check_options
from featherweight.data import DataConfig, TaskData, dev_splits, load_splits
from featherweight.metrics import split_metrics, summarize
from featherweight.progress import progress_bar, report
from featherweight.teacher import (DEFAULT_TEACHER, TEACHER_INFO, collate, predict_logits,
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
}


@dataclass
class FinetuneConfig:
    """Settings of `featherweight finetune`."""

    data: DataConfig = field(default_factory=DataConfig)
    teacher: str = DEFAULT_TEACHER  # model to fine-tune: hub name or local directory; "minilm" needs no network
    output_dir: str | None = None  # checkpoints and best/ go here; default: artifacts/teacher-<task>
    epochs: int = 2  # passes over the training rows
    learning_rate: float = 5e-5  # AdamW peak learning rate (linear warm-up, then linear decay)
    batch_size: int = 32  # training rows per optimizer step
    eval_batch_size: int = 128  # rows per forward pass when scoring held-out and dev rows
    warmup_ratio: float = 0.06  # fraction of the optimizer steps that warm the learning rate up from 0
    weight_decay: float = 0.01  # AdamW weight decay (not on biases and LayerNorm)
    max_length: int = 128  # word pieces kept per text; longer texts are truncated
    max_train_rows: int | None = None  # use only the first N training rows (quick runs); default: all rows
    checkpoint_every: int = 500  # optimizer steps between resumable checkpoints
    seed: int = 42  # random seed of initialisation, shuffling and dropout
    progress: bool = True  # show progress bars

    def __post_init__(self):
        if isinstance(self.data, dict):
            self.data = DataConfig(**self.data)
        check_options(self, FINETUNE_OPTION_RULES)
        if self.output_dir is None:
            self.output_dir = str(Path("artifacts") / f"teacher-{self.data.task}")

    @property
    def best_dir(self) -> Path:
        return Path(self.output_dir) / "best"


def finetune(config: FinetuneConfig) -> dict:
    """Fine-tune and return the summary; a finished run in `output_dir` is reused, an interrupted one resumed."""
    out = Path(config.output_dir)
    summary_path = out / "summary.json"
    _check_same_config(out, config)
    if summary_path.is_file():
        logger.info("Teacher already fine-tuned in %s; reusing it.", out)
        return json.loads(summary_path.read_text())

    logger.info("finetune: %s on %s for %d epoch(s) into %s; the best epoch's model (by held-out accuracy) goes "
                "to %s", config.teacher, config.data.task, config.epochs, out, config.best_dir)
    torch.manual_seed(config.seed)
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    task = config.data.spec
    splits = load_splits(config.data, show_progress=config.progress)
    train = splits["train"]
    if config.max_train_rows:
        train = train.subset(np.arange(min(config.max_train_rows, len(train))))
    checkpoint = out / "checkpoint"
    source = str(checkpoint) if (checkpoint / "training_state.pt").is_file() else resolve_teacher(config.teacher)
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModelForSequenceClassification.from_pretrained(
        source, num_labels=task.num_labels,
        id2label=dict(enumerate(task.label_names)), label2id={n: i for i, n in enumerate(task.label_names)})

    encodings = tokenize_rows(tokenizer, train.texts(), config.max_length)
    lengths = np.array([len(row["input_ids"]) for row in encodings])
    steps_per_epoch = math.ceil(len(train) / config.batch_size)
    optimizer, scheduler = _optimizer(model, config, steps_per_epoch * config.epochs)
    state = {"epoch": 0, "step_in_epoch": 0, "best_score": -1.0, "history": [], "train_seconds": 0.0}
    if source == str(checkpoint):
        saved = torch.load(checkpoint / "training_state.pt", weights_only=False)
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        torch.set_rng_state(saved["torch_rng"])
        state = saved["state"]
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
            batch = collate([encodings[i] for i in index], tokenizer.pad_token_id)
            loss = torch.nn.functional.cross_entropy(model(**batch).logits,
                                                     torch.as_tensor(train.labels[index]))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.4f}")
            if (step + 1) % config.checkpoint_every == 0 and step + 1 < len(batches):
                state["step_in_epoch"] = step + 1
                state["train_seconds"] += time.perf_counter() - started
                started = time.perf_counter()
                _save_checkpoint(checkpoint, model, tokenizer, optimizer, scheduler, state)
        state["train_seconds"] += time.perf_counter() - started
        scores = _evaluate_epoch(model, tokenizer, splits, config)
        left = _time_left(clock, (epoch + 1) * steps_per_epoch, steps_per_epoch * config.epochs)
        report(f"epoch {epoch + 1}/{config.epochs}: " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items())
               + (f"; about {left} left" if epoch + 1 < config.epochs else ""))
        state["history"].append({"epoch": epoch + 1, **scores})
        if scores["heldout_accuracy"] > state["best_score"]:
            state["best_score"] = scores["heldout_accuracy"]
            _save_best(config, model, tokenizer, epoch + 1, scores)
        state.update(epoch=epoch + 1, step_in_epoch=0)
        _save_checkpoint(checkpoint, model, tokenizer, optimizer, scheduler, state)
    bar.close()

    best = json.loads((config.best_dir / TEACHER_INFO).read_text())
    summary = {"task": task.name, "teacher": config.teacher, "best_dir": str(config.best_dir),
               "epochs": config.epochs, "train_seconds": state["train_seconds"],
               "history": state["history"], "best_epoch": best["epoch"], **best["scores"]}
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
    for key in ("progress", "output_dir"):  # neither changes the model
        current.pop(key)
    if path.is_file():
        previous = json.loads(path.read_text())
        # data settings added since the directory was made count as their defaults
        previous["data"] = {**dataclasses.asdict(DataConfig()), **previous.get("data", {})}
        current = json.loads(json.dumps(current))
        changed = sorted(key for key in current if previous.get(key) != current[key])
        if changed:
            raise ValueError(f"{out} holds a teacher fine-tuned with other settings (changed: {changed}). "
                             f"Use another --output-dir, or delete {out} to start over.")
    else:
        out.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(current, indent=2))


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


def _evaluate_epoch(model, tokenizer, splits: dict[str, TaskData], config: FinetuneConfig) -> dict:
    """Held-out accuracy (for model selection) and dev metrics (for reporting only)."""
    task = config.data.spec
    per_split = {}
    for name, data in {"heldout": splits["heldout"], **dev_splits(splits)}.items():
        logits = predict_logits(model, tokenizer, data.texts(), batch_size=config.eval_batch_size,
                                max_length=config.max_length, show_progress=config.progress, desc=name)
        per_split[name] = split_metrics(task, logits.argmax(1), data.labels)
    model.train()
    return summarize(per_split)


def _save_best(config: FinetuneConfig, model, tokenizer, epoch: int, scores: dict) -> None:
    """Write a real copy of the best model so far, with the metadata consumers check."""
    tmp = config.best_dir.with_name("best.tmp")
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


def _save_checkpoint(directory: Path, model, tokenizer, optimizer, scheduler, state: dict) -> None:
    """Save everything needed to resume training exactly where it stopped."""
    tmp = directory.with_name("checkpoint.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "torch_rng": torch.get_rng_state(), "state": state}, tmp / "training_state.pt")
    shutil.rmtree(directory, ignore_errors=True)
    tmp.rename(directory)
