"""Helpers shared by the benchmarks: the one result writer (command, git commit, relative paths) and the fastText
peer."""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from featherweight.cli import build_parser
from featherweight.cli_args import dataclass_from_args
from featherweight.embeddings.text import normalize, split_words
from featherweight.experiments.pipeline import CompressConfig
from featherweight.experiments.records import cli_command, git_state
from featherweight.experiments.results import append_records, read_table, write_table

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DOCS = ROOT / "docs"
SHARED = ROOT.parent / "shared"  # the data folder beside the checkout: written ../shared/... in results
LEGACY = ("committed_in", "command_note")  # what results written before provenance say instead; a rewrite drops them


def relative(path) -> str:
    """`path` relative to the repository root (results never hold one machine's paths); under the data folder
    beside the checkout it reads ../shared/... ."""
    path = Path(path).resolve()
    for base, name in ((ROOT, "."), (SHARED.resolve(), "../shared")):
        if path.is_relative_to(base):
            return (Path(name) / path.relative_to(base)).as_posix()
    return os.path.relpath(path, ROOT)


def _absolute_prefixes() -> list[tuple[str, str]]:
    """(absolute prefix, its relative form) of the checkout and the data folder, as written and resolved."""
    pairs = {(str(SHARED.resolve()), "../shared"), (str(SHARED), "../shared"), (str(ROOT), ".")}
    return sorted(pairs, key=lambda pair: -len(pair[0]))  # the longest first: /a/b before /a


def _relative_text(text: str) -> str:
    """A whole-string absolute path made `relative`; inside longer text (a command line, logged output) the
    checkout's and the data folder's absolute paths rewritten the same way."""
    if text.startswith("/") and not text.startswith("//") and not any(char.isspace() for char in text):
        return relative(text)
    for prefix, replacement in _absolute_prefixes():
        boundary = rf"(?<![\w.\-/]){re.escape(prefix)}"
        text = re.sub(boundary + "/", "" if replacement == "." else replacement + "/", text)
        text = re.sub(boundary + r"(?![\w.\-/])", replacement, text)
    return text


def relative_paths(value):
    """`value` (JSON data) with every path string relative to the repository root (see `_relative_text`)."""
    if isinstance(value, dict):
        return {key: relative_paths(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [relative_paths(item) for item in value]
    return _relative_text(value) if isinstance(value, str) else value


def shell_line(arguments: list[str]) -> str:
    """`python ARGUMENTS...` quoted for a POSIX shell, so that it runs as written."""
    return "python " + shlex.join(arguments)


def command_line(argv: list[str] | None = None, script=None) -> str:
    """The command that is running, as a user would type it from the repository root; a benchmark's main called
    from Python passes its `argv` and its own file as `script`."""
    script = script or sys.argv[0]
    arguments = sys.argv[1:] if argv is None else argv
    return shell_line([relative(script) if script else "bench", *(_relative_text(str(item)) for item in arguments)])


def compress_command(arguments: list[str]) -> str:
    """`featherweight compress ARGUMENTS` as a run's record writes it: parsed by the CLI into its config, then
    rendered again (the options that differ from the defaults, in --help order)."""
    argv = ["compress", *arguments]
    return cli_command("compress", dataclass_from_args(CompressConfig, build_parser(argv).parse_args(argv)))


def provenance(command: str | None = None) -> dict:
    """What reproduces a result: the command (default: the running one), the git commit and whether tracked files
    had uncommitted changes (git_dirty; the results and docs benchmarks write aside)."""
    return {"command": _relative_text(command or command_line()), "git_commit": None, **git_state(ROOT)}


def _dump(data, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(relative_paths(data), indent=2) + "\n")
    return path


def save_result(path, result, *, command: str | None = None, meta: dict | None = None) -> Path:
    """Write a benchmark result as JSON with every path relative and its `provenance`: at the top of a dict, and
    for a list of entries (the layout its readers expect) in <stem>_meta.json beside it, with `meta`."""
    path, stamp = Path(path), provenance(command)
    if isinstance(result, dict):
        return _dump({**stamp, **{key: value for key, value in result.items() if key not in (*stamp, *LEGACY)}}, path)
    _dump({**stamp, **(meta or {})}, path.with_name(path.stem + "_meta.json"))
    return _dump(result, path)


def store_records(table, records=()) -> int:
    """Add `records` to the JSON Lines results table `table` (those it holds already skipped) and leave every
    record's paths relative, the ones a sweep appended included; return how many were added."""
    added = append_records(list(records), table)
    write_table(relative_paths(read_table(table)), table)
    return added


def keep_soft_targets(source, directory, **extra) -> Path:
    """Copy the teacher's soft targets `source` (.npz and its .json) into `directory` (committed with the results),
    the .json with `extra` and the provenance of the copy; return the copied .npz. A copy already kept with the same
    bytes is left as it is, so the provenance of the benchmark that first kept it stays."""
    source, directory = Path(source), Path(directory)
    kept = directory / source.name
    if kept.is_file() and kept.with_suffix(".json").is_file() and kept.read_bytes() == source.read_bytes():
        return kept
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, kept)
    meta = json.loads(source.with_suffix(".json").read_text())
    save_result(kept.with_suffix(".json"), {**meta, **extra})
    return kept


def peer_text(text: str) -> str:
    """The peers' input: lower-cased words with punctuation split off (fastText's usual preprocessing)."""
    return " ".join(split_words(normalize(text, "nfkc", True), True))


_FASTTEXT_CHILD = """
import json, sys
import fasttext
job = json.loads(sys.argv[1])
model = fasttext.train_supervised(input=job["train_file"], **job["settings"])
if job["cutoff"]:
    model.quantize(input=job["train_file"], qnorm=True, retrain=True, cutoff=job["cutoff"], dsub=2, thread=1,
                   verbose=0)
model.save_model(job["path"])
"""


def train_fasttext(train_file: Path, settings: dict, cutoff: int | None, path: Path, attempts: int = 5) -> int:
    """Train (and quantize with `cutoff`, as `fasttext quantize -qnorm -retrain` does) into `path` in a fresh
    interpreter; return the number of retries.

    fastText 0.9 (fasttext-numpy2) throws "Encountered NaN" now and then, and in one process it then throws it
    on every later training, even in a forked child; a fresh interpreter with the same seed trains."""
    job = json.dumps({"train_file": str(train_file), "settings": settings, "cutoff": cutoff, "path": str(path)})
    for attempt in range(attempts):
        done = subprocess.run([sys.executable, "-c", _FASTTEXT_CHILD, job], capture_output=True, text=True)
        if done.returncode == 0:
            return attempt
        print(f"fastText {settings} cutoff {cutoff}: {done.stderr.strip().splitlines()[-1]}; "
              "retrying with the same seed", flush=True)
    raise RuntimeError(f"fastText {settings} cutoff {cutoff} failed {attempts} times.")


def fasttext_grid(train, work: Path, grid: dict, cutoffs, lr: float):
    """Train fastText on `train` (TaskData, label ids as labels) for every grid point and quantize cutoff.

    Yields (record, predict): the record's name, deployable_bytes (gzip -9 of the .ftz a user loads), settings and
    retries, and predict(TaskData) -> label ids of that model; for a grid point that fails every retry (fastText
    0.9 throws "Encountered NaN" at dim 10 on some data sets), the record holds the error and predict is None."""
    import itertools

    import fasttext
    import numpy as np

    from featherweight.measure.size import gzip_bytes_of

    train_file, path = work / "fasttext-train.txt", work / "model.ftz"
    train_file.write_text("".join(f"__label__{y} {peer_text(t)}\n" for t, y in zip(train.texts_a, train.labels)),
                          encoding="utf-8")
    for dim, ngrams, epoch, cutoff in itertools.product(grid["dim"], grid["word_ngrams"], grid["epoch"], cutoffs):
        settings = dict(dim=dim, wordNgrams=ngrams, epoch=epoch, lr=lr, thread=1, seed=0, verbose=0)
        record = {"system": "fasttext", "name": f"fastText d{dim} ng{ngrams} e{epoch} q{cutoff}",
                  "settings": {**settings, "quantize": {"cutoff": cutoff, "qnorm": True, "retrain": True, "dsub": 2}}}
        try:
            record["nan_retries"] = train_fasttext(train_file, settings, cutoff, path)
        except RuntimeError as error:
            yield {**record, "error": str(error)}, None
            continue
        model = fasttext.load_model(str(path))
        record["deployable_bytes"] = gzip_bytes_of(path.read_bytes())
        yield record, lambda data, model=model: np.array(
            [int(labels[0][len("__label__"):]) for labels in model.predict([peer_text(t) for t in data.texts_a])[0]])
