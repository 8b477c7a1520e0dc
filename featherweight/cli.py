"""The `featherweight` command: one subcommand per pipeline stage, each built from its config dataclass."""
from __future__ import annotations

import argparse
import importlib
import json
import logging
import signal
import sys
import threading
from dataclasses import dataclass
from functools import partial
from importlib import metadata

from tqdm import tqdm

from featherweight.cli_args import add_dataclass_arguments, dataclass_from_args

logger = logging.getLogger("featherweight")

INTERRUPTED = "interrupted; run the same command again to resume from its cached stages"
PATH_HINTS = {PermissionError: "check its permissions or choose another path",
              IsADirectoryError: "a file is expected there, not a directory",
              NotADirectoryError: "a part of that path is a file, not a directory",
              FileNotFoundError: "check the path"}


@dataclass(frozen=True)
class Command:
    """One subcommand: its options are the fields of `config`, and `run` is called with the parsed config."""

    help: str
    config: str | None = None  # "module:ConfigClass"; None for a group of subcommands (see SUBCOMMANDS)
    run: str | None = None  # "module:function" that takes the config and returns what is printed (JSON)
    recorded: bool = True  # the run is recorded (config, seed, versions, metrics) under --runs-dir
    record_as: str | None = None  # the record's command name, when not the subcommand's
    torch_free: bool = False  # the command never imports torch or transformers (starts in a fraction of a second)


COMMANDS = {
    "finetune": Command("Fine-tune a Hugging Face teacher on a GLUE task or your own data set (best model chosen on "
                        "held-out train rows).", "featherweight.teacher.finetune:FinetuneConfig",
                        "featherweight.teacher.finetune:finetune"),
    "soft-targets": Command("Label a data file (TSV, CSV, JSON Lines, Parquet) with the teacher once and cache its "
                            "logits.", "featherweight.teacher.soft_targets:SoftTargetConfig",
                            "featherweight.teacher.soft_targets:label_file"),
    "augment": Command("Augment a task's training rows TinyBERT-style (masked LM + GloVe) for the teacher to label.",
                       "featherweight.augment:AugmentConfig", "featherweight.augment:augment"),
    "compose": Command("Join training rows into long pseudo-documents (2-8 rows each) for the teacher to label.",
                       "featherweight.augment.compose:ComposeConfig", "featherweight.augment.compose:compose"),
    "compress": Command("Distil a student end to end: teacher and soft targets from cache (or built), then training.",
                        "featherweight.experiments.pipeline:CompressConfig",
                        "featherweight.experiments.pipeline:compress"),  # compress logs a summary
    "analyze": Command("Analyse students and runs: sizes, results (seeds aggregated) or plots."),
    "sweep": Command("Run a grid of compress configs on local processes or Ray, recording each and skipping done "
                     "ones.", "featherweight.experiments.sweep:SweepConfig", "featherweight.experiments.sweep:sweep",
                     recorded=False),  # every run of the grid records itself
    "export": Command("Export a student as ONNX (fp32 or int8) or C, checked against PyTorch on golden sentences.",
                      "featherweight.deploy.api:ExportConfig", "featherweight.deploy.api:export"),
    "predict": Command("Classify texts with an ONNX export (numpy + onnxruntime only): label and probabilities.",
                       "featherweight.deploy.predict:PredictConfig", "featherweight.deploy.predict:predict",
                       recorded=False, torch_free=True),  # a query, not a run
    "evaluate": Command("Score a teacher or a student on its dev split(s) or any labelled file: accuracy, macro-F1, "
                        "per class.", "featherweight.measure.evaluate:EvaluateConfig",
                        "featherweight.measure.evaluate:evaluate"),
}

SUBCOMMANDS = {"analyze": {
    "sizes": Command("Sizes of student artifacts (real gzip -9, bytes by dtype, non-zeros) and ratios to the "
                     "teacher.", "featherweight.measure.size:AnalyzeConfig", "featherweight.measure.size:analyze",
                     record_as="analyze"),
    "results": Command("Results table of recorded compress/evaluate runs (.jsonl or .csv) and seeds aggregated "
                       "(mean, sd).", "featherweight.experiments.results:AnalyzeResultsConfig",
                       "featherweight.experiments.results:analyze_results", recorded=False),  # reads runs
    "plot": Command("Skyline (accuracy or macro-F1 vs size), parameters per model part, or weight histograms; PNG "
                    "and PDF.", "featherweight.analysis.plot:AnalyzePlotConfig",
                    "featherweight.analysis.plot:analyze_plot", recorded=False),  # a figure, not a run
}}

POSITIONAL = {"predict": ("texts", {"nargs": "*", "metavar": "TEXT",
                                  "help": "texts to classify; a single - reads them from standard input, one a line"}),
              "sweep": ("grid", {"metavar": "GRID.yaml", "help": "the grid: axes (archs, seeds, ...) and settings"}),
              "plot": ("inputs", {"nargs": "+", "metavar": "INPUT",
                                  "help": "skyline: runs dirs, results tables or bench JSON; else student artifacts"})}


def _load(spec: str):
    """The object a "module:name" spec names (its module imported only now)."""
    module, name = spec.split(":")
    return getattr(importlib.import_module(module), name)


def _invoke(name: str, command: Command, args) -> dict | None:
    """Run one command: its config from the parsed options, recorded when the command records runs."""
    config = dataclass_from_args(_load(command.config), args)
    function = _load(command.run)
    if not (command.recorded and args.record):
        return function(config)
    records = importlib.import_module("featherweight.experiments.records")  # not on the torch-free path
    return records.record_run(command.record_as or name, config, lambda: function(config), runs_dir=args.runs_dir,
                              seed=getattr(config, "seed", None))


def _add_options(sub: argparse.ArgumentParser, name: str, command: Command) -> None:
    """A command's options: one per config field, positionals from POSITIONAL, and --runs-dir and --record
    where the command records its run. Imports the config's module."""
    positional = POSITIONAL.get(name)
    add_dataclass_arguments(sub, _load(command.config), skip=(positional[0],) if positional else ())
    if positional:
        sub.add_argument(positional[0], **positional[1])
    if command.recorded:
        sub.add_argument("--runs-dir", default=None,
                         help="where run records are stored (default: $FEATHERWEIGHT_RUNS_DIR, else ./runs)")
        record = sub.add_argument("--record", action=argparse.BooleanOptionalAction, default=True)
        record.help = "record the run (config, seed, versions, metrics) under --runs-dir (default: on)"
    sub.set_defaults(invoke=partial(_invoke, name, command), torch_free=command.torch_free)


def _add_commands(parent: argparse.ArgumentParser, table: dict, dest: str, argv: list[str] | None) -> None:
    """One subparser per entry of `table` (COMMANDS or a SUBCOMMANDS entry); with `argv`, only the entry it
    names gets its options, the others keep their name and help (nothing imported for them)."""
    commands = parent.add_subparsers(dest=dest, required=True, metavar=dest.upper())
    chosen = None if argv is None else _named(argv, table)
    for name, command in table.items():
        sub = commands.add_parser(name, help=command.help, description=command.help)
        if argv is not None and name != chosen:
            continue
        if name in SUBCOMMANDS:
            _add_commands(sub, SUBCOMMANDS[name], "subcommand", None if argv is None else argv[argv.index(name) + 1:])
        else:
            _add_options(sub, name, command)


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
    if not args.torch_free:
        _quiet_transformers()
    try:
        result = args.invoke(args)
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
