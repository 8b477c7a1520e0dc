"""The compress pipeline: teacher (from cache or fine-tuned), soft targets, distillation, then compression actions.

With actions `distill prune quantize` the distilled student is saved at output_dir and its variants beside
it, each a loadable artifact: output_dir + "-pruned", "-quantized" and "-pruned-quantized" (quantized
variants start from the distilled and the pruned student respectively). Each variant's student.json
records `variant`, its pruning / quantization settings, its sizes and its held-out and dev scores.
"""
from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from featherweight.distill import DistillConfig, distill
from featherweight.prune import PruneConfig
from featherweight.quantize import QuantizeConfig

logger = logging.getLogger(__name__)

ACTIONS = ("distill", "prune", "quantize")
VARIANT_SUFFIXES = {"distilled": "", "pruned": "-pruned", "quantized": "-quantized",
                    "pruned-quantized": "-pruned-quantized"}


@dataclass
class CompressConfig(DistillConfig):
    """Settings of `compress.py` / `featherweight compress`: a distillation plus what follows it."""

    compression_actions: list[str] = field(default_factory=lambda: ["distill"])
    teacher_epochs: int = 2  # used only when the teacher must be fine-tuned first
    pruning: PruneConfig = field(default_factory=PruneConfig)  # used with the "prune" action
    quantization: QuantizeConfig = field(default_factory=QuantizeConfig)  # used with the "quantize" action

    def __post_init__(self):
        super().__post_init__()
        if isinstance(self.pruning, dict):
            self.pruning = PruneConfig.from_dict(self.pruning)
        if isinstance(self.quantization, dict):
            self.quantization = QuantizeConfig.from_dict(self.quantization)
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
    """Run every stage the config needs, reusing cached stages; return the student's summary.

    With prune and/or quantize actions the summary gains "variants" (accuracy and sizes of each) and, when a
    teacher was used, the teacher's size row and every variant's compression ratios against it.
    """
    if config.alpha < 1 and (config.augmented_file or config.composed_file or not config.soft_targets):
        ensure_teacher(config, config.teacher_epochs)
    summary = distill(config)
    actions = set(config.compression_actions)
    if actions & {"prune", "quantize"}:
        summary["variants"] = make_variants(
            config.output_dir, pruning=config.pruning if "prune" in actions else None,
            quantization=config.quantization if "quantize" in actions else None, data=config.data,
            retrain=config, progress=config.progress)
        if config.alpha < 1 and Path(config.teacher).is_dir():  # saved soft targets need no teacher on disk
            from featherweight.size import compression_ratios, resolve_teacher, teacher_sizes

            teacher = teacher_sizes(resolve_teacher(config.teacher), Path(config.work_dir) / "cache" / "sizes")
            summary["teacher"] = teacher
            for variant in summary["variants"].values():
                variant.update(compression_ratios(teacher, variant))
    return summary


def make_variants(distilled_dir, *, pruning: PruneConfig | None = None, quantization: QuantizeConfig | None = None,
                  data=None, retrain: DistillConfig | None = None, output_dir=None,
                  progress: bool = False) -> dict[str, dict]:
    """Prune and/or quantize the distilled student at `distilled_dir`; save, score and measure every variant.

    Variants go to `output_dir` (default: beside the distilled student) as <name>-pruned, <name>-quantized
    and <name>-pruned-quantized; the distilled artifact itself is measured and scored but never rewritten.
    `data` (a DataConfig) defaults to the student's own: its held-out train slice calibrates static
    quantization, dev is only reported. Gradual pruning retrains with `retrain` (the distillation config).
    Returns {variant: summary}, "distilled" included.
    """
    from featherweight.artifact import load_student, score_encoded
    from featherweight.data import DataConfig, dev_splits, load_splits
    from featherweight.size import artifact_sizes
    from featherweight.tokens import encode_data

    distilled_dir = Path(distilled_dir)
    student = load_student(distilled_dir)
    if data is None:
        if "distill_config" not in student.meta:
            raise ValueError(f"{distilled_dir} records no distillation data settings; pass data=DataConfig(task=..., "
                             "glue_dir=..., heldout_fraction=...) matching its training split.")
        data = DataConfig(**student.meta["distill_config"]["data"])
    splits = load_splits(data, show_progress=progress)
    encoded = {name: (split, encode_data(student.tokenizer, split))
               for name, split in {"heldout": splits["heldout"], **dev_splits(splits)}.items()}
    embedding_type = student.meta["embedding"]["type"]
    root = Path(output_dir) if output_dir is not None else distilled_dir.parent
    target = lambda variant: root / (distilled_dir.name + VARIANT_SUFFIXES[variant])
    models, metas = {"distilled": student.model}, {"distilled": student.meta}
    if pruning is not None:
        from featherweight.prune import sparsity_report

        models["pruned"], base = _pruned(student, target("pruned"), pruning, embedding_type, retrain)
        metas["pruned"] = {**base, "pruning": pruning.to_dict(),
                           "sparsity": sparsity_report(models["pruned"], embedding_type)}
    if quantization is not None:
        from featherweight.quantize import calibration_batches, quantize

        calibration = None
        if quantization.classifier_quantization == "static":  # the held-out train slice, never dev
            calibration = calibration_batches(encoded["heldout"][1], max_rows=quantization.calibration_rows)
        for source in [name for name in ("distilled", "pruned") if name in models]:
            variant = "quantized" if source == "distilled" else "pruned-quantized"
            models[variant] = quantize(models[source], quantization, calibration)
            metas[variant] = {**metas[source], "quantization": quantization.to_dict()}
    summaries = {}
    for variant, model in models.items():
        scores = score_encoded(student.task, model, encoded)
        out = distilled_dir if variant == "distilled" else target(variant)
        if variant != "distilled":
            _save_variant(out, model, student.tokenizer,
                          {**metas[variant], "variant": variant, "source": str(distilled_dir), "scores": scores})
        summaries[variant] = {"variant": variant, "output_dir": str(out), **scores, **artifact_sizes(out)}
    return summaries


def _pruned(student, out: Path, pruning: PruneConfig, embedding_type: str, retrain: DistillConfig | None):
    """The pruned model and the metadata to build on: one-shot from the student, or gradual by retraining."""
    from featherweight.artifact import load_student
    from featherweight.prune import GradualPruner, prune

    if pruning.pruning_schedule == "one-shot":
        return prune(student.model, pruning, embedding_type), student.meta
    if retrain is None:
        raise ValueError("Gradual pruning retrains the student, so it needs the distillation config (retrain=...); "
                         "for an existing artifact use pruning_schedule='one-shot'.")
    distill(dataclasses.replace(retrain, output_dir=str(out)),
            pruner_factory=lambda model, steps: GradualPruner(model, pruning, steps, embedding_type))
    pruned = load_student(out)
    return pruned.model, pruned.meta


def _save_variant(out: Path, model, tokenizer, meta: dict) -> None:
    """Save a variant; its student.json gets the weights' sizes, measured after they are written."""
    from featherweight.artifact import STUDENT_FILE, save_student
    from featherweight.size import weights_sizes

    save_student(out, model, tokenizer, {key: value for key, value in meta.items() if key != "format"})
    path = out / STUDENT_FILE
    written = json.loads(path.read_text())
    written["sizes"] = weights_sizes(out)
    path.write_text(json.dumps(written, indent=2, default=str))
