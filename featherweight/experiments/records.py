"""Experiment records: every command run is stored with sacred (config, seed, versions, metrics, artifacts, the
command line that runs it again and the git commit of the code)."""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import shlex
import subprocess
import warnings
from pathlib import Path
from typing import Callable

from featherweight.cli_args import dataclass_to_args

logger = logging.getLogger(__name__)

RUNS_DIR_ENV = "FEATHERWEIGHT_RUNS_DIR"
CLI_WORDS = {"analyze": "analyze sizes"}  # a recorded command's words on the command line, where they differ
# what the benchmarks write (their results and docs): changes there do not make the code dirty
GENERATED = (":(top,exclude,glob)bench/results/**/*.json", ":(top,exclude,glob)bench/results/**/*.jsonl",
             ":(top,exclude,glob)docs/**")
SOURCE_DIR = Path(__file__).resolve().parents[2]  # the source tree featherweight runs from (a checkout, or not)


def default_runs_dir() -> Path:
    """$FEATHERWEIGHT_RUNS_DIR, else ./runs."""
    return Path(os.environ.get(RUNS_DIR_ENV) or "runs")


def _drop_end_notices(record: logging.LogRecord) -> bool:
    """Drop sacred's "Failed after ...!" / "Aborted after ...!": the CLI says what went wrong in one line."""
    return not record.getMessage().startswith(("Failed after", "Aborted after"))


def _jsonable(config) -> dict:
    data = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)
    return json.loads(json.dumps(data, default=str))


def record_run(command: str, config, function: Callable[[], dict], *, runs_dir=None,
               seed: int | None = None) -> dict:
    """Run `function()` as a sacred run named `command`, stored under `runs_dir`.

    The run stores the config, the seed, host and library versions, every numeric value of the
    returned dict as a metric, and each path listed under the result's "artifacts" key. An exception ends
    the record as FAILED, a KeyboardInterrupt (Ctrl-C, or SIGTERM under the CLI) as INTERRUPTED; either is
    raised again for the caller to report.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
        from sacred import SETTINGS, Experiment
        from sacred.observers import FileStorageObserver

    SETTINGS.CAPTURE_MODE = "no"  # leave stdout alone: progress bars write there
    SETTINGS.DISCOVER_SOURCES = "none"
    experiment = Experiment(command, interactive=True, save_git_info=False)
    experiment.observers.append(FileStorageObserver(str(runs_dir or default_runs_dir())))
    config_dict = _jsonable(config)
    if seed is not None:
        config_dict["seed"] = seed
    experiment.add_config(config_dict)
    provenance = {"cli_command": cli_command(command, config), **git_state(SOURCE_DIR)}
    experiment.logger = logging.getLogger(f"featherweight.run.{command}")
    experiment.logger.getChild(experiment.path).addFilter(_drop_end_notices)  # sacred's run logger

    @experiment.main
    def main(_run):
        result = function()
        for key, value in result.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                _run.log_scalar(key, value)
        for path in result.get("artifacts", []):
            if Path(path).is_file():
                _run.add_artifact(str(path))
        _run.info["versions"] = library_versions()
        _run.info.update(provenance)
        return json.loads(json.dumps(result, default=str))

    run = experiment.run()
    return run.result


def cli_command(command: str, config) -> str | None:
    """The `featherweight COMMAND --option ...` line that runs `config` again (options that differ from their
    defaults, in the order of --help), or None for a config the command line cannot express."""
    if not dataclasses.is_dataclass(config):
        return None
    try:
        return shlex.join(["featherweight", *CLI_WORDS.get(command, command).split(), *dataclass_to_args(config)])
    except ValueError as error:  # e.g. None for an option whose default is not None (set through the API)
        logger.debug("No command line for this %s run: %s", command, error)
        return None


def git_state(directory) -> dict:
    """{"git_commit": HEAD, "git_dirty": whether tracked files have uncommitted changes (the results and docs that
    benchmarks write aside)} of the git checkout whose root is `directory`; {} when it is none (an installed package
    inside another project's checkout included) or git is missing."""
    def git(*arguments: str) -> str:
        return subprocess.run(["git", *arguments], cwd=directory, capture_output=True, text=True,
                              check=True).stdout.strip()

    try:
        if Path(git("rev-parse", "--show-toplevel")).resolve() != Path(directory).resolve():
            return {}
        commit = git("rev-parse", "HEAD")
        changed = git("status", "--porcelain", "--untracked-files=no", "--", ":(top)", *GENERATED)
    except (OSError, subprocess.CalledProcessError):
        return {}
    return {"git_commit": commit, "git_dirty": bool(changed)}


def library_versions() -> dict[str, str]:
    """Versions of the libraries that decide a run's numbers."""
    from importlib import metadata

    versions = {}
    for name in ("featherweight", "torch", "transformers", "numpy", "onnxruntime", "sentencepiece"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions
