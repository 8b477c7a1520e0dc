"""Study: the size / accuracy skyline of distilled, pruned and quantized students on SST-2, QQP-10k and MNLI-10k.

Full study, built on the sweep and the results store (MANY hours on 2 CPU cores; run it on purpose):
    python bench/skyline.py --glue-dir ../shared/data/glue
    python bench/skyline.py --backend ray --ray-address auto      # on a Ray cluster with shared paths
SST-2: the augmented training data (bench/augment.py --full), the ten students of bench/distill_sst2.py
(thesis Table 7.5) and RNN Char100 with max pooling, alpha 0 and 0.5, 3 seeds, all four variants (distilled,
pruned, quantized, pruned-quantized): 66 runs. QQP-10k and MNLI-10k: BiLSTM BPE25, BiLSTM Char100 and FFN Hash25, alpha 0
and 0.5, 3 seeds, all four variants, original data (the project has no augmented pair data, and the thesis
found augmentation hurt MNLI): 18 runs each, in batches of 32 pairs (--pair-batch-size): the thesis's 256
suits its 393k pairs, but on 9k it gives 35 steps an epoch, and the AdaDelta BiLSTM learned nothing in 8.
Each task's teacher is <work-dir>/teacher-<task>/best, fine-tuned first when missing. Every run is recorded with
sacred under <work-dir>/skyline/runs and its records (config, seed, metrics, sizes, versions) are appended to the
committed results table bench/results/skyline_runs.jsonl. A run whose records are in that table is not run again,
so the study resumes across sessions and machines even when the work directory (models, data) is gone.

The outputs of a task are always written from every record of that task in the table, whatever --students,
--alphas or --seeds chose; --report-only writes them without running anything. Entries of an earlier
skyline_<task>.json that no record covers (runs from before the table was committed) are kept, marked
"carried_over".

Writes, per task, bench/results/skyline_<task>.json (the command and git commit in skyline_<task>_meta.json beside
it; one entry per student, alpha and variant: name, arch,
embedding, dim, hash_buckets, alpha, variant, seeds, dev_accuracy_mean, dev_accuracy_sd in percent, gzip_bytes,
raw_bytes, params, nonzero_params, on_skyline; "metric" names the score: MNLI-10k has only dev_matched) and
docs/skyline_<task>.png (SST-2 with the thesis's published Table 7.5 points for reference); for SST-2 also
docs/skyline_sst2.md, our skyline against the thesis's and each student beside its Table 7.5 row.

From existing results, without training:
    python bench/skyline.py --report-only                       # from bench/results/skyline_runs.jsonl
    python bench/skyline.py --from-compress-results            # bench/results/compress_sst2.json
The second builds bench/results/skyline_sst2.json and docs/skyline_sst2.png from bench/compress_sst2.py's entries.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from common import ROOT, save_result, store_records
from featherweight.analysis.reference import THESIS_TABLE_7_5, VARIANTS
from featherweight.compression.distill import THESIS_SEEDS

# (arch, embedding, dim, K, pooling): the ten students of bench/distill_sst2.py (thesis Table 7.5), and RNN Char100
# with max pooling, since its last state forgets long character sequences (README, "Where we do not dominate").
SST2_STUDENTS = [(*student, None) for student in THESIS_TABLE_7_5] + [("rnn", "char", 100, None, "max")]
PAIR_STUDENTS = [("bilstm", "bpe", 25, None, None), ("bilstm", "char", 100, None, None), ("ffn", "hash", 25, 5000, None)]
STUDENTS = {"sst-2": SST2_STUDENTS, "qqp": PAIR_STUDENTS, "mnli": PAIR_STUDENTS}
TAGS = {"sst-2": "sst2", "qqp": "qqp", "mnli": "mnli"}
TITLES = {"sst-2": "SST-2", "qqp": "QQP-10k", "mnli": "MNLI-10k"}
ENTRY_KEYS = ("name", "arch", "embedding", "dim", "hash_buckets", "alpha", "variant", "seeds", "metric",
              "dev_accuracy_mean", "dev_accuracy_sd", "gzip_bytes", "raw_bytes", "params", "nonzero_params")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--glue-dir", default=str((ROOT.parent / "shared" / "data" / "glue").resolve()))
    parser.add_argument("--work-dir", default=str(ROOT / "bench" / "work"))
    parser.add_argument("--tasks", nargs="+", choices=list(STUDENTS), default=list(STUDENTS))
    parser.add_argument("--seeds", type=int, default=3, help="the first N thesis seeds")
    parser.add_argument("--students", nargs="+", default=None, metavar="NAME",
                        help='run only these students of each task (e.g. "FFN Hash25" "BiLSTM BPE25"); the '
                             "results still list every finished run of the task")
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.0, 0.5])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--patience", type=int, default=2)
    parser.add_argument("--pair-batch-size", type=int, default=32,
                        help="batch size of the QQP-10k and MNLI-10k students (the thesis's 256 is for 393k pairs)")
    parser.add_argument("--adam-learning-rate", type=float, default=1e-3,
                        help="learning rate of the Adam-trained RNN and FFN students (thesis preset 1e-4 converges "
                             "only over its ~1M augmented rows and many epochs; 0 keeps the preset)")
    parser.add_argument("--augmented", default=str(ROOT / "bench" / "work" / "augment-sst-2" / "augmented.tsv"),
                        help="SST-2 augmented TSV from bench/augment.py --full ('none' for original data)")
    parser.add_argument("--backend", choices=("local", "ray", "serial"), default="local")
    parser.add_argument("--workers", type=int, default=2, help="runs at once, one torch thread each")
    parser.add_argument("--ray-address", default=None, help="Ray cluster address (default: a local instance)")
    parser.add_argument("--dry-run", action="store_true", help="list the runs of each task and stop")
    parser.add_argument("--report-only", action="store_true",
                        help="run nothing: write each task's outputs from the results table")
    parser.add_argument("--rerun", action="store_true",
                        help="run the chosen runs again even if their results exist (after a training fix)")
    parser.add_argument("--from-compress-results", nargs="?", const=str(ROOT / "bench" / "results" /
                                                                        "compress_sst2.json"), default=None,
                        metavar="JSON", help="no training: the SST-2 skyline from bench/compress_sst2.py results")
    parser.add_argument("--results-dir", default=str(ROOT / "bench" / "results"),
                        help="where the skyline files and the study's results table skyline_runs.jsonl live")
    parser.add_argument("--docs-dir", default=str(ROOT / "docs"))
    return parser.parse_args(argv)


def study_grid(task: str, args) -> dict:
    """The sweep grid of one task's part of the study."""
    work = Path(args.work_dir)
    adam = {"learning_rate": args.adam_learning_rate} if args.adam_learning_rate else {}
    students = [{"arch": arch, "embedding": embedding, "dim": dim, **({"hash_buckets": k} if k else {}),
                 **({"pooling": pooling} if pooling else {}), **(adam if arch in ("rnn", "ffn") else {})}
                for arch, embedding, dim, k, pooling in STUDENTS[task]]
    augmented = args.augmented if task == "sst-2" and args.augmented not in (None, "", "none") else None
    batch = {} if task == "sst-2" else {"batch_size": args.pair_batch_size}
    return {"task": task, **batch, "glue_dir": args.glue_dir, "work_dir": str(work), "epochs": args.epochs,
            "patience": args.patience, "students": students, "alphas": list(args.alphas),
            "seeds": list(THESIS_SEEDS[:args.seeds]), "augmentation": [augmented], "variants": list(VARIANTS),
            "output_root": str(work / "skyline" / "students")}


def entries_from_records(records: list[dict], task: str) -> list[dict]:
    """Skyline entries (percentages, one per student, alpha and variant) from the runs' results records."""
    from featherweight.experiments.results import aggregate, primary_metric

    rows = aggregate([record for record in records if record.get("task") == task])
    if not rows:
        return []
    metric = primary_metric(task, {key for row in rows for key in row})
    entries = []
    for row in rows:
        entry = {"name": row.get("name"), "arch": row.get("arch"), "embedding": row.get("embedding"),
                 "dim": row.get("dim"), "hash_buckets": row.get("hash_buckets"), "alpha": row.get("alpha"),
                 "variant": row.get("variant"), "seeds": row.get("seeds"), "metric": metric,
                 "dev_accuracy_mean": 100 * row[f"{metric}_mean"], "dev_accuracy_sd": 100 * row[f"{metric}_sd"]}
        for size in ("gzip_bytes", "raw_bytes", "params", "nonzero_params"):
            entry[size] = round(row[f"{size}_mean"]) if f"{size}_mean" in row else None
        if "dev_f1_mean" in row:  # QQP
            entry["dev_f1_mean"], entry["dev_f1_sd"] = 100 * row["dev_f1_mean"], 100 * row["dev_f1_sd"]
        entries.append(entry)
    return _ordered(entries, task)


def entries_from_compress_results(results: list[dict]) -> list[dict]:
    """Skyline entries from bench/results/compress_sst2.json (already percentages and mean sizes)."""
    entries = []
    for number, result in enumerate(results, 1):
        missing = [key for key in ("arch", "embedding", "dim", "variant", "dev_accuracy_mean", "gzip_bytes")
                   if result.get(key) is None]
        if missing:
            raise SystemExit(f"compress results entry {number} lacks {missing}; expected bench/compress_sst2.py "
                             "output (arch, embedding, dim, variant, dev_accuracy_mean, gzip_bytes, ...).")
        entry = {key: result.get(key) for key in ENTRY_KEYS}
        entry["metric"] = "dev_accuracy"
        entry["dev_accuracy_sd"] = result.get("dev_accuracy_sd", 0.0)
        if entry["name"] is None:
            from featherweight.analysis.reference import student_label

            entry["name"] = student_label(result["arch"], result["embedding"], result["dim"],
                                          result.get("hash_buckets"))
        entries.append(entry)
    return _ordered(entries, "sst-2")


def _ordered(entries: list[dict], task: str) -> list[dict]:
    """Entries in study order (student, alpha, variant), each marked on_skyline across the whole task."""
    from featherweight.analysis.skyline import skyline

    order = [(arch, embedding, dim) for arch, embedding, dim, *_ in STUDENTS[task]]
    rank = lambda e: (order.index((e["arch"], e["embedding"], e["dim"])) if (e["arch"], e["embedding"], e["dim"])
                      in order else len(order), str(e["name"]), e["alpha"] if e["alpha"] is not None else -1,
                      VARIANTS.index(e["variant"]) if e["variant"] in VARIANTS else len(VARIANTS))
    entries = sorted(entries, key=rank)
    flags = skyline([(entry["gzip_bytes"], entry["dev_accuracy_mean"]) for entry in entries])
    return [{**entry, "on_skyline": flag} for entry, flag in zip(entries, flags)]


def write_outputs(entries: list[dict], task: str, args) -> tuple[Path, ...]:
    """bench/results/skyline_<task>.json and docs/skyline_<task>.png (SST-2: with the thesis points, and the
    comparison table docs/skyline_sst2.md)."""
    from featherweight.analysis.skyline import plot_skyline, points_from_rows, thesis_points

    tag = TAGS[task]
    results_path = save_result(Path(args.results_dir) / f"skyline_{tag}.json", entries)
    metric = entries[0]["metric"] if entries else "dev_accuracy"
    points = points_from_rows(entries, metric="dev_accuracy", scale=1.0)
    teacher = teacher_note(args.work_dir, task, args.results_dir)
    [png] = plot_skyline(points, Path(args.docs_dir) / f"skyline_{tag}.png",
                         reference=thesis_points() if task == "sst-2" else (),
                         title=f"{TITLES[task]}: dev accuracy against size (mean over seeds; skyline labelled)",
                         ylabel=f"{TITLES[task]} {metric.replace('_', ' ')} (%)", formats=["png"])
    if task != "sst-2":
        return results_path, png
    table = Path(args.docs_dir) / f"skyline_{tag}.md"
    table.write_text(comparison_markdown(entries, teacher))
    return results_path, png, table


def teacher_note(work_dir: str, task: str, results_dir: str | None = None) -> str:
    """"<teacher> (<dev accuracy>%, <epochs> epochs)" of the study's teacher, from its finetune summary; without
    one, the note last kept in <results_dir>/skyline_teachers.json."""
    path = Path(work_dir) / f"teacher-{task}" / "summary.json"
    kept = Path(results_dir) / "skyline_teachers.json" if results_dir else None
    notes = {key: value for key, value in (json.loads(kept.read_text()) if kept and kept.is_file() else {}).items()
             if key in TAGS}  # the command and git commit beside the notes are the last writer's
    if not path.is_file():
        return notes.get(task, "not recorded")
    summary = json.loads(path.read_text())
    name = "all-MiniLM-L6-v2" if summary.get("teacher") == "minilm" else summary.get("teacher")
    accuracy = summary.get("dev_accuracy")
    score = "?" if accuracy is None else f"{100 * accuracy:.1f}%"
    epochs = summary.get("epochs")
    note = f"{name} ({score} dev, {epochs} epoch{'' if epochs == 1 else 's'})"
    if kept and notes.get(task) != note:
        save_result(kept, dict(sorted({**notes, task: note}.items())))
    return note


def comparison_markdown(entries: list[dict], teacher: str = "not recorded") -> str:
    """docs/skyline_sst2.md: our skyline against the thesis's, then each student beside thesis Table 7.5."""
    from featherweight.analysis.reference import THESIS_TABLE_7_5, VARIANTS, student_label
    from featherweight.analysis.skyline import VARIANT_SHORT, against_reference, points_from_rows, thesis_points

    kb = lambda size: f"{size / 1e3:.1f} KB"
    ours = points_from_rows(entries, metric="dev_accuracy", scale=1.0)
    lines = ["# SST-2 study: our skyline against the thesis's", "",
             "Generated by bench/skyline.py from bench/results/skyline_sst2.json. Dev accuracy % (mean over the "
             "seeds run), size = gzip -9 bytes of the weights file (thesis: its zipped state dicts). Thesis teacher: "
             f"RoBERTa-large (96.6%); ours: {teacher}.", "",
             "## Best at or under each size of the thesis skyline", "",
             "| thesis point | thesis | ours (best at or under that size) | ours | difference |",
             "| --- | --- | --- | --- | --- |"]
    for row in against_reference(ours, thesis_points()):
        theirs, mine = row["reference"], row["ours"]
        lines.append(f"| {theirs.label} | {theirs.score:.2f}% at {kb(theirs.size_bytes)} | "
                     + (f"{mine.label} | {mine.score:.2f}% at {kb(mine.size_bytes)} | {row['difference']:+.2f} |"
                        if mine else "none that small | | |"))
    lines += ["", "## Each student beside thesis Table 7.5 (ours: the better alpha)", "",
              "| student | variant | ours | alpha | seeds | thesis |", "| --- | --- | --- | --- | --- | --- |"]
    for key, cells in THESIS_TABLE_7_5.items():
        name = student_label(*key)
        for variant, (accuracy, mb) in zip(VARIANTS, cells):
            mine = [e for e in entries if e["name"] == name and e["variant"] == variant]
            if not mine:
                continue
            best = max(mine, key=lambda e: e["dev_accuracy_mean"])
            alpha = "-" if best["alpha"] is None else f"{best['alpha']:g}"
            lines.append(f"| {name} | {VARIANT_SHORT[variant] or 'distilled'} | {best['dev_accuracy_mean']:.2f}% at "
                         f"{kb(best['gzip_bytes'])} | {alpha} | {len(best['seeds'] or [])} | "
                         f"{accuracy:.2f}% at {kb(mb * 1e6)} |")
    return "\n".join(lines) + "\n"


def config_label(config) -> str:
    """The thesis-style student name of a study run, e.g. "FFN Hash25 (K=2500)"."""
    from featherweight.analysis.reference import student_label

    buckets = config.hash_buckets if config.embedding_type == "hash" else None
    return student_label(config.student_arch, config.embedding_type, config.embedding_dim, buckets, config.pooling)


def results_table(args) -> Path:
    """The study's results table: one record per run and variant, committed beside the skyline files."""
    return Path(args.results_dir) / "skyline_runs.jsonl"


def carried_over(previous: list[dict], fresh: list[dict]) -> list[dict]:
    """Entries of an earlier skyline file that no fresh entry covers (same student, alpha and variant), marked."""
    covered = {(entry["name"], entry["alpha"], entry["variant"]) for entry in fresh}
    return [{**entry, "carried_over": True} for entry in previous
            if (entry["name"], entry["alpha"], entry["variant"]) not in covered]


def report(task: str, args) -> tuple[Path, ...]:
    """Write a task's skyline files from every record of the task in the results table, plus carried-over
    entries of the earlier skyline file; nothing when there is neither."""
    from featherweight.experiments.results import read_table

    table = results_table(args)
    fresh = entries_from_records(read_table(table) if table.is_file() else [], task)
    earlier = Path(args.results_dir) / f"skyline_{TAGS[task]}.json"
    previous = [{key: value for key, value in entry.items() if key != "on_skyline"}
                for entry in (json.loads(earlier.read_text()) if earlier.is_file() else [])]
    entries = _ordered(fresh + carried_over(previous, fresh), task)
    return write_outputs(entries, task, args) if entries else ()


def run_study(args) -> int:
    """Sweep each task's grid (or nothing with --report-only), then write its skyline files; 1 if any run failed."""
    from featherweight.experiments.sweep import artifacts_complete, expand, run_configs

    work = Path(args.work_dir) / "skyline"
    if ("sst-2" in args.tasks and not (args.dry_run or args.report_only)
            and args.augmented not in (None, "", "none") and not Path(args.augmented).is_file()):
        raise SystemExit(f"No augmented SST-2 data at {args.augmented}: run bench/augment.py --full first, or "
                         "pass --augmented none for the original data only.")
    failed = 0
    for task in args.tasks:
        configs = expand(study_grid(task, args), source=f"{task} study")
        chosen = [config for config in configs if args.students is None or config_label(config) in args.students]
        if args.dry_run:
            print(f"{task}: {len(chosen)} of {len(configs)} runs chosen, e.g. {configs[0].output_dir}")
            continue
        if chosen and not args.report_only:
            sweep = dict(backend=args.backend, workers=args.workers, ray_address=args.ray_address,
                         runs_dir=work / "runs", results=results_table(args), progress=True)
            outcome = run_configs(chosen, rerun=args.rerun, **sweep)
            for failure in outcome.failed:
                print(f"FAILED {failure['output_dir']}: {failure['error']}", file=sys.stderr)
            failed += len(outcome.failed)
            earlier = [config for config in configs if config not in chosen and artifacts_complete(config)]
            if earlier:
                run_configs(earlier, **sweep)  # records finished runs in the table; nothing is re-run
            store_records(results_table(args))  # the sweep appends absolute paths; the committed table holds none
        for path in report(task, args):
            print(f"wrote {path}")
    return 1 if failed else 0


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.from_compress_results:
        path = Path(args.from_compress_results)
        if not path.is_file():
            raise SystemExit(f"No {path}; run bench/compress_sst2.py first (it writes that file).")
        for written in write_outputs(entries_from_compress_results(json.loads(path.read_text())), "sst-2", args):
            print(f"wrote {written}")
        return 0
    return run_study(args)


if __name__ == "__main__":
    sys.exit(main())
