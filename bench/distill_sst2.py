"""Benchmark: distil the ten thesis students on SST-2 (original data, alpha 0.5, 2 seeds) from the cached teacher.

Run from the repository root after bench/teacher.py (about an hour on 2 CPU cores):
    python bench/distill_sst2.py --glue-dir ../shared/data/glue
Writes bench/results/distill_sst2.json and docs/distill_sst2.md; finished students are reused on a rerun.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from common import RESULTS, ROOT, save_result
from featherweight.analysis.reference import THESIS_TABLE_7_1, student_label
from featherweight.data import DataConfig
from featherweight.embeddings.spec import HASH_BUCKETS
from featherweight.compression.distill import THESIS_SEEDS, DistillConfig, distill

STUDENTS = [  # (arch, embedding, dim, hash buckets K)
    ("bilstm", "hash", 100, 5000), ("bilstm", "bpe", 25, None), ("bilstm", "bpe", 100, None),
    ("bilstm", "char", 100, None), ("rnn", "hash", 100, 5000), ("rnn", "bpe", 100, None),
    ("rnn", "char", 100, None), ("ffn", "hash", 25, 5000), ("ffn", "bpe", 100, None), ("ffn", "hash", 25, 2500),
]


def student_config(args, arch: str, embedding: str, dim: int, buckets, seed: int) -> DistillConfig:
    work = Path(args.work_dir)
    suffix = f"-k{buckets}" if buckets not in (None, HASH_BUCKETS) else ""
    teacher = work / "teacher-sst-2-minilm" / "best"  # bench/teacher.py's 2-epoch MiniLM (89.2% dev)
    config = DistillConfig(data=DataConfig(task="sst-2", glue_dir=args.glue_dir), teacher=str(teacher),
                           soft_targets=args.soft_targets or None,
                           student_arch=arch, embedding_type=embedding, embedding_dim=dim,
                           hash_buckets=buckets or HASH_BUCKETS, alpha=args.alpha, seed=seed, epochs=args.epochs,
                           patience=args.patience, work_dir=str(work), progress=False)
    config.output_dir = str(work / "students" / f"{config.name}{suffix}")
    return config


def run_one(config: DistillConfig) -> dict:
    """Distil one student, or read the summary of one already distilled."""
    summary_path = Path(config.output_dir) / "summary.json"
    if summary_path.is_file():
        return json.loads(summary_path.read_text())
    summary = distill(config)
    summary_path.write_text(json.dumps(summary, indent=2))
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--glue-dir", default=str((ROOT.parent / "shared" / "data" / "glue").resolve()))
    parser.add_argument("--work-dir", default=str(ROOT / "bench" / "work"))
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--patience", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="students trained at once (one thread each)")
    parser.add_argument("--soft-targets", default=str(RESULTS / "soft_targets" / "sst-2-train.npz"),
                        help="the teacher's saved train logits (committed by bench/teacher.py); '' to label with "
                             "the teacher under --work-dir")
    parser.add_argument("--train", nargs="*", default=None, metavar="NAME",
                        help='train only these students (e.g. "RNN Char100"); the results still list every '
                             "student whose runs are all finished")
    args = parser.parse_args()

    jobs = [(student, student_config(args, *student, seed)) for student in STUDENTS
            for seed in THESIS_SEEDS[:args.seeds]]
    wanted = [config for student, config in jobs if args.train is None or student_label(*student) in args.train]
    began = time.perf_counter()
    with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(run_one, wanted))
    teacher = json.loads((RESULTS / "teacher_sst2.json").read_text())
    out = RESULTS / "distill_sst2.json"
    earlier = {row["name"]: row for row in json.loads(out.read_text())} if out.is_file() else {}

    results, pending, reused = [], [], []
    for student in STUDENTS:
        label = student_label(*student)
        paths = [Path(config.output_dir) / "summary.json" for key, config in jobs if key == student]
        if not all(path.is_file() for path in paths):
            if label in earlier:  # measured by an earlier run whose work dir is gone
                results.append(earlier[label])
                reused.append(label)
            else:
                pending.append(label)
            continue
        runs = [json.loads(path.read_text()) for path in paths]
        accuracies = [100 * run["dev_accuracy"] for run in runs]
        arch, embedding, dim, buckets = student
        results.append({
            "name": label, "arch": arch, "embedding": embedding, "dim": dim,
            "hash_buckets": buckets, "alpha": args.alpha, "augmented": False,
            "seeds": list(THESIS_SEEDS[:args.seeds]),
            "dev_accuracy_mean": statistics.mean(accuracies),
            "dev_accuracy_sd": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
            "heldout_accuracy_mean": statistics.mean(100 * run["heldout_accuracy"] for run in runs),
            "params": runs[0]["params"], "disk_bytes": runs[0]["disk_bytes"],
            "epoch_seconds": statistics.mean(run["epoch_seconds"] for run in runs),
            "epochs_run": [run["epochs_run"] for run in runs],
            "teacher_dev_accuracy": 100 * teacher["dev_accuracy"],
        })
    meta = {"machine": f"{platform.machine()}, {multiprocessing.cpu_count()} cores",
            "workers": args.workers, "epochs": args.epochs, "patience": args.patience,
            "wall_seconds": time.perf_counter() - began, "date": time.strftime("%Y-%m-%d"),
            "pending_students": pending, "rows_kept_from_earlier_runs": reused}
    save_result(out, results, meta=meta)  # provenance and meta in distill_sst2_meta.json
    table = markdown_table(results, teacher)
    if pending:
        table += f"\nNot yet run: {', '.join(pending)}.\n"
    (ROOT / "docs" / "distill_sst2.md").write_text(table)
    print(table)


def markdown_table(results: list[dict], teacher: dict) -> str:
    """Our students beside the thesis Table 7.1 ("No distill + b", "Alpha 0.5 + b")."""
    lines = [
        "# SST-2 distillation: Featherweight vs the thesis (Table 7.1)", "",
        f"Ours: teacher all-MiniLM-L6-v2 fine-tuned here ({100 * teacher['dev_accuracy']:.1f}% dev), original SST-2 "
        "train data only (no augmentation), alpha 0.5, mean ± sd over 2 seeds, model selected on a 5% held-out slice "
        "of train. BPE is the offline fallback (SentencePiece + PPMI vectors trained on SST-2 train), not BPEmb.",
        "Thesis: RoBERTa-large teacher (96.6% dev) and ~1M augmented sentences (\"+ b\"), mean of 4 seeds.", "",
        "| student | params | MB (fp32 file) | ours: alpha 0.5, original data | thesis: no distill + b | thesis: alpha 0.5 + b | epoch s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        thesis = THESIS_TABLE_7_1.get((r["arch"], r["embedding"], r["dim"], r["hash_buckets"]), {})
        lines.append(f"| {r['name']} | {r['params']:.2g} | {r['disk_bytes'] / 1e6:.2f} | "
                     f"{r['dev_accuracy_mean']:.1f} ± {r['dev_accuracy_sd']:.1f} | {thesis.get('no_distill_b', '-')} | "
                     f"{thesis.get('alpha_0.5_b', '-')} | {r['epoch_seconds']:.0f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
