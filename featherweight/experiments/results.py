"""Results store: one flat record per completed compress/evaluate run (and per variant), read from sacred runs.

`collect(runs_dir)` reads the sacred run directories that `featherweight.experiments.records.record_run` writes
(runs/<id>/run.json, config.json, info.json) and returns one record per completed `compress` or
`evaluate` run; a compress run with prune/quantize actions gives one record per variant (distilled,
pruned, quantized, pruned-quantized). A record is flat: identity columns (task, arch, embedding, dim,
hash_buckets, alpha, augmented, variant, seed, name), where the run recorded them the `featherweight ...` command
line that runs it again (cli_command) and the git commit of the code (git_commit, git_dirty), the run's scalar
metrics and sizes (dev_accuracy, dev_macro_f1, gzip_bytes, ...; scores are fractions as the pipeline reports
them), per-class tables whole (dev_per_class), the artifact path, versions as "versions.<library>" and the whole
config as "config.<dotted.key>". `config_id` hashes the config that decides the result (progress, output_dir and
num_threads left out), `setting_id` the same without the seed, so the seeds of one setting share a setting_id. A
compress run without prune/quantize actions reports no gzip size; its record gets the sizes of its artifact's
weights when the artifact is still on disk.

`write_table` / `read_table` store records as JSON Lines (.jsonl) or CSV (.csv); `append_records` adds
records to a table without duplicating any; `aggregate` reduces the seeds of each setting to mean, sd and n.
"""
from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from featherweight.analysis.reference import student_label
from featherweight.experiments.records import default_runs_dir
from featherweight.measure.metrics import PER_CLASS
from featherweight.measure.size import weights_sizes
from featherweight.student_meta import STUDENT_FILE, StudentMeta, read_student_meta

logger = logging.getLogger(__name__)

RESULT_COMMANDS = ("compress", "evaluate")
NOT_IN_CONFIG_ID = ("progress", "output_dir", "num_threads", "export", "finetune_teacher", "device")  # how a run runs, not what it finds
IDENTITY = ("command", "task", "name", "arch", "embedding", "dim", "hash_buckets", "alpha", "augmented", "variant")
PROVENANCE = ("cli_command", "git_commit", "git_dirty")  # what records.record_run stores to run it again
LEADING = ("run_id", "command", "cli_command", "git_commit", "git_dirty", "task", "name", "arch", "embedding", "dim",
           "hash_buckets", "alpha", "augmented", "variant", "seed", "config_id", "setting_id", "artifact", "started",
           "stopped", "host", "runs_dir")
TEXT_COLUMNS = ("run_id", "config_id", "setting_id", "host", "started", "stopped", "name", "artifact",
                "runs_dir", "command", "cli_command", "git_commit", "task", "arch", "embedding", "variant")
NOT_METRICS = ("seed", "run_id", "dim", "hash_buckets", "alpha")  # numeric, but settings rather than outcomes
TRAINING_KEYS = ("epoch_seconds", "epochs_run")  # training cost: shared by every variant of a compress run
DEFAULT_GROUP = ("setting_id", "variant")
TABLE_SUFFIXES = (".jsonl", ".csv")


def _digest(data: dict) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _config_dict(config) -> dict:
    import dataclasses

    data = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)
    return json.loads(json.dumps(data, default=str))


def config_id(config) -> str:
    """Hash of everything in a config (dataclass or dict) that decides a run's result, seed included."""
    data = _config_dict(config)
    return _digest({key: value for key, value in data.items() if key not in NOT_IN_CONFIG_ID})


def setting_id(config) -> str:
    """`config_id` without the seed: the seeds of one setting share it."""
    data = _config_dict(config)
    return _digest({key: value for key, value in data.items() if key not in NOT_IN_CONFIG_ID + ("seed",)})


def _flatten(data: dict, prefix: str = "") -> dict:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists stay whole."""
    flat = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _scalars(summary: dict) -> dict:
    """Numbers of a run summary, dicts of numbers flattened (bytes_by_dtype.int8); paths and lists left out.

    Per-class tables ("dev_per_class": {label: {precision, recall, f1, support, predicted}}) stay whole, one
    column each: `aggregate` skips them as non-numeric, a CSV table holds them as JSON.
    """
    tables = {key: value for key, value in summary.items() if key.endswith(f"_{PER_CLASS}") and isinstance(value, dict)}
    numbers = {key: value for key, value in _flatten(summary).items()
               if _is_number(value) and key.split(".")[0] not in tables}
    return {**numbers, **tables}


def _label(arch, embedding, dim, buckets, pooling=None) -> str | None:
    try:
        return student_label(arch, embedding, dim, buckets, pooling)
    except KeyError:
        return None


def _student_identity(config: dict) -> dict:
    """Identity columns of a distillation config (a DistillConfig / CompressConfig as a dict)."""
    embedding = config.get("embedding_type")
    buckets = config.get("hash_buckets") if embedding == "hash" else None
    identity = {"task": config.get("data", {}).get("task"), "arch": config.get("student_arch"),
                "embedding": embedding, "dim": config.get("embedding_dim"), "hash_buckets": buckets,
                "alpha": config.get("alpha"), "augmented": bool(config.get("augmented_file")),
                "seed": config.get("seed")}
    identity["name"] = _label(identity["arch"], embedding, identity["dim"], buckets, config.get("pooling"))
    return identity


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as error:
        logger.warning("%s: not valid JSON (%s); skipping this run.", path, error)
        return None


def run_records(run_dir) -> list[dict]:
    """Records of one sacred run directory; [] unless it is a completed compress or evaluate run."""
    run_dir = Path(run_dir)
    run = _read_json(run_dir / "run.json")
    if not run or run.get("status") != "COMPLETED":
        return []
    command = run.get("experiment", {}).get("name")
    if command not in RESULT_COMMANDS:
        return []
    config = _read_json(run_dir / "config.json")
    if config is None:
        logger.warning("%s: completed %s run without config.json; skipping it.", run_dir, command)
        return []
    result = run.get("result") or {}
    info = _read_json(run_dir / "info.json") or {}
    versions = info.get("versions", {})
    base = {"run_id": run_dir.name, "runs_dir": str(run_dir.parent), "command": command,
            **{key: info[key] for key in PROVENANCE if key in info},
            "started": run.get("start_time"), "stopped": run.get("stop_time"),
            "host": run.get("host", {}).get("hostname"), "config_id": config_id(config),
            "setting_id": setting_id(config)}
    tail = {**{f"versions.{name}": version for name, version in versions.items()},
            **{f"config.{key}": value for key, value in _flatten(config).items()}}
    if command == "evaluate":
        return [{**base, **_evaluated_identity(config), "artifact": config.get("model"), **_scalars(result), **tail}]
    identity = _student_identity(config)
    variants = result.get("variants") or {"distilled": {"output_dir": result.get("output_dir")}}
    top = _scalars({key: value for key, value in result.items() if key not in ("variants", "teacher")})
    records = []
    for variant, summary in variants.items():
        inherited = top if variant == "distilled" else {k: v for k, v in top.items() if k in TRAINING_KEYS}
        record = {**base, **identity, "variant": variant,
                  "artifact": summary.get("output_dir") or result.get("output_dir"), **inherited, **_scalars(summary)}
        records.append({**record, **_measured(record), **tail})
    return records


def _measured(record: dict) -> dict:
    """Sizes of a record's artifact when the run reported none (compress without prune/quantize actions) and
    the artifact is still on disk: params, non-zeros, raw and gzip bytes of its weights file."""
    if "gzip_bytes" in record or not record.get("artifact"):
        return {}
    directory = Path(record["artifact"])
    if not (directory / "model.safetensors").is_file():
        return {}

    try:
        sizes = weights_sizes(directory)
    except (ValueError, OSError) as error:
        logger.warning("%s: could not measure the weights (%s); the record has no gzip size.", directory, error)
        return {}
    return _scalars({key: value for key, value in sizes.items() if key != "measure"})


def _evaluated_identity(config: dict) -> dict:
    """Identity of an evaluated model: from its student.json when it is a student artifact that still exists."""
    identity = {"task": config.get("data", {}).get("task"), "name": Path(str(config.get("model"))).name,
                "variant": None, "seed": None}
    meta = _recorded_student(Path(str(config.get("model"))))
    if meta is not None and meta.distill_config is not None:
        identity.update({key: value for key, value in _student_identity(meta.distill_config).items()
                         if key != "task"})
        identity["variant"] = meta.variant
    return identity


def _recorded_student(directory: Path) -> StudentMeta | None:
    """The StudentMeta of a student artifact that still exists; None otherwise, or (with a warning) when its
    student.json cannot be read."""
    if not (directory / STUDENT_FILE).is_file():
        return None
    try:
        return read_student_meta(directory)
    except ValueError as error:
        logger.warning("%s; its runs get no student identity.", error)
        return None


def _run_dirs(runs_dir: Path) -> list[Path]:
    return sorted((path for path in runs_dir.iterdir() if path.is_dir() and path.name.isdigit()),
                  key=lambda path: int(path.name))


def collect(runs_dir) -> list[dict]:
    """One record per completed compress/evaluate run under `runs_dir` (per variant for compress), in run order.

    Failed, interrupted and other commands' runs are left out; every run is kept, reruns of one config
    included (`aggregate` keeps the latest of those).
    """
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise FileNotFoundError(f"No runs directory {runs_dir}. Runs are recorded under ./runs (or "
                                "$FEATHERWEIGHT_RUNS_DIR, or --runs-dir) by `featherweight compress` and "
                                "`featherweight evaluate`.")
    return [record for run_dir in _run_dirs(runs_dir) for record in run_records(run_dir)]


def find_run(runs_dir, wanted_config_id: str, command: str = "compress") -> Path | None:
    """The newest completed run of `command` under `runs_dir` whose config has this config_id, or None."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return None
    for run_dir in reversed(_run_dirs(runs_dir)):
        run = _read_json(run_dir / "run.json")
        if not run or run.get("status") != "COMPLETED" or run.get("experiment", {}).get("name") != command:
            continue
        config = _read_json(run_dir / "config.json")
        if config is not None and config_id(config) == wanted_config_id:
            return run_dir
    return None


def record_key(record: dict) -> tuple:
    """What makes a record unique: its run (config, start time) and its variant."""
    return record.get("config_id"), record.get("started"), record.get("variant")


# ---------------------------------------------------------------------------------------------- tables


def _check_suffix(path: Path) -> None:
    if path.suffix not in TABLE_SUFFIXES:
        raise ValueError(f"{path}: a results table is JSON Lines (.jsonl) or CSV (.csv), got suffix "
                         f"{path.suffix or '(none)'!r}. Rename it, e.g. {path.with_suffix('.csv')}.")


def _columns(records: list[dict]) -> list[str]:
    """Leading identity columns, then metrics in first-seen order, then versions.* and config.*."""
    seen: dict[str, None] = {}
    for record in records:
        for key in record:
            seen.setdefault(key)
    rank = lambda key: (0, LEADING.index(key)) if key in LEADING else \
        (2, 0) if key.startswith("versions.") else (3, 0) if key.startswith("config.") else (1, 0)
    return sorted(seen, key=rank)  # sorted is stable: first-seen order within each rank


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def _parse_cell(column: str, text: str):
    if text == "":
        return None
    if column in TEXT_COLUMNS:
        return text
    if text in ("true", "false"):
        return text == "true"
    if text[0] in "[{":
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def write_table(records: list[dict], path) -> Path:
    """Write records as JSON Lines (.jsonl) or CSV (.csv, nested values as JSON), chosen by the suffix."""
    path = Path(path)
    _check_suffix(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(record, default=str) + "\n" for record in records))
        return path
    columns = _columns(records)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        if columns:
            writer.writerow(columns)
        for record in records:
            writer.writerow([_cell(record.get(column)) for column in columns])
    return path


def read_table(path) -> list[dict]:
    """Records of a .jsonl or .csv results table (CSV cells parsed back to numbers, booleans and None)."""
    path = Path(path)
    _check_suffix(path)
    if not path.is_file():
        raise FileNotFoundError(f"No results table {path}; write one with `featherweight analyze results "
                                f"--output {path}`.")
    if path.suffix == ".jsonl":
        records = []
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise ValueError(f"{path}:{number}: not a JSON record ({error.msg}); each line of a .jsonl "
                                     "table is one JSON object.") from None
        return records
    with open(path, newline="", encoding="utf-8") as handle:
        rows = [{key: _parse_cell(key, value) for key, value in row.items()} for row in csv.DictReader(handle)]
    return [{key: value for key, value in row.items() if value is not None} for row in rows]


def append_records(records: list[dict], path) -> int:
    """Add records to the table at `path` (created when missing), skipping any it already holds; return how
    many were added."""
    path = Path(path)
    existing = read_table(path) if path.is_file() else []
    known = {record_key(record) for record in existing}
    new = []
    for record in records:
        if record_key(record) not in known:
            known.add(record_key(record))
            new.append(record)
    if new or not path.is_file():
        write_table(existing + new, path)
    return len(new)


# ---------------------------------------------------------------------------------------------- seeds


def latest(records: list[dict]) -> list[dict]:
    """Records with reruns dropped: for each (config_id, variant) only the latest run, in first-seen order."""
    newest: dict[tuple, dict] = {}
    for record in records:
        key = (record.get("config_id"), record.get("variant"))
        if key not in newest or str(record.get("started") or "") >= str(newest[key].get("started") or ""):
            newest[key] = record
    keep = {id(record) for record in newest.values()}
    return [record for record in records if id(record) in keep]


def _is_metric(key: str, by: tuple) -> bool:
    return (key not in by and key not in IDENTITY and key not in NOT_METRICS
            and not key.startswith(("config.", "versions.")))


def aggregate(records: list[dict], by: tuple[str, ...] = DEFAULT_GROUP) -> list[dict]:
    """One row per group of `by` values: identity columns shared by the group, n, seeds, and each numeric
    metric's <metric>_mean and <metric>_sd over the group's runs (sample sd; 0.0 when n is 1).

    Reruns of one config are counted once (the latest). The default groups the seeds of each setting and
    variant (`setting_id`); pass e.g. by=("task", "arch", "embedding", "dim", "variant") to pool settings.
    """
    by = tuple(by)
    records = latest(records)
    if records:
        missing = [key for key in by if all(key not in record for record in records)]
        if missing:
            columns = sorted({key for record in records for key in record if not key.startswith("config.")})
            raise ValueError(f"Cannot group by {missing}: no record has that column. Columns: {columns}.")
    groups: dict[tuple, list[dict]] = {}
    for record in records:
        groups.setdefault(tuple(json.dumps(record.get(key), sort_keys=True) for key in by), []).append(record)
    rows = []
    for members in groups.values():
        row = {key: members[0].get(key) for key in by}
        for key in IDENTITY:
            values = {json.dumps(member.get(key)) for member in members}
            if key not in row and len(values) == 1:
                row[key] = members[0].get(key)
        row["n"] = len(members)
        row["seeds"] = sorted({member["seed"] for member in members if member.get("seed") is not None})
        metrics: dict[str, list[float]] = {}
        for member in members:
            for key, value in member.items():
                if _is_number(value) and _is_metric(key, by) and math.isfinite(value):
                    metrics.setdefault(key, []).append(float(value))
        for key, values in metrics.items():
            row[f"{key}_mean"] = statistics.fmean(values)
            row[f"{key}_sd"] = statistics.stdev(values) if len(values) > 1 else 0.0
        rows.append(row)
    return rows


def primary_metric(task: str | None, keys, metric: str = "accuracy") -> str:
    """The column a skyline plots for a score name (accuracy, macro_f1, f1): its dev value (MNLI's m/mm mean, or
    matched alone without mm); a column name itself (dev_matched_accuracy, or a bench entry's macro_f1) is kept."""
    keys = set(keys)
    for candidate in (f"dev_mean_{metric}", f"dev_{metric}", f"dev_matched_{metric}", metric):
        if candidate in keys or f"{candidate}_mean" in keys:
            return candidate
    raise ValueError(f"No dev {metric} among {sorted(keys)} for task {task!r}; pass --metric accuracy, macro_f1 "
                     "or a column the results hold (e.g. --metric dev_f1).")


# ---------------------------------------------------------------------------------------------- CLI


@dataclass
class AnalyzeResultsConfig:
    """Settings of `featherweight analyze results`: the results table of recorded runs, and seeds aggregated."""

    runs_dir: str | None = None  # sacred runs to read; default: $FEATHERWEIGHT_RUNS_DIR, else ./runs
    tables: list[str] = field(default_factory=list)  # more records from .jsonl / .csv tables (e.g. a sweep's)
    output: str | None = None  # write every record here (.jsonl or .csv); default: not written
    aggregated: str | None = None  # write the per-setting means and sds here (.jsonl or .csv); default: not written
    by: list[str] = field(default_factory=lambda: list(DEFAULT_GROUP))  # columns that make one group

    def __post_init__(self):
        for path in [self.output, self.aggregated, *self.tables]:
            if path is not None:
                _check_suffix(Path(path))
        if not self.by:
            raise ValueError("--by needs at least one column, e.g. --by setting_id variant.")


def analyze_results(config: AnalyzeResultsConfig) -> dict:
    """Collect the records, write the tables asked for, and return the aggregated rows."""
    runs_dir = Path(config.runs_dir) if config.runs_dir else default_runs_dir()
    records = collect(runs_dir) if runs_dir.is_dir() or not config.tables else []
    known = {record_key(record) for record in records}
    for table in config.tables:
        for record in read_table(table):
            if record_key(record) not in known:
                known.add(record_key(record))
                records.append(record)
    if not records:
        raise ValueError(f"No completed compress or evaluate runs in {runs_dir}"
                         + (f" or {config.tables}" if config.tables else "")
                         + ". Run `featherweight compress ...` (recorded by default) or `featherweight sweep`.")
    groups = aggregate(records, by=tuple(config.by))
    result = {"runs_dir": str(runs_dir), "records": len(records), "groups": groups}
    if config.output:
        result["output"] = str(write_table(records, config.output))
    if config.aggregated:
        result["aggregated"] = str(write_table(groups, config.aggregated))
    return result
