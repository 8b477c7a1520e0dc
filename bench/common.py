"""Helpers shared by the benchmarks: provenance (git commit, relative paths) and the fastText peer."""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

from featherweight.embeddings.text import normalize, split_words

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DOCS = ROOT / "docs"


def git_commit() -> str | None:
    """The repository's HEAD commit, or None outside a git checkout."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def relative(path) -> str:
    """`path` relative to the repository root when inside it (results never hold one machine's paths)."""
    path = Path(path).resolve()
    try:
        return path.relative_to(ROOT).as_posix()
    except ValueError:
        return os.path.relpath(path, ROOT)


def shell_line(arguments: list[str]) -> str:
    """`python ARGUMENTS...` quoted for a POSIX shell, so that it runs as written."""
    return "python " + shlex.join(arguments)


def command_line() -> str:
    """The command that is running, as a user would type it from the repository root."""
    return shell_line([relative(sys.argv[0]) if sys.argv[0] else "bench", *sys.argv[1:]])


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
