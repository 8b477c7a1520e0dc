"""Rebuild every committed benchmark result, in dependency order, resuming what exists.

Run from the repository root:
    python bench/run_all.py --list                 # the steps, their commands and whether their results exist
    python bench/run_all.py                        # run each step whose results are missing
    python bench/run_all.py --force --only peers lowbit
Each step is one benchmark command; it runs when one of its outputs (its result files under bench/results/) is
missing, or with --force. Every committed result is the output of one step (tests/test_run_all_bench.py checks), and
each records the command that wrote it and the git commit (bench/common.py's save_result). The benchmarks resume
their own work from bench/work/ (teacher checkpoints, soft-target and augment shards, students already distilled,
study runs already recorded), so an interrupted rebuild continues where it stopped.
Days of CPU in all; the teacher (MPNet-base on the CPU above all) and the SST-2 study dominate.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from dataclasses import dataclass

from common import ROOT, shell_line

R = "bench/results/"
GLUE = ["--glue-dir", "../shared/data/glue"]
PEER_STUDENTS = ["bench/work/students/ffn-hash25", "bench/work/students/rnn-hash100-(max-pooling)",
                 "bench/work/students/bilstm-bpe25-(max-pooling)"]


@dataclass(frozen=True)
class Step:
    """The benchmark commands of one step (run in order) and the committed results they write."""

    name: str
    commands: tuple[tuple[str, ...], ...]
    outputs: tuple[str, ...]  # paths from the repository root

    def missing(self) -> list[str]:
        return [name for name in self.outputs if not (ROOT / name).exists()]


STEPS = (
    # the 2-epoch MiniLM (bench/work/teacher-sst-2-minilm) whose committed soft targets compress uses without a teacher
    Step("teacher", (("bench/teacher.py", *GLUE),),
         (R + "teacher_sst2.json", R + "soft_targets/sst-2-train.npz", R + "soft_targets/sst-2-dev.npz")),
    Step("teacher-mpnet", (("bench/teacher.py", *GLUE, "--teacher", "mpnet", "--checkpoint-every", "200"),),
         (R + "soft_targets/mpnet/sst-2-train.npz", R + "soft_targets/mpnet/sst-2-dev.npz")),
    # fine-tunes the 1-epoch MiniLM (bench/work/teacher-sst-2) that the later steps label with
    Step("peers", (("bench/peers.py",),),
         (R + "peers_sst2.json", *(R + f"soft_targets/peers/sst-2-{name}.npz" for name in ("train", "augmented",
                                                                                          "composed")))),
    # the teacher-bound BiLSTMs distilled from the MPNet teacher's logits of the peers' transfer rows
    Step("teacher-bound", (("bench/teacher_bound.py",),),
         (R + "teacher_bound_mpnet_sst2.json", *(R + f"soft_targets/mpnet/sst-2-{name}.npz" for name in ("augmented",
                                                                                                     "composed")))),
    # the speed comparison needs a masked LM: a head trained on the MiniLM encoder (the offline models have none)
    Step("augment", (("bench/train_mlm_head.py", *GLUE, "--out", "bench/work/minilm-mlm"),
                     ("bench/augment.py", *GLUE, "--per-word-sentences", "500", "--mask-group", "8")),
         (R + "augment_sst2.json",)),
    Step("augment-full", (("bench/augment.py", "--full", "--glove-only", "--n", "4", "--threads", "2",
                          "--teacher", "bench/work/teacher-sst-2/best", "--work-dir", "bench/work"),),
         (R + "augment_sst2_full.json",)),
    Step("distill", (("bench/distill_sst2.py", *GLUE),), (R + "distill_sst2.json",)),
    Step("compress", (("bench/compress_sst2.py", *GLUE),), (R + "compress_sst2.json",)),
    Step("skyline", (("bench/skyline.py", *GLUE),),
         (R + "skyline_runs.jsonl", R + "skyline_sst2.json", R + "skyline_qqp.json", R + "skyline_mnli.json",
          R + "skyline_teachers.json")),
    Step("lowbit", (("bench/lowbit_sst2.py",),), (R + "lowbit_sst2.json",)),
    Step("custom-task", (("bench/custom_task.py",),), (R + "custom_trec.json",)),
    Step("export", (("bench/export_sst2.py", *PEER_STUDENTS, "--teacher", "bench/work/teacher-sst-2/best", *GLUE),),
         (R + "export_sst2.json",)),
    Step("labeller", (("bench/labeller.py",),), (R + "labeller_sst2.json",)),
    Step("labeller-mpnet", (("bench/labeller.py", "--teacher", "bench/work/teacher-sst-2-mpnet/best", "--output",
                             R + "labeller_sst2_mpnet.json"),), (R + "labeller_sst2_mpnet.json",)),
)


def chosen(steps, only: list[str] | None, force: bool) -> list[Step]:
    """The steps to run, in order: those named by `only` (all by default) with an output missing, or all with `force`."""
    return [step for step in steps if (only is None or step.name in only) and (force or step.missing())]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--list", action="store_true", help="print the steps and stop")
    parser.add_argument("--only", nargs="+", choices=[step.name for step in STEPS], help="run only these steps")
    parser.add_argument("--force", action="store_true", help="run the chosen steps even when their results exist")
    args = parser.parse_args(argv)
    if args.list:
        for step in STEPS:
            state = "missing: " + ", ".join(step.missing()) if step.missing() else "done"
            print(f"{step.name:<14} {state:<40} " + " && ".join(shell_line(list(c)) for c in step.commands))
        return 0
    for step in chosen(STEPS, args.only, args.force):
        for command in step.commands:
            print(f"== {step.name}: {shell_line(list(command))}", flush=True)
            subprocess.run([sys.executable, *command], cwd=ROOT, check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
