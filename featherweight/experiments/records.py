"""Experiment records: every command run is stored with sacred (config, seed, versions, metrics, artifacts)."""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import warnings
from pathlib import Path
from typing import Callable

logger = logging.getLogger(__name__)

RUNS_DIR_ENV = "FEATHERWEIGHT_RUNS_DIR"


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
        return json.loads(json.dumps(result, default=str))

    run = experiment.run()
    return run.result


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
