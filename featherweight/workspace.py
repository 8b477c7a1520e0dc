"""Where Featherweight's artifacts live: the work directory's layout and the variant folders beside a student.

    artifacts/                          WORK_DIR, the default --work-dir
      teacher-<task>/                   teacher_dir: `finetune` output (checkpoint/ while it trains)
        best/                           best_dir: the selected model; default_teacher, the default --teacher
        soft-targets/<task>-<stem>.npz  soft_targets_file: the teacher's cached logits (+ .json; .onnx.npz ...)
        teacher-onnx/<hash>/            teacher_onnx_root: the teacher as ONNX, beside its model
      augment-<task>/augmented.tsv      augmented_file: `augment` output
      compose-<task>/composed.tsv       composed_file: `compose` output
      students/<name>/                  student_dir: a distilled student
      students/<name>-pruned/ ...       variant_dir: its compressed variants, beside it (VARIANT_SUFFIXES)
      cache/tokens/, cache/sizes/       cache_dir: token ids and teacher sizes

Every function returns a Path; nothing here touches the disk.
"""
from __future__ import annotations

from pathlib import Path

WORK_DIR = "artifacts"
BEST = "best"  # the fine-tuned teacher's selected model, inside its folder
CHECKPOINT = "checkpoint"  # the fine-tuning teacher's resumable state, inside its folder
# The variants of a student, in the thesis's order (Table 7.5), each with the compress actions it needs besides
# distill; a variant is saved beside the distilled student as <name><suffix> (VARIANT_SUFFIXES).
VARIANT_ACTIONS = {"distilled": (), "pruned": ("prune",), "quantized": ("quantize",),
                   "pruned-quantized": ("prune", "quantize")}
VARIANTS = tuple(VARIANT_ACTIONS)
DISTILLED = VARIANTS[0]
VARIANT_SUFFIXES = {variant: "" if variant == DISTILLED else f"-{variant}" for variant in VARIANTS}


def teacher_dir(task: str, work_dir=WORK_DIR) -> Path:
    """The default folder of `task`'s fine-tuned teacher: <work_dir>/teacher-<task>."""
    return Path(work_dir) / f"teacher-{task}"


def best_dir(teacher_folder) -> Path:
    """The selected model inside a `finetune` output folder: <teacher_folder>/best."""
    return Path(teacher_folder) / BEST


def default_teacher(task: str, work_dir=WORK_DIR) -> Path:
    """The teacher a student distils from unless told otherwise: <work_dir>/teacher-<task>/best."""
    return best_dir(teacher_dir(task, work_dir))


def soft_targets_file(teacher_model, task: str, data_file, runtime: str = "torch") -> Path:
    """Where the teacher model at `teacher_model` caches its logits of `data_file`: soft-targets/ beside it, one file
    per runtime (<task>-<stem>.npz from torch, <task>-<stem>.<runtime>.npz from ONNX Runtime), so labelling with
    one runtime never overwrites the other's."""
    runtime_suffix = "" if runtime == "torch" else f".{runtime}"
    return Path(teacher_model).parent / "soft-targets" / f"{task}-{Path(data_file).stem}{runtime_suffix}.npz"


def teacher_onnx_root(teacher_model) -> Path:
    """Where the teacher model at `teacher_model` keeps its ONNX exports: teacher-onnx/ beside it."""
    return Path(teacher_model).parent / "teacher-onnx"


def augmented_file(task: str, work_dir=WORK_DIR) -> Path:
    """The default output of `augment`: <work_dir>/augment-<task>/augmented.tsv."""
    return Path(work_dir) / f"augment-{task}" / "augmented.tsv"


def composed_file(task: str, work_dir=WORK_DIR) -> Path:
    """The default output of `compose`: <work_dir>/compose-<task>/composed.tsv."""
    return Path(work_dir) / f"compose-{task}" / "composed.tsv"


def students_dir(work_dir=WORK_DIR) -> Path:
    """Where students go by default: <work_dir>/students."""
    return Path(work_dir) / "students"


def student_dir(name: str, work_dir=WORK_DIR) -> Path:
    """The default folder of the student called `name`: <work_dir>/students/<name>."""
    return students_dir(work_dir) / name


def variant_dir(distilled_dir, variant: str, root=None) -> Path:
    """The folder of `variant` of the student at `distilled_dir`: <root>/<its name><suffix>, root defaulting to
    the distilled student's own parent (so the variants lie beside it)."""
    distilled_dir = Path(distilled_dir)
    parent = Path(root) if root is not None else distilled_dir.parent
    return parent / (distilled_dir.name + VARIANT_SUFFIXES[variant])


def cache_dir(kind: str, work_dir=WORK_DIR) -> Path:
    """A cache under the work directory, e.g. cache_dir("tokens") = <work_dir>/cache/tokens."""
    return Path(work_dir) / "cache" / kind
