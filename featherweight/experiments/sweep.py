"""Sweeps: expand a grid of settings into CompressConfig runs and run them on a local process pool or on Ray.

A grid is a YAML mapping. Plural keys are axes (lists; one run per combination of their values):
    tasks, archs, embeddings, dims, alphas, augmentation (augmented TSV files; none for original data), seeds
`students` is a list of partial settings that go together (e.g. {arch: ffn, embedding: hash, dim: 25,
hash_buckets: 2500}), an axis of its own. `variants` lists the compression variants wanted (distilled,
pruned, quantized, pruned-quantized; it sets compression_actions). `output_root` is where the students go
(default <work_dir>/students). Every other key is a fixed setting: a CompressConfig field (epochs, teacher,
work_dir, pruning: {...}, ...), a DataConfig field (task, glue_dir, train_file, text_column, ...) or an alias
(arch, embedding, dim). Relative paths are relative to the working directory.

Each run is recorded with sacred (`featherweight.experiments.records.record_run`, command "compress") under the runs
directory, so `featherweight analyze results` sees it, and its records (featherweight.experiments.results) are appended
to the results table (default <runs_dir>/results.jsonl). A run is skipped when its results exist: a
completed run of the same config (`results.config_id`) in the runs directory or the table, or its artifact
directories (student.json of the student and of every variant asked for). Every run gets its own
output_dir, <output_root>/<name>-<config_id[:8]>, so settings the name leaves out never collide.

Backends: "local" (default) a process pool of `workers` processes, one torch thread each; "ray" one Ray
task per run (1 CPU each) on `ray.init(address=ray_address)`, a local instance when the address is None;
"serial" runs in this process (for debugging). On a multi-machine Ray cluster every path (data, teacher,
work_dir, runs_dir) must be on a filesystem all nodes share; the records come back to this process anyway.
Teachers and their soft targets are prepared here before any run starts, so workers never race to make them.
"""
from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from featherweight import workspace
from featherweight.data import DataConfig, read_text, train_path
from featherweight.experiments.pipeline import CompressConfig, compress, ensure_teacher
from featherweight.experiments.records import default_runs_dir, record_run
from featherweight.experiments.results import (_flatten, _student_identity, append_records, collect, config_id,
                                               find_run, read_table, run_records, setting_id)
from featherweight.measure.size import artifact_sizes
from featherweight.progress import progress_bar
from featherweight.ray_shards import ray_session
from featherweight.student_meta import read_student_meta
from featherweight.teacher.soft_targets import SoftTargetConfig, soft_targets
from featherweight.workspace import VARIANT_ACTIONS

logger = logging.getLogger(__name__)

AXES = {"tasks": "task", "archs": "student_arch", "embeddings": "embedding_type", "dims": "embedding_dim",
        "alphas": "alpha", "augmentation": "augmented_file", "seeds": "seed"}
AXIS_ORDER = ("tasks", "students", "archs", "embeddings", "dims", "alphas", "augmentation", "seeds")
ALIASES = {"arch": "student_arch", "embedding": "embedding_type", "dim": "embedding_dim"}
SPECIAL = ("students", "variants", "output_root")
NOT_SETTABLE = ("data", "output_dir", "progress")  # data: use its fields; output_dir: per run; progress: sweep's
NO_AUGMENTATION = (None, False, "none", "None", "")


def _data_fields() -> list[str]:
    return [f.name for f in dataclasses.fields(DataConfig)]


def _config_fields() -> list[str]:
    return [f.name for f in dataclasses.fields(CompressConfig) if f.name not in NOT_SETTABLE]


def setting_keys() -> list[str]:
    """Keys a grid may set to one value: CompressConfig and DataConfig fields and the aliases."""
    return _config_fields() + _data_fields() + list(ALIASES)


def _unknown_key_error(source: str, key: str, where: str = "") -> ValueError:
    return ValueError(f"{source}: unknown key {key!r}{where}. Axes (lists): {sorted(AXES)} and 'students'; "
                      f"also 'variants' and 'output_root'; fixed settings: {sorted(setting_keys())}.")


def _hints() -> dict:
    return {**typing.get_type_hints(DataConfig), **typing.get_type_hints(CompressConfig)}


def _float_fields() -> set[str]:
    """Fields typed float (or float | None): YAML's 0 becomes 0.0 there, so configs hash alike."""
    return {name for name, annotation in _hints().items()
            if annotation is float or (float in typing.get_args(annotation) and int not in typing.get_args(annotation))}


def _literal_choices() -> dict[str, tuple]:
    """{field: allowed values} of the Literal-typed CompressConfig and DataConfig fields."""
    hints = _hints()
    choices = {}
    for name, annotation in hints.items():
        optional = type(None) in typing.get_args(annotation)
        for candidate in [annotation, *typing.get_args(annotation)]:
            if typing.get_origin(candidate) is Literal:
                choices[name] = typing.get_args(candidate) + ((None,) if optional else ())
    return choices


def load_grid(path) -> dict:
    """Read a grid YAML file into a mapping (not yet validated: `expand` does that)."""
    import yaml


    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No grid file {path}. A grid is a YAML mapping, e.g. `archs: [bilstm, ffn]`, "
                                "`seeds: [1, 2]`, `task: sst-2`, `epochs: 4`.")
    try:
        grid = yaml.safe_load(read_text(path))  # UTF-8, a byte-order mark allowed
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        raise ValueError(f"{path}:{mark.line + 1 if mark else '?'}: not valid YAML ({error.problem}).") from None
    if not isinstance(grid, dict):
        raise ValueError(f"{path}: a grid is a YAML mapping of settings and axes, got {type(grid).__name__}.")
    return grid


def _canonical(key: str) -> str:
    return ALIASES.get(key, key)


def expand(grid: dict, *, source: str = "grid") -> list:
    """Every CompressConfig the grid describes (the product of its axes), each with its own output_dir.

    Raises ValueError naming the key for unknown keys, non-list axes, settings given twice, bad values and
    duplicate runs. `source` (e.g. the file name) starts every message.
    """
    valid = set(setting_keys())
    fixed, axes, set_by = {}, {}, {}

    def claim(name: str, key: str) -> None:
        if name in set_by and set_by[name] != key:
            raise ValueError(f"{source}: {name} is set twice, by {set_by[name]!r} and by {key!r}; keep one.")
        set_by[name] = key

    for key, value in grid.items():
        if key in AXES:
            if not isinstance(value, list) or not value:
                raise ValueError(f"{source}: {key!r} is an axis and needs a non-empty list, got {value!r} "
                                 f"(e.g. {key}: [{value!r}]).")
            claim(AXES[key], key)
            axes[key] = [(AXES[key], item) for item in value]
        elif key == "students":
            axes[key] = _students(value, source, valid)
            for name in {name for entry in axes[key] for name in dict(entry)}:
                claim(name, "students")
        elif key in valid:
            claim(_canonical(key), key)
            fixed[_canonical(key)] = value
        elif key not in SPECIAL:
            raise _unknown_key_error(source, key)
    actions = _actions(grid, source)
    if actions is not None:
        claim("compression_actions", "variants")
        fixed["compression_actions"] = actions

    names = [name for name in AXIS_ORDER if name in axes]
    literal_choices, float_fields = _literal_choices(), _float_fields()
    data_fields = set(_data_fields())
    configs, seen = [], {}
    for combination in itertools.product(*(axes[name] for name in names)):
        settings = dict(fixed)
        for part in combination:
            settings.update(part if isinstance(part, list) else [part])
        settings = {_canonical(key): value for key, value in settings.items()}
        if settings.get("augmented_file") in NO_AUGMENTATION:
            settings["augmented_file"] = None
        for name in float_fields & set(settings):
            if isinstance(settings[name], int) and not isinstance(settings[name], bool):
                settings[name] = float(settings[name])
        describe = ", ".join(f"{key}={value}" for part in combination
                             for key, value in (part if isinstance(part, list) else [part]))
        for name, value in settings.items():
            choices = literal_choices.get(name)
            if choices is not None and value not in choices:
                raise ValueError(f"{source}: {set_by.get(name, name)}: {value!r} is not one of {list(choices)}.")
        data = {name: settings.pop(name) for name in list(settings) if name in data_fields}
        try:
            config = CompressConfig(data=DataConfig(**data), progress=False, **settings)
        except (ValueError, TypeError) as error:
            raise ValueError(f"{source}: run {len(configs) + 1} ({describe or 'fixed settings'}): {error}") from None
        identity = config_id(config)
        if identity in seen:
            raise ValueError(f"{source}: runs {seen[identity]} and {len(configs) + 1} have the same settings "
                             f"({describe}); remove the duplicate from the grid.")
        seen[identity] = len(configs) + 1
        root = Path(grid["output_root"]) if grid.get("output_root") else workspace.students_dir(config.work_dir)
        config.output_dir = str(root / f"{config.name}-{identity[:8]}")
        configs.append(config)
    return configs


def _students(value, source: str, valid: set) -> list[list[tuple]]:
    if not isinstance(value, list) or not value or not all(isinstance(entry, dict) for entry in value):
        raise ValueError(f"{source}: 'students' needs a non-empty list of mappings, e.g. "
                         "[{arch: ffn, embedding: hash, dim: 25, hash_buckets: 2500}].")
    entries = []
    for number, entry in enumerate(value, 1):
        for key in entry:
            if key not in valid:
                raise _unknown_key_error(source, key, f" in students entry {number}")
        entries.append([(_canonical(key), item) for key, item in entry.items()])
    return entries


def _actions(grid: dict, source: str) -> list[str] | None:
    """compression_actions for the grid's `variants`, or None when it has none."""
    if "variants" not in grid:
        return None
    variants = grid["variants"]
    if not isinstance(variants, list) or not variants:
        raise ValueError(f"{source}: 'variants' needs a non-empty list from {list(VARIANT_ACTIONS)}.")
    unknown = [variant for variant in variants if variant not in VARIANT_ACTIONS]
    if unknown:
        raise ValueError(f"{source}: variants: {unknown[0]!r} is not one of {list(VARIANT_ACTIONS)}.")
    wanted = {action for variant in variants for action in VARIANT_ACTIONS[variant]}
    return ["distill"] + [action for action in ("prune", "quantize") if action in wanted]


def expected_variants(config) -> list[str]:
    """The variants a compress run of `config` makes: distilled, plus those its actions imply."""
    actions = set(config.compression_actions)
    return [variant for variant, needs in VARIANT_ACTIONS.items() if set(needs) <= actions]


def variant_dir(config, variant: str) -> Path:
    """Where compress saves `variant` of the student (beside the distilled one)."""
    return workspace.variant_dir(config.output_dir, variant)


def artifacts_complete(config) -> bool:
    """Whether the student and every variant the config asks for are saved (student.json present)."""
    return all((variant_dir(config, variant) / "student.json").is_file() for variant in expected_variants(config))


def artifact_records(config) -> list[dict]:
    """Records of a finished run built from its artifacts, for one that has no sacred record (e.g. a copy)."""
    import json


    config_dict = json.loads(json.dumps(dataclasses.asdict(config), default=str))
    identity = _student_identity(config_dict)
    records = []
    for variant in expected_variants(config):
        directory = variant_dir(config, variant)
        scores = read_student_meta(directory).scores
        sizes = {key: value for key, value in artifact_sizes(directory).items() if key != "measure"}
        records.append({"run_id": None, "command": "compress", **identity, "variant": variant,
                        "config_id": config_id(config), "setting_id": setting_id(config), "artifact": str(directory),
                        "source": "artifact", **scores,
                        **{f"bytes_by_dtype.{k}": v for k, v in sizes.pop("bytes_by_dtype", {}).items()}, **sizes,
                        **{f"config.{key}": value for key, value in _flat(config_dict).items()}})
    return records


def _flat(data: dict, prefix: str = "") -> dict:
    return _flatten(data, prefix)


# ---------------------------------------------------------------------------------------------- running


def run_one(config, runs_dir: str) -> dict:
    """Run one compress config as a recorded sacred run; return {"config_id", "records"} or {"config_id", "error"}.

    Runs in a worker (pool process or Ray task); every error is caught so that one run never stops a sweep.
    """
    identity = config_id(config)
    try:
        record_run("compress", config, lambda: compress(config), runs_dir=runs_dir, seed=config.seed)
    except Exception as error:  # noqa: BLE001 - reported back, and sacred marks the run FAILED with its trace
        return {"config_id": identity, "error": f"{type(error).__name__}: {error}"}
    run_dir = find_run(runs_dir, identity)
    if run_dir is None:
        return {"config_id": identity, "error": f"the run finished but no completed record is in {runs_dir}"}
    return {"config_id": identity, "records": run_records(run_dir)}


def _one_thread() -> None:
    """Pool initializer: one BLAS/OpenMP thread per worker (torch's own count comes from config.num_threads)."""
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"


def _run_local(configs: list, runs_dir: str, workers: int, progress: bool):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed


    context = multiprocessing.get_context("spawn")  # no forked torch state
    with ProcessPoolExecutor(min(workers, len(configs)), mp_context=context, initializer=_one_thread) as pool:
        futures = [pool.submit(run_one, config, runs_dir) for config in configs]
        for future in progress_bar(as_completed(futures), total=len(futures), desc="sweep", enable=progress):
            yield future.result()


def _run_serial(configs: list, runs_dir: str, progress: bool):
    for config in progress_bar(configs, desc="sweep", enable=progress):
        yield run_one(config, runs_dir)


def _run_ray(configs: list, runs_dir: str, workers: int, address: str | None, progress: bool):
    with ray_session(address, num_cpus=workers) as ray:  # a local instance sized to `workers`, or the cluster
        task = ray.remote(num_cpus=1, max_retries=0)(run_one)
        pending = {task.remote(config, runs_dir): config for config in configs}
        bar = progress_bar(total=len(pending), desc="sweep (ray)", enable=progress)
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            config = pending.pop(done[0])
            try:
                yield ray.get(done[0])
            except ray.exceptions.RayError as error:  # the worker died (out of memory, node lost)
                yield {"config_id": config_id(config), "error": f"{type(error).__name__}: {error}"}
            bar.update(1)
        bar.close()


def prepare(configs: list, progress: bool = True) -> None:
    """Make, once and here, what runs share: each distinct teacher and its soft targets of train and
    augmented files, so parallel workers only read them."""
    done = set()
    for config in configs:
        if config.alpha >= 1:
            continue
        teacher = ensure_teacher(config, config.teacher_epochs)
        files = [train_path(config.data, show_progress=progress)]
        files += [Path(config.augmented_file)] if config.augmented_file else []
        for data_file in files:
            key = (teacher, str(data_file), config.data.task, config.data.skip_bad_rows)
            if key not in done:
                done.add(key)
                soft_targets(SoftTargetConfig(teacher=teacher, data_file=str(data_file), task=config.data.spec,
                                              skip_bad_rows=config.data.skip_bad_rows, device=config.device,
                                              progress=progress))


@dataclass
class SweepOutcome:
    """What a sweep did: the records of every run of the grid (new and found), and what failed."""

    records: list[dict]
    ran: int
    skipped: int
    failed: list[dict]
    results: str

    def summary(self) -> dict:
        return {"runs": self.ran + self.skipped + len(self.failed), "ran": self.ran, "skipped": self.skipped,
                "failed": self.failed, "records": len(self.records), "results": self.results}


def run_configs(configs: list, *, backend: str = "local", workers: int = 2, ray_address: str | None = None,
                runs_dir=None, results=None, rerun: bool = False, progress: bool = True) -> SweepOutcome:
    """Run the configs not yet done on the backend; append every run's records to the results table."""
    runs_dir = Path(runs_dir) if runs_dir else default_runs_dir()
    results = Path(results) if results else runs_dir / "results.jsonl"
    known: dict[str, list[dict]] = {}
    if not rerun:
        found = (collect(runs_dir) if runs_dir.is_dir() else []) + (read_table(results) if results.is_file() else [])
        for record in found:
            known.setdefault(record.get("config_id"), []).append(record)
    records, todo, skipped = [], [], 0
    for config in configs:
        identity = config_id(config)
        if identity in known:
            records += _latest_run(known[identity])
            skipped += 1
        elif not rerun and artifacts_complete(config):
            records += artifact_records(config)
            skipped += 1
        else:
            todo.append(config)
    logger.info("Sweep: %d runs, %d already done, %d to run on %s.", len(configs), skipped, len(todo), backend)
    failed = []
    if todo:
        prepare(todo, progress)
        runs_dir.mkdir(parents=True, exist_ok=True)
        if backend == "local":
            outcomes = _run_local(todo, str(runs_dir), workers, progress)
        elif backend == "ray":
            outcomes = _run_ray(todo, str(runs_dir), workers, ray_address, progress)
        elif backend == "serial":
            outcomes = _run_serial(todo, str(runs_dir), progress)
        else:
            raise ValueError(f"backend must be one of ['local', 'ray', 'serial'], got {backend!r}.")
        by_id = {config_id(config): config for config in todo}
        for outcome in outcomes:
            if "error" in outcome:
                config = by_id[outcome["config_id"]]
                logger.error("Run %s failed: %s", config.output_dir, outcome["error"])
                failed.append({"name": config.name, "output_dir": config.output_dir, "error": outcome["error"]})
            else:
                records += outcome["records"]
    append_records(records, results)
    return SweepOutcome(records=records, ran=len(todo) - len(failed), skipped=skipped, failed=failed,
                        results=str(results))


def _latest_run(records: list[dict]) -> list[dict]:
    """The records (one per variant) of the latest run among records of one config."""
    newest = max(str(record.get("started") or "") for record in records)
    return [record for record in records if str(record.get("started") or "") == newest]


@dataclass
class SweepConfig:
    """Settings of `featherweight sweep GRID.yaml`: run every compress config of a grid, skipping done ones."""

    grid: str  # the grid YAML file
    backend: Literal["local", "ray", "serial"] = "local"  # local processes, Ray, or serial in-process (debugging)
    workers: int = 2  # runs at once (local processes or local Ray CPUs), one torch thread each
    ray_address: str | None = None  # an existing Ray cluster ("auto", "ray://host:10001"); default: a local instance
    runs_dir: str | None = None  # sacred records of the runs; default: $FEATHERWEIGHT_RUNS_DIR, else ./runs
    results: str | None = None  # results table, .jsonl or .csv; default: <runs_dir>/results.jsonl
    rerun: bool = False  # run even the configs whose results exist
    dry_run: bool = False  # list the runs and whether each is done, run nothing
    progress: bool = True  # show progress bars

    def __post_init__(self):
        if self.backend not in ("local", "ray", "serial"):
            raise ValueError(f"backend must be one of ['local', 'ray', 'serial'], got {self.backend!r}.")
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1:
            raise ValueError(f"workers must be a positive int, got {self.workers!r}.")
        if self.results is not None and Path(self.results).suffix not in (".jsonl", ".csv"):
            raise ValueError(f"results must be a .jsonl or .csv file, got {self.results!r}.")
        if self.ray_address is not None and self.backend != "ray":
            raise ValueError("ray_address is only used by the ray backend; add --backend ray.")


def sweep(config: SweepConfig) -> dict:
    """Expand the grid and run it (or, with dry_run, list it); return counts, failures and the table path."""
    configs = expand(load_grid(config.grid), source=config.grid)
    if config.dry_run:

        return {"runs": [{"name": c.name, "config_id": config_id(c), "output_dir": c.output_dir,
                          "done": artifacts_complete(c)} for c in configs]}
    outcome = run_configs(configs, backend=config.backend, workers=config.workers, ray_address=config.ray_address,
                          runs_dir=config.runs_dir, results=config.results, rerun=config.rerun,
                          progress=config.progress)
    return outcome.summary()
