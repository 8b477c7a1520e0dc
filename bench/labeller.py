r"""Benchmark: label SST-2 rows with the teacher through torch, ONNX Runtime fp32 and ONNX Runtime dynamic int8.

Run from the repository root (a few minutes on 2 CPU cores; run it alone, under nice):
    nice -n 10 python bench/labeller.py --teacher bench/work/teacher-sst-2/best --glue-dir ../shared/data/glue
Times `soft-targets`' labelling (tokenisation, length-bucketed batches of --batch-size, the forward passes) of a
seeded sample of --rows SST-2 train rows by each runtime on one thread and on two (the median of --repeats runs
after a warm-up), as rows/s and speed-up over torch on as many threads. Then compares the three on SST-2 dev
(872 rows): label agreement of onnx and onnx-int8 with torch (onnx-int8 is used by `soft-targets` only at
>= 99.5%), their largest logit difference, and each one's dev accuracy. Prints a table and writes
bench/results/labeller_sst2.json with the command, the git commit and relative paths.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import onnxruntime
import torch

from common import RESULTS, relative, save_result
from featherweight.teacher import onnx as teacher_onnx
from featherweight.data import get_task, read_task_file
from featherweight.fingerprint import path_sha256
from featherweight.teacher.model import load_teacher, predict_logits, teacher_max_length

TASK = get_task("sst-2")
RUNTIMES = teacher_onnx.RUNTIMES


def sample_rows(path: Path, n_rows: int, seed: int = 0) -> list[tuple[str, ...]]:
    """A seeded sample of `n_rows` rows of a task file, in sample order."""
    rows = read_task_file(path, TASK, labelled=False).texts()
    return [rows[i] for i in np.random.default_rng(seed).permutation(len(rows))[:n_rows]]


def labellers(threads: int, model, tokenizer, order, files: dict, batch_size: int, max_length: int) -> dict:
    """{runtime: label(rows) -> logits}, the ONNX sessions on `threads` threads (torch's are set by the caller)."""
    options = {"batch_size": batch_size, "max_length": max_length, "order": order, "show_progress": False}
    sessions = {runtime: teacher_onnx.onnx_session(path, threads=threads) for runtime, path in files.items()}
    label = {"torch": lambda rows: predict_logits(model, tokenizer, rows, **options)}
    for runtime, session in sessions.items():
        label[runtime] = lambda rows, session=session: teacher_onnx.onnx_predict_logits(session, tokenizer, rows,
                                                                                        **options)
    return label


def seconds_of(label, rows) -> float:
    began = time.perf_counter()
    label(rows)
    return time.perf_counter() - began


def timed(label: dict, rows, repeats: int) -> dict:
    """{runtime: seconds of label[runtime](rows) in each of `repeats` rounds}, after a warm-up of each; the
    runtimes take turns within a round, so a busy spell on the machine does not fall on one of them only."""
    for runtime in RUNTIMES:
        label[runtime](rows[:128])
    seconds = {runtime: [] for runtime in RUNTIMES}
    for _ in range(repeats):
        for runtime in RUNTIMES:
            seconds[runtime].append(seconds_of(label[runtime], rows))
    return seconds


def onnx_files(teacher: str, model, tokenizer) -> tuple[dict, dict]:
    """({runtime: ONNX file}, {runtime: seconds to export or quantize it, None when it was cached})."""
    digest = path_sha256(teacher)
    folder = teacher_onnx.onnx_cache_dir(teacher, teacher_sha256=digest)
    files, made = {}, {}
    for runtime in ("onnx", "onnx-int8"):
        cached = (folder / teacher_onnx.FILE_NAMES[runtime]).is_file()
        began = time.perf_counter()
        files[runtime] = teacher_onnx.teacher_onnx(teacher, runtime, model, tokenizer, teacher_sha256=digest)
        made[runtime] = None if cached else time.perf_counter() - began
    return files, made


def timing_table(label_by_threads: dict, rows, repeats: int) -> list[dict]:
    """One entry per (threads, runtime): seconds (median and all), rows/s, speed-up over torch on those threads."""
    entries = []
    for threads, label in label_by_threads.items():
        torch.set_num_threads(threads)
        seconds = timed(label, rows, repeats)
        torch_median = statistics.median(seconds["torch"])
        for runtime in RUNTIMES:
            median = statistics.median(seconds[runtime])
            entries.append({"runtime": runtime, "threads": threads, "seconds_median": median,
                            "seconds": seconds[runtime], "rows_per_second": len(rows) / median,
                            "speedup_vs_torch": torch_median / median})
            print(f"  {runtime:<10} {threads} thread(s): {len(rows) / median:8.1f} rows/s", flush=True)
    return entries


def dev_comparison(label: dict, dev_path: Path) -> dict:
    """Each runtime on SST-2 dev: accuracy; for the ONNX ones, label agreement with torch and the largest logit
    difference."""
    dev = read_task_file(dev_path, TASK)
    logits = {runtime: label[runtime](dev.texts()) for runtime in RUNTIMES}
    result = {"rows": len(dev)}
    for runtime in RUNTIMES:
        entry = {"accuracy": float((logits[runtime].argmax(1) == dev.labels).mean())}
        if runtime != "torch":
            entry["agreement_with_torch"] = teacher_onnx.label_agreement(logits[runtime], logits["torch"])
            entry["max_abs_logit_difference"] = float(np.abs(logits[runtime] - logits["torch"]).max())
        result[runtime] = entry
    passes = result["onnx-int8"]["agreement_with_torch"]["fraction"] >= teacher_onnx.INT8_MIN_AGREEMENT
    result["onnx-int8"]["passes_soft_targets_check"] = passes
    return result


def print_table(timings: list[dict], dev: dict) -> None:
    print(f"\n{'runtime':<10} {'threads':>7} {'rows/s':>9} {'speed-up':>9}")
    for entry in timings:
        print(f"{entry['runtime']:<10} {entry['threads']:>7} {entry['rows_per_second']:>9.1f} "
              f"{entry['speedup_vs_torch']:>8.2f}x")
    print(f"\nSST-2 dev ({dev['rows']} rows)   accuracy   agreement with torch   max |logit diff|")
    for runtime in RUNTIMES:
        entry = dev[runtime]
        agreement = entry.get("agreement_with_torch")
        agrees = f"{100 * agreement['fraction']:.2f}% ({agreement['agree']}/{agreement['total']})" if agreement else "-"
        difference = f"{entry['max_abs_logit_difference']:.2e}" if agreement else "-"
        print(f"{runtime:<21} {100 * entry['accuracy']:7.2f}%   {agrees:>20}   {difference:>16}")


def cpu_name() -> str | None:
    """The CPU's model name (Linux), else platform.processor()."""
    cpuinfo = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
             if line.startswith("model name")] if cpuinfo.is_file() else []
    return names[0] if names else platform.processor() or None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", default="bench/work/teacher-sst-2/best", help="fine-tuned SST-2 teacher")
    parser.add_argument("--glue-dir", default="../shared/data/glue")
    parser.add_argument("--rows", type=int, default=2000, help="SST-2 train rows to label (a seeded sample)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch-size", type=int, default=128, help="as `soft-targets`' default")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per runtime and thread count")
    parser.add_argument("--output", default=str(RESULTS / "labeller_sst2.json"))
    args = parser.parse_args()

    teacher = str(Path(args.teacher))
    glue = Path(args.glue_dir)
    model, tokenizer, order = load_teacher(teacher, TASK)
    max_length = teacher_max_length(teacher)
    files, made_seconds = onnx_files(teacher, model, tokenizer)
    rows = sample_rows(glue / "SST-2" / "train.tsv", args.rows)
    label_by_threads = {threads: labellers(threads, model, tokenizer, order, files, args.batch_size, max_length)
                        for threads in args.threads}
    print(f"Labelling {len(rows)} SST-2 train rows ({args.repeats} timed runs each):", flush=True)
    timings = timing_table(label_by_threads, rows, args.repeats)
    torch.set_num_threads(max(args.threads))
    dev = dev_comparison(label_by_threads[max(args.threads)], glue / "SST-2" / "dev.tsv")
    print_table(timings, dev)

    result = {
        "task": "sst-2",
        "teacher": relative(teacher),
        "teacher_sha256": path_sha256(teacher),
        "onnx_files": {runtime: {"path": relative(path), "bytes": path.stat().st_size,
                                 "made_seconds": made_seconds[runtime]} for runtime, path in files.items()},
        "rows": {"file": relative(glue / "SST-2" / "train.tsv"), "count": len(rows), "sample_seed": 0},
        "batch_size": args.batch_size,
        "max_length": max_length,
        "timed_runs": args.repeats,
        "timings": timings,
        "dev": {"file": relative(glue / "SST-2" / "dev.tsv"), "threads": max(args.threads), **dev},
        "int8_min_agreement": teacher_onnx.INT8_MIN_AGREEMENT,
        "host": {"machine": platform.machine(), "processor": cpu_name(),
                 "cpu_count": os.cpu_count(), "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
                 "load_average_at_end": os.getloadavg()[0]},
    }
    print(f"\nWrote {relative(save_result(args.output, result))}")


if __name__ == "__main__":
    main()
