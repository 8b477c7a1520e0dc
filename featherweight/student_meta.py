"""StudentMeta: the typed contents of a student artifact's student.json, its defaults and its format versions.

Every reader of student.json goes through `StudentMeta.from_dict` (or `read_student_meta`), which checks the
required keys, fills every default in one place and upgrades older format versions; `to_dict` writes the
same key names back. Sections a student does not record (pruning, quantization, ...) are left out of the file.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from featherweight.config_io import read_json
from featherweight.data.tasks import TaskSpec, get_task
from featherweight.embeddings.spec import TYPES as EMBEDDING_KINDS
from featherweight.students.config import StudentConfig

STUDENT_FILE = "student.json"
FORMAT_VERSION = 1  # version 1: the layout since the first artifacts (a file without "format" is one of those)
REQUIRED_KEYS = ("task", "label_names", "pair", "num_labels", "student", "embedding")
RECOMPRESS = "re-run `featherweight compress` to write the student again"
RECORDED_AS_NULL = ("teacher", "soft_targets")  # written even when None: "no teacher directory / soft targets file"


@dataclass(frozen=True)
class EmbeddingMeta:
    """The student's embedding: its kind (the tokenizer type) and its width."""

    type: str  # hash, char or bpe
    dim: int  # vector width per token

    def __post_init__(self):
        if self.type not in EMBEDDING_KINDS:
            raise ValueError(f"embedding type must be one of {', '.join(EMBEDDING_KINDS)}, got {self.type!r}.")
        if isinstance(self.dim, bool) or not isinstance(self.dim, int) or self.dim < 1:
            raise ValueError(f"embedding dim must be a positive int, got {self.dim!r}.")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


TYPED_FIELDS = {"student": (StudentConfig,), "embedding": (EmbeddingMeta,), "task_spec": (TaskSpec, type(None))}


@dataclass(frozen=True)
class StudentMeta:
    """What student.json records about a student. Change a copy with `dataclasses.replace(meta, variant=...)`."""

    task: str  # the task's name (a GLUE task or the user's own)
    label_names: list[str]  # in logit order
    pair: bool  # sentence-pair task (QQP, MNLI)
    num_labels: int  # classes the student scores (its logits)
    student: StudentConfig  # encoder, pooling and classifier
    embedding: EmbeddingMeta  # kind and width of the embedding the student sits on
    task_spec: TaskSpec | None = None  # the full task; None in students saved before own tasks (GLUE: see `task`)
    variant: str = "distilled"  # distilled, pruned, quantized or pruned-quantized
    parameters: dict[str, int] | None = None  # parameter count per part: embedding, encoder, classifier
    scores: dict[str, float] = field(default_factory=dict)  # held-out and dev scores when saved
    history: list[dict] | None = None  # one entry per training epoch
    distill_config: dict | None = None  # the DistillConfig / CompressConfig it was trained with, as a dict
    training: dict | None = None  # the training settings used (optimizer, batch size, device, ...)
    teacher: str | None = None  # the teacher directory, while it still holds the teacher that taught it
    soft_targets: dict | None = None  # the saved soft targets it learnt from and the teacher that made them
    pruning: dict | None = None  # PruneConfig.to_dict() of a pruned variant
    sparsity: dict | None = None  # sparsity_report of a pruned variant
    quantization: dict | None = None  # QuantizeConfig.to_dict() of a quantized variant, as saved
    qat_history: list[dict] | None = None  # epochs of quantization-aware fine-tuning
    source: str | None = None  # a variant: the distilled student it was made from
    sizes: dict | None = None  # a variant: weights_sizes of its weights file

    def __post_init__(self):
        if not isinstance(self.task, str) or not self.task:
            raise ValueError(f"task must be a task name, got {self.task!r}.")
        if not isinstance(self.pair, bool):
            raise ValueError(f"pair must be true or false, got {self.pair!r}.")
        if isinstance(self.num_labels, bool) or not isinstance(self.num_labels, int) or self.num_labels < 1:
            raise ValueError(f"num_labels must be a positive int, got {self.num_labels!r}.")
        if not isinstance(self.label_names, list) or len(self.label_names) != self.num_labels:
            raise ValueError(f"label_names must list the {self.num_labels} label names in logit order, "
                             f"got {self.label_names!r}.")
        for name, kinds in TYPED_FIELDS.items():
            value = getattr(self, name)
            if not isinstance(value, kinds):
                raise TypeError(f"{name} must be a {' or '.join(kind.__name__ for kind in kinds)}, got "
                                f"{type(value).__name__}; StudentMeta.from_dict converts a saved dict.")

    @property
    def resolved_task(self) -> TaskSpec:
        """The task it was trained on: the stored task_spec, else (older students) the GLUE task it names."""
        return self.task_spec if self.task_spec is not None else get_task(self.task)

    @property
    def is_quantized(self) -> bool:
        """True for a quantized variant: its weights load into the quantized structure its settings describe."""
        return bool(self.quantization)

    @property
    def data_settings(self) -> dict | None:
        """The DataConfig fields it was distilled on (distill_config["data"]); None when not recorded."""
        return (self.distill_config or {}).get("data") or None

    @property
    def hash_buckets(self) -> int | None:
        """The hash buckets it was distilled with, for a hash student that records them; else None."""
        return (self.distill_config or {}).get("hash_buckets") if self.embedding.type == "hash" else None

    def to_dict(self) -> dict[str, Any]:
        """student.json's contents: {"format": FORMAT_VERSION, key: value, ...}, unrecorded sections left out."""
        out = {"format": FORMAT_VERSION}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if value is None and item.name not in RECORDED_AS_NULL:
                continue
            out[item.name] = value.to_dict() if hasattr(value, "to_dict") else value
        return out

    @classmethod
    def from_dict(cls, data: Any, source: str = STUDENT_FILE) -> StudentMeta:
        """The StudentMeta a student.json holds (any format version); errors name `source` and the fix."""
        data = _upgrade(data, source)
        known = {item.name for item in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{source} has unknown field(s) {unknown}: was it written by a newer Featherweight? "
                             f"Upgrade Featherweight, or {RECOMPRESS}.")
        try:
            return cls(**{**data, "student": StudentConfig.from_dict(data["student"]),
                          "embedding": EmbeddingMeta(**data["embedding"]),
                          "task_spec": TaskSpec.from_dict(data["task_spec"]) if data.get("task_spec") else None})
        except (TypeError, ValueError) as error:
            raise ValueError(f"{source}: {error} Fix the file or {RECOMPRESS}.") from None


def _upgrade(data: Any, source: str) -> dict:
    """The fields of a student.json of any format version, in today's layout (without "format").

    The one place older layouts are migrated; version 1 is today's, so there is nothing to migrate yet.
    """
    missing = [key for key in REQUIRED_KEYS if key not in data] if isinstance(data, dict) else list(REQUIRED_KEYS)
    if missing:
        raise ValueError(f"{source} lacks {', '.join(missing)}: it is not a student.json Featherweight wrote; "
                         f"{RECOMPRESS}.")
    data = dict(data)
    version = data.pop("format", FORMAT_VERSION)
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        raise ValueError(f"{source} has format {version!r}; this Featherweight reads formats 1 to {FORMAT_VERSION}. "
                         "Upgrade Featherweight to load it.")
    return data


def read_student_meta(directory) -> StudentMeta:
    """The StudentMeta of the student.json in `directory` (the weights and tokenizer are not looked at)."""
    path = Path(directory) / STUDENT_FILE
    return StudentMeta.from_dict(read_json(path), source=str(path))


def write_student_meta(directory, meta: StudentMeta) -> Path:
    """Write `meta` as `directory`/student.json; returns the file's path."""
    check_student_meta(meta)
    path = Path(directory) / STUDENT_FILE
    path.write_text(json.dumps(meta.to_dict(), indent=2, default=str))
    return path


def check_student_meta(meta) -> None:
    """Refuse anything but a StudentMeta (a plain dict of student.json contents included), saying how to make one."""
    if not isinstance(meta, StudentMeta):
        raise TypeError(f"Expected a StudentMeta, got {type(meta).__name__}; build one with StudentMeta(...) or "
                        "StudentMeta.from_dict(saved).")
