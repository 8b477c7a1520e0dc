"""The `featherweight` command: one subcommand per pipeline stage, each built from its config dataclass."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from featherweight.cli_args import add_dataclass_arguments, dataclass_from_args

logger = logging.getLogger("featherweight")


def _finetune(args) -> dict:
    from featherweight.finetune import FinetuneConfig, finetune

    config = dataclass_from_args(FinetuneConfig, args)
    return _recorded(args, "finetune", config, lambda: finetune(config), seed=config.seed)


def _soft_targets(args) -> dict:
    from featherweight.soft_targets import SoftTargetConfig, soft_targets

    config = dataclass_from_args(SoftTargetConfig, args)

    def run() -> dict:
        targets = soft_targets(config)
        return {"output": config.output, "rows": len(targets.logits),
                "compute_seconds": targets.meta.get("compute_seconds", 0.0)}

    return _recorded(args, "soft-targets", config, run)


def _evaluate(args) -> dict:
    from featherweight.evaluate import EvaluateConfig, evaluate

    config = dataclass_from_args(EvaluateConfig, args)
    return _recorded(args, "evaluate", config, lambda: evaluate(config))


def _augment(args) -> dict:
    from featherweight.augment import AugmentConfig, augment

    config = dataclass_from_args(AugmentConfig, args)
    return _recorded(args, "augment", config, lambda: augment(config), seed=config.seed)


def _compose(args) -> dict:
    from featherweight.augment.compose import ComposeConfig, compose

    config = dataclass_from_args(ComposeConfig, args)
    return _recorded(args, "compose", config, lambda: compose(config), seed=config.seed)


def _compress(args) -> dict:
    from featherweight.pipeline import CompressConfig, compress

    config = dataclass_from_args(CompressConfig, args)
    summary = _recorded(args, "compress", config, lambda: compress(config), seed=config.seed)
    for variant in summary.get("variants", {"distilled": summary}).values():
        size = f"{variant['gzip_bytes']:,} gzip bytes" if "gzip_bytes" in variant else f"{variant['disk_bytes']:,} bytes"
        scores = ", ".join(f"{k} {v:.4f}" for k, v in variant.items() if k.startswith("dev_") and isinstance(v, float))
        logger.info("%s: %s; %s", variant.get("variant", "distilled"), scores, size)
    return summary


def _analyze_sizes(args) -> dict:
    from featherweight.size import AnalyzeConfig, analyze

    config = dataclass_from_args(AnalyzeConfig, args)
    return _recorded(args, "analyze", config, lambda: analyze(config))


def _analyze_results(args) -> dict:
    from featherweight.results import AnalyzeResultsConfig, analyze_results

    return analyze_results(dataclass_from_args(AnalyzeResultsConfig, args))  # reads runs: never recorded


def _analyze_plot(args) -> dict:
    from featherweight.analysis.plot import AnalyzePlotConfig, analyze_plot

    return analyze_plot(dataclass_from_args(AnalyzePlotConfig, args))  # a figure, not a run: never recorded


def _sweep(args) -> dict:
    from featherweight.sweep import SweepConfig, sweep

    return sweep(dataclass_from_args(SweepConfig, args))  # every run of the grid records itself


def _export(args) -> dict:
    from featherweight.export import ExportConfig, export

    config = dataclass_from_args(ExportConfig, args)
    return _recorded(args, "export", config, lambda: export(config))


def _predict(args) -> dict:
    from featherweight.predict import PredictConfig, predict

    return predict(dataclass_from_args(PredictConfig, args))  # a query, not a run: never recorded


COMMANDS = {
    "finetune": (_finetune, "featherweight.finetune:FinetuneConfig",
                 "Fine-tune a Hugging Face teacher on a GLUE task (best model chosen on held-out train rows)."),
    "soft-targets": (_soft_targets, "featherweight.soft_targets:SoftTargetConfig",
                     "Label a TSV file with the teacher once and cache its logits."),
    "augment": (_augment, "featherweight.augment:AugmentConfig",
                "Augment a task's training rows TinyBERT-style (masked LM + GloVe) for the teacher to label."),
    "compose": (_compose, "featherweight.augment.compose:ComposeConfig",
                "Join training rows into long pseudo-documents (2-8 rows each) for the teacher to label."),
    "compress": (_compress, "featherweight.pipeline:CompressConfig",
                 "Distil a student end to end: teacher and soft targets from cache (or built), then training."),
    "analyze": (None, None, "Analyse students and runs: sizes, results (seeds aggregated) or plots."),
    "sweep": (_sweep, "featherweight.sweep:SweepConfig",
              "Run a grid of compress configs on local processes or Ray, recording each and skipping done ones."),
    "export": (_export, "featherweight.export.api:ExportConfig",
               "Export a student as ONNX (fp32 or int8) or C, checked against PyTorch on golden sentences."),
    "predict": (_predict, "featherweight.predict:PredictConfig",
                "Classify texts with an ONNX export (numpy + onnxruntime only): label and probabilities."),
    "evaluate": (_evaluate, "featherweight.evaluate:EvaluateConfig",
                 "Score a teacher on the task's dev split(s) or on any labelled TSV."),
}


SUBCOMMANDS = {"analyze": {
    "sizes": (_analyze_sizes, "featherweight.size:AnalyzeConfig",
              "Sizes of student artifacts (real gzip -9, bytes by dtype, non-zeros) and ratios to the teacher."),
    "results": (_analyze_results, "featherweight.results:AnalyzeResultsConfig",
                "Results table of recorded compress/evaluate runs (.jsonl or .csv) and seeds aggregated (mean, sd)."),
    "plot": (_analyze_plot, "featherweight.analysis.plot:AnalyzePlotConfig",
             "Skyline (accuracy vs gzip size), parameters per model part, or weight histograms; PNG and PDF."),
}}

POSITIONAL = {"predict": ("texts", {"nargs": "+", "metavar": "TEXT", "help": "texts to classify"}),
              "sweep": ("grid", {"metavar": "GRID.yaml", "help": "the grid: axes (archs, seeds, ...) and settings"}),
              "plot": ("inputs", {"nargs": "+", "metavar": "INPUT",
                                  "help": "skyline: runs dirs, results tables or bench JSON; else student artifacts"})}


def _load_config_class(spec: str):
    import importlib

    module, name = spec.split(":")
    return getattr(importlib.import_module(module), name)


def _recorded(args, command: str, config, function, seed=None) -> dict:
    if not args.record:
        return function()
    from featherweight.records import record_run

    return record_run(command, config, function, runs_dir=args.runs_dir, seed=seed)


def _add_command(commands, name: str, function, config_class: str, help_text: str) -> None:
    """One subcommand: an option per config field, positionals from POSITIONAL, --runs-dir and --record."""
    import dataclasses

    sub = commands.add_parser(name, help=help_text, description=help_text)
    cls = _load_config_class(config_class)
    positional = POSITIONAL.get(name)
    add_dataclass_arguments(sub, cls, skip=(positional[0],) if positional else ())
    if positional:
        sub.add_argument(positional[0], **positional[1])
    if "runs_dir" not in {field.name for field in dataclasses.fields(cls)}:  # else the config's own --runs-dir
        sub.add_argument("--runs-dir", default=None, help="where sacred stores run records (default: ./runs)")
    sub.add_argument("--record", action=argparse.BooleanOptionalAction, default=True,
                     help="record this run with sacred")
    sub.set_defaults(function=function)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="featherweight", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (function, config_class, help_text) in COMMANDS.items():
        if name in SUBCOMMANDS:
            nested = commands.add_parser(name, help=help_text, description=help_text)
            subcommands = nested.add_subparsers(dest="subcommand", required=True, metavar="SUBCOMMAND")
            for sub_name, (sub_function, sub_class, sub_help) in SUBCOMMANDS[name].items():
                _add_command(subcommands, sub_name, sub_function, sub_class, sub_help)
        else:
            _add_command(commands, name, function, config_class, help_text)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    _quiet_transformers()
    try:
        result = args.function(args)
    except (ValueError, FileNotFoundError, ConnectionError) as error:
        logger.error("%s", error)
        return 2
    print(json.dumps(result, indent=2, default=str))
    return 0


def _quiet_transformers() -> None:
    """Hide transformers' per-file loading bars; our own bars show the work that takes time."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        return
    hf_logging.disable_progress_bar()


if __name__ == "__main__":
    sys.exit(main())
