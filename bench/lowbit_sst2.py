"""Study: SST-2 students below 8 bits (4- and 2-bit rows, product quantization, quantization-aware distillation)
against the thesis's small end (80.16 at 27 KB, 81.02 at 48, 83.43 at 51, 83.89 at 53; weights-only gzip).

Run from the repository root:
    python bench/lowbit_sst2.py                    # every recipe not yet in bench/results/skyline_runs.jsonl
    python bench/lowbit_sst2.py --recipes "FFN Hash25 q4 QAT"
    python bench/lowbit_sst2.py --report-only      # rebuild the outputs from the recorded runs
The float students are those of bench/peers.py (SST-2 train less the held-out slice, plus its augmented and
composed transfer sets, the teacher's logits in bench/results/soft_targets/peers), made by
`python bench/peers.py --skip-peers --students NAME` when missing from --work-dir. Each recipe quantizes one of
them, or its pruned variant, with featherweight.experiments.pipeline.make_variants, after a short quantization-aware fine-tune
when qat_epochs > 0 (the student's own rows and soft targets; the held-out slice selects the epoch). A recipe is
scored on the held-out slice (the only selector), SST-2 dev, and the whole-review shifted sets (imdb, amazon),
which nothing trains or selects on, and measured as the thesis did (gzip of the weights file) and as a user ships
it (deployable bytes: weights, tokenizer files, label names).

Each record also carries `cli_command`, the one `featherweight compress` command that makes its variant from
scratch (distil from the saved soft targets, prune if the recipe does, quantize).
Each recipe appends one record to bench/results/skyline_runs.jsonl (task sst-2, name the recipe, variant sub-8-bit),
so `python bench/skyline.py --report-only --tasks sst-2` draws it on the SST-2 skyline; this script then runs that.
Writes bench/results/lowbit_sst2.json (every recipe, the thesis's small-end points and, for each, our best
sub-8-bit point at or under its size, picked on the held-out slice, with its dev and shifted accuracies; and
bench/peers.py's budget table against fastText and TF-IDF + LR with these students added).
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from common import (RESULTS, ROOT, command_line, compress_command, provenance, relative, save_result, shell_line,
                    store_records)
from peers import STUDENTS, TRANSFER, accuracies, budget_rows, load_sets, student_output

LOW4 = dict(embedding_quantization="int4-row", encoder_quantization="int4-row", classifier_quantization="int4-row",
            hash_importance_dtype="int4")
LOW2 = dict(embedding_quantization="int2-row", encoder_quantization="int4-row", classifier_quantization="int4-row",
            hash_importance_dtype="int2")
MIXED = dict(embedding_quantization="int4-row", encoder_quantization="int2-row", classifier_quantization="int2-row",
             hash_importance_dtype="int2")
PQ = dict(embedding_quantization="pq", pq_subvector_dim=5, pq_bits=8, encoder_quantization="int4-row",
          classifier_quantization="int4-row")
# A smaller recurrent student for the 27-48 KB end, distilled like the peers students from their saved soft targets.
SMALL_RNN = "RNN Hash50 h64 (max pooling)"
OWN_STUDENTS = {SMALL_RNN: ["--student-arch", "rnn", "--embedding-type", "hash", "--embedding-dim", "50",
                            "--hidden-dim", "64", "--classifier-dim", "50", "--pooling", "max", "--optimizer", "adam",
                            "--learning-rate", "1e-3", "--alpha", "0", "--epochs", "6", *TRANSFER,
                            "--soft-targets", "bench/results/soft_targets/peers"]}
SMALL_BILSTM = "BiLSTM Hash50 h48 (max pooling)"
OWN_STUDENTS[SMALL_BILSTM] = ["--student-arch", "bilstm", "--embedding-type", "hash", "--embedding-dim", "50",
                              "--hidden-dim", "48", "--classifier-dim", "50", "--pooling", "max", "--alpha", "0.5",
                              "--epochs", "4", *TRANSFER, "--soft-targets", "bench/results/soft_targets/peers"]
WIDER_BILSTM = "BiLSTM Hash50 h64 (max pooling)"
OWN_STUDENTS[WIDER_BILSTM] = [*OWN_STUDENTS[SMALL_BILSTM], "--hidden-dim", "64"]  # the later --hidden-dim wins
LONGER_BILSTM = "BiLSTM Hash50 h48 e8 (max pooling)"  # SMALL_BILSTM was still learning at its 4th epoch
OWN_STUDENTS[LONGER_BILSTM] = [*OWN_STUDENTS[SMALL_BILSTM], "--epochs", "8"]  # the later --epochs wins
# label -> (student, source variant, QuantizeConfig settings)
RECIPES = {
    "FFN Hash25 q4": ("FFN Hash25", "distilled", LOW4),
    "FFN Hash25 q4 QAT": ("FFN Hash25", "distilled", {**LOW4, "qat_epochs": 2}),
    "FFN Hash25 q2 QAT": ("FFN Hash25", "distilled", {**LOW2, "qat_epochs": 2}),
    "FFN Hash25 (K=2500) q4 QAT": ("FFN Hash25 (K=2500)", "distilled", {**LOW4, "qat_epochs": 2}),
    "RNN Hash100 q4": ("RNN Hash100 (max pooling)", "distilled", LOW4),
    "RNN Hash100 q4 QAT": ("RNN Hash100 (max pooling)", "distilled", {**LOW4, "qat_epochs": 2}),
    "RNN Hash100 q4/2 QAT": ("RNN Hash100 (max pooling)", "distilled", {**MIXED, "qat_epochs": 2}),
    "RNN Hash100 PQ": ("RNN Hash100 (max pooling)", "distilled", {**PQ, "pq_subvector_dim": 4,
                                                                  "hash_importance_dtype": "int4"}),
    "RNN Hash100 +p q4 QAT": ("RNN Hash100 (max pooling)", "pruned", {**LOW4, "qat_epochs": 2}),
    "RNN Hash50 h64 q4": (SMALL_RNN, "distilled", LOW4),
    "RNN Hash50 h64 q4 QAT": (SMALL_RNN, "distilled", {**LOW4, "qat_epochs": 2}),
    "RNN Hash50 h64 q4 i2": (SMALL_RNN, "distilled", {**LOW4, "hash_importance_dtype": "int2"}),
    "RNN Hash50 h64 +p q4": (SMALL_RNN, "pruned", LOW4),
    "RNN Hash50 h64 q4 i2 c2 QAT": (SMALL_RNN, "distilled", {**LOW4, "hash_importance_dtype": "int2",
                                                             "classifier_quantization": "int2-row", "qat_epochs": 2}),
    "RNN Hash50 h64 q4/2 QAT": (SMALL_RNN, "distilled", {**MIXED, "qat_epochs": 2}),
    "BiLSTM Hash50 h48 q4": (SMALL_BILSTM, "distilled", LOW4),
    "BiLSTM Hash50 h48 q4 QAT": (SMALL_BILSTM, "distilled", {**LOW4, "qat_epochs": 2}),
    "BiLSTM Hash50 h48 e8 q4 QAT": (LONGER_BILSTM, "distilled", {**LOW4, "qat_epochs": 2}),
    "BiLSTM Hash50 h64 q4": (WIDER_BILSTM, "distilled", LOW4),
    "BiLSTM Hash50 h64 q4 QAT": (WIDER_BILSTM, "distilled", {**LOW4, "qat_epochs": 2}),
    "BiLSTM BPE25 PQ": ("BiLSTM BPE25 (max pooling)", "distilled", PQ),
    "BiLSTM BPE25 q4": ("BiLSTM BPE25 (max pooling)", "distilled", LOW4),
}
VARIANT = "sub-8-bit"  # the records' variant in skyline_runs.jsonl; the name is the recipe
THESIS_SMALL_END = [(80.16, 27_000), (81.02, 48_000), (83.43, 51_000), (83.89, 53_000)]  # (accuracy %, bytes)
GOAL_16KB = (80.0, 16_000)


def recipe_slug(label: str) -> str:
    """A recipe's folder name: "RNN Hash100 q4/2 QAT" -> "rnn-hash100-q4-2-qat"."""
    return label.lower().replace(" ", "-").replace("/", "-")


def recipe_command(label: str) -> str:
    return shell_line(["bench/lowbit_sst2.py", "--recipes", label])


def student_command(student: str, args) -> list[str]:
    """The command that distils (and prunes) `student`: bench/peers.py for its students, else compress.py."""
    if student in STUDENTS:
        return ["bench/peers.py", "--skip-peers", "--students", student, "--work-dir", relative(args.work_dir)]
    return ["compress.py", "--task", "sst-2", "--glue-dir", relative(args.glue_dir), *OWN_STUDENTS[student],
            "--work-dir", relative(args.work_dir), "--output-dir", str(student_output(student, args)),
            "--compression-actions", "distill", "prune", "--no-progress",
            "--runs-dir", relative(Path(args.work_dir) / "runs")]


def cli_command(label: str, args) -> str:
    """The one `featherweight compress` command that makes a recipe's variant from scratch (the CLI equivalent of the
    recipe): the student's distillation options, its saved soft targets, prune when the recipe starts from the
    pruned student, and the recipe's quantization options."""
    student, variant, settings = RECIPES[label]
    options = [*(STUDENTS.get(student) or OWN_STUDENTS[student])]
    if "--soft-targets" not in options:
        options += ["--soft-targets", "bench/results/soft_targets/peers"]
    actions = ["distill", "prune", "quantize"] if variant == "pruned" else ["distill", "quantize"]
    quantize = [item for key, value in settings.items() for item in (f"--{key.replace('_', '-')}", str(value))]
    output = Path(relative(args.work_dir)) / "lowbit-cli" / recipe_slug(label)
    return compress_command(["--task", "sst-2", "--glue-dir", relative(args.glue_dir), *options,
                             "--output-dir", str(output), "--compression-actions", *actions, *quantize])


def source_dir(student: str, variant: str, args) -> Path:
    """The student's distilled or pruned artifact, made by `student_command` when missing."""
    output = student_output(student, args)
    directory = output.parent / (output.name + ("-pruned" if variant == "pruned" else ""))
    if not (directory / "student.json").is_file():
        command = student_command(student, args)
        print("running " + shell_line(command), flush=True)
        subprocess.run([sys.executable, *command], cwd=ROOT, check=True)
    return directory


def run_recipe(label: str, sets: dict, args) -> dict:
    """Quantize (after QAT) one recipe's student, score and measure it; the record for skyline_runs.jsonl."""
    from featherweight.artifact import load_student, predict_data
    from featherweight.experiments.pipeline import make_variants
    from featherweight.compression.quantize import QuantizeConfig
    from featherweight.measure.size import deployable_sizes, weights_sizes

    student_name, variant, settings = RECIPES[label]
    source = source_dir(student_name, variant, args)
    config = QuantizeConfig(**settings)
    out = Path(args.work_dir) / "lowbit" / recipe_slug(label)
    started, began = datetime.datetime.now().isoformat(), time.perf_counter()
    summary = make_variants(source, quantization=config, output_dir=out)["quantized"]
    directory = Path(summary["output_dir"])
    student = load_student(directory)
    accuracy = accuracies(lambda data: predict_data(student, data).argmax(1), sets)
    meta, sizes = student.meta, weights_sizes(directory)
    distill_config = meta.distill_config
    setting = {"recipe": label, "source": relative(source), "quantization": config.to_dict()}
    setting_id = hashlib.sha256(json.dumps(setting, sort_keys=True).encode()).hexdigest()[:16]
    return {"run_id": f"lowbit-{setting_id}", **provenance(recipe_command(label)),
            "cli_command": cli_command(label, args), "task": "sst-2", "name": label,
            "arch": meta.student.arch, "embedding": meta.embedding.type, "dim": meta.embedding.dim,
            "hash_buckets": meta.hash_buckets,
            "alpha": distill_config["alpha"], "augmented": True, "variant": VARIANT, "seed": distill_config["seed"],
            "config_id": setting_id, "setting_id": setting_id, "artifact": relative(directory), "started": started,
            "stopped": datetime.datetime.now().isoformat(), "seconds": round(time.perf_counter() - began, 1),
            "heldout_accuracy": accuracy["heldout"] / 100, "dev_accuracy": accuracy["sst2_dev"] / 100,
            "imdb_accuracy": accuracy["imdb"] / 100, "amazon_accuracy": accuracy["amazon"] / 100,
            "gzip_bytes": sizes["gzip_bytes"], "raw_bytes": sizes["raw_bytes"], "params": sizes["params"],
            "nonzero_params": sizes["nonzero_params"],
            "deployable_bytes": deployable_sizes(directory)["deployable_bytes"],
            "qat_epochs_run": len(meta.qat_history or []), "source_student": relative(source),
            **{f"config.quantization.{key}": value for key, value in config.to_dict().items()}}


def c_measures(record: dict, args) -> dict:
    """The C export of a recipe's artifact: its dev accuracy through its own C tokenizer and model (host gcc), the
    weight bytes as the C stores them, and Cortex-M4 flash and RAM (-Os) when arm-none-eabi-gcc is installed."""
    from featherweight.deploy import ExportConfig, export

    out = Path(args.work_dir) / "lowbit-c" / Path(record["artifact"]).name
    info = export(ExportConfig(model=str(ROOT / record["artifact"]), output=str(out), format="c",
                               glue_dir=args.glue_dir, evaluate=True))
    dev = info.get("evaluation", {}).get("dev", {})
    m4 = info.get("cortex_m4", {})
    return {"c_dev_accuracy": dev.get("export_accuracy"), "c_label_agreement": dev.get("label_agreement"),
            "c_weight_bytes": info["bytes"]["int8_weights"],
            "cortex_m4_flash_bytes": m4.get("flash_bytes"), "cortex_m4_ram_bytes": m4.get("ram_bytes"),
            "cortex_m4_model_flash_bytes": m4.get("model_flash_bytes"), "c_weights": info.get("weights")}


def lowbit_records(table: Path) -> list[dict]:
    """The latest record of each recipe in the skyline runs table (a rerun replaces the earlier one)."""
    from featherweight.experiments.results import latest, read_table

    return [r for r in latest(read_table(table)) if str(r.get("run_id", "")).startswith("lowbit-")]


def best_at_or_under(records: list[dict], size: int, score: str = "heldout_accuracy") -> dict | None:
    """The record with the best `score` at or under `size` weights-gzip bytes (ties: the smaller)."""
    fitting = [r for r in records if r["gzip_bytes"] <= size]
    return max(fitting, key=lambda r: (r[score], -r["gzip_bytes"])) if fitting else None


def _scores(record: dict) -> dict:
    return {"name": record["name"], "gzip_bytes": record["gzip_bytes"], "deployable_bytes": record.get("deployable_bytes"),
            **{key: round(100 * record[f"{key}_accuracy"], 2) for key in ("heldout", "dev", "imdb", "amazon")
               if f"{key}_accuracy" in record}}


def goal_rows(records: list[dict]) -> list[dict]:
    """Per thesis small-end point (and the 16 KB goal): the skyline there (the best SST-2 dev accuracy at or under
    its size, as the thesis's skyline is drawn) and the pick a user makes without dev (best held-out accuracy),
    each with its shifted accuracies and whether it clears the point by a full point (the 16 KB goal: 80%)."""
    rows = []
    for (accuracy, size), margin in [*((point, 1.0) for point in THESIS_SMALL_END), (GOAL_16KB, 0.0)]:
        row = {"size_bytes": size, "thesis_accuracy": accuracy if margin else None, "needed": accuracy + margin}
        for key, score in (("skyline", "dev_accuracy"), ("heldout_pick", "heldout_accuracy")):
            pick = best_at_or_under(records, size, score)
            if pick is not None:
                row[key] = {**_scores(pick), "met": round(100 * pick["dev_accuracy"], 2) >= row["needed"]}
        rows.append(row)
    return rows


def peer_budgets(records: list[dict]) -> list[dict]:
    """bench/peers.py's budget table (deployable bytes, held-out picks) with these sub-8-bit students added to
    its int8 ones, against the same fastText and TF-IDF + LR models (from bench/results/peers_sst2.json)."""
    peers = json.loads((RESULTS / "peers_sst2.json").read_text())["records"]
    ours = [{"system": "featherweight", "name": r["name"], "deployable_bytes": r["deployable_bytes"],
             "accuracy": {key: round(100 * r[f"{name}_accuracy"], 2) for key, name in
                          (("heldout", "heldout"), ("sst2_dev", "dev"), ("imdb", "imdb"), ("amazon", "amazon"))}}
            for r in records]
    return budget_rows(peers + ours)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--glue-dir", default=str((ROOT.parent / "shared" / "data" / "glue").resolve()))
    parser.add_argument("--shifted-dir", default=str((ROOT.parent / "shared" / "data" / "shifted").resolve()))
    parser.add_argument("--work-dir", default=str(ROOT / "bench" / "work"))
    parser.add_argument("--recipes", nargs="+", choices=list(RECIPES), default=list(RECIPES))
    parser.add_argument("--rerun", action="store_true", help="run recipes already recorded again")
    parser.add_argument("--report-only", action="store_true", help="write the outputs from the recorded runs")
    parser.add_argument("--skip-c", action="store_true", help="leave out the C export measures (dev, Cortex-M4)")
    args = parser.parse_args(argv)
    table = RESULTS / "skyline_runs.jsonl"
    done = {r["name"] for r in lowbit_records(table)}
    todo = [] if args.report_only else [label for label in args.recipes if args.rerun or label not in done]
    if todo:
        import torch

        torch.set_num_threads(1)
        sets = load_sets(args.glue_dir, args.shifted_dir)
        for label in todo:
            record = run_recipe(label, sets, args)
            store_records(table, [record])
            print(f"{label}: {record['gzip_bytes'] / 1e3:.1f} KB weights, {record['deployable_bytes'] / 1e3:.1f} KB "
                  f"deployable; held-out {100 * record['heldout_accuracy']:.2f}, dev {100 * record['dev_accuracy']:.2f},"
                  f" imdb {100 * record['imdb_accuracy']:.2f}, amazon {100 * record['amazon_accuracy']:.2f}",
                  flush=True)
    lowbit = lowbit_records(table)
    for record in lowbit:
        record["cli_command"] = cli_command(record["name"], args)
        if not args.skip_c:
            record.update(c_measures(record, args))
    import torch

    result = {"task": "sst-2",
              "selection": "held-out train slice (never dev or the shifted sets)",
              "size_measure": "gzip -9 of the weights file (the thesis's measure); deployable_bytes also given",
              "recipes": {label: {"student": s, "source": v, "quantization": q} for label, (s, v, q) in RECIPES.items()},
              "records": sorted(lowbit, key=lambda r: r["gzip_bytes"]), "goals": goal_rows(lowbit),
              "peer_budgets": peer_budgets(lowbit),
              "versions": {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__}}
    save_result(RESULTS / "lowbit_sst2.json", result, command=command_line(argv, __file__))
    for row in result["goals"] + result["peer_budgets"]:
        print(json.dumps(row))
    subprocess.run([sys.executable, "bench/skyline.py", "--report-only", "--tasks", "sst-2"], cwd=ROOT, check=True)


if __name__ == "__main__":
    main()
