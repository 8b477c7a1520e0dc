"""Distil a teacher's cached soft targets into a student: alpha * CE(label) + (1 - alpha) * MSE(logits)."""
from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Literal

import numpy as np
import torch
import torch.nn.functional as F

from featherweight import workspace
from featherweight.artifact import predict_encoded, save_student, score_encoded
from featherweight.batching import bucketed_batches
from featherweight.config_io import check_options, read_json
from featherweight.data import DataConfig, TaskData, dev_splits, load_splits, read_task_file
from featherweight.devices import CPU, DEVICE_OPTION_RULES, cpu_state_dict, resolve_device
from featherweight.embeddings import build_embedding, fit_tokenizer
from featherweight.embeddings.spec import HASH_BUCKETS
from featherweight.fingerprint import path_sha256
from featherweight.measure.metrics import split_metrics
from featherweight.progress import progress_bar, report
from featherweight.student_meta import EmbeddingMeta, StudentMeta
from featherweight.students import POOLINGS, build_student, parameter_groups, student_preset, training_preset
from featherweight.teacher.model import teacher_exists
from featherweight.teacher.soft_targets import SoftTargetConfig, find_soft_targets, load_soft_targets, soft_targets
from featherweight.tokens import EncodedData, encode_data

logger = logging.getLogger(__name__)

THESIS_SEEDS = (3201976, 8291959, 5111918, 2211933)
EMBEDDING_TYPES = ("hash", "char", "bpe")
# field -> (is the value valid, what is expected), checked by config_io.check_options
DISTILL_OPTION_RULES = {
    "alpha": (lambda v: 0 <= v <= 1, "in [0, 1]"),
    "embedding_dim": (lambda v: v >= 1, ">= 1"),
    "hash_buckets": (lambda v: v >= 10, ">= 10 (the shared pool holds a tenth of them)"),
    "word_ngrams": (lambda v: v >= 1, ">= 1"),
    "max_length": (lambda v: v >= 1, "a positive number of tokens"),
    "hidden_dim": (lambda v: v >= 1, ">= 1"),
    "classifier_dim": (lambda v: v >= 0, ">= 0 (0: a single linear layer)"),
    "dropout": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "temperature": (lambda v: v > 0, "> 0"),
    "epochs": (lambda v: v >= 1, ">= 1"),
    "patience": (lambda v: v >= 1, ">= 1"),
    "batch_size": (lambda v: v >= 1, ">= 1"),
    "learning_rate": (lambda v: v > 0, "> 0"),
    "weight_decay": (lambda v: v >= 0, ">= 0"),
    "num_threads": (lambda v: v >= 1, ">= 1"),
    **DEVICE_OPTION_RULES,
}


@dataclass
class DistillConfig:
    """Settings of a student's distillation; None means the thesis preset for the arch (Table 6.1)."""

    data: DataConfig = field(default_factory=DataConfig)
    teacher: str | None = None  # fine-tuned teacher that labels the rows; default: <work_dir>/teacher-<task>/best
    # saved teacher logits used instead of --teacher: the train file's .npz (+ .json), or a folder of them matched
    # to the train, augmented and composed files by content; default: none
    soft_targets: str | None = None
    student_arch: Literal["bilstm", "rnn", "ffn"] = "bilstm"  # BiLSTM, Elman RNN or feed-forward network
    embedding_type: Literal["hash", "char", "bpe"] = "hash"  # hashed words, characters or BPEmb subwords
    embedding_dim: int = 100  # width of each token's embedding vector
    hash_buckets: int = HASH_BUCKETS  # hash: K importance rows ("Hash25*" in the thesis uses 2500)
    word_ngrams: int = 1  # hash only: also embed the word n-grams up to n (2 = fastText-style bigrams)
    max_length: int | None = None  # tokens (characters for char) kept per text; default: 1024 (char: 4096)
    char_alphabet: Literal["default", "thesis"] = "default"  # char only: thesis (a-z ,.;:?!) or default (also 0-9 ' -)
    bpe_cache: str | None = None  # bpe: BPEmb model cache directory; default: ~/.cache/bpemb
    hidden_dim: int | None = None  # recurrent state size per direction; default: thesis preset (bilstm 150, rnn 100)
    classifier_dim: int | None = None  # classifier MLP width, 0 for one linear layer; default: thesis preset
    dropout: float | None = None  # dropout on the classifier input and hidden layer, in [0, 1); default: thesis preset
    pooling: Literal["last", "max", "mean"] | None = None  # pools token states; default: thesis preset (ffn: mean)
    alpha: float = 0.5  # weight of the gold-label loss, in [0, 1]; 1.0 trains without the teacher
    soft_loss: Literal["mse-logits", "mse-softmax"] | None = None  # distil loss; default: ffn mse-softmax, else mse-logits
    temperature: float = 3.0  # softmax temperature of mse-softmax
    augmented_file: str | None = None  # TSV of augmented rows (`augment`), labelled by the teacher; default: none
    composed_file: str | None = None  # TSV of pseudo-documents (`compose`), labelled by the teacher; default: none
    epochs: int = 10  # most passes over the training rows
    patience: int = 3  # stop after this many epochs without a better held-out score
    batch_size: int | None = None  # rows per optimizer step; default: thesis preset (50; pair tasks 256)
    optimizer: Literal["adam", "adadelta"] | None = None  # torch optimizer; default: thesis preset (bilstm adadelta)
    learning_rate: float | None = None  # optimizer step size; default: thesis preset (adadelta 1.0, adam 1e-4)
    weight_decay: float | None = None  # L2 weight decay; default: thesis preset (rnn 1e-5, else 0)
    seed: int = THESIS_SEEDS[0]  # random seed of initialisation, shuffling and dropout
    num_threads: int = 1  # torch CPU threads; tiny students gain little from more, sweeps run one job per core
    device: str = "auto"  # where the model runs: auto (cuda, then mps, then cpu), cpu, cuda or mps
    output_dir: str | None = None  # the student artifact goes here; default: <work_dir>/students/<name>
    work_dir: str = workspace.WORK_DIR  # caches (teachers, soft targets, token ids) and default outputs go here
    progress: bool = True  # show progress bars

    def __post_init__(self):
        if isinstance(self.data, dict):
            self.data = DataConfig(**self.data)
        check_options(self, DISTILL_OPTION_RULES)
        if self.embedding_type not in EMBEDDING_TYPES:
            raise ValueError(f"embedding_type must be one of {', '.join(EMBEDDING_TYPES)}, got {self.embedding_type!r} "
                             "(--embedding-type).")
        if self.word_ngrams > 1 and self.embedding_type != "hash":
            raise ValueError(f"word_ngrams above 1 (--word-ngrams) needs hash embeddings (--embedding-type hash); "
                             f"got {self.word_ngrams} with {self.embedding_type!r} embeddings.")
        if self.pooling is not None and self.pooling not in POOLINGS.get(self.student_arch, (self.pooling,)):
            raise ValueError(f"pooling {self.pooling!r} (--pooling) does not apply to a {self.student_arch} student "
                             f"(--student-arch); use one of {', '.join(POOLINGS[self.student_arch])}.")
        if self.soft_loss is None:
            self.soft_loss = "mse-softmax" if self.student_arch == "ffn" else "mse-logits"
        if self.teacher is None:
            self.teacher = str(workspace.default_teacher(self.data.task, self.work_dir))
        if self.output_dir is None:
            self.output_dir = str(workspace.student_dir(self.name, self.work_dir))
        self.student_config()  # the arch's preset with these overrides must be a valid student

    @property
    def name(self) -> str:
        """E.g. sst-2-bilstm-hash100-a0.5-s3201976."""
        ngrams = f"-ng{self.word_ngrams}" if self.word_ngrams > 1 else ""
        return (f"{self.data.task}-{self.student_arch}-{self.embedding_type}{self.embedding_dim}{ngrams}"
                f"-a{self.alpha:g}-s{self.seed}")

    def student_config(self):
        """The StudentConfig: the thesis preset for the arch, with this config's overrides."""
        overrides = {name: getattr(self, name) for name in ("hidden_dim", "classifier_dim", "dropout", "pooling")
                     if getattr(self, name) is not None}
        if self.student_arch == "ffn":  # no recurrent encoder: hidden_dim does not apply; mean of embeddings
            overrides.pop("hidden_dim", None)
            overrides.setdefault("pooling", "mean")
        return student_preset(self.student_arch, self.data.is_pair, **overrides)

    def training_settings(self) -> dict:
        """Optimizer, learning rate, weight decay and batch size: the preset unless overridden."""
        preset = training_preset(self.student_arch, self.data.is_pair)
        for ours, theirs in (("batch_size", "batch_size"), ("optimizer", "optimizer"), ("learning_rate", "lr"),
                             ("weight_decay", "weight_decay")):
            if getattr(self, ours) is not None:
                preset[theirs] = getattr(self, ours)
        return preset


def distillation_loss(student_logits, teacher_logits, labels, *, alpha: float, soft_loss: str,
                      temperature: float) -> torch.Tensor:
    """alpha * CE(student, label) + (1 - alpha) * MSE to the teacher (of logits or of T-softmaxes)."""
    loss = alpha * F.cross_entropy(student_logits, labels) if alpha > 0 else 0.0
    if alpha < 1:
        if soft_loss == "mse-softmax":
            soft = F.mse_loss(F.softmax(student_logits / temperature, -1), F.softmax(teacher_logits / temperature, -1))
        else:
            soft = F.mse_loss(student_logits, teacher_logits)
        loss = loss + (1 - alpha) * soft
    return loss


def fit_student_tokenizer(config: DistillConfig, texts: list[str]):
    """The tokenizer of the configured embedding (BPE learns from `texts` when BPEmb is absent)."""
    options = {"hash": {"num_buckets": config.hash_buckets, "word_ngrams": config.word_ngrams},
               "char": {"alphabet": config.char_alphabet}, "bpe": {}}[config.embedding_type]
    if config.max_length is not None:
        options["max_length"] = config.max_length
    return fit_tokenizer(config.embedding_type, texts, dim=config.embedding_dim, seed=config.seed,
                         cache_dir=config.bpe_cache, **options)


@dataclass
class TrainingSet:
    """Encoded training rows with their labels and teacher logits (None without distillation)."""

    encoded: EncodedData
    labels: np.ndarray
    teacher_logits: np.ndarray | None


def _teacher_targets(config: DistillConfig, data_file: Path, data: TaskData, saved: str | None = None) -> np.ndarray:
    """The teacher's logits for `data`'s rows: from `saved` soft targets, else from the (cached) teacher."""
    if saved:
        return load_soft_targets(saved, data_file).for_rows(data)
    targets = soft_targets(SoftTargetConfig(teacher=config.teacher, data_file=str(data_file), task=config.data.spec,
                                            skip_bad_rows=config.data.skip_bad_rows, device=config.device,
                                            progress=config.progress))
    return targets.for_rows(data)


def saved_folder(config: DistillConfig) -> bool:
    """True when --soft-targets names a folder of saved soft targets rather than the train file's .npz."""
    return bool(config.soft_targets) and Path(config.soft_targets).is_dir()


def saved_soft_targets(config: DistillConfig, data_file: Path, train: bool) -> str | None:
    """The saved soft targets to read for `data_file`, or None to label it with the teacher.

    An .npz given with --soft-targets serves the train file; a folder serves every file whose content one of its
    soft targets was made from, and a file it lacks needs the teacher."""
    if not saved_folder(config):
        return config.soft_targets if train else None
    found = find_soft_targets(config.soft_targets, data_file, config.data.task)
    if found is None and not teacher_exists(config.teacher):
        raise FileNotFoundError(f"--soft-targets {config.soft_targets} holds no soft targets made from {data_file} "
                                f"(matched by content), and there is no teacher at {config.teacher} to label it; "
                                "compute them with `featherweight soft-targets` or pass --teacher.")
    return None if found is None else str(found)


def _merge(parts: list[TaskData]) -> TaskData:
    """Concatenate splits of one task (original train and augmented rows)."""
    first = parts[0]
    return TaskData(task=first.task, path=first.path, texts_a=[t for p in parts for t in p.texts_a],
                    texts_b=None if first.texts_b is None else [t for p in parts for t in p.texts_b],
                    labels=np.concatenate([p.labels for p in parts]),
                    line_numbers=np.concatenate([p.line_numbers for p in parts]))


@contextmanager
def staged_directory(directory) -> Iterator[Path]:
    """Yield an empty directory beside `directory` to write into; on success it replaces `directory`
    (an older one there is removed), on any failure or Ctrl-C it is deleted and `directory` is left as it was."""
    final = Path(directory)
    partial = final.with_name(f"{final.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        yield partial
        old = final.with_name(f"{final.name}.old-{os.getpid()}")
        if final.exists():
            final.rename(old)
        partial.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def teacher_record(config: DistillConfig, saved: str | None = None) -> dict:
    """Where the student's soft targets came from: {"teacher": directory or None, "soft_targets": ... or None}.

    "teacher" names a directory only when it exists (and, for saved soft targets, still holds the teacher that
    made them); saved soft targets are recorded by file, with the teacher that made them (path, content hash
    and, for the committed ones, its description and accuracy).
    """
    saved = saved or (None if saved_folder(config) else config.soft_targets)  # the train file's soft targets
    if config.alpha >= 1:
        return {"teacher": None, "soft_targets": None}
    if not saved:
        return {"teacher": config.teacher, "soft_targets": None}
    meta = read_json(Path(saved).with_suffix(".json"))
    made_by = {key: meta[key] for key in ("teacher", "teacher_sha256", "teacher_description", "teacher_dev_accuracy")
               if key in meta}
    if (config.augmented_file or config.composed_file) and not saved_folder(config):  # labelled by config.teacher
        teacher = config.teacher
    else:  # the directory that made the soft targets, while it still holds that very teacher
        teacher = meta.get("teacher")
        if teacher and Path(teacher).is_dir() and path_sha256(teacher) != meta.get("teacher_sha256"):
            teacher = None
    return {"teacher": teacher if teacher_exists(teacher) else None,
            "soft_targets": {"file": str(saved), **made_by}}


def transfer_data(config: DistillConfig) -> tuple[TaskData, list, dict, str | None]:
    """The rows a student learns from: (train + augmented + composed rows, their teacher logits, the splits,
    the saved soft targets the train rows came from or None)."""
    task = config.data.spec
    splits = load_splits(config.data, show_progress=config.progress)
    train = splits["train"]
    parts, logits = [train], []
    train_saved = saved_soft_targets(config, splits["train"].path, train=True) if config.alpha < 1 else None
    if config.alpha < 1:
        logits.append(_teacher_targets(config, splits["train"].path, train, saved=train_saved))
    for transfer_file in filter(None, (config.augmented_file, config.composed_file)):
        transfer = read_task_file(transfer_file, task, labelled=False, skip_bad_rows=config.data.skip_bad_rows)
        transfer_logits = _teacher_targets(config, Path(transfer_file), transfer,
                                           saved=saved_soft_targets(config, Path(transfer_file), train=False))
        transfer.labels = transfer_logits.argmax(1)  # augmented and composed rows carry the teacher's label
        parts.append(transfer)
        logits.append(transfer_logits)
    return (_merge(parts) if len(parts) > 1 else train), logits, splits, train_saved


def distill(config: DistillConfig, *, pruner_factory=None) -> dict:
    """Train, select on held-out train rows, score on dev, save the artifact; return the summary.

    `pruner_factory(model, total_steps)`, when given, returns a pruner (see featherweight.compression.prune.GradualPruner)
    that prunes the student while it trains.
    """
    resolve_device(config.device)  # a missing GPU is refused before any data is read
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.num_threads)
    train, logits, splits, train_saved = transfer_data(config)
    out = Path(config.output_dir)
    with staged_directory(out) as staged:  # a failure or Ctrl-C leaves no half-written student at `out`
        fitted = _fit_and_save(config, train, logits, splits, staged, pruner_factory, train_saved)
    return {"name": config.name, "output_dir": str(out), "params": fitted.pop("params"),
            "disk_bytes": (out / "model.safetensors").stat().st_size, **fitted}


def _fit_and_save(config: DistillConfig, train: TaskData, logits: list, splits: dict, out: Path,
                  pruner_factory, train_saved: str | None) -> dict:
    """Fit the tokenizer, train, select, score and save the student into `out` (recording the saved soft targets
    the train rows came from, if any); return params, timing, scores."""
    task = config.data.spec
    tokenizer = fit_student_tokenizer(config, train.texts_a + (train.texts_b or []))
    tokenizer.save(out / "tokenizer")
    training, evaluation = _encoded_sets(config, tokenizer, out / "tokenizer", train, logits, splits)

    model = build_student(config.student_config(), build_embedding(tokenizer, config.embedding_dim),
                          task.num_labels, task.is_pair)
    settings = config.training_settings()
    history, epoch_seconds = _train_to_best(model, training, evaluation, settings, config, pruner_factory)

    scores = score_encoded(task, model, evaluation)
    meta = StudentMeta(task=task.name, task_spec=task, label_names=list(task.label_names), pair=task.is_pair,
                       num_labels=task.num_labels, student=config.student_config(),
                       embedding=EmbeddingMeta(config.embedding_type, config.embedding_dim),
                       parameters=parameter_groups(model), scores=scores, history=history,
                       distill_config=dataclasses.asdict(config),
                       training={**settings, "device": str(resolve_device(config.device))},
                       **teacher_record(config, train_saved), variant="distilled")
    save_student(out, model, tokenizer, meta)
    return {"params": sum(meta.parameters.values()), "epoch_seconds": float(np.mean(epoch_seconds)),
            "epochs_run": len(history), **scores}


def _encoded_sets(config: DistillConfig, tokenizer, tokenizer_dir: Path, train: TaskData, logits: list,
                  splits: dict) -> tuple[TrainingSet, dict]:
    """The training rows and {split: (TaskData, EncodedData)} of the held-out slice and dev, encoded (cached)."""
    cache = workspace.cache_dir("tokens", config.work_dir)
    tokenizer_hash = path_sha256(tokenizer_dir)
    encode = lambda data: encode_data(tokenizer, data, cache_dir=cache, show_progress=config.progress,
                                      tokenizer_hash=tokenizer_hash)
    training = TrainingSet(encode(train), train.labels, np.concatenate(logits) if logits else None)
    return training, {name: (data, encode(data)) for name, data in {"heldout": splits["heldout"],
                                                                    **dev_splits(splits)}.items()}


def retrain(model, tokenizer, tokenizer_dir, config: DistillConfig) -> list[dict]:
    """Train an existing student further on `config`'s rows and soft targets for config.epochs, keeping the epoch
    with the best held-out score (dev is only recorded); the model ends with those weights. Returns the history."""
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.num_threads)
    train, logits, splits, _ = transfer_data(config)
    training, evaluation = _encoded_sets(config, tokenizer, Path(tokenizer_dir), train, logits, splits)
    return _train_to_best(model, training, evaluation, config.training_settings(), config)[0]


def _train_to_best(model, training: TrainingSet, evaluation: dict, settings: dict, config: DistillConfig,
                   pruner_factory=None) -> tuple[list[dict], list[float]]:
    """`_train` selecting on evaluation["heldout"] (the other splits only recorded), then the model takes its best
    weights; returns (history, seconds per epoch)."""
    dev = {name: pair for name, pair in evaluation.items() if name != "heldout"}
    history, best_state, _, epoch_seconds = _train(model, training, evaluation["heldout"], settings, config,
                                                   pruner_factory, dev)
    model.load_state_dict(best_state)
    return history, epoch_seconds


def _optimizer(model, settings: dict):
    if settings["optimizer"] == "adadelta":
        return torch.optim.Adadelta(model.parameters(), lr=settings["lr"], weight_decay=settings["weight_decay"])
    return torch.optim.Adam(model.parameters(), lr=settings["lr"], weight_decay=settings["weight_decay"])


def _train(model, training: TrainingSet, heldout, settings: dict, config: DistillConfig, pruner_factory=None,
           dev: dict | None = None):
    """Epochs of length-bucketed batches; keeps a copy of the weights with the best held-out accuracy.

    `dev` ({name: (TaskData, EncodedData)}) is scored after each epoch for the history only; it never selects.

    Equal accuracies are told apart by the held-out cross-entropy: a student still predicting the
    majority class while its loss falls is learning, not stale (small pair sets start like that).

    With a pruner (`pruner_factory(model, total_steps)`: `.step()` after each optimizer step, `.complete` once
    the target sparsity is reached), only epochs that end at the target sparsity are candidates, and patience
    starts counting from the first of them.

    The model trains and is scored on config.device; it ends on the CPU, and the best weights are CPU copies.
    """
    device = resolve_device(config.device)
    model.to(device)
    pruner = None
    if pruner_factory is not None:  # made before the optimizer and the first best_state copy
        steps_per_epoch = len(bucketed_batches(training.encoded.lengths, settings["batch_size"], shuffle=True,
                                               seed=config.seed))
        pruner = pruner_factory(model, steps_per_epoch * config.epochs)
    optimizer = _optimizer(model, settings)
    heldout_data, heldout_encoded = heldout
    history, epoch_seconds = [], []
    best_state, best, stale = cpu_state_dict(model), (-1.0, -np.inf), 0  # (accuracy, -loss)
    heldout_labels = torch.as_tensor(heldout_data.labels)
    labels = torch.as_tensor(training.labels, device=device)
    teacher = None if training.teacher_logits is None else torch.as_tensor(training.teacher_logits, device=device)
    for epoch in range(config.epochs):
        model.train()
        batches = bucketed_batches(training.encoded.lengths, settings["batch_size"], shuffle=True,
                                   seed=config.seed + epoch)
        began, total = time.perf_counter(), 0.0
        bar = progress_bar(batches, desc=f"{config.name} epoch {epoch + 1}/{config.epochs}", enable=config.progress)
        for index in bar:
            logits = model(*(ids.to(device) for ids in training.encoded.inputs(index)))
            loss = distillation_loss(logits, None if teacher is None else teacher[index], labels[index],
                                     alpha=config.alpha, soft_loss=config.soft_loss, temperature=config.temperature)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if pruner is not None:
                pruner.step()
            total += loss.item()
        epoch_seconds.append(time.perf_counter() - began)
        heldout_logits = predict_encoded(model, heldout_encoded)
        score = split_metrics(config.data.spec, heldout_logits.argmax(1), heldout_data.labels)["accuracy"]
        heldout_loss = F.cross_entropy(torch.as_tensor(heldout_logits), heldout_labels).item()
        dev_scores = score_encoded(config.data.spec, model, dev) if dev else {}  # the record only
        history.append({"epoch": epoch + 1, "loss": total / len(batches), "heldout_accuracy": score,
                        "heldout_loss": heldout_loss, **dev_scores, "seconds": epoch_seconds[-1]})
        report(f"{config.name} epoch {epoch + 1}: loss {total / len(batches):.4f}, held-out accuracy {score:.4f}, "
               f"held-out loss {heldout_loss:.4f}"
               + "".join(f", {name.replace('_', ' ')} {value:.4f}" for name, value in dev_scores.items()))
        if pruner is not None and not pruner.complete:
            continue  # not yet at the target sparsity: not a candidate
        if (score, -heldout_loss) > best:
            best_state, best, stale = cpu_state_dict(model), (score, -heldout_loss), 0
        else:
            stale += 1
            if stale >= config.patience:
                break
    model.to(CPU)
    return history, best_state, best[0], epoch_seconds
