"""Benchmark: the teacher-bound SST-2 students (BiLSTMs at 300-900 KB) distilled from a stronger teacher.

Run from the repository root (after `python bench/teacher.py --teacher mpnet` and `python bench/peers.py`):
    python bench/teacher_bound.py                       # the MPNet-base teacher, bench/work/teacher-sst-2-mpnet/best
    python bench/teacher_bound.py --teacher DIR --name NAME --students "BiLSTM BPE25 (max pooling)"

1. The teacher labels the transfer data of bench/peers.py (SST-2 train, its 198k GloVe-augmented rows and 20k composed
   pseudo-reviews) once (`featherweight soft-targets`, resumable shards: hours for MPNet on 2 CPU cores; the train
   rows are a cache hit after bench/teacher.py); the logits are kept in bench/results/soft_targets/<name>/.
2. Each student of STUDENTS (the peers recipe of BiLSTM BPE25 with max pooling, and the same at 100 dimensions, the
   thesis's 839 KB point) distils from them with `featherweight compress --soft-targets`, and is pruned, quantized and
   both (skipped when its artifacts exist).
3. Writes bench/results/teacher_bound_<name>_sst2.json: each transfer file's labelling (rows, seconds), each
   student's epochs (held-out and dev accuracy, seconds), every variant's accuracy on the held-out train slice, SST-2
   dev, IMDB and Amazon, and its deployable gzip bytes, beside the thesis's point of that student and variant
   (Table 7.5, RoBERTa-large teacher) and the same student from the MiniLM teacher (bench/results/peers_sst2.json),
   and the peers' budget table (fastText, TF-IDF + LR at the same deployable size) with these students in it.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from common import RESULTS, ROOT, command_line, keep_soft_targets, relative, save_result, shell_line
from peers import AUGMENTED, COMPOSED, STUDENTS as PEER_STUDENTS, budget_rows, distil_once, load_sets, variant_records

from featherweight import workspace
from featherweight.analysis.reference import THESIS_TABLE_7_5
from featherweight.student_meta import read_student_meta
from featherweight.teacher.model import teacher_info


def with_option(options: list[str], flag: str, value: str) -> list[str]:
    """`options` with the value after `flag` replaced."""
    at = options.index(flag) + 1
    return [*options[:at], value, *options[at + 1:]]


BPE25 = "BiLSTM BPE25 (max pooling)"
STUDENTS = {  # name -> (compress options, thesis Table 7.5 row)
    BPE25: (PEER_STUDENTS[BPE25], ("bilstm", "bpe", 25, None)),
    "BiLSTM BPE100 (max pooling)": (with_option(PEER_STUDENTS[BPE25], "--embedding-dim", "100"),
                                    ("bilstm", "bpe", 100, None)),
}


def transfer_files(glue_dir: str) -> dict[str, str]:
    """{name: data file} of the rows the students learn from, named as bench/peers.py keeps their logits."""
    return {"train": relative(Path(glue_dir) / "SST-2" / "train.tsv"), "augmented": AUGMENTED, "composed": COMPOSED}


def label_command(teacher: str, data_file: str, runtime: str) -> list[str]:
    return ["-m", "featherweight.cli", "soft-targets", "--teacher", teacher, "--data-file", data_file,
            "--task", "sst-2", "--runtime", runtime, "--no-record"]


def label_transfer(args: argparse.Namespace, teacher_meta: dict) -> list[dict]:
    """Label every transfer file with the teacher (resuming its shards) and keep the logits with the teacher's name and
    dev accuracy (`teacher_meta`: its featherweight_teacher.json); return each file's command, rows and labelling
    seconds (those of the run that labelled it, a later cache hit included)."""
    lines = []
    described = {"teacher_description": f"{args.name} ({relative(args.teacher)}), fine-tuned on SST-2",
                 "teacher_dev_accuracy": (teacher_meta.get("scores") or {}).get("dev_accuracy")}
    for name, data_file in transfer_files(args.glue_dir).items():
        command = label_command(args.teacher, data_file, args.runtime)
        print("running " + shell_line(command), flush=True)  # a cache hit once labelled by this teacher
        subprocess.run([sys.executable, *command], cwd=ROOT, check=True)
        made = workspace.soft_targets_file(args.teacher, "sst-2", data_file, args.runtime)
        kept = keep_soft_targets(made, soft_targets_dir(args), **described)
        meta = json.loads(kept.with_suffix(".json").read_text())
        lines.append({"command": shell_line(command), "rows": meta["rows"], "seconds": round(meta["compute_seconds"])})
    return lines


def soft_targets_dir(args: argparse.Namespace) -> Path:
    """Where the logits are kept: soft_targets/<name> (bench/teacher.py keeps the torch train and dev logits there
    too), soft_targets/<name>-<runtime> for an ONNX runtime, so each folder holds one labelling of each file."""
    return RESULTS / "soft_targets" / (args.name if args.runtime == "torch" else f"{args.name}-{args.runtime}")


def student_output(name: str, args: argparse.Namespace) -> Path:
    """The distilled artifact of student `name` from this teacher; its variants lie beside it."""
    slug = name.lower().replace(" ", "-")
    return Path(relative(workspace.student_dir(f"{slug}-{args.name}", args.work_dir)))


def student_command(name: str, args: argparse.Namespace) -> list[str]:
    """The `python compress.py` command that distils, prunes and quantizes student `name` from the kept logits."""
    return ["compress.py", "--task", "sst-2", "--glue-dir", relative(args.glue_dir), *STUDENTS[name][0],
            "--soft-targets", relative(soft_targets_dir(args)), "--work-dir", relative(args.work_dir),
            "--output-dir", str(student_output(name, args)), "--compression-actions", "distill", "prune", "quantize",
            "--classifier-quantization", "weight-only", "--no-progress",
            "--runs-dir", relative(Path(args.work_dir) / "runs")]


def compared(record: dict, name: str, minilm: dict[str, dict]) -> dict:
    """`record` with the thesis's point of its student and variant, and the MiniLM-taught record of the same name."""
    accuracy, megabytes = THESIS_TABLE_7_5[STUDENTS[name][1]][workspace.VARIANTS.index(record["variant"])]
    peer = minilm.get(record["name"])
    return {**record, "thesis": {"sst2_dev": accuracy, "gzip_bytes": round(megabytes * 1e6)},
            "minilm_teacher": None if peer is None else {key: peer[key] for key in ("accuracy", "deployable_bytes")}}


def peer_budgets(records: list[dict], peer_records: list[dict]) -> list[dict]:
    """bench/peers.py's budget table with these students in place of the MiniLM-taught ones: at each deployable
    budget, the held-out pick of each side and its differences on SST-2 dev and the shifted mean."""
    return budget_rows(records + [r for r in peer_records if r["system"] != "featherweight"])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", default="bench/work/teacher-sst-2-mpnet/best", help="fine-tuned SST-2 teacher")
    parser.add_argument("--name", default="mpnet", help="the teacher's name in result and folder names")
    parser.add_argument("--runtime", choices=("torch", "onnx"), default="torch",
                        help="how the teacher labels (torch: the train logits of bench/teacher.py are a cache hit)")
    parser.add_argument("--glue-dir", default=str((ROOT.parent / "shared" / "data" / "glue").resolve()))
    parser.add_argument("--shifted-dir", default=str((ROOT.parent / "shared" / "data" / "shifted").resolve()))
    parser.add_argument("--work-dir", default=str(ROOT / "bench" / "work"))
    parser.add_argument("--students", nargs="+", choices=list(STUDENTS), default=list(STUDENTS))
    args = parser.parse_args(argv)
    command, began = command_line(argv, __file__), time.perf_counter()
    teacher_meta = teacher_info(args.teacher)
    labelled = label_transfer(args, teacher_meta)
    sets = load_sets(args.glue_dir, args.shifted_dir)
    peers = RESULTS / "peers_sst2.json"
    peer_records = json.loads(peers.read_text())["records"] if peers.is_file() else []
    minilm = {r["name"]: r for r in peer_records if r["system"] == "featherweight"}
    records, training = [], {}
    for name in args.students:
        student_cmd, output = student_command(name, args), student_output(name, args)
        distil_once(student_cmd, output)
        records += [compared(record, name, minilm) for record in variant_records(name, output, student_cmd, sets)]
        training[name] = read_student_meta(workspace.variant_dir(output, "distilled")).history
    result = {"task": "sst-2", "teacher": {"name": args.name, "path": relative(args.teacher),
                                           "scores": teacher_meta.get("scores"), "epoch": teacher_meta.get("epoch")},
              "labelling": labelled, "selection": "held-out train slice (never dev or the shifted sets)",
              "training": training, "seconds_this_run": round(time.perf_counter() - began, 1),
              "peer_budgets": peer_budgets(records, peer_records), "records": records}
    save_result(RESULTS / f"teacher_bound_{args.name}_sst2.json", result, command=command)
    print(f"{'student':<36}{'KB':>8}{'dev':>8}{'thesis':>8}{'MiniLM':>8}")
    for r in records:
        peer = r["minilm_teacher"]["accuracy"]["sst2_dev"] if r["minilm_teacher"] else float("nan")
        print(f"{r['name']:<36}{r['deployable_bytes'] / 1e3:>8.0f}{r['accuracy']['sst2_dev']:>8.2f}"
              f"{r['thesis']['sst2_dev']:>8.2f}{peer:>8.2f}")


if __name__ == "__main__":
    main()
