"""The compress pipeline: teacher (from cache or fine-tuned), soft targets, distillation, then compression actions.

Without a teacher directory, --soft-targets or --finetune-teacher, a train file whose content matches soft targets
committed with the repository (bench/results/soft_targets: SST-2) distils from those, so the main command runs
in minutes; otherwise the default teacher is fine-tuned first. With `export` formats, the last variant made
is exported into <output_dir>-export-<format>/. The run ends with a one-screen summary in the log.

With actions `distill prune quantize` the distilled student is saved at output_dir and its variants beside
it, each a loadable artifact: output_dir + "-pruned", "-quantized" and "-pruned-quantized" (quantized
variants start from the distilled and the pruned student respectively). Each variant's student.json
records `variant`, its pruning / quantization settings, its sizes and its held-out and dev scores.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path

import featherweight
from featherweight import workspace
from featherweight.artifact import load_student, save_student, score_encoded
from featherweight.compression.distill import DistillConfig, distill, saved_folder, staged_directory
from featherweight.compression.prune import GradualPruner, PruneConfig, prune, sparsity_report
from featherweight.compression.qat import quantization_aware
from featherweight.compression.quantize import QuantizeConfig, calibration_batches, quantize
from featherweight.config_io import check_options, read_json
from featherweight.data import dev_splits, load_splits, train_path
from featherweight.data.splits import recorded_data_config
from featherweight.deploy import ExportConfig, export
from featherweight.devices import resolve_device
from featherweight.measure.size import (artifact_sizes, compression_ratios, deployable_sizes, recorded_teacher_sizes,
                                        weights_sizes)
from featherweight.student_meta import StudentMeta, write_student_meta
from featherweight.teacher.fairseq import is_fairseq_teacher
from featherweight.teacher.finetune import FinetuneConfig, finetune
from featherweight.teacher.model import resolve_teacher
from featherweight.teacher.soft_targets import find_soft_targets
from featherweight.tokens import encode_data

logger = logging.getLogger(__name__)

ACTIONS = ("distill", "prune", "quantize")
EXPORT_FORMATS = ("onnx", "onnx-int8", "c")
# soft targets committed with the repository (absent in a pip install: the teacher is then fine-tuned)
COMMITTED_SOFT_TARGETS = Path(featherweight.__file__).resolve().parents[1] / "bench" / "results" / "soft_targets"


@dataclass
class CompressConfig(DistillConfig):
    """Settings of `compress.py` / `featherweight compress`: a distillation plus what follows it."""

    compression_actions: list[str] = field(default_factory=lambda: ["distill"])  # distill, then optional prune/quantize
    teacher_epochs: int = 2  # used only when the teacher must be fine-tuned first
    pruning: PruneConfig = field(default_factory=PruneConfig)  # used with the "prune" action
    quantization: QuantizeConfig = field(default_factory=QuantizeConfig)  # used with the "quantize" action
    finetune_teacher: bool = False  # no teacher yet: fine-tune one, not the committed SST-2 soft targets
    export: list[str] = field(default_factory=list)  # export the last variant made as onnx, onnx-int8 and/or c

    def __post_init__(self):
        super().__post_init__()
        check_options(self, {"teacher_epochs": (lambda v: v >= 1, ">= 1")})
        unknown_formats = [name for name in self.export if name not in EXPORT_FORMATS]
        if unknown_formats:
            raise ValueError(f"export formats must be among {', '.join(EXPORT_FORMATS)}, got {unknown_formats} "
                             "(--export).")
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
    if is_fairseq_teacher(config.teacher):  # a fine-tuned fairseq checkpoint, converted once
        return resolve_teacher(config.teacher)
    if Path(config.teacher).is_dir():
        return config.teacher
    default = workspace.default_teacher(config.data.task, config.work_dir)
    if Path(config.teacher) != default:
        data = "--train-file ..." if config.data.is_custom else f"--task {config.data.task}"
        raise FileNotFoundError(f"Teacher {config.teacher} not found. Fine-tune one with `featherweight finetune "
                                f"{data} --output-dir DIR` and pass --teacher DIR/best.")

    logger.info("No teacher at %s yet: fine-tuning the default teacher first.", default)
    finetune(FinetuneConfig(data=config.data, output_dir=str(default.parent), epochs=epochs, device=config.device,
                            progress=config.progress))
    return str(default)


def committed_soft_targets(task: str, train_file) -> Path | None:
    """The committed soft targets (.npz) of `train_file` for `task`, matched by content hash; None if there are none."""
    return find_soft_targets(COMMITTED_SOFT_TARGETS, train_file, task)


def _teacher_source(config: CompressConfig) -> CompressConfig:
    """The config to distil with: the teacher made ready, or the committed soft targets when there is no teacher."""
    # augmented and composed rows need a teacher to label them, unless a folder of saved soft targets holds theirs
    needs_teacher = bool(config.augmented_file or config.composed_file) and not saved_folder(config)
    if config.alpha >= 1 or (config.soft_targets and not needs_teacher):
        return config
    default = workspace.default_teacher(config.data.task, config.work_dir)
    no_teacher_chosen = Path(config.teacher) == default and not default.is_dir()  # nor --soft-targets (above)
    if no_teacher_chosen and not (needs_teacher or config.finetune_teacher or config.data.is_custom):

        train_file = train_path(config.data, show_progress=config.progress)
        committed = committed_soft_targets(config.data.task, train_file)
        if committed is not None:
            logger.info("No teacher at %s: %s", default, _committed_note(committed))
            return dataclasses.replace(config, soft_targets=str(committed))
    ensure_teacher(config, config.teacher_epochs)
    return config


def _committed_note(committed: Path) -> str:
    """One line: which teacher made the committed soft targets, and how to fine-tune one's own instead."""
    meta = read_json(committed.with_suffix(".json"))
    accuracy = meta.get("teacher_dev_accuracy")
    scored = f", {meta['task'].upper()} dev accuracy {accuracy:.1%}" if accuracy is not None else ""
    return (f"distilling from the committed soft targets {committed}, made by "
            f"{meta.get('teacher_description') or meta.get('teacher')}{scored}. To fine-tune your own teacher "
            "first instead (about an hour on 2 CPU cores for SST-2), add --finetune-teacher.")


def compress(config: CompressConfig) -> dict:
    """Run every stage the config needs, reusing cached stages; return the student's summary.

    With prune and/or quantize actions the summary gains "variants" (accuracy and sizes of each) and, when a
    teacher directory exists, the teacher's size row and every variant's compression ratios against it.
    With `export` formats it gains "exports" ({format: directory}).
    The teacher stages and the student run on config.device.
    """
    resolve_device(config.device)  # a missing GPU is refused before any stage starts
    config = _teacher_source(config)
    summary = distill(config)
    actions = set(config.compression_actions)
    if actions & {"prune", "quantize"}:
        summary["variants"] = make_variants(
            config.output_dir, pruning=config.pruning if "prune" in actions else None,
            quantization=config.quantization if "quantize" in actions else None, data=config.data,
            retrain=config, progress=config.progress)
        teacher = recorded_teacher_sizes(summary["output_dir"], workspace.cache_dir("sizes", config.work_dir))
        if teacher is not None:
            summary["teacher"] = teacher
            for variant in summary["variants"].values():
                variant.update(compression_ratios(teacher, variant))
    if config.export:
        summary["exports"] = _export(config, _final_variant(summary))
    _log_summary(config, summary)
    return summary


def _final_variant(summary: dict) -> str:
    """The directory of the last variant made: pruned-quantized, quantized, pruned, else distilled."""
    variants = summary.get("variants", {})
    for name in reversed(workspace.VARIANTS[1:]):
        if name in variants:
            return variants[name]["output_dir"]
    return summary["output_dir"]


def _export(config: CompressConfig, model_dir: str) -> dict[str, str]:
    """Export `model_dir` in each of config.export's formats into <output_dir>-export-<format>/."""
    exports = {}
    for name in config.export:
        output = f"{config.output_dir}-export-{name}"
        export(ExportConfig(model=model_dir, output=output, format=name, glue_dir=config.data.glue_dir))
        exports[name] = output
    return exports


def _log_summary(config: CompressConfig, summary: dict) -> None:
    """A one-screen summary: each variant's dev score(s), deployable size and place, the exports, the next commands."""
    variants = summary.get("variants") or {"distilled": summary}
    lines = [f"Done: {summary['name']}"]
    for name, variant in variants.items():
        scores = ", ".join(f"{key} {value:.4f}" for key, value in variant.items()
                           if key.startswith("dev_") and isinstance(value, float))
        deployable = variant.get("deployable_bytes") or deployable_sizes(variant["output_dir"])["deployable_bytes"]
        lines.append(f"  {name:<17} {scores}; deployable {deployable:,} bytes (gzip); {variant['output_dir']}")
    for name, directory in summary.get("exports", {}).items():
        lines.append(f"  export {name:<10} {directory}")
    data = "" if config.data.is_custom else (  # a student records its own data set
        f" --task {config.data.task}" + (f" --glue-dir {config.data.glue_dir}" if config.data.glue_dir else ""))
    example = '"a gripping, funny film"' if config.data.task == "sst-2" else '"TEXT TO CLASSIFY"'
    lines.append("Next:")
    onnx = [directory for name, directory in summary.get("exports", {}).items() if name != "c"]
    if onnx:
        lines.append(f"  featherweight predict --model {onnx[0]} {example}")
    else:
        lines.append(f"  featherweight export --model {_final_variant(summary)} --output EXPORT_DIR --format onnx-int8")
    lines.append(f"  featherweight evaluate --model {_final_variant(summary)}{data}")
    for line in lines:
        logger.info("%s", line)


def make_variants(distilled_dir, *, pruning: PruneConfig | None = None, quantization: QuantizeConfig | None = None,
                  data=None, retrain: DistillConfig | None = None, output_dir=None,
                  progress: bool = False) -> dict[str, dict]:
    """Prune and/or quantize the distilled student at `distilled_dir`; save, score and measure every variant.

    Variants go to `output_dir` (default: beside the distilled student) as <name>-pruned, <name>-quantized
    and <name>-pruned-quantized; the distilled artifact itself is measured and scored but never rewritten.
    `data` (a DataConfig) defaults to the student's own: its held-out train slice calibrates static
    quantization, dev is only reported. Gradual pruning and quantization-aware fine-tuning (qat_epochs) retrain with
    `retrain` (the distillation config; for QAT by default the one the student records).
    Returns {variant: summary}, "distilled" included.
    """
    distilled_dir = Path(distilled_dir)
    student = load_student(distilled_dir)
    if data is None:
        if student.meta.data_settings is None:
            raise ValueError(f"{distilled_dir} records no distillation data settings; pass data=DataConfig(task=..., "
                             "glue_dir=..., heldout_fraction=...) matching its training split.")
        data = recorded_data_config(student.meta.data_settings)
    splits = load_splits(data, show_progress=progress)
    encoded = {name: (split, encode_data(student.tokenizer, split))
               for name, split in {"heldout": splits["heldout"], **dev_splits(splits)}.items()}
    target = lambda variant: workspace.variant_dir(distilled_dir, variant, root=output_dir)
    models, metas = {"distilled": student.model}, {"distilled": student.meta}
    if pruning is not None:

        models["pruned"], base = _pruned(student, target("pruned"), pruning, retrain)
        metas["pruned"] = dataclasses.replace(base, pruning=pruning.to_dict(),
                                              sparsity=sparsity_report(models["pruned"]))
    if quantization is not None:

        calibration = None
        if quantization.classifier_quantization == "static":  # the held-out train slice, never dev
            calibration = calibration_batches(encoded["heldout"][1], max_rows=quantization.calibration_rows)
        for source in [name for name in ("distilled", "pruned") if name in models]:
            variant = "quantized" if source == "distilled" else "pruned-quantized"
            model, extra = models[source], {}
            if quantization.qat_epochs:

                model, extra["qat_history"] = quantization_aware(
                    model, student.tokenizer, distilled_dir / "tokenizer", quantization,
                    retrain or _recorded_distill_config(student, distilled_dir))
            models[variant] = quantize(model, quantization, calibration)
            metas[variant] = dataclasses.replace(metas[source], quantization=quantization.to_dict(), **extra)
    summaries = {}
    for variant, model in models.items():
        scores = score_encoded(student.task, model, encoded)
        out = distilled_dir if variant == "distilled" else target(variant)
        if variant != "distilled":
            _save_variant(out, model, student.tokenizer, dataclasses.replace(
                metas[variant], variant=variant, source=str(distilled_dir), scores=scores))
        summaries[variant] = {"variant": variant, "output_dir": str(out), **scores, **artifact_sizes(out)}
    return summaries


def _recorded_distill_config(student, directory: Path) -> DistillConfig:
    """The DistillConfig a student was trained with (its rows and soft targets), for retraining it."""
    recorded = student.meta.distill_config  # a CompressConfig's fields when made by compress
    if recorded is None:
        raise ValueError(f"{directory} records no distillation settings, so it cannot be fine-tuned (qat_epochs); "
                         "use qat_epochs=0.")
    return DistillConfig(**{field.name: recorded[field.name] for field in dataclasses.fields(DistillConfig)
                            if field.name in recorded})


def _pruned(student, out: Path, pruning: PruneConfig, retrain: DistillConfig | None):
    """The pruned model and the metadata to build on: one-shot from the student, or gradual by retraining."""
    if pruning.pruning_schedule == "one-shot":
        return prune(student.model, pruning), student.meta
    if retrain is None:
        raise ValueError("Gradual pruning retrains the student, so it needs the distillation config (retrain=...); "
                         "for an existing artifact use pruning_schedule='one-shot'.")
    distill(dataclasses.replace(retrain, output_dir=str(out)),
            pruner_factory=lambda model, steps: GradualPruner(model, pruning, steps))
    pruned = load_student(out)
    return pruned.model, pruned.meta


def _save_variant(out: Path, model, tokenizer, meta: StudentMeta) -> None:
    """Save a variant (staged, then moved into place); its student.json gets the weights' sizes, measured after
    they are written."""
    with staged_directory(out) as staged:
        save_student(staged, model, tokenizer, meta)
        write_student_meta(staged, dataclasses.replace(meta, sizes=weights_sizes(staged)))
