"""Teacher soft targets: label a data file once, cache the logits, recompute only when stale."""
from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from featherweight import ray_shards, workspace
from featherweight.teacher import onnx as teacher_onnx
from featherweight.config_io import read_json
from featherweight.data import TaskData, TaskSpec, get_task, read_task_file, task_from_record
from featherweight.data.splits import heldout_indices
from featherweight.devices import resolve_device
from featherweight.fingerprint import path_sha256
from featherweight.progress import progress_bar, shards_done
from featherweight.teacher.model import load_teacher, predict_logits, resolve_teacher, teacher_info, teacher_max_length

logger = logging.getLogger(__name__)

RECORDED_BEFORE = {"runtime": "torch"}  # what soft targets made before a key was recorded were made with


@dataclass
class SoftTargetConfig:
    """Settings of `featherweight soft-targets`."""

    teacher: str  # fine-tuned teacher directory (or a hub name) that labels the rows
    data_file: str  # rows in the task's columns (.tsv, .csv, .jsonl, .parquet); labels are not needed
    task: str | None = None  # GLUE task of the file's layout; default: the teacher's own task, else sst-2
    # logits (.npz + .json); default: soft-targets/<task>-<file stem>.npz beside the teacher (ONNX runtimes:
    # <task>-<file stem>.<runtime>.npz, so neither overwrites the other)
    output: str | None = None
    batch_size: int = 128  # rows per teacher forward pass
    max_length: int | None = None  # word pieces kept per text; default: the teacher's fine-tuning length, else 128
    shard_size: int = 20000  # rows per resumable shard
    skip_bad_rows: bool = False  # skip malformed rows (counted and logged) instead of stopping at the first
    progress: bool = True  # show progress bars
    # how the teacher runs: torch, onnx (ONNX Runtime fp32) or onnx-int8 (dynamic int8; used only when its labels
    # agree with torch on >= 99.5% of dev rows, else refused)
    runtime: Literal["torch", "onnx", "onnx-int8"] = "torch"
    device: str = "auto"  # torch runtime: where the teacher runs: auto, cpu, cuda or mps
    # local: this process; ray: one Ray task per missing shard on the cluster at ray_address (one teacher per
    # worker)
    backend: Literal["local", "ray"] = "local"
    ray_address: str | None = None  # Ray cluster address for backend ray; default: start a local Ray instance

    def __post_init__(self):
        if self.backend not in ("local", "ray"):
            raise ValueError(f"backend must be one of ['local', 'ray'], got {self.backend!r}.")
        if self.ray_address is not None and self.backend != "ray":
            raise ValueError("ray_address is only used by the ray backend; add --backend ray.")
        spec = self.task if isinstance(self.task, TaskSpec) else teacher_task(self.teacher, self.task)
        self.__dict__["_spec"] = spec  # a TaskSpec may be passed for `task` (the API); the field keeps its name
        self.task = spec.name
        if self.output is None:
            self.output = str(workspace.soft_targets_file(resolve_teacher(self.teacher), self.task, self.data_file,
                                                          self.runtime))
        if self.max_length is None:
            self.max_length = teacher_max_length(self.teacher)

    @property
    def spec(self) -> TaskSpec:
        return self.__dict__["_spec"]


def teacher_task(teacher: str, name: str | None) -> TaskSpec:
    """The task named `name` (a GLUE task, or the teacher's own), else the one the teacher was fine-tuned on,
    else SST-2."""
    info = teacher_info(teacher)
    if info.get("task") and name in (None, info["task"]):
        return task_from_record(info)
    return get_task(name or "sst-2")


@dataclass
class SoftTargets:
    """Cached teacher logits of a data file, with the file line each row came from."""

    logits: np.ndarray  # (N, num_labels) float32, in the task's label order
    line_numbers: np.ndarray  # (N,)
    meta: dict

    def for_rows(self, data: TaskData) -> np.ndarray:
        """The logits of `data`'s rows (any subset of the labelled file), in `data`'s order."""
        position = np.searchsorted(self.line_numbers, data.line_numbers)
        position = np.clip(position, 0, len(self.line_numbers) - 1)
        missing = self.line_numbers[position] != data.line_numbers
        if missing.any():
            raise ValueError(f"Soft targets {self.meta.get('data_file')} have no row for line "
                             f"{int(data.line_numbers[missing][0])} of {data.path}; recompute them.")
        return self.logits[position]


def find_soft_targets(directory, data_file, task: str | None = None) -> Path | None:
    """The saved soft targets (.npz beside its .json) in `directory` made from `data_file`'s content (and for
    `task`, when given); None when there are none."""
    directory = Path(directory)
    if not directory.is_dir():
        return None
    digest = None
    for meta_path in sorted(directory.glob("*.json")):
        meta = read_json(meta_path)
        if (task and meta.get("task") != task) or not meta_path.with_suffix(".npz").is_file():
            continue
        digest = digest or path_sha256(data_file)
        if meta.get("data_sha256") == digest:
            return meta_path.with_suffix(".npz")
    return None


def load_soft_targets(path, data_file) -> SoftTargets:
    """Read saved soft targets (an .npz beside its .json), checking they were made from `data_file`."""
    path = Path(path)
    meta_path = path.with_suffix(".json")
    if not path.is_file() or not meta_path.is_file():
        raise FileNotFoundError(f"Soft targets need both {path} and {meta_path}.")
    meta = read_json(meta_path)
    if meta.get("data_sha256") != path_sha256(data_file):
        raise ValueError(f"{path} was computed from another file than {data_file} (content hash differs); "
                         f"recompute them with `featherweight soft-targets --data-file {data_file}`.")
    return _read_arrays(path, meta)


def identity(config: SoftTargetConfig) -> dict:
    """What the cached logits depend on: the teacher's and the data's content (not their paths), labels, length."""
    task = config.spec
    teacher_dir = resolve_teacher(config.teacher)
    return {
        "teacher_sha256": path_sha256(teacher_dir) if Path(teacher_dir).exists() else config.teacher,
        "data_sha256": path_sha256(config.data_file),
        "task": task.name,
        "label_names": list(task.label_names),
        "max_length": config.max_length,
        "skip_bad_rows": config.skip_bad_rows,
        "runtime": config.runtime,
    }


def _recorded(meta: dict, wanted: dict) -> dict:
    """The values of `wanted`'s keys that `meta` records (older records lack some: RECORDED_BEFORE fills them)."""
    return {key: meta.get(key, RECORDED_BEFORE.get(key)) for key in wanted}


def soft_targets(config: SoftTargetConfig) -> SoftTargets:
    """Return the teacher's logits for every usable row of the file, computing them when needed."""
    output = Path(config.output)
    meta_path = output.with_suffix(".json")
    wanted = identity(config)
    if output.is_file() and meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        recorded = _recorded(meta, wanted)
        if recorded == wanted:
            logger.info("Soft targets cache hit: %s", output)
            return _read_arrays(output, meta)
        stale = [key for key in wanted if recorded[key] != wanted[key]]
        logger.warning("Soft targets in %s are stale (%s changed); recomputing.", output, ", ".join(stale))
    return _compute(config, wanted, output, meta_path)


def label_file(config: SoftTargetConfig) -> dict:
    """The `soft-targets` command: label the file (or reuse its cache) and say where the logits are."""
    targets = soft_targets(config)
    return {"output": config.output, "rows": len(targets.logits),
            "compute_seconds": targets.meta.get("compute_seconds", 0.0)}


def _compute(config: SoftTargetConfig, wanted: dict, output: Path, meta_path: Path) -> SoftTargets:
    task = config.spec
    data = read_task_file(config.data_file, task, labelled=False, skip_bad_rows=config.skip_bad_rows)
    shard_dir = _shard_dir(output, wanted)
    rows = data.texts()
    starts = range(0, len(rows), config.shard_size)
    _report_resume(shard_dir, starts, len(rows), config.shard_size)
    shards = {number: rows[start:start + config.shard_size] for number, start in enumerate(starts)
              if not _shard_path(shard_dir, number).is_file()}
    began = time.perf_counter()
    if config.backend == "ray":
        how = _label_on_ray(config, wanted, shard_dir, shards)
    else:
        how = _label_here(config, wanted, shard_dir, shards, total=len(starts))
    seconds = time.perf_counter() - began
    logits = np.concatenate([np.load(_shard_path(shard_dir, n)) for n in range(len(starts))]
                            or [np.zeros((0, task.num_labels), np.float32)])
    meta = {**wanted, **how, "task_spec": task.to_dict(), "teacher": config.teacher,
            "data_file": str(config.data_file), "rows": len(rows),
            "skipped_rows": dict(data.skipped), "compute_seconds": seconds,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
    output.parent.mkdir(parents=True, exist_ok=True)
    with open(output.with_suffix(".tmp.npz"), "wb") as handle:
        np.savez(handle, logits=logits.astype(np.float32), line_numbers=data.line_numbers)
    output.with_suffix(".tmp.npz").rename(output)
    meta_path.write_text(json.dumps(meta, indent=2))
    shutil.rmtree(shard_dir)
    return SoftTargets(logits, data.line_numbers, meta)


def _shard_dir(output: Path, wanted: dict) -> Path:
    """The shard folder beside `output`, emptied when it holds shards of other settings, stamped with `wanted`."""
    shard_dir = output.with_suffix(".shards")
    shard_identity = _read_json(shard_dir / "identity.json")
    if shard_dir.is_dir() and (shard_identity is None or _recorded(shard_identity, wanted) != wanted):
        logger.warning("%s holds shards of another teacher, file or setting; starting afresh.", shard_dir)
        shutil.rmtree(shard_dir)  # never mixed in
    shard_dir.mkdir(parents=True, exist_ok=True)
    (shard_dir / "identity.json").write_text(json.dumps(wanted, indent=2))
    return shard_dir


def _shard_path(shard_dir: Path, number: int) -> Path:
    return shard_dir / f"shard-{number:05d}.npy"


def label_shard(label, shard_dir: Path, number: int, rows: list[tuple[str, ...]]) -> None:
    """Label one shard's rows and save the logits atomically (a tmp file, then a rename): both backends' step."""
    logits = label(rows, desc=f"shard {number}")
    shard, tmp = _shard_path(shard_dir, number), _shard_path(shard_dir, number).with_suffix(".tmp.npy")
    np.save(tmp, logits)
    tmp.rename(shard)


def _label_here(config: SoftTargetConfig, wanted: dict, shard_dir: Path, shards: dict, total: int) -> dict:
    """Label the missing `shards` ({number: rows}) in this process; returns how the teacher ran."""
    label, how = _labeller(config, wanted, *load_teacher(config.teacher, config.spec))
    bar = progress_bar(total=total, initial=total - len(shards), desc=f"soft targets {Path(config.data_file).name}",
                       unit="shard", enable=config.progress)
    for number, rows in shards.items():
        label_shard(label, shard_dir, number, rows)
        bar.update(1)
    bar.close()
    return how


def _label_on_ray(config: SoftTargetConfig, wanted: dict, shard_dir: Path, shards: dict) -> dict:
    """Label the missing `shards` as one Ray task each; returns how the teacher ran.

    An ONNX runtime is exported (and int8 checked) once here first, so workers only load the cached export."""
    how = {"device": config.device}  # torch: as asked; each worker resolves it (a GPU task sees its GPU)
    if config.runtime != "torch" and shards:
        _, how = _labeller(config, wanted, *load_teacher(config.teacher, config.spec))
    jobs = {number: (config, wanted, str(shard_dir), number, rows) for number, rows in shards.items()}
    ray_shards.run_shards(_ray_label_shard, jobs, address=config.ray_address,
                          device=config.device if config.runtime == "torch" else None,
                          desc=f"soft targets {Path(config.data_file).name}", progress=config.progress)
    return {**how, "backend": "ray"}


def _ray_label_shard(config: SoftTargetConfig, wanted: dict, shard_dir: str, number: int, rows: list) -> int:
    """A Ray task: label one shard with this worker's teacher (loaded once per worker) and save it."""
    key = json.dumps(asdict(config), sort_keys=True, default=str)
    label = ray_shards.worker_cached(
        key, lambda: _labeller(config, wanted, *load_teacher(config.teacher, config.spec))[0])
    label_shard(label, Path(shard_dir), number, rows)
    return number


def _labeller(config: SoftTargetConfig, wanted: dict, model, tokenizer, order):
    """(label(rows, desc) -> logits of the teacher run by config.runtime, what the metadata records of how it ran).

    onnx-int8 is checked against the torch teacher first and refused when their labels agree too rarely."""
    if config.runtime == "torch":
        device = resolve_device(config.device)
        return (lambda rows, desc: _torch_logits(config, device, model, tokenizer, order, rows, desc),
                {"device": str(device)})
    if config.device not in ("auto", "cpu"):
        logger.info("--device %s is for the torch runtime; ONNX Runtime runs the teacher on the CPU.", config.device)
    onnx_file = teacher_onnx.teacher_onnx(config.teacher, config.runtime, model, tokenizer,
                                          teacher_sha256=wanted["teacher_sha256"])
    session = teacher_onnx.onnx_session(onnx_file, threads=torch.get_num_threads())

    def label(rows, desc):
        return teacher_onnx.onnx_predict_logits(session, tokenizer, rows, batch_size=config.batch_size,
                                                max_length=config.max_length, order=order,
                                                show_progress=config.progress, desc=desc)

    how = {"device": "cpu", "onnx_file": str(onnx_file)}
    if config.runtime == "onnx-int8":
        how["int8_agreement"] = _int8_agreement(config, onnx_file, model, tokenizer, order, label)
        teacher_onnx.require_agreement(how["int8_agreement"])
    return label, how


def _torch_logits(config: SoftTargetConfig, device, model, tokenizer, order, rows, desc: str) -> np.ndarray:
    """The torch teacher's logits of `rows` on `device` (named to predict_logits only off the CPU)."""
    placed = {} if device.type == "cpu" else {"device": device}
    return predict_logits(model, tokenizer, rows, batch_size=config.batch_size, max_length=config.max_length,
                          order=order, show_progress=config.progress, desc=desc, **placed)


def _int8_agreement(config: SoftTargetConfig, int8_file: Path, model, tokenizer, order, int8_label) -> dict:
    """The int8 teacher's label agreement with the torch teacher on the agreement rows (cached per teacher)."""
    rows, source = agreement_rows(config)

    def measure() -> dict:
        logger.info("Checking the int8 teacher against torch on %d rows of %s", len(rows), source)
        reference = _torch_logits(config, resolve_device(config.device), model, tokenizer, order, rows,
                                  "int8 check: torch")
        return teacher_onnx.label_agreement(int8_label(rows, "int8 check: onnx-int8"), reference)

    return teacher_onnx.int8_verdict(int8_file, rows, source, config.max_length, measure)


def agreement_rows(config: SoftTargetConfig) -> tuple[list[tuple[str, ...]], str]:
    """(rows, where they come from) the int8 teacher is checked on: the first AGREEMENT_ROWS rows of the task's
    dev file (beside a GLUE data file, or the user's task's own), else as many rows of a seeded held-out draw
    from the labelled file (the teacher's held-out fraction and seed)."""
    limit = teacher_onnx.AGREEMENT_ROWS
    dev = task_dev_file(config.spec, config.data_file)
    if dev is not None:
        return read_task_file(dev, config.spec, labelled=False, skip_bad_rows=True).texts()[:limit], str(dev)
    rows = read_task_file(config.data_file, config.spec, labelled=False, skip_bad_rows=True).texts()
    info = teacher_info(config.teacher)
    _, heldout = heldout_indices(len(rows), info.get("heldout_fraction", 0.05), info.get("heldout_seed", 0))
    return [rows[i] for i in heldout[:limit]], f"held-out rows of {config.data_file}"


def task_dev_file(task: TaskSpec, data_file) -> Path | None:
    """The task's first dev file: a GLUE task's beside `data_file`, a user's task's at its own path; None when
    it is not there."""
    names = list(task.dev_files.values())[:1]
    paths = [Path(data_file).parent / name if task.is_glue else Path(name) for name in names]
    return next((path for path in paths if path.is_file()), None)


def _report_resume(shard_dir: Path, starts: range, n_rows: int, shard_size: int) -> None:
    """Log how much of an interrupted run the finished shards in `shard_dir` already cover."""
    done, rows = shards_done(lambda n: _shard_path(shard_dir, n).is_file(), starts, n_rows, shard_size)
    if done:
        logger.info("soft-targets: resuming, %d of %d shards done (%s rows) in %s", done, len(starts), f"{rows:,}",
                    shard_dir)


def _read_arrays(path: Path, meta: dict) -> SoftTargets:
    arrays = np.load(path)
    return SoftTargets(arrays["logits"], arrays["line_numbers"], meta)


def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None
