"""Benchmark: the whole pipeline on a user's own data set (TREC-6 by default), beside fastText at the same size.

Run from the repository root:
    python bench/custom_task.py
Uses the data set exactly as a user's files (no TREC-specific code): fine-tunes the teacher on --train-file
(`featherweight finetune`), distils, prunes and quantizes one student per arch (`python compress.py`, all four
variants) on the train rows, and again on the train rows plus --augment-samples GloVe-augmented variants of each
(`featherweight augment`, labelled by the teacher), trains a fastText grid (dim, word n-grams, epochs, quantize cutoffs) on the same rows less the held-out
slice, and scores everything on --dev-file, which nothing trains or selects on (the held-out train slice selects).

Writes bench/results/custom_<name>.json: one record per model with system ("teacher", "featherweight", "fasttext"),
name, deployable_bytes (gzip -9 of everything needed to classify raw text), accuracy, macro_f1, per_class
(precision, recall, f1, support by label name) and the command that made it; then a table, and per size budget the
best student and fastText model (chosen on held-out macro-F1) and the goal: the best student under 100 KB at
>= 95% of the teacher's macro-F1 and above fastText at or under its size.
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import RESULTS, ROOT, command_line, fasttext_grid, relative, save_result, shell_line
from featherweight.data import DataConfig, load_splits
from featherweight.measure.metrics import accuracy, macro_f1, per_class
from featherweight.measure.size import deployable_sizes, teacher_sizes, weights_sizes
from featherweight.workspace import VARIANT_SUFFIXES as VARIANTS

SHARED = ROOT.parent / "shared" / "data" / "custom" / "trec"
BUDGETS_KB = (25, 50, 100, 250, 500, 1000)
GOAL_BUDGET_KB, GOAL_FRACTION = 100, 0.95
FASTTEXT_GRID = {"dim": (10, 25, 50), "word_ngrams": (1, 2), "epoch": (25, 50)}
FASTTEXT_CUTOFFS = (1000, 3000, 10000)
_ADAM = ["--optimizer", "adam", "--learning-rate", "1e-3"]
# One student per arch; small data, so more epochs (early stopping on held-out rows keeps the best one).
STUDENTS = {
    "FFN Hash25": ["--student-arch", "ffn", "--embedding-type", "hash", "--embedding-dim", "25", *_ADAM,
                   "--soft-loss", "mse-logits", "--epochs", "40", "--patience", "8"],
    "RNN Hash25 (max pooling)": ["--student-arch", "rnn", "--embedding-type", "hash", "--embedding-dim", "25",
                                 "--pooling", "max", *_ADAM, "--epochs", "30", "--patience", "6"],
    "BiLSTM Hash25 (max pooling)": ["--student-arch", "bilstm", "--embedding-type", "hash", "--embedding-dim", "25",
                                    "--pooling", "max", *_ADAM, "--epochs", "20", "--patience", "5"],
}
SHORT = {"distilled": "", "pruned": " +p", "quantized": " +q", "pruned-quantized": " +p+q"}


def data_options(args) -> list[str]:
    """The options that name the data set, shared by every stage."""
    return ["--train-file", relative(args.train_file), "--dev-file", relative(args.dev_file),
            "--text-column", args.text_column, "--label-column", args.label_column]


def run(command: list[str], output: Path) -> str:
    """Run `python COMMAND` from the repository root unless `output` exists; return the command line."""
    if not output.exists():
        print("running python " + " ".join(command), flush=True)
        subprocess.run([sys.executable, *command], cwd=ROOT, check=True)
    return shell_line(command)


def scored(predictions, labels, names) -> dict:
    """accuracy, macro_f1 and per_class of predictions against labels."""
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    return {"accuracy": round(100 * accuracy(predictions, labels), 2),
            "macro_f1": round(100 * macro_f1(predictions, labels, len(names)), 2),
            "per_class": per_class(predictions, labels, list(names))}


def teacher_record(args, splits, command: str) -> dict:
    """The fine-tuned teacher, scored on held-out and dev rows."""
    from featherweight.teacher.model import load_teacher, predict_logits

    directory = Path(args.work_dir) / "teacher" / "best"
    task = splits["train"].task
    model, tokenizer, order = load_teacher(str(directory), task)
    predict = lambda data: predict_logits(model, tokenizer, data.texts(), batch_size=64, order=order,
                                          show_progress=False).argmax(1)
    return {"system": "teacher", "name": "teacher (all-MiniLM-L6-v2, fine-tuned)",
            "deployable_bytes": teacher_sizes(directory)["gzip_bytes"], "artifact": relative(directory),
            **evaluation(predict, splits), "command": command}


def evaluation(predict, splits) -> dict:
    """{"heldout": scores, "dev": scores} of `predict(TaskData) -> label ids`."""
    names = splits["train"].task.label_names
    return {split: scored(predict(splits[split]), splits[split].labels, names) for split in ("heldout", "dev")}


def augment_command(args) -> tuple[Path, list[str]]:
    """The augmented rows' file and the `featherweight augment` command that makes it (GloVe neighbours, N draws)."""
    output = Path(args.work_dir) / "augment" / "augmented.tsv"
    return output, ["-m", "featherweight.cli", "augment", *data_options(args), "--samples", str(args.augment_samples),
                    "--output", relative(output), "--no-progress", "--runs-dir", relative(Path(args.work_dir) / "runs")]


def student_records(args, splits, transfer: list[str]) -> list[dict]:
    """Distil each student (skipped when its variants exist) on train plus `transfer` options; score its variants."""
    from featherweight.artifact import load_student, predict_data

    teacher = relative(Path(args.work_dir) / "teacher" / "best")
    records = []
    for name, options in STUDENTS.items():
        slug = name.lower().replace(" ", "-").replace("(", "").replace(")", "") + ("-aug" if transfer else "")
        output = Path(args.work_dir) / "students" / slug
        command = ["compress.py", *data_options(args), *options, *transfer, "--teacher", teacher, "--work-dir",
                   relative(args.work_dir), "--output-dir", relative(output), "--compression-actions", "distill",
                   "prune", "quantize", "--classifier-quantization", "weight-only", "--no-progress", "--runs-dir",
                   relative(Path(args.work_dir) / "runs")]
        line = run(command, output.parent / (output.name + VARIANTS["pruned-quantized"]))
        for variant, suffix in VARIANTS.items():
            directory = output.parent / (output.name + suffix)
            student = load_student(directory)
            predict = lambda data: predict_data(student, data).argmax(1)
            label = name + (" aug" if transfer else "") + SHORT[variant]
            records.append({"system": "featherweight", "name": label, "variant": variant,
                            "deployable_bytes": deployable_sizes(directory)["deployable_bytes"],
                            "weights_gzip_bytes": weights_sizes(directory)["gzip_bytes"],
                            "artifact": relative(directory), **evaluation(predict, splits), "command": line})
            print(f"{records[-1]['name']}: {records[-1]['deployable_bytes'] / 1e3:.1f} KB dev "
                  f"{records[-1]['dev']['accuracy']} / macro-F1 {records[-1]['dev']['macro_f1']}", flush=True)
    return records


def fasttext_records(splits, work: Path, command: str) -> tuple[list[dict], list[dict]]:
    """One record per fastText model of the grid and quantize cutoff (one thread, seed 0), and the grid points
    that failed (with their error)."""
    records, failed = [], []
    for record, predict in fasttext_grid(splits["train"], work, FASTTEXT_GRID, FASTTEXT_CUTOFFS, lr=0.1):
        if predict is None:
            failed.append(record)
        else:
            records.append({**record, **evaluation(predict, splits), "command": command})
    return records, failed


def best_under(records: list[dict], budget_bytes: float) -> dict | None:
    """The record with the best held-out macro-F1 at or under the budget (ties: smaller)."""
    fitting = [r for r in records if r["deployable_bytes"] <= budget_bytes]
    return max(fitting, key=lambda r: (r["heldout"]["macro_f1"], -r["deployable_bytes"]), default=None)


def budget_rows(records: list[dict]) -> list[dict]:
    """Per budget: our best and the best fastText model, with the dev differences."""
    ours = [r for r in records if r["system"] == "featherweight"]
    peers = [r for r in records if r["system"] == "fasttext"]
    rows = []
    for kb in BUDGETS_KB:
        mine, theirs = best_under(ours, kb * 1000), best_under(peers, kb * 1000)
        row = {"budget_kb": kb, "featherweight": mine and mine["name"], "fasttext": theirs and theirs["name"]}
        if mine and theirs:
            for metric in ("accuracy", "macro_f1"):
                row[f"dev_{metric}_difference"] = round(mine["dev"][metric] - theirs["dev"][metric], 2)
        rows.append(row)
    return rows


def goal(records: list[dict]) -> dict:
    """The issue's goal: best student under 100 KB >= 95% of the teacher's dev macro-F1 and above fastText."""
    teacher = next(r for r in records if r["system"] == "teacher")
    mine = best_under([r for r in records if r["system"] == "featherweight"], GOAL_BUDGET_KB * 1000)
    theirs = best_under([r for r in records if r["system"] == "fasttext"], GOAL_BUDGET_KB * 1000)
    if mine is None:
        return {"met": False, "why": f"no student at or under {GOAL_BUDGET_KB} KB"}
    fraction = mine["dev"]["macro_f1"] / teacher["dev"]["macro_f1"]
    beats = theirs is None or mine["dev"]["macro_f1"] > theirs["dev"]["macro_f1"]
    return {"student": mine["name"], "fasttext": theirs and theirs["name"],
            "fraction_of_teacher_macro_f1": round(fraction, 4), "beats_fasttext": beats,
            "met": fraction >= GOAL_FRACTION and beats}


def table(records: list[dict]) -> str:
    lines = [f"{'system':<14}{'model':<38}{'KB':>9}{'held-out F1':>12}{'dev acc':>9}{'dev F1':>8}"]
    for r in sorted(records, key=lambda r: (r["system"], r["deployable_bytes"])):
        lines.append(f"{r['system']:<14}{r['name']:<38}{r['deployable_bytes'] / 1e3:>9.1f}"
                     f"{r['heldout']['macro_f1']:>12.2f}{r['dev']['accuracy']:>9.2f}{r['dev']['macro_f1']:>8.2f}")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", default="trec", help="results go to bench/results/custom_<name>.json")
    parser.add_argument("--train-file", default=str(SHARED / "train.tsv"))
    parser.add_argument("--dev-file", default=str(SHARED / "dev.tsv"))
    parser.add_argument("--text-column", default="sentence")
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--teacher-epochs", type=int, default=3)
    parser.add_argument("--augment-samples", type=int, default=10,
                        help="N of `featherweight augment` (GloVe neighbours): the students also distil on N teacher-"
                             "labelled variants of each train row; 0: train rows only")
    parser.add_argument("--work-dir", default=str(ROOT / "bench" / "work" / "custom-trec"))
    args = parser.parse_args(argv)
    began, command = time.perf_counter(), command_line(argv, __file__)
    teacher_dir = Path(args.work_dir) / "teacher"
    teacher_command = run(["-m", "featherweight.cli", "finetune", *data_options(args), "--epochs",
                           str(args.teacher_epochs), "--output-dir", relative(teacher_dir), "--no-progress",
                           "--runs-dir", relative(Path(args.work_dir) / "runs")], teacher_dir / "best")
    splits = load_splits(DataConfig(train_file=args.train_file, dev_file=args.dev_file,
                                    text_column=args.text_column, label_column=args.label_column),
                         show_progress=False)
    transfer, augment_line = [], None
    if args.augment_samples:
        augmented, command_args = augment_command(args)
        augment_line = run(command_args, augmented)
        transfer = ["--augmented-file", relative(augmented)]
    records = [teacher_record(args, splits, teacher_command), *student_records(args, splits, [])]
    if transfer:  # the same students on train plus the augmented rows, beside those on train alone
        records += student_records(args, splits, transfer)
    with tempfile.TemporaryDirectory() as tmp:
        peers, failed = fasttext_records(splits, Path(tmp), command)
    records += peers
    import fasttext

    result = {"data": {"train": relative(args.train_file), "dev": relative(args.dev_file),
                       "heldout": "5% of train, seed 0", "labels": list(splits["train"].task.label_names),
                       "rows": {name: len(data) for name, data in splits.items()},
                       "class_counts": {name: np.bincount(data.labels, minlength=splits["train"].task.num_labels)
                                        .tolist() for name, data in splits.items()}},
              "augment_command": augment_line,
              "selection": "held-out train slice, macro-F1 (never dev)",
              "versions": {"python": platform.python_version(), "fasttext": getattr(fasttext, "__version__", "0.9")},
              "seconds": round(time.perf_counter() - began, 1), "budgets": budget_rows(records),
              "goal": goal(records), "records": records, "fasttext_failed": failed}
    save_result(RESULTS / f"custom_{args.name}.json", result, command=command)
    print(table(records))
    print(json.dumps({"budgets": result["budgets"], "goal": result["goal"]}, indent=2))


if __name__ == "__main__":
    main()
