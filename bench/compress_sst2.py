"""Benchmark: prune and quantize the distilled SST-2 students; accuracy and honest sizes of four variants each.

Run from the repository root after bench/distill_sst2.py (which leaves one artifact per student and seed
under bench/work/students/):
    python bench/compress_sst2.py --glue-dir ../shared/data/glue
For every student and seed it makes +pruned (one-shot local top-V, thesis Table 6.3 targets), +quantized
(int8, classifier dynamic unless --classifier-quantization static) and +pruned+quantized, scores them on dev
(reporting only; static calibration and model selection use the held-out train slice), and measures each
artifact: real gzip -9 bytes and raw bytes of model.safetensors, parameters and non-zero parameters.
Writes bench/results/compress_sst2.json (one entry per student and variant) and docs/compress_sst2.md
(thesis Table 7.5 layout). Variants go to bench/work/compressed/; finished students are reused on a rerun.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import sys
import time
from pathlib import Path

from common import ROOT, save_result
from featherweight.analysis.reference import THESIS_TABLE_7_5, VARIANTS, student_label
from featherweight.data import DataConfig
from featherweight.embeddings.spec import HASH_BUCKETS
from featherweight.experiments.pipeline import make_variants
from featherweight.experiments.results import aggregate
from featherweight.compression.prune import PruneConfig
from featherweight.compression.quantize import QuantizeConfig
from featherweight.measure.size import resolve_teacher, teacher_sizes
from featherweight.student_meta import STUDENT_FILE, StudentMeta, read_student_meta

SST2_ORDER = [student_label(*key) for key in THESIS_TABLE_7_5]
COLUMNS = {"distilled": "distilled", "pruned": "+p", "quantized": "+q", "pruned-quantized": "+p+q"}
KEY = ("arch", "embedding", "dim", "hash_buckets")  # one student, whatever its seed
SIZES = ("gzip_bytes", "raw_bytes", "params", "nonzero_params")


def student_key(meta: StudentMeta) -> tuple:
    """(arch, embedding, dim, hash buckets or None): the student, whatever its seed."""
    buckets = (meta.hash_buckets or HASH_BUCKETS) if meta.embedding.type == "hash" else None
    return meta.student.arch, meta.embedding.type, meta.embedding.dim, buckets


def find_students(students_dir: Path) -> list[Path]:
    """Distilled artifacts (variant "distilled") directly under `students_dir`."""
    found = []
    for directory in sorted(p for p in students_dir.iterdir() if p.is_dir()):
        if (directory / STUDENT_FILE).is_file() and read_student_meta(directory).variant == "distilled":
            found.append(directory)
    if not found:
        raise SystemExit(f"No distilled student artifacts in {students_dir}; run bench/distill_sst2.py first "
                         "or pass --students-dir.")
    return found


def compress_one(directory: Path, args) -> dict:
    """Variants of one distilled student ({variant: summary}), reusing a previous run's summary."""
    out = Path(args.work_dir) / directory.name
    summary_path = out / "variants.json"
    if summary_path.is_file() and not args.force:
        return json.loads(summary_path.read_text())
    meta = read_student_meta(directory)
    data = DataConfig(**{**meta.data_settings, **({"glue_dir": args.glue_dir} if args.glue_dir else {})})
    began = time.perf_counter()
    variants = make_variants(directory, pruning=PruneConfig(),
                             quantization=QuantizeConfig(classifier_quantization=args.classifier_quantization),
                             data=data, output_dir=out, progress=False)
    for summary in variants.values():
        summary["seed"] = (meta.distill_config or {}).get("seed")
    out.mkdir(parents=True, exist_ok=True)
    summary_path.write_text(json.dumps(variants, indent=2))
    print(f"{directory.name}: {time.perf_counter() - began:.0f} s, " + ", ".join(
        f"{v} {100 * s['dev_accuracy']:.1f}% {s['gzip_bytes'] / 1e6:.3f} MB" for v, s in variants.items()),
        file=sys.stderr)
    return variants


def variant_records(students: list[Path], summaries: list[dict]) -> list[dict]:
    """One record per student artifact and variant, scores in percent, as results.aggregate reads them."""
    records = []
    for directory, variants in zip(students, summaries):
        key = dict(zip(KEY, student_key(read_student_meta(directory))))
        for variant, run in variants.items():
            records.append({"config_id": directory.name, "variant": variant, "name": student_label(*key.values()),
                            **key, "seed": run["seed"], "dev_accuracy": 100 * run["dev_accuracy"],
                            "heldout_accuracy": 100 * run["heldout_accuracy"], **{size: run[size] for size in SIZES},
                            "bytes_by_dtype": run["bytes_by_dtype"]})
    return records


def summarize(students: list[Path], summaries: list[dict]) -> list[dict]:
    """One entry per student and variant (thesis order): means and sds over the seeds (results.aggregate), mean
    sizes rounded to bytes, the first seed's bytes by dtype, and the thesis Table 7.5 cell."""
    records = variant_records(students, summaries)
    order = list(THESIS_TABLE_7_5)
    key = lambda row: tuple(row[name] for name in KEY)
    rank = lambda row: (order.index(key(row)) if key(row) in order else len(order), key(row),
                        VARIANTS.index(row["variant"]))
    results = []
    for row in sorted((row for row in aggregate(records, by=(*KEY, "variant")) if row["variant"] in VARIANTS),
                      key=rank):
        first = next(record for record in records if key(record) == key(row) and record["variant"] == row["variant"])
        thesis = THESIS_TABLE_7_5.get(key(row))
        index = VARIANTS.index(row["variant"])
        results.append({"name": first["name"], **{name: row[name] for name in KEY}, "variant": row["variant"],
                        "seeds": row["seeds"], "dev_accuracy_mean": row["dev_accuracy_mean"],
                        "dev_accuracy_sd": row["dev_accuracy_sd"],
                        "heldout_accuracy_mean": row["heldout_accuracy_mean"],
                        **{size: round(row[f"{size}_mean"]) for size in SIZES},
                        "bytes_by_dtype": first["bytes_by_dtype"],
                        "thesis_dev_accuracy": thesis[index][0] if thesis else None,
                        "thesis_zipped_mb": thesis[index][1] if thesis else None})
    return results


def skyline(results: list[dict]) -> list[tuple[int, float, str]]:
    """(gzip bytes, accuracy, label) of every variant that beats all smaller ones."""
    points = sorted((r["gzip_bytes"], -r["dev_accuracy_mean"], f"{r['name']} {COLUMNS[r['variant']]}")
                    for r in results)
    best, line = -1.0, []
    for size, negative, label in points:
        if -negative > best:
            best = -negative
            line.append((size, best, label))
    return line


def markdown_table(results: list[dict], teacher: dict | None, args) -> str:
    """Ours beside the thesis Table 7.5: dev accuracy % / gzip MB for the four variants."""
    lines = ["# SST-2 pruning and quantization: Featherweight vs the thesis (Table 7.5)", "",
             "Cells: dev accuracy % (mean of the seeds) / MB, where MB = 10^6 bytes of real gzip -9 of "
             "model.safetensors. Pruning: one-shot local top-V, thesis Table 6.3 targets (LSTM 50%, RNN 10%, Linear "
             "12.5%, hash 0%, char 30%, BPE 40%). Quantization: int8 embeddings per row, LSTM / Elman RNN with "
             f"int8 weights and a float state, {args.classifier_quantization} int8 classifier, hash importance "
             "weights fp16. "
             "Thesis MB are its zipped state dicts (the thesis called them gzip).", ""]
    if teacher:
        lines += [f"Teacher: {teacher['gzip_bytes'] / 1e6:.1f} MB ({teacher['measure']}), "
                  f"{teacher['params']:.3g} parameters.", ""]
    lines += ["| student | params | distilled | +p | +q | +p+q "
              "| thesis distilled | thesis +p | thesis +q | thesis +p+q |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    by_name: dict[str, dict[str, dict]] = {}
    for r in results:
        by_name.setdefault(r["name"], {})[r["variant"]] = r
    for name, variants in by_name.items():
        ours = [f"{v['dev_accuracy_mean']:.2f} / {v['gzip_bytes'] / 1e6:.3f}" if v else "-"
                for v in (variants.get(variant) for variant in VARIANTS)]
        first = next(iter(variants.values()))
        thesis = [f"{v['thesis_dev_accuracy']:.2f} / {v['thesis_zipped_mb']:.3f}"
                  if v and v["thesis_dev_accuracy"] is not None else "-"
                  for v in (variants.get(variant) for variant in VARIANTS)]
        lines.append(f"| {name} | {first['params']:.2g} | " + " | ".join(ours + thesis) + " |")
    lines += ["", "Skyline (best dev accuracy at or under each size): " + ", ".join(
        f"{accuracy:.2f} at {size / 1e3:.0f} KB ({label})" for size, accuracy, label in skyline(results)) + "."]
    if teacher:
        best = max(results, key=lambda r: r["dev_accuracy_mean"])
        smallest = min(results, key=lambda r: r["gzip_bytes"])
        ratio = lambda row: teacher["gzip_bytes"] / row["gzip_bytes"]
        lines += ["", f"Compression against the teacher, same measure (gzip -9 bytes): smallest student "
                      f"{smallest['name']} {COLUMNS[smallest['variant']]} is {ratio(smallest):.0f}x smaller; most "
                      f"accurate {best['name']} {COLUMNS[best['variant']]} is {ratio(best):.0f}x smaller."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students-dir", default=str(ROOT / "bench" / "work" / "students"))
    parser.add_argument("--glue-dir", default=None, help="default: the data directory each student recorded")
    parser.add_argument("--work-dir", default=str(ROOT / "bench" / "work" / "compressed"))
    parser.add_argument("--teacher", default=str(ROOT / "bench" / "work" / "teacher-sst-2-minilm"),
                        help="teacher directory for the size ratio ('' to skip)")
    parser.add_argument("--classifier-quantization", choices=("dynamic", "static"), default="dynamic")
    parser.add_argument("--results", default=str(ROOT / "bench" / "results" / "compress_sst2.json"))
    parser.add_argument("--table", default=str(ROOT / "docs" / "compress_sst2.md"))
    parser.add_argument("--force", action="store_true", help="redo students whose variants already exist")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)  # tiny models: thread hand-offs cost more than they bring
    began = time.perf_counter()
    students = find_students(Path(args.students_dir))
    summaries = [compress_one(directory, args) for directory in students]
    results = summarize(students, summaries)
    results_path, table_path = Path(args.results), Path(args.table)
    measured = {row["name"] for row in results}
    kept = [row for row in (json.loads(results_path.read_text()) if results_path.is_file() else [])
            if row["name"] not in measured]  # students measured by an earlier run whose work dir is gone
    results = sorted(results + kept, key=lambda r: (SST2_ORDER.index(r["name"]) if r["name"] in SST2_ORDER
                                                     else len(SST2_ORDER), VARIANTS.index(r["variant"])))
    teacher = None
    if args.teacher:
        try:
            teacher = teacher_sizes(resolve_teacher(args.teacher), Path(args.work_dir) / "cache")
        except FileNotFoundError as error:
            print(f"No teacher row: {error}", file=sys.stderr)
    meta = {"students": [str(s) for s in students],
            "students_kept_from_earlier_runs": sorted({row["name"] for row in kept}),
            "machine": f"{platform.machine()}, {multiprocessing.cpu_count()} cores",
            "classifier_quantization": args.classifier_quantization, "teacher": teacher,
            "wall_seconds": time.perf_counter() - began, "date": time.strftime("%Y-%m-%d")}
    save_result(results_path, results, meta=meta)  # provenance and meta in compress_sst2_meta.json
    table = markdown_table(results, teacher, args)
    table_path.parent.mkdir(parents=True, exist_ok=True)
    table_path.write_text(table)
    print(table)


if __name__ == "__main__":
    main()
