"""The compress pipeline: teacher (from cache or fine-tuned), soft targets, distillation, then compression actions."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from featherweight.distill import DistillConfig, distill

logger = logging.getLogger(__name__)

ACTIONS = ("distill",)  # prune and quantize join with the compression issue


@dataclass
class CompressConfig(DistillConfig):
    """Settings of `compress.py` / `featherweight compress`: a distillation plus what follows it."""

    compression_actions: list[str] = field(default_factory=lambda: ["distill"])
    teacher_epochs: int = 2  # used only when the teacher must be fine-tuned first

    def __post_init__(self):
        super().__post_init__()
        unknown = [action for action in self.compression_actions if action not in ACTIONS]
        if unknown or "distill" not in self.compression_actions:
            raise ValueError(f"compression_actions must include 'distill' and only {list(ACTIONS)}; "
                             f"got {self.compression_actions}.")


def ensure_teacher(config: DistillConfig, epochs: int) -> str:
    """The teacher directory, fine-tuning the default teacher first when it does not exist yet."""
    if Path(config.teacher).is_dir():
        return config.teacher
    default = Path(config.work_dir) / f"teacher-{config.data.task}" / "best"
    if Path(config.teacher) != default:
        raise FileNotFoundError(f"Teacher {config.teacher} not found. Fine-tune one with `featherweight finetune "
                                f"--task {config.data.task} --output-dir DIR` and pass --teacher DIR/best.")
    from featherweight.finetune import FinetuneConfig, finetune

    logger.info("No teacher at %s yet: fine-tuning the default teacher first.", default)
    finetune(FinetuneConfig(data=config.data, output_dir=str(default.parent), epochs=epochs,
                            progress=config.progress))
    return str(default)


def compress(config: CompressConfig) -> dict:
    """Run every stage the config needs, reusing cached stages; return the student's summary."""
    if config.alpha < 1:
        ensure_teacher(config, config.teacher_epochs)
    return distill(config)
