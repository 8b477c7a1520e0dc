"""`featherweight augment`: TinyBERT-style augmentation of a task file, sharded, resumable, with metadata.

Writes a TSV in the task's layout (a TSV source's header, each augmented row copying its source row's
other fields, label included; other formats give the text and label columns) and a metadata JSON beside
it. The label column keeps the source row's label only so that the file reads like the task's own; the teacher
relabels every augmented row (`featherweight soft-targets`, and distillation uses the
teacher's argmax), because a replaced word can flip the label.

Shards are independent (each drops repeats within itself; repeats of other shards' rows are dropped when the
shards are joined in order), so `--backend ray` writes them as one Ray task each (featherweight/ray_shards.py).
"""
from __future__ import annotations

import json
import logging
import shutil
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from featherweight.augment.candidates import find_candidates
from featherweight.augment.glove import GloveNeighbours, load_glove
from featherweight.augment.mlm import MLM_MAX_LENGTH, PRECISIONS, MaskedLM, mlm_identity
from featherweight import ray_shards, workspace
from featherweight.augment.sample import augment_rows, row_digest
from featherweight.data import (DataConfig, DataError, TaskData, TaskSpec, load_splits, open_text, read_task_file,
                                train_path)
from featherweight.data.formats import file_format, tsv_field
from featherweight.fingerprint import file_sha256
from featherweight.progress import progress_bar, report, shards_done

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
GLOVE_ONLY_NOTE = ("No masked LM given (the default MiniLM teacher has none): every candidate word uses its "
                   "K nearest GloVe neighbours instead of masked-LM predictions. Pass --mlm (e.g. roberta-large) "
                   "for the method of Jiao et al. (2020).")


@dataclass
class AugmentConfig:
    """Settings of `featherweight augment` (defaults: Jiao et al. 2020 and the thesis, p=0.4, N=20, K=15)."""

    data: DataConfig = field(default_factory=DataConfig)
    input_file: str | None = None  # rows to augment (any format); default: the train split without its held-out slice
    output: str | None = None  # augmented rows (TSV); default: artifacts/augment-<task>/augmented.tsv
    mlm: str | None = None  # masked LM (hub name or folder); default: none, GloVe neighbours for every word
    glove_dir: str | None = None  # folder with glove_6B_index.parquet + glove_6B_50d_emb.npy; default: kumo package
    replace_prob: float = 0.4  # p: chance that each candidate word is replaced in a draw
    samples: int = 20  # N: draws per row (the thesis used 20 to 29)
    top_k: int = 15  # K: masked-LM predictions or GloVe neighbours considered per word
    glove_vocab: int = 100_000  # neighbours come from the most frequent GloVe words, as in the reference
    keep_fraction: float = 1.0  # keep this seeded share of the variants (the thesis kept 0.25 for QQP and MNLI)
    batch_size: int = 128  # masked copies per forward pass
    max_length: int = MLM_MAX_LENGTH  # masked-LM input pieces; words beyond it use GloVe
    mask_group: int = 1  # >1: mask up to this many words per copy (faster, approximate); 1 = the paper
    # "bfloat16": the masked LM's encoder under bf16 autocast (faster on AMX CPUs and GPUs, scores rounded)
    mlm_precision: Literal["float32", "bfloat16"] = "float32"
    shard_rows: int = 2000  # source rows per resumable shard
    max_rows: int | None = None  # augment only the first N source rows (quick runs); default: all rows
    device: str = "auto"  # "auto" (cuda when available), "cpu", "cuda", ...
    # local: this process; ray: one Ray task per missing shard on the cluster at ray_address (one teacher per
    # worker)
    backend: Literal["local", "ray"] = "local"
    ray_address: str | None = None  # Ray cluster address for backend ray; default: start a local Ray instance
    seed: int = 42  # random seed of the draws
    progress: bool = True  # show progress bars

    def __post_init__(self):
        if isinstance(self.data, dict):
            self.data = DataConfig(**self.data)
        if not 0.0 < self.replace_prob <= 1.0:
            raise ValueError(f"replace_prob (p) must be in (0, 1], got {self.replace_prob}.")
        if not 0.0 < self.keep_fraction <= 1.0:
            raise ValueError(f"keep_fraction must be in (0, 1], got {self.keep_fraction}.")
        for name in ("samples", "top_k", "batch_size", "shard_rows", "max_length", "mask_group"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}.")
        if self.mlm_precision not in PRECISIONS:
            raise ValueError(f"mlm_precision must be one of {list(PRECISIONS)}, got {self.mlm_precision!r}.")
        if self.glove_vocab <= self.top_k:
            raise ValueError(f"glove_vocab ({self.glove_vocab}) must exceed top_k ({self.top_k}).")
        if self.backend not in ("local", "ray"):
            raise ValueError(f"backend must be one of ['local', 'ray'], got {self.backend!r}.")
        if self.ray_address is not None and self.backend != "ray":
            raise ValueError("ray_address is only used by the ray backend; add --backend ray.")
        if self.max_rows is not None and self.max_rows < 1:
            raise ValueError(f"max_rows must be positive or unset, got {self.max_rows}.")
        if self.output is None:
            self.output = str(workspace.augmented_file(self.data.task))

    @property
    def metadata_path(self) -> Path:
        return Path(self.output).with_suffix(".json")


def augment(config: AugmentConfig) -> dict:
    """Augment the task's rows and return the summary; a finished output is reused, an interrupted run resumed."""
    began = time.perf_counter()
    task = config.data.spec
    source, rows = _source(config)
    glove_table = load_glove(config.glove_dir, config.glove_vocab)
    wanted = _identity(config, source, rows, glove_table.identity)
    output, meta_path = Path(config.output), config.metadata_path
    if output.is_file() and meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if meta.get("identity") == wanted:
            logger.info("Augmented data already in %s; reusing it.", output)
            return meta["summary"]
        logger.warning("%s was made with other settings or data; augmenting again.", output)

    if not config.mlm:
        logger.warning(GLOVE_ONLY_NOTE)
    shard_dir = _shard_dir(output, wanted)
    header, raw = _raw_lines(source, rows, task)
    layout = _layout(header, task)
    starts = range(0, len(rows), config.shard_rows)
    _report_resume(shard_dir, starts, len(rows), config.shard_rows)
    jobs = {}
    for number, start in enumerate(starts):
        if not _shard_meta(shard_dir, number).is_file():
            chunk = rows.subset(np.arange(start, min(start + config.shard_rows, len(rows))))
            jobs[number] = (config, str(shard_dir), number, chunk,
                            {line: raw[line] for line in chunk.line_numbers.tolist()}, layout)
    if config.backend == "ray":
        ray_shards.run_shards(_ray_write_shard, jobs, address=config.ray_address,
                              device=config.device if config.mlm else None, desc=f"augment {task.name}",
                              progress=config.progress)
    else:
        _write_shards_here(config, jobs, glove_table, total=len(starts))
    seen = {row_digest(texts) for texts in rows.texts()}
    counts = _join_shards(output, header, shard_dir, len(starts), layout[0], seen)
    seconds = time.perf_counter() - began
    summary = {
        "output": str(output),
        "metadata": str(meta_path),
        "task": task.name,
        "task_spec": task.to_dict(),
        "source_rows": len(rows),
        "rows": counts["rows"],
        "candidate_source": "masked LM + GloVe" if config.mlm else "GloVe only",
        "seconds": round(seconds, 1),
        "counts": dict(sorted(counts.items())),
        "next": f"featherweight soft-targets --teacher TEACHER_DIR --data-file {output}"
                + (f" --task {task.name}" if task.is_glue else ""),
        "artifacts": [str(meta_path)],
    }
    meta = {"identity": wanted, "summary": summary,
            "labels": "label column = the source row's label, not checked; relabel with the teacher "
                      "(featherweight soft-targets); distillation uses the teacher's argmax",
            "pairs": "each draw rewrites one side and keeps the other original (sides take turns)",
            "note": None if config.mlm else GLOVE_ONLY_NOTE,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
    _write_atomic(meta_path, json.dumps(meta, indent=2))
    shutil.rmtree(shard_dir)
    report(f"augment: {counts['rows']} rows from {len(rows)} source rows in {seconds:.0f}s -> {output}")
    return summary


def _shard_dir(output: Path, wanted: dict) -> Path:
    """The shard folder beside `output`, emptied when it holds shards of other settings, stamped with `wanted`."""
    shard_dir = output.with_suffix(".shards")
    if shard_dir.is_dir() and _read_json(shard_dir / "identity.json") != wanted:
        logger.warning("%s holds shards of other settings or data; starting afresh.", shard_dir)
        shutil.rmtree(shard_dir)  # shards of another config are never mixed in
    shard_dir.mkdir(parents=True, exist_ok=True)
    (shard_dir / "identity.json").write_text(json.dumps(wanted, indent=2))
    return shard_dir


def _shard_lines(shard_dir: Path, number: int) -> Path:
    return shard_dir / f"shard-{number:05d}.tsv"


def _shard_meta(shard_dir: Path, number: int) -> Path:
    return shard_dir / f"shard-{number:05d}.json"


def _layout(header: list[str], task: TaskSpec) -> tuple[list[int], list[int]]:
    """(the text columns' positions, the positions blanked in a variant: parses of the old text)."""
    return ([header.index(column) for column in task.text_columns],
            [i for i, column in enumerate(header) if column.endswith("_parse")])


def _candidate_sources(config: AugmentConfig, glove_table=None) -> tuple[GloveNeighbours, MaskedLM | None]:
    """(GloVe neighbours, the masked LM or None) that propose replacement words."""
    glove_table = glove_table or load_glove(config.glove_dir, config.glove_vocab)
    mlm = None
    if config.mlm:
        mlm = MaskedLM.load(config.mlm, k=config.top_k, batch_size=config.batch_size,
                            max_length=config.max_length, mask_group=config.mask_group,
                            precision=config.mlm_precision, device=_device(config.device))
    return GloveNeighbours(glove_table, config.top_k), mlm


def _write_shards_here(config: AugmentConfig, jobs: dict, glove_table, total: int) -> None:
    """Write the missing shards (`jobs`: {number: write_shard's arguments}) in this process."""
    glove, mlm = _candidate_sources(config, glove_table) if jobs else (None, None)
    bar = progress_bar(total=total, initial=total - len(jobs), desc=f"augment {config.data.task}", unit="shard",
                       enable=config.progress)
    for args in jobs.values():
        write_shard(*args, glove=glove, mlm=mlm)
        bar.update(1)
    bar.close()


def _ray_write_shard(config: AugmentConfig, shard_dir: str, number: int, chunk: TaskData, raw: dict,
                     layout: tuple) -> int:
    """A Ray task: write one shard with this worker's GloVe neighbours and masked LM (loaded once per worker)."""
    key = json.dumps(asdict(config), sort_keys=True, default=str)
    glove, mlm = ray_shards.worker_cached(key, lambda: _candidate_sources(config))
    write_shard(config, shard_dir, number, chunk, raw, layout, glove=glove, mlm=mlm)
    return number


def write_shard(config: AugmentConfig, shard_dir, number: int, chunk: TaskData, raw: dict[int, str],
                layout: tuple[list[int], list[int]], *, glove: GloveNeighbours, mlm: MaskedLM | None) -> None:
    """Augment one shard's source rows and save its lines, then its counts (which mark it done), atomically:
    both backends' step. A variant repeating a row of this shard or an earlier variant of it is dropped here;
    repeats of other shards' rows are dropped when the shards are joined, so shards do not depend on each other."""
    text_columns, blank = layout
    counts = Counter()
    seen = {row_digest(texts) for texts in chunk.texts()}
    slots = find_candidates([t for texts in chunk.texts() for t in texts], glove, mlm, counts)
    variants = augment_rows(chunk.texts(), chunk.line_numbers.tolist(), slots, samples=config.samples,
                            p=config.replace_prob, seed=config.seed, keep_fraction=config.keep_fraction,
                            seen=seen, counts=counts)
    lines = []
    for row, texts in variants:
        fields = raw[int(chunk.line_numbers[row])].split("\t")
        for column, text in zip(text_columns, texts):
            fields[column] = text
        for column in blank:
            fields[column] = ""
        lines.append("\t".join(fields) + "\n")
    counts["rows"] = len(lines)
    _write_atomic(_shard_lines(Path(shard_dir), number), "".join(lines))
    _write_atomic(_shard_meta(Path(shard_dir), number), json.dumps(dict(counts)))  # written last: marks it done


def _join_shards(output: Path, header: list[str], shard_dir: Path, shards: int, text_columns: list[int],
                 seen: set) -> Counter:
    """Write the header and the shards' lines in order into `output` (atomically), dropping a line whose texts
    are in `seen` (the source rows' digests) or repeat an earlier line; returns the shards' counts, the dropped
    lines moved from rows to duplicates. The same join for both backends."""
    counts = Counter()
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as handle:
        handle.write("\t".join(header) + "\n")
        for number in range(shards):
            counts.update(json.loads(_shard_meta(shard_dir, number).read_text()))
            with open(_shard_lines(shard_dir, number), encoding="utf-8", newline="") as part:
                lines = part.read().split("\n")[:-1]  # not splitlines: texts may hold U+2028
            for line in lines:
                fields = line.rstrip("\r").split("\t")
                digest = row_digest(tuple(fields[i] for i in text_columns))
                if digest in seen:
                    counts.update(duplicates=1, rows=-1)
                    continue
                seen.add(digest)
                handle.write(line + "\n")
    tmp.rename(output)
    return counts


def _source(config: AugmentConfig) -> tuple[Path, TaskData]:
    """The file and rows to augment: the train split without its held-out slice, or a given file whole."""
    task = config.data.spec
    if config.input_file:
        path = Path(config.input_file)
        rows = read_task_file(path, task, labelled=False, skip_bad_rows=config.data.skip_bad_rows)
    else:
        # Held-out rows are left out: their variants in training would leak into model selection.
        path = train_path(config.data, show_progress=config.progress)
        rows = load_splits(config.data, show_progress=config.progress)["train"]
    if config.max_rows:
        rows = rows.subset(np.arange(min(config.max_rows, len(rows))))
    if len(rows) == 0:
        raise DataError(f"{path}: no usable rows to augment. Check the file, or --max-rows.")
    return path, rows


def _identity(config: AugmentConfig, source: Path, rows: TaskData, glove: dict) -> dict:
    """Everything the output depends on; a change starts the run afresh instead of mixing shards."""
    settings = asdict(config)
    for name in ("data", "output", "glove_dir", "device", "progress", "mlm", "input_file", "backend", "ray_address"):
        settings.pop(name)
    return {
        "format": FORMAT_VERSION,
        "task": config.data.task,
        "source_file": str(source),
        "source_sha256": file_sha256(source),
        "source_rows": "whole file" if config.input_file else
                       f"train split without held-out (fraction {config.data.heldout_fraction}, "
                       f"seed {config.data.heldout_seed})",
        "source_row_count": len(rows),
        "skip_bad_rows": config.data.skip_bad_rows,
        "mlm": mlm_identity(config.mlm) if config.mlm else None,
        "glove": glove,
        **settings,
    }


def _raw_lines(path: Path, rows: TaskData, task: TaskSpec) -> tuple[list[str], dict[int, str]]:
    """The header fields and {line number: raw line} of `rows`, numbered as read_task_file does.

    A TSV source gives its own lines; other formats give lines of the text columns and the label (when read).
    """
    if file_format(path, task.format) != "tsv":
        header = list(task.text_columns) + ([task.label_column] if rows.labels is not None else [])
        raw = {}
        for index, (number, texts) in enumerate(zip(rows.line_numbers.tolist(), rows.texts())):
            label = [] if rows.labels is None else [task.label_values[rows.labels[index]]]
            raw[number] = "\t".join([tsv_field(text) for text in texts] + label)
        return header, raw
    wanted = set(rows.line_numbers.tolist())
    with open_text(path) as handle:  # as read_task_file reads it: a byte-order mark is no part of the header
        header = handle.readline().rstrip("\r\n").split("\t")
        raw = {n: line.rstrip("\r\n") for n, line in enumerate(handle, start=2) if n in wanted}
    return header, raw


def _report_resume(shard_dir: Path, starts: range, n_rows: int, shard_rows: int) -> None:
    """Log how much of an interrupted run the finished shards in `shard_dir` already cover."""
    done, rows = shards_done(lambda n: _shard_meta(shard_dir, n).is_file(), starts, n_rows, shard_rows)
    if done:
        logger.info("augment: resuming, %d of %d shards done (%s of %s source rows) in %s",
                    done, len(starts), f"{rows:,}", f"{n_rows:,}", shard_dir)


def _device(name: str) -> str:
    if name != "auto":
        return name
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.rename(path)


def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None
