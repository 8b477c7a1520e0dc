"""The `featherweight` command: one subcommand per pipeline stage, each built from its config dataclass."""
from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from importlib import metadata
from pathlib import Path

from tqdm import tqdm

from featherweight.cli_args import add_dataclass_arguments, dataclass_from_args

logger = logging.getLogger("featherweight")

INTERRUPTED = "interrupted; run the same command again to resume from its cached stages"
PATH_HINTS = {PermissionError: "check its permissions or choose another path",
              IsADirectoryError: "a file is expected there, not a directory",
              NotADirectoryError: "a part of that path is a file, not a directory",
              FileNotFoundError: "check the path"}


def _finetune(args) -> dict:
    from featherweight.teacher.finetune import FinetuneConfig, finetune

    config = dataclass_from_args(FinetuneConfig, args)
    return _recorded(args, "finetune", config, lambda: finetune(config), seed=config.seed)


def _soft_targets(args) -> dict:
    from featherweight.teacher.soft_targets import SoftTargetConfig, soft_targets

    config = dataclass_from_args(SoftTargetConfig, args)

    def run() -> dict:
        targets = soft_targets(config)
        return {"output": config.output, "rows": len(targets.logits),
                "compute_seconds": targets.meta.get("compute_seconds", 0.0)}

    return _recorded(args, "soft-targets", config, run)


def _evaluate(args) -> dict:
    from featherweight.measure.evaluate import EvaluateConfig, evaluate

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
    from featherweight.experiments.pipeline import CompressConfig, compress

    config = dataclass_from_args(CompressConfig, args)
    return _recorded(args, "compress", config, lambda: compress(config), seed=config.seed)  # compress logs a summary


def _analyze_sizes(args) -> dict:
    from featherweight.measure.size import AnalyzeConfig, analyze

    config = dataclass_from_args(AnalyzeConfig, args)
    return _recorded(args, "analyze", config, lambda: analyze(config))


def _analyze_results(args) -> dict:
    from featherweight.experiments.results import AnalyzeResultsConfig, analyze_results

    return analyze_results(dataclass_from_args(AnalyzeResultsConfig, args))  # reads runs: never recorded


def _analyze_plot(args) -> dict:
    from featherweight.analysis.plot import AnalyzePlotConfig, analyze_plot

    return analyze_plot(dataclass_from_args(AnalyzePlotConfig, args))  # a figure, not a run: never recorded


def _sweep(args) -> dict:
    from featherweight.experiments.sweep import SweepConfig, sweep

    return sweep(dataclass_from_args(SweepConfig, args))  # every run of the grid records itself


def _export(args) -> dict:
    from featherweight.deploy import ExportConfig, export

    config = dataclass_from_args(ExportConfig, args)
    return _recorded(args, "export", config, lambda: export(config))


def _predict(args) -> dict:
    from featherweight.deploy.predict import PredictConfig, predict

    return predict(dataclass_from_args(PredictConfig, args))  # a query, not a run: never recorded


COMMANDS = {
    "finetune": (_finetune, "featherweight.teacher.finetune:FinetuneConfig",
                 "Fine-tune a Hugging Face teacher on a GLUE task or your own data set (best model chosen on held-out train rows)."),
    "soft-targets": (_soft_targets, "featherweight.teacher.soft_targets:SoftTargetConfig",
                     "Label a data file (TSV, CSV, JSON Lines, Parquet) with the teacher once and cache its logits."),
    "augment": (_augment, "featherweight.augment:AugmentConfig",
                "Augment a task's training rows TinyBERT-style (masked LM + GloVe) for the teacher to label."),
    "compose": (_compose, "featherweight.augment.compose:ComposeConfig",
                "Join training rows into long pseudo-documents (2-8 rows each) for the teacher to label."),
    "compress": (_compress, "featherweight.experiments.pipeline:CompressConfig",
                 "Distil a student end to end: teacher and soft targets from cache (or built), then training."),
    "analyze": (None, None, "Analyse students and runs: sizes, results (seeds aggregated) or plots."),
    "sweep": (_sweep, "featherweight.experiments.sweep:SweepConfig",
              "Run a grid of compress configs on local processes or Ray, recording each and skipping done ones."),
    "export": (_export, "featherweight.deploy.api:ExportConfig",
               "Export a student as ONNX (fp32 or int8) or C, checked against PyTorch on golden sentences."),
    "predict": (_predict, "featherweight.deploy.predict:PredictConfig",
                "Classify texts with an ONNX export (numpy + onnxruntime only): label and probabilities."),
    "evaluate": (_evaluate, "featherweight.measure.evaluate:EvaluateConfig",
                 "Score a teacher or a student on its dev split(s) or any labelled file: accuracy, macro-F1, per class."),
}


SUBCOMMANDS = {"analyze": {
    "sizes": (_analyze_sizes, "featherweight.measure.size:AnalyzeConfig",
              "Sizes of student artifacts (real gzip -9, bytes by dtype, non-zeros) and ratios to the teacher."),
    "results": (_analyze_results, "featherweight.experiments.results:AnalyzeResultsConfig",
                "Results table of recorded compress/evaluate runs (.jsonl or .csv) and seeds aggregated (mean, sd)."),
    "plot": (_analyze_plot, "featherweight.analysis.plot:AnalyzePlotConfig",
             "Skyline (accuracy or macro-F1 vs size), parameters per model part, or weight histograms; PNG and PDF."),
}}

POSITIONAL = {"predict": ("texts", {"nargs": "*", "metavar": "TEXT",
                                  "help": "texts to classify; a single - reads them from standard input, one a line"}),
              "sweep": ("grid", {"metavar": "GRID.yaml", "help": "the grid: axes (archs, seeds, ...) and settings"}),
              "plot": ("inputs", {"nargs": "+", "metavar": "INPUT",
                                  "help": "skyline: runs dirs, results tables or bench JSON; else student artifacts"})}


def _load_config_class(spec: str):
    import importlib

    module, name = spec.split(":")
    return getattr(importlib.import_module(module), name)


UNRECORDED = {_predict, _analyze_results, _analyze_plot, _sweep}  # queries, figures, and grids of recorded runs
TORCH_FREE = {_predict}  # commands that never import torch or transformers (they start in a fraction of a second)


def _recorded(args, command: str, config, function, seed=None) -> dict:
    if not args.record:
        return function()
    from featherweight.experiments.records import record_run

    return record_run(command, config, function, runs_dir=args.runs_dir, seed=seed)


def _add_options(sub: argparse.ArgumentParser, name: str, function, config_class: str) -> None:
    """A command's options: one per config field, positionals from POSITIONAL, and --runs-dir and --record
    where the command records its run (see UNRECORDED). Imports the config's module."""
    cls = _load_config_class(config_class)
    positional = POSITIONAL.get(name)
    add_dataclass_arguments(sub, cls, skip=(positional[0],) if positional else ())
    if positional:
        sub.add_argument(positional[0], **positional[1])
    if function not in UNRECORDED:
        sub.add_argument("--runs-dir", default=None,
                         help="where run records are stored (default: $FEATHERWEIGHT_RUNS_DIR, else ./runs)")
        record = sub.add_argument("--record", action=argparse.BooleanOptionalAction, default=True)
        record.help = "record the run (config, seed, versions, metrics) under --runs-dir (default: on)"
    sub.set_defaults(function=function)


def _add_commands(parent: argparse.ArgumentParser, table: dict, dest: str, argv: list[str] | None) -> None:
    """One subparser per entry of `table` (COMMANDS or a SUBCOMMANDS entry); with `argv`, only the entry it
    names gets its options, the others keep their name and help (nothing imported for them)."""
    commands = parent.add_subparsers(dest=dest, required=True, metavar=dest.upper())
    chosen = None if argv is None else _named(argv, table)
    for name, (function, config_class, help_text) in table.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        if argv is not None and name != chosen:
            continue
        if name in SUBCOMMANDS:
            _add_commands(sub, SUBCOMMANDS[name], "subcommand", None if argv is None else argv[argv.index(name) + 1:])
        else:
            _add_options(sub, name, function, config_class)


def _named(argv: list[str], table: dict) -> str | None:
    """The command `argv` names: its first argument that is not an option (the options before a command
    take no values), if `table` has it."""
    name = next((arg for arg in argv if not arg.startswith("-")), None)
    return name if name in table else None


def package_version() -> str:
    """The installed featherweight's version, from its package metadata."""
    try:
        return metadata.version("featherweight")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed; pip install -e .)"


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The `featherweight` parser, every command with its options; with `argv`, only the command it names
    gets its options (only its config module imported), so `featherweight predict` never loads torch, and
    `featherweight --help` lists every command from COMMANDS without importing any."""
    parser = argparse.ArgumentParser(prog="featherweight", description=__doc__)
    parser.add_argument("--version", action="version", version=f"featherweight {package_version()}",
                        help="print the version and exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages too")
    _add_commands(parser, COMMANDS, "command", argv)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that a killed run ends the same way: recorded INTERRUPTED, caches kept."""


def _terminate(signum, frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the run record's last write
    raise Terminated()


def _error(message: str) -> None:
    """Log the one-line error below any progress bar the command left open (else it lands inside the bar)."""
    for bar in list(getattr(tqdm, "_instances", ())):  # tqdm's registry of live bars
        bar.close()
    logger.error("%s", message)


def _path_error(error: OSError) -> str:
    """One line for an OSError: the path, what is wrong, and what to do (else the exception's own text)."""
    if not (error.filename and error.strerror):
        return str(error)
    path = f"{error.filename} -> {error.filename2}" if error.filename2 else str(error.filename)
    hint = next((text for kind, text in PATH_HINTS.items() if isinstance(error, kind)), "check the path")
    return f"{path}: {error.strerror.lower()}; {hint}"


def main(argv=None) -> int:
    """Run one command. User errors: one line, exit 2; Ctrl-C: one line, exit 130 (SIGTERM: 143); bugs: traceback."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    handles_sigterm = threading.current_thread() is threading.main_thread()  # signal.signal's own rule
    previous = signal.signal(signal.SIGTERM, _terminate) if handles_sigterm else None
    try:
        return _run(argv)
    except KeyboardInterrupt as interrupt:
        _error(INTERRUPTED)
        return 128 + (signal.SIGTERM if isinstance(interrupt, Terminated) else signal.SIGINT)
    finally:
        if handles_sigterm:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _run(argv) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
    if args.verbose:
        logging.getLogger().setLevel(logging.DEBUG)
    if args.function not in TORCH_FREE:
        _quiet_transformers()
    try:
        result = args.function(args)
    except (ValueError, ConnectionError) as error:
        _error(str(error))
        return 2
    except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError) as error:
        _error(_path_error(error))
        return 2
    if result is not None:
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
