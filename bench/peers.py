"""Benchmark: Featherweight students against what a user would pick instead, at the same deployable size.

Run from the repository root (needs the benchmark extras: pip install -e ".[bench]"):
    python bench/peers.py                          # peers, then every student below (trained when missing)
    python bench/peers.py --skip-students          # peers only
Trains fastText (a grid over dim, word n-grams and epochs, each quantized at several cutoffs, as `fasttext
quantize -qnorm -retrain -cutoff N` does) and TF-IDF 1-2 grams + logistic regression (max features x C) on the
SST-2 train split less the held-out slice the students select on; distils the students of STUDENTS with
`python compress.py` (distil + prune + quantize) into --work-dir; then scores every model on the held-out slice,
SST-2 dev and the shifted review sets (../shared/data/shifted: whole IMDB reviews, Amazon product reviews), which
nothing trains or selects on.

Size is `deployable_bytes`: gzip -9 of everything needed to classify raw text (students: weights, tokenizer
files, label names; fastText: its .ftz/.bin; TF-IDF + LR: the pickled pipeline). Students also carry the thesis's
weights-only `weights_gzip_bytes`. At each budget the model of each system with the best held-out accuracy at or
under it is compared (held-out train rows are the only selector).

The teacher's logits for the train, augmented and composed files (labelled while the students distil) are copied
to bench/results/soft_targets/peers/ (teacher and data content hashes inside):
`python compress.py ... --soft-targets bench/results/soft_targets/peers` distils a student from them without the hour
of fine-tuning and labelling.

Writes bench/results/peers_sst2.json (one record per model: system, name, deployable_bytes, weights_gzip_bytes,
accuracy {heldout, sst2_dev, imdb, amazon}, command), docs/peers_sst2.md and docs/peers_sst2.png.
"""
from __future__ import annotations

import argparse
import json
import pickle
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import (DOCS, RESULTS, ROOT, command_line, fasttext_grid, keep_soft_targets, relative, save_result,
                    shell_line)
from featherweight.data import DataConfig, get_task, load_splits, read_task_file
from featherweight.measure.size import gzip_bytes_of

SHIFTED = {"imdb": "imdb/dev.tsv", "amazon": "amazon/dev.tsv"}
BUDGETS_KB = (25, 50, 100, 250, 500, 1000)
FASTTEXT_GRID = {"dim": (10, 25, 50), "word_ngrams": (1, 2), "epoch": (5, 15)}
FASTTEXT_CUTOFFS = (1000, 3000, 5000, 10000, 20000, 50000)
TFIDF_FEATURES = (1000, 3000, 10000, 30000, 100000)
TFIDF_C = (0.5, 1.0, 2.0, 4.0, 8.0)
# Students: name -> compress options. All distil on SST-2 train (less held-out) plus two teacher-labelled transfer
# sets: GloVe-augmented rows (bench/augment.py --full --glove-only --n 4) and 20,000 composed pseudo-reviews
# (featherweight compose), both made in --work-dir. Recurrent students pool by max over the states, which reads
# a long review; the hash students read words (no n-grams: they lost on held-out, dev and the shifted sets).
AUGMENTED = "bench/work/augment-sst-2/augmented.tsv"
COMPOSED = "bench/work/compose-sst-2/composed.tsv"
TRANSFER = ["--augmented-file", AUGMENTED, "--composed-file", COMPOSED]
_ADAM = ["--optimizer", "adam", "--learning-rate", "1e-3"]
_FFN = ["--student-arch", "ffn", "--embedding-type", "hash", "--embedding-dim", "25", *_ADAM, "--alpha", "0.5",
        "--soft-loss", "mse-logits", "--epochs", "10", *TRANSFER]
STUDENTS = {
    "FFN Hash25": _FFN,
    "FFN Hash25 (K=2500)": [*_FFN, "--hash-buckets", "2500"],
    "RNN Hash100 (max pooling)": ["--student-arch", "rnn", "--embedding-type", "hash", "--embedding-dim", "100",
                                  "--pooling", "max", *_ADAM, "--alpha", "0", "--epochs", "6", *TRANSFER],
    "BiLSTM BPE25 (max pooling)": ["--student-arch", "bilstm", "--embedding-type", "bpe", "--embedding-dim", "25",
                                   "--pooling", "max", "--alpha", "0.5", "--epochs", "4", *TRANSFER],
}


def load_sets(glue_dir: str, shifted_dir: str) -> dict:
    """{name: TaskData}: train (less held-out), heldout, sst2_dev and the shifted sets."""
    splits = load_splits(DataConfig(task="sst-2", glue_dir=glue_dir), show_progress=False)
    sets = {"train": splits["train"], "heldout": splits["heldout"], "sst2_dev": splits["dev"]}
    for name, path in SHIFTED.items():
        sets[name] = read_task_file(Path(shifted_dir) / path, get_task("sst-2"))
    return sets


def accuracies(predict, sets: dict) -> dict:
    """Percent accuracy of `predict(TaskData) -> labels` on every scored set."""
    return {name: round(100 * float(np.mean(predict(data) == np.asarray(data.labels))), 2)
            for name, data in sets.items() if name != "train"}


def fasttext_records(sets: dict, work: Path, command: str) -> list[dict]:
    """One record per fastText model of the grid and quantize cutoff (trained with one thread and a seed)."""
    work.mkdir(parents=True, exist_ok=True)
    records = []
    for record, predict in fasttext_grid(sets["train"], work, FASTTEXT_GRID, FASTTEXT_CUTOFFS, lr=0.1):
        if predict is None:
            raise RuntimeError(record["error"])
        records.append({**record, "accuracy": accuracies(predict, sets), "command": command})
        print(f"{record['name']}: {record['deployable_bytes'] / 1e3:.1f} KB {records[-1]['accuracy']}", flush=True)
    return records


def tfidf_records(sets: dict, command: str) -> list[dict]:
    """TF-IDF 1-2 grams + logistic regression for each vocabulary size; C chosen on the held-out slice."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    texts, labels = sets["train"].texts_a, sets["train"].labels
    heldout = sets["heldout"]
    records = []
    for features in TFIDF_FEATURES:
        best = None
        for c in TFIDF_C:
            pipeline = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True,
                                                     max_features=features),
                                     LogisticRegression(C=c, max_iter=2000))
            pipeline.fit(texts, labels)
            score = float(np.mean(pipeline.predict(heldout.texts_a) == np.asarray(heldout.labels)))
            if best is None or score > best[0]:
                best = (score, c, pipeline)
        _, c, pipeline = best
        pipeline.steps[0][1].stop_words_ = None  # terms dropped by max_features: not needed to predict
        name = f"TF-IDF+LR {features} features"
        records.append({"system": "tfidf-lr", "name": name, "deployable_bytes": gzip_bytes_of(pickle.dumps(pipeline)),
                        "accuracy": accuracies(lambda data: pipeline.predict(data.texts_a), sets),
                        "settings": {"ngram_range": [1, 2], "min_df": 2, "sublinear_tf": True,
                                     "max_features": features, "C": c, "C_grid": list(TFIDF_C)},
                        "command": command})
        print(f"{name}: {records[-1]['deployable_bytes'] / 1e3:.1f} KB {records[-1]['accuracy']}", flush=True)
    return records


def transfer_commands(args: argparse.Namespace) -> list[tuple[str, list[str]]]:
    """(output, command) of the teacher and the two transfer sets the students need, in order."""
    work, glue = relative(args.work_dir), relative(args.glue_dir)
    teacher = f"{work}/teacher-sst-2"
    return [(f"{teacher}/best", ["-m", "featherweight.cli", "finetune", "--task", "sst-2", "--glue-dir", glue,
                                 "--epochs", "1", "--output-dir", teacher, "--runs-dir", f"{work}/runs"]),
            (AUGMENTED, ["bench/augment.py", "--full", "--glove-only", "--n", "4", "--threads", "2",
                         "--teacher", f"{teacher}/best", "--work-dir", work]),
            (COMPOSED, ["-m", "featherweight.cli", "compose", "--task", "sst-2", "--glue-dir", glue, "--rows",
                        "20000", "--output", COMPOSED, "--runs-dir", f"{work}/runs"])]


def prepare_transfer(args: argparse.Namespace) -> list[str]:
    """Run each of `transfer_commands` whose output is missing; return them all as command lines."""
    lines = []
    for output, command in transfer_commands(args):
        if not (ROOT / output).exists():
            print("running python " + " ".join(command), flush=True)
            subprocess.run([sys.executable, *command], cwd=ROOT, check=True)
        lines.append(shell_line(command))
    return lines


def keep_teacher_logits(args: argparse.Namespace) -> list[Path]:
    """Copy the teacher's logits of the train, augmented and composed files (labelled while the students distilled)
    into bench/results/soft_targets/peers, from which `--soft-targets` distils without the teacher."""
    made = Path(args.work_dir) / "teacher-sst-2" / "soft-targets"
    return [keep_soft_targets(made / f"sst-2-{name}.npz", RESULTS / "soft_targets" / "peers")
            for name in ("train", "augmented", "composed")]


def student_output(name: str, args: argparse.Namespace) -> Path:
    """The distilled artifact of student `name`; its variants lie beside it."""
    return Path(relative(Path(args.work_dir) / "students" / name.lower().replace(" ", "-")))


def student_command(name: str, args: argparse.Namespace) -> list[str]:
    """The `python compress.py` command that distils, prunes and quantizes student `name`."""
    return ["compress.py", "--task", "sst-2", "--glue-dir", relative(args.glue_dir), *STUDENTS[name],
            "--work-dir", relative(args.work_dir), "--output-dir", str(student_output(name, args)),
            "--compression-actions", "distill", "prune", "quantize", "--classifier-quantization", "weight-only",
            "--no-progress", "--runs-dir", relative(Path(args.work_dir) / "runs")]


def distil_once(command: list[str], output: Path) -> None:
    """Run the compress command of a student unless its last variant (pruned-quantized) is already saved."""
    from featherweight.workspace import variant_dir

    if not (variant_dir(output, "pruned-quantized") / "student.json").is_file():
        print("running python " + " ".join(command), flush=True)
        subprocess.run([sys.executable, *command], cwd=ROOT, check=True)


def variant_records(name: str, output: Path, command: list[str], sets: dict) -> list[dict]:
    """The four variants of the student distilled at `output` by `command`, each scored on `sets` and sized."""
    from featherweight.analysis.skyline import VARIANT_SHORT
    from featherweight.artifact import load_student, predict_data
    from featherweight.measure.size import deployable_sizes, weights_sizes
    from featherweight.workspace import VARIANTS, variant_dir

    records = []
    for variant in VARIANTS:
        directory = variant_dir(output, variant)
        student = load_student(directory)
        predict = lambda data: predict_data(student, data).argmax(1)
        record = {"system": "featherweight", "name": f"{name} {VARIANT_SHORT[variant]}".rstrip(),
                  "variant": variant, "deployable_bytes": deployable_sizes(directory)["deployable_bytes"],
                  "weights_gzip_bytes": weights_sizes(directory)["gzip_bytes"],
                  "accuracy": accuracies(predict, sets), "artifact": relative(directory),
                  "command": shell_line(command)}
        if variant == "distilled":
            record["accuracy_by_max_length"] = by_max_length(student, sets)
        records.append(record)
        print(f"{records[-1]['name']}: {records[-1]['deployable_bytes'] / 1e3:.1f} KB {records[-1]['accuracy']}",
              flush=True)
    return records


def student_records(sets: dict, args: argparse.Namespace) -> list[dict]:
    """Distil each student of STUDENTS (skipped when its artifacts exist) and score all four variants."""
    records = []
    for name in args.students or STUDENTS:
        command, output = student_command(name, args), student_output(name, args)
        distil_once(command, output)
        records += variant_records(name, output, command, sets)
    return records


def by_max_length(student, sets: dict, lengths=(128, 256, 512)) -> dict:
    """Accuracy on the long-text sets when the student reads at most each of `lengths` tokens (its own limit is
    the record's accuracy): what the length limit buys. The tokenizer spec is replaced in memory only."""
    import dataclasses

    from featherweight.artifact import predict_data

    own, scores = student.tokenizer.spec, {}
    long_sets = {name: sets[name] for name in SHIFTED}
    for length in (n for n in lengths if n < own.max_length):
        student.tokenizer.spec = dataclasses.replace(own, max_length=length)
        scores[str(length)] = accuracies(lambda data: predict_data(student, data).argmax(1), long_sets)
    student.tokenizer.spec = own
    return scores


def shifted_mean(record: dict) -> float:
    return (record["accuracy"]["imdb"] + record["accuracy"]["amazon"]) / 2


def best_under(records: list[dict], budget_bytes: float) -> dict | None:
    """The record with the best held-out accuracy at or under the budget (ties: smaller)."""
    fitting = [r for r in records if r["deployable_bytes"] <= budget_bytes]
    return max(fitting, key=lambda r: (r["accuracy"]["heldout"], -r["deployable_bytes"]), default=None)


def budget_rows(records: list[dict]) -> list[dict]:
    """Per budget: our best, the best peer and the differences on SST-2 dev and the shifted mean."""
    ours = [r for r in records if r["system"] == "featherweight"]
    peers = [r for r in records if r["system"] != "featherweight"]
    rows = []
    for kb in BUDGETS_KB:
        mine, theirs = best_under(ours, kb * 1000), best_under(peers, kb * 1000)
        row = {"budget_kb": kb, "featherweight": mine and mine["name"], "peer": theirs and theirs["name"]}
        if mine and theirs:
            row["sst2_dev_difference"] = round(mine["accuracy"]["sst2_dev"] - theirs["accuracy"]["sst2_dev"], 2)
            row["shifted_mean_difference"] = round(shifted_mean(mine) - shifted_mean(theirs), 2)
            row["goal_met"] = row["sst2_dev_difference"] >= 1.5 and row["shifted_mean_difference"] >= 1.5
            # The strictest view: each score against the peer that is best on that very score (hindsight).
            fitting = [r for r in peers if r["deployable_bytes"] <= kb * 1000]
            row["sst2_dev_difference_vs_hindsight_peer"] = round(
                mine["accuracy"]["sst2_dev"] - max(r["accuracy"]["sst2_dev"] for r in fitting), 2)
            row["shifted_mean_difference_vs_hindsight_peer"] = round(
                shifted_mean(mine) - max(shifted_mean(r) for r in fitting), 2)
        rows.append(row)
    return rows


def markdown(records: list[dict], rows: list[dict]) -> str:
    """docs/peers_sst2.md: the budget table, then every model."""
    by_name = {r["name"]: r for r in records}
    cell = lambda r: (f"{r['name']} ({r['deployable_bytes'] / 1e3:.0f} KB): {r['accuracy']['sst2_dev']:.1f} / "
                      f"{shifted_mean(r):.1f}") if r else "none that small"
    lines = ["# SST-2: Featherweight against fastText and TF-IDF + LR", "",
             "Generated by `python bench/peers.py` from bench/results/peers_sst2.json. Size: deployable bytes (gzip -9 "
             "of everything needed to classify raw text). Each cell: SST-2 dev / mean of IMDB and Amazon accuracy (%); "
             "the model in each cell has the best held-out accuracy of its system at or under the budget.", "",
             "The last two columns compare with the peer best on each score, chosen with hindsight.", "",
             "| budget | Featherweight | best peer | SST-2 dev diff | shifted diff | vs hindsight: dev | shifted |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        mine, theirs = by_name.get(row["featherweight"]), by_name.get(row["peer"])
        diff = lambda key: f"{row[key]:+.2f}" if key in row else "-"
        lines.append(f"| {row['budget_kb']} KB | {cell(mine)} | {cell(theirs)} | {diff('sst2_dev_difference')} | "
                     f"{diff('shifted_mean_difference')} | {diff('sst2_dev_difference_vs_hindsight_peer')} | "
                     f"{diff('shifted_mean_difference_vs_hindsight_peer')} |")
    lines += ["", "## Every model", "", "| system | model | deployable KB | weights gzip KB | held-out | SST-2 dev | "
              "IMDB | Amazon |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in sorted(records, key=lambda r: (r["system"], r["deployable_bytes"])):
        weights = f"{r['weights_gzip_bytes'] / 1e3:.1f}" if "weights_gzip_bytes" in r else "-"
        a = r["accuracy"]
        lines.append(f"| {r['system']} | {r['name']} | {r['deployable_bytes'] / 1e3:.1f} | {weights} | "
                     f"{a['heldout']:.2f} | {a['sst2_dev']:.2f} | {a['imdb']:.2f} | {a['amazon']:.2f} |")
    return "\n".join(lines) + "\n"


def plot(records: list[dict], output: Path) -> None:
    """Two panels (SST-2 dev; mean of the shifted sets) of accuracy against deployable size, frontiers drawn."""
    from featherweight.analysis.figures import format_bytes, new_figure, save
    from featherweight.analysis.reference import THESIS_TABLE_7_5

    styles = {"featherweight": ("#1f77b4", "o", "Featherweight"), "fasttext": ("#ff7f0e", "s", "fastText (quantized)"),
              "tfidf-lr": ("#2ca02c", "^", "TF-IDF + LR")}
    figure = new_figure(12, 4.8)
    axes = figure.subplots(1, 2, sharex=True)
    for ax, (title, score) in zip(axes, (("SST-2 dev", lambda r: r["accuracy"]["sst2_dev"]),
                                         ("shifted: mean of IMDB and Amazon", shifted_mean))):
        for system, (color, marker, label) in styles.items():
            points = sorted((r["deployable_bytes"], score(r)) for r in records if r["system"] == system)
            if not points:
                continue
            ax.scatter(*zip(*points), color=color, marker=marker, s=18, alpha=0.45)
            frontier, best = [], -1.0
            for size, value in points:
                if value > best:
                    frontier.append((size, value))
                    best = value
            xs, ys = zip(*frontier)
            ax.step(xs, ys, where="post", color=color, label=label + " frontier", linewidth=1.6)
        if score is not shifted_mean:
            thesis = [(mb * 1e6, acc) for cells in THESIS_TABLE_7_5.values() for acc, mb in cells]
            ax.scatter(*zip(*thesis), color="#7b3294", marker="x", s=22, label="thesis (weights-only gzip)")
        for kb in BUDGETS_KB:
            ax.axvline(kb * 1000, color="0.85", linewidth=0.8, zorder=0)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(format_bytes)
        ax.set_title(title)
        ax.set_xlabel("deployable size (gzip -9 bytes)")
        ax.set_ylabel("accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    save(figure, output, formats=["png"])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--glue-dir", default=str((ROOT.parent / "shared" / "data" / "glue").resolve()))
    parser.add_argument("--shifted-dir", default=str((ROOT.parent / "shared" / "data" / "shifted").resolve()))
    parser.add_argument("--work-dir", default=str(ROOT / "bench" / "work"))
    parser.add_argument("--students", nargs="+", choices=list(STUDENTS), default=None,
                        help="distil and score only these students (default: all)")
    parser.add_argument("--skip-students", action="store_true", help="peers only; keep the students already recorded")
    parser.add_argument("--skip-peers", action="store_true", help="students only; keep the peers already recorded")
    args = parser.parse_args(argv)
    command = command_line(argv, __file__)
    began, sets = time.perf_counter(), load_sets(args.glue_dir, args.shifted_dir)
    path = RESULTS / "peers_sst2.json"
    previous = json.loads(path.read_text()) if path.is_file() else {}
    kept = previous.get("records", [])
    records = []
    if args.skip_peers:
        records += [r for r in kept if r["system"] != "featherweight"]
    else:
        with tempfile.TemporaryDirectory() as tmp:
            records += fasttext_records(sets, Path(tmp), command)
        records += tfidf_records(sets, command)
    done = set() if args.skip_students else set(args.students or STUDENTS)
    records += [r for r in kept if r["system"] == "featherweight" and r["name"].split(" +")[0] not in done]
    prepared = []
    if not args.skip_students:
        prepared = prepare_transfer(args)
        records += student_records(sets, args)
        keep_teacher_logits(args)
    rows = budget_rows(records)
    import fasttext
    import sklearn

    result = {"task": "sst-2",
              "data": {"train": relative(Path(args.glue_dir) / "SST-2" / "train.tsv"), "heldout": "5% of train, seed 0",
                       **{name: relative(Path(args.shifted_dir) / p) for name, p in SHIFTED.items()}},
              "rows": {name: len(data.labels) for name, data in sets.items()},
              "selection": "held-out train slice (never dev or the shifted sets)",
              "transfer_commands": prepared or previous.get("transfer_commands", []),
              "versions": {"python": platform.python_version(), "fasttext": getattr(fasttext, "__version__", "0.9"),
                           "scikit-learn": sklearn.__version__},
              "seconds": round(time.perf_counter() - began, 1), "budgets": rows, "records": records}
    save_result(path, result, command=command)
    (DOCS / "peers_sst2.md").write_text(markdown(records, rows))
    plot(records, DOCS / "peers_sst2")
    print(markdown(records, rows))


if __name__ == "__main__":
    main()
