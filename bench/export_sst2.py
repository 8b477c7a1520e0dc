r"""Benchmark: every export runtime of the SST-2 students against PyTorch: dev accuracy, agreement, latency, size.

Run from the repository root on the students of the peers benchmark:
    python bench/export_sst2.py bench/work/students/ffn-hash25 'bench/work/students/rnn-hash100-(max-pooling)' \
        'bench/work/students/bilstm-bpe25-(max-pooling)' --teacher bench/work/teacher-sst-2/best \
        --glue-dir ../shared/data/glue
Per student and runtime (PyTorch fp32 and int8, onnxruntime fp32 and int8 by each method, C on the
host) it writes one entry to bench/results/export_sst2.json: dev accuracy; label agreement with the
PyTorch int8 model on SST-2 dev and on the fuzz corpus (tests/data/fuzz_corpus.jsonl: its valid UTF-8
strings, and for C also its invalid byte strings, against PyTorch on their errors="replace" decoding),
as fractions and counts; p50 and p95 latency per sentence at batch 1 (text in, logits out,
tokenisation included, one thread, all runtimes in the same run); bytes; C entries add Cortex-M4 flash
and RAM. The ONNX int8 `weights` entry adds the start time and peak memory of
`featherweight predict --model <that export> "a fine film"` in a subprocess. The teacher's latency is
one more entry. The file also records the command, the git commit and the host; paths are relative.

"PyTorch int8" is the student's quantized artifact (featherweight.compression.quantize defaults: int8 rows, LSTM /
Elman RNN with int8 weights and a float state, weight-only int8 classifier, fp16 hash importance):
<student>-quantized beside it when a benchmark made one, else the default QuantizeConfig applied here.
The int8 ONNX `weights` graph and the C code are exported from that artifact, so they hold its very
int8 weights and, like it, keep every activation in float: the three compute the same thing, and
their logits differ only by float rounding order. The `dynamic` and `static` ONNX int8 graphs are
onnxruntime's own quantization of the fp32 student.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from common import ROOT, command_line, relative, save_result

ARCH_NAMES = {"bilstm": "BiLSTM", "rnn": "RNN", "ffn": "FFN"}
EMBEDDING_NAMES = {"hash": "Hash", "char": "Char", "bpe": "BPE"}
FUZZ_CORPUS = ROOT / "tests" / "data" / "fuzz_corpus.jsonl"
PREDICT_TEXT = "a fine film"

logger = logging.getLogger("bench.export_sst2")


def model_name(meta) -> str:
    """Thesis-style name of a student (its StudentMeta), e.g. "BiLSTM BPE25"."""
    return f"{ARCH_NAMES[meta.student.arch]} {EMBEDDING_NAMES[meta.embedding.type]}{meta.embedding.dim}"


def latency_us(seconds) -> dict:
    """{"latency_us_p50": ..., "latency_us_p95": ...} of per-sentence times in seconds."""
    p50, p95 = np.percentile(np.asarray(seconds, dtype=np.float64) * 1e6, [50, 95])
    return {"latency_us_p50": float(p50), "latency_us_p95": float(p95)}


def timed(function, texts: list[str]) -> list[float]:
    """Seconds of function(text) for each text, after one warm-up call."""
    function(texts[0])
    seconds = []
    for text in texts:
        began = time.perf_counter()
        function(text)
        seconds.append(time.perf_counter() - began)
    return seconds


def agreement(logits: np.ndarray, reference: np.ndarray, ids=None) -> dict:
    """Label agreement of `logits` with `reference`: fraction, counts, and the `ids` (default: row numbers) of the
    first 20 rows that disagree."""
    same = logits.argmax(1) == reference.argmax(1)
    ids = range(len(same)) if ids is None else ids
    return {"fraction": float(same.mean()) if len(same) else None, "agree": int(same.sum()), "total": len(same),
            "disagreeing_ids": [int(i) for i, ok in zip(ids, same) if not ok][:20]}


def load_fuzz_corpus(path=FUZZ_CORPUS) -> tuple[dict, dict]:
    """({id: text} of the corpus's valid UTF-8 strings, {id: bytes} of its invalid UTF-8 byte strings); strings
    holding lone surrogates have no UTF-8 form and are left out."""
    valid, invalid = {}, {}
    for line in Path(path).read_text(encoding="ascii").splitlines():
        row = json.loads(line)
        if "bytes_hex" in row:
            invalid[row["id"]] = bytes.fromhex(row["bytes_hex"])
        elif not any("\ud800" <= c <= "\udfff" for c in row["text"]):
            valid[row["id"]] = row["text"]
    return valid, invalid


def entry(model: str, runtime: str, logits: np.ndarray, labels: np.ndarray, reference: np.ndarray | None,
          seconds, size: int, **extra) -> dict:
    agree = None if reference is None else agreement(logits, reference)
    return {"model": model, "runtime": runtime, "dev_accuracy": float((logits.argmax(1) == labels).mean()),
            "agreement": None if agree is None else agree["fraction"],
            "agreeing": None if agree is None else agree["agree"], **latency_us(seconds), "bytes": int(size),
            **extra}


_MEASURE = """
import json, resource, subprocess, sys, time
began = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(json.dumps({"seconds": time.perf_counter() - began, "returncode": done.returncode,
                  "max_rss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
                  "output": (done.stdout + done.stderr).strip()}))
"""


def predictor_start(export_dir: Path, runs: int) -> dict:
    """Wall-clock seconds and peak RSS (MB) of `featherweight predict --model export_dir "a fine film"`, each a
    fresh process; median seconds and largest RSS over `runs` runs.

    A small stdlib-only Python launches it and reads RUSAGE_CHILDREN: Linux counts the memory of the process
    that forked a child into the child's ru_maxrss, so launched from this benchmark (torch loaded) it would
    read this process's size."""
    command = [str(Path(sys.executable).with_name("featherweight")), "predict", "--model", str(export_dir),
               PREDICT_TEXT]
    measured = []
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-c", _MEASURE, *command], capture_output=True, text=True, check=True)
        measured.append(json.loads(done.stdout))
        if measured[-1]["returncode"] != 0:
            raise RuntimeError(f"{' '.join(command)} failed ({measured[-1]['returncode']}):\n"
                               f"{measured[-1]['output'][-2000:]}")
    return {"command": " ".join(["featherweight", "predict", "--model", relative(export_dir), repr(PREDICT_TEXT)]),
            "seconds_p50": float(np.median([m["seconds"] for m in measured])),
            "max_rss_mb": max(m["max_rss_kb"] for m in measured) / 1024, "runs": runs,
            "output": measured[-1]["output"]}


def quantized_artifact(directory: Path, work: Path) -> Path:
    """<student>-quantized beside the student, else the default QuantizeConfig applied and saved under `work`."""
    from featherweight.artifact import load_student, save_student
    from featherweight.compression.quantize import QuantizeConfig, quantize

    beside = directory.with_name(directory.name + "-quantized")
    if (beside / "student.json").is_file():
        return beside
    student = load_student(directory)
    config = QuantizeConfig()
    out = work / "quantized"
    save_student(out, quantize(student.model, config), student.tokenizer,
                 dataclasses.replace(student.meta, variant="quantized", quantization=config.to_dict()))
    return out


def bench_student(directory: Path, args, work: Path) -> list[dict]:
    from featherweight.artifact import WEIGHTS_FILE, load_student, predict_encoded
    from featherweight.data import DataConfig, dev_splits, load_splits
    from featherweight.deploy import ExportConfig, export
    from featherweight.deploy import c_build
    from featherweight.deploy.predict import load
    from featherweight.tokens import EncodedData, encode_data, encode_texts

    student = load_student(directory)
    if student.meta.pair:
        raise ValueError(f"{directory} is a {student.meta.task} student; this benchmark takes SST-2 students.")
    name = model_name(student.meta)
    split_name, dev = next(iter(dev_splits(load_splits(DataConfig(task=student.meta.task, glue_dir=args.glue_dir),
                                                       show_progress=False)).items()))
    texts, labels = dev.texts_a, dev.labels
    timing = texts[:args.latency_sentences]
    encoded = encode_data(student.tokenizer, dev)
    fuzz, invalid = load_fuzz_corpus(args.fuzz_corpus)
    replaced = [data.decode("utf-8", "replace") for data in invalid.values()]  # what C must read them as
    encoded_fuzz = EncodedData([encode_texts(student.tokenizer, list(fuzz.values()) + replaced)])
    out, entries = work / directory.name, []

    def torch_one(model):
        return lambda text: model(torch.from_numpy(student.tokenizer.encode(text)).unsqueeze(0))

    def fuzz_agreement(logits, invalid_logits=None) -> dict:
        result = {"valid_utf8": agreement(logits, fuzz_int8[:len(fuzz)], list(fuzz))}
        if invalid_logits is not None:
            result["invalid_utf8"] = agreement(invalid_logits, fuzz_int8[len(fuzz):], list(invalid))
        return {"fuzz_agreement": result}

    quantized_dir = quantized_artifact(directory, out)
    quantized = load_student(quantized_dir)
    with torch.no_grad():
        int8_logits = predict_encoded(quantized.model, encoded)
        fp32_logits = predict_encoded(student.model, encoded)
        fuzz_int8 = predict_encoded(quantized.model, encoded_fuzz)
        fuzz_fp32 = predict_encoded(student.model, encoded_fuzz)[:len(fuzz)]
        entries.append(entry(name, "pytorch-fp32", fp32_logits, labels, int8_logits,
                             timed(torch_one(student.model), timing), (directory / WEIGHTS_FILE).stat().st_size,
                             **fuzz_agreement(fuzz_fp32)))
        entries.append(entry(name, "pytorch-int8", int8_logits, labels, int8_logits,
                             timed(torch_one(quantized.model), timing), (quantized_dir / WEIGHTS_FILE).stat().st_size,
                             artifact=relative(quantized_dir), **fuzz_agreement(fuzz_int8[:len(fuzz)])))
    glue = args.glue_dir
    for runtime, fmt, method in [("onnxruntime-fp32", "onnx", "weights")] + [
            (f"onnxruntime-int8-{m}", "onnx-int8", m) for m in args.int8_methods]:
        source = quantized_dir if method == "weights" and fmt == "onnx-int8" else directory  # ORT quantizes fp32
        manifest = export(ExportConfig(model=str(source), output=str(out / runtime), format=fmt, int8_method=method,
                                       glue_dir=glue))
        predictor = load(out / runtime)
        extra = {"tokenizer": "portable (port.json)", **fuzz_agreement(predictor.logits(list(fuzz.values())))}
        if runtime == "onnxruntime-int8-weights":
            extra["predict_cli"] = predictor_start(out / runtime, args.predict_runs)
        entries.append(entry(name, runtime, predictor.logits(texts), labels, int8_logits,
                             timed(lambda text: predictor.logits([text]), timing), manifest["bytes"]["model"],
                             **extra))
    manifest = export(ExportConfig(model=str(quantized_dir), output=str(out / "c"), format="c"))
    exe, _ = c_build.build_host(out / "c", out / "c-build")
    logits, nanoseconds = c_build.run_logits(exe, texts)
    c_fuzz, _ = c_build.run_logits(exe, list(fuzz.values()) + list(invalid.values()))
    c_tokens = c_build.run_tokens(exe, texts)
    same_tokens = np.mean([np.array_equal(ids, student.tokenizer.encode(t)) for t, ids in zip(texts, c_tokens)])
    extra = {"tokenizer_agreement": float(same_tokens),
             "max_abs_logit_diff_vs_int8": float(np.abs(logits - int8_logits).max()),
             "source_bytes": manifest["bytes"]["source"],
             **fuzz_agreement(c_fuzz[:len(fuzz)], c_fuzz[len(fuzz):])}
    size = manifest["bytes"]["source"]
    if c_build.have_arm_toolchain():
        m4 = c_build.cortex_m4_size(out / "c", out / "c-m4")
        size = m4["model_flash_bytes"]
        extra.update(flash_bytes=m4["flash_bytes"], ram_bytes=m4["ram_bytes"],
                     model_flash_bytes=m4["model_flash_bytes"], model_ram_bytes=m4["model_ram_bytes"],
                     stack_bytes_bound=m4["stack_bytes_bound"],
                     bytes_kind="Cortex-M4 flash of the model object")
    else:
        extra.update(flash_bytes=None, ram_bytes=None, bytes_kind=f"C source bytes ({c_build.ARM_MISSING})")
    entries.append(entry(name, "c-host", logits, labels, int8_logits, nanoseconds[:len(timing)] / 1e9, size,
                         **extra))
    for item in entries:
        item.update(student=relative(directory), split=split_name, sentences=len(texts),
                    latency_sentences=len(timing))
    return entries


def bench_teacher(path: str, args) -> dict:
    from featherweight.data import DataConfig, dev_splits, get_task, load_splits
    from featherweight.teacher.model import load_teacher, predict_logits, teacher_max_length

    task = get_task("sst-2")
    model, tokenizer, order = load_teacher(path, task)
    max_length = teacher_max_length(path)
    split_name, dev = next(iter(dev_splits(load_splits(DataConfig(task="sst-2", glue_dir=args.glue_dir),
                                                       show_progress=False)).items()))
    rows = dev.texts()
    logits = predict_logits(model, tokenizer, rows, max_length=max_length, order=order, show_progress=False)
    one = lambda row: predict_logits(model, tokenizer, [row], batch_size=1, max_length=max_length, show_progress=False)
    size = sum(f.stat().st_size for f in Path(path).glob("*.safetensors")) or None
    return {"model": "teacher", "runtime": "pytorch-fp32",
            "dev_accuracy": float((logits.argmax(1) == dev.labels).mean()), "agreement": None, "agreeing": None,
            **latency_us(timed(one, rows[:args.latency_sentences])), "bytes": size,
            "split": split_name, "sentences": len(rows), "latency_sentences": min(len(rows), args.latency_sentences),
            "teacher": relative(path)}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("students", nargs="+", help="SST-2 student artifact directories")
    parser.add_argument("--glue-dir", default=str((ROOT.parent / "shared" / "data" / "glue").resolve()))
    parser.add_argument("--teacher", default=None, help="fine-tuned teacher directory, for its latency")
    parser.add_argument("--work-dir", default=str(ROOT / "bench" / "work" / "export"), help="exports are written here")
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "export_sst2.json"))
    parser.add_argument("--latency-sentences", type=int, default=300, help="dev sentences timed at batch 1")
    parser.add_argument("--int8-methods", nargs="+", default=["weights", "dynamic", "static"],
                        choices=["weights", "dynamic", "static"])
    parser.add_argument("--fuzz-corpus", default=str(FUZZ_CORPUS), help="JSON lines of fuzz strings (agreement)")
    parser.add_argument("--predict-runs", type=int, default=3,
                        help="fresh `featherweight predict` processes timed per student (median seconds, max RSS)")
    return parser.parse_args(argv)


def fraction(agree: dict | None) -> str:
    """"872/872" (or "-") for the table."""
    return "-" if agree is None else f"{agree['agree']}/{agree['total']}"


def table_row(item: dict) -> str:
    """One readable line of the printed table."""
    fuzz = item.get("fuzz_agreement", {})
    agree = None if item["agreement"] is None else {"agree": item["agreeing"], "total": item["sentences"]}
    line = (f"{item['model']:>14} {item['runtime']:<26} acc {item['dev_accuracy']:.4f}  agree dev {fraction(agree):>9}"
            f" fuzz {fraction(fuzz.get('valid_utf8')):>9} bytes {fraction(fuzz.get('invalid_utf8')):>7}"
            f"  p50 {item['latency_us_p50']:8.1f} p95 {item['latency_us_p95']:8.1f} us {item['bytes'] or 0:>9} B")
    if item.get("flash_bytes"):
        line += f"  M4 flash {item['flash_bytes']} RAM {item['ram_bytes']}"
    if "predict_cli" in item:
        cli = item["predict_cli"]
        line += f"\n{'':>14} featherweight predict: {cli['seconds_p50']:.2f} s, {cli['max_rss_mb']:.0f} MB peak RSS"
    return line


def main(argv=None) -> dict:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(1)  # batch-1 latency on one core, like a phone thread or a microcontroller
    work = Path(args.work_dir)
    entries = []
    for directory in args.students:
        logger.info("benchmarking %s", directory)
        entries += bench_student(Path(directory), args, work)
    if args.teacher:
        entries.append(bench_teacher(args.teacher, args))
    results = {"host": f"{platform.machine()} {platform.processor() or platform.platform()}, 1 thread",
               "fuzz_corpus": relative(args.fuzz_corpus), "entries": entries}
    save_result(args.output, results, command=command_line(argv, __file__))
    print("agree: labels as PyTorch int8's on dev, fuzz valid UTF-8, fuzz invalid bytes; latency per sentence")
    for item in entries:
        print(table_row(item))
    return results


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
