"""Benchmark: every export runtime of the SST-2 students against PyTorch: dev accuracy, agreement, latency, size.

Run from the repository root on the students of the compression benchmark, e.g.
    python bench/export_sst2.py bench/work/students/sst-2-bilstm-bpe25-* bench/work/students/sst-2-rnn-char100-* \
        bench/work/students/sst-2-ffn-hash25-* --teacher bench/work/teacher-sst-2/best --glue-dir ../shared/data/glue
Per student and runtime (PyTorch fp32 and int8, onnxruntime fp32 and int8 by each method, C on the
host) it writes one entry to bench/results/export_sst2.json: dev accuracy, agreement with the
PyTorch int8 model's labels, median latency per sentence at batch 1 (text in, logits out,
tokenisation included, one thread), bytes; C entries add Cortex-M4 flash and RAM. The teacher's
latency is one more entry.

"PyTorch int8" is the student's quantized artifact (featherweight.quantize defaults: int8 rows, LSTM /
Elman RNN with int8 weights and a float state, dynamic int8 classifier, fp16 hash importance):
<student>-quantized beside it when the compression benchmark made one, else the default QuantizeConfig
applied here. The int8 ONNX `weights` graph and the C code are exported from that artifact, so they
hold its very int8 weights; they keep every activation in float, so their logits differ from
PyTorch's only by the dynamic int8 classifier's rounding.
"""
from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
ARCH_NAMES = {"bilstm": "BiLSTM", "rnn": "RNN", "ffn": "FFN"}
EMBEDDING_NAMES = {"hash": "Hash", "char": "Char", "bpe": "BPE"}

logger = logging.getLogger("bench.export_sst2")


def model_name(meta: dict) -> str:
    """Thesis-style name, e.g. "BiLSTM BPE25"."""
    embedding = meta["embedding"]
    return f"{ARCH_NAMES[meta['student']['arch']]} {EMBEDDING_NAMES[embedding['type']]}{embedding['dim']}"


def p50_us(seconds: list[float]) -> float:
    return float(np.median(seconds) * 1e6)


def timed(function, texts: list[str]) -> float:
    """Median microseconds of function(text) over texts, after one warm-up call."""
    function(texts[0])
    seconds = []
    for text in texts:
        began = time.perf_counter()
        function(text)
        seconds.append(time.perf_counter() - began)
    return p50_us(seconds)


def entry(model: str, runtime: str, logits: np.ndarray, labels: np.ndarray, reference: np.ndarray | None,
          latency_us: float, size: int, **extra) -> dict:
    return {"model": model, "runtime": runtime, "dev_accuracy": float((logits.argmax(1) == labels).mean()),
            "agreement": None if reference is None else float((logits.argmax(1) == reference.argmax(1)).mean()),
            "latency_us_p50": latency_us, "bytes": int(size), **extra}


def quantized_artifact(directory: Path, work: Path) -> Path:
    """<student>-quantized beside the student, else the default QuantizeConfig applied and saved under `work`."""
    from featherweight.artifact import load_student, save_student
    from featherweight.quantize import QuantizeConfig, quantize

    beside = directory.with_name(directory.name + "-quantized")
    if (beside / "student.json").is_file():
        return beside
    student = load_student(directory)
    config = QuantizeConfig()
    out = work / "quantized"
    save_student(out, quantize(student.model, config), student.tokenizer,
                 {**student.meta, "variant": "quantized", "quantization": config.to_dict()})
    return out


def bench_student(directory: Path, args, work: Path) -> list[dict]:
    from featherweight.artifact import WEIGHTS_FILE, load_student, predict_encoded
    from featherweight.data import DataConfig, dev_splits, load_splits
    from featherweight.export import ExportConfig, export
    from featherweight.export import c_build
    from featherweight.predict import load
    from featherweight.tokens import encode_data

    student = load_student(directory)
    if student.meta["pair"]:
        raise ValueError(f"{directory} is a {student.meta['task']} student; this benchmark takes SST-2 students.")
    name = model_name(student.meta)
    split_name, dev = next(iter(dev_splits(load_splits(DataConfig(task=student.meta["task"], glue_dir=args.glue_dir),
                                                       show_progress=False)).items()))
    texts, labels = dev.texts_a, dev.labels
    timing = texts[:args.latency_sentences]
    encoded = encode_data(student.tokenizer, dev)
    out, entries = work / directory.name, []

    def torch_one(model):
        return lambda text: model(torch.from_numpy(student.tokenizer.encode(text)).unsqueeze(0))

    quantized_dir = quantized_artifact(directory, out)
    quantized = load_student(quantized_dir)
    with torch.no_grad():
        int8_logits = predict_encoded(quantized.model, encoded)
        fp32_logits = predict_encoded(student.model, encoded)
        entries.append(entry(name, "pytorch-fp32", fp32_logits, labels, int8_logits,
                             timed(torch_one(student.model), timing), (directory / WEIGHTS_FILE).stat().st_size))
        entries.append(entry(name, "pytorch-int8", int8_logits, labels, int8_logits,
                             timed(torch_one(quantized.model), timing), (quantized_dir / WEIGHTS_FILE).stat().st_size,
                             artifact=str(quantized_dir)))
    glue = args.glue_dir
    for runtime, fmt, method in [("onnxruntime-fp32", "onnx", "weights")] + [
            (f"onnxruntime-int8-{m}", "onnx-int8", m) for m in args.int8_methods]:
        source = quantized_dir if method == "weights" and fmt == "onnx-int8" else directory  # ORT quantizes fp32
        manifest = export(ExportConfig(model=str(source), output=str(out / runtime), format=fmt, int8_method=method,
                                       glue_dir=glue))
        predictor = load(out / runtime)
        logits = predictor.logits(texts)
        entries.append(entry(name, runtime, logits, labels, int8_logits,
                             timed(lambda text: predictor.logits([text]), timing), manifest["bytes"]["model"],
                             tokenizer="portable (port.json)"))
    manifest = export(ExportConfig(model=str(quantized_dir), output=str(out / "c"), format="c"))
    exe, _ = c_build.build_host(out / "c", out / "c-build")
    logits, nanoseconds = c_build.run_logits(exe, texts)
    c_tokens = c_build.run_tokens(exe, texts)
    same_tokens = np.mean([np.array_equal(ids, student.tokenizer.encode(t)) for t, ids in zip(texts, c_tokens)])
    extra = {"tokenizer_agreement": float(same_tokens),
             "max_abs_logit_diff_vs_int8": float(np.abs(logits - int8_logits).max()),
             "source_bytes": manifest["bytes"]["source"]}
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
    entries.append(entry(name, "c-host", logits, labels, int8_logits, p50_us(nanoseconds[:len(timing)] / 1e9), size,
                         **extra))
    for item in entries:
        item.update(split=split_name, sentences=len(texts), latency_sentences=len(timing))
    return entries


def bench_teacher(path: str, args) -> dict:
    from featherweight.data import DataConfig, dev_splits, get_task, load_splits
    from featherweight.teacher import load_teacher, predict_logits, teacher_info

    task = get_task("sst-2")
    model, tokenizer, order = load_teacher(path, task)
    max_length = teacher_info(path).get("max_length", 128)
    split_name, dev = next(iter(dev_splits(load_splits(DataConfig(task="sst-2", glue_dir=args.glue_dir),
                                                       show_progress=False)).items()))
    rows = dev.texts()
    logits = predict_logits(model, tokenizer, rows, max_length=max_length, order=order, show_progress=False)
    one = lambda row: predict_logits(model, tokenizer, [row], batch_size=1, max_length=max_length, show_progress=False)
    size = sum(f.stat().st_size for f in Path(path).glob("*.safetensors")) or None
    return {"model": "teacher", "runtime": "pytorch-fp32",
            "dev_accuracy": float((logits.argmax(1) == dev.labels).mean()),
            "agreement": None, "latency_us_p50": timed(one, rows[:args.latency_sentences]), "bytes": size,
            "split": split_name, "sentences": len(rows), "latency_sentences": min(len(rows), args.latency_sentences),
            "teacher": str(path)}


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
    return parser.parse_args(argv)


def main(argv=None) -> list[dict]:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(1)  # batch-1 latency on one core, like a phone thread or a microcontroller
    work = Path(args.work_dir)
    results = []
    for directory in args.students:
        logger.info("benchmarking %s", directory)
        results += bench_student(Path(directory), args, work)
    if args.teacher:
        results.append(bench_teacher(args.teacher, args))
    host = f"{platform.machine()} {platform.processor() or platform.platform()}, 1 thread"
    for item in results:
        item["host"] = host
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    for item in results:
        print(f"{item['model']:>16} {item['runtime']:<26} acc {item['dev_accuracy']:.4f} "
              f"agree {item['agreement'] if item['agreement'] is None else round(item['agreement'], 4)!s:>6} "
              f"p50 {item['latency_us_p50']:9.1f} us  {item['bytes'] or 0:>9} B"
              + (f"  flash {item['flash_bytes']} RAM {item['ram_bytes']}" if item.get("flash_bytes") else ""))
    return results


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
