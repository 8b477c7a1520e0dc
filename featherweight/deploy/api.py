"""The export command: a student artifact -> ONNX fp32, ONNX int8 or C, each checked against PyTorch.

Every export directory holds export.json (what it is, how it was checked), tokenizer/ (the
training spec, port.json for the ports) and golden.json (tokenizer test vectors), plus model.onnx
or <prefix>_model.c / .h. The check runs the exported model on the golden sentences and compares
its logits with the PyTorch model it stands for (fp32, or the int8 reference for int8 weights).
A quantized artifact (featherweight.compression.quantize) exports its stored int8 weights; its float formats
hold them dequantized, and its own int8 PyTorch model is compared too (reported, not enforced).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from featherweight.artifact import TOKENIZER_DIR as STUDENT_TOKENIZER, load_student, predict_encoded
from featherweight.data import DataConfig, dev_splits, load_splits
from featherweight.deploy import c_build
from featherweight.deploy.c_export import check_prefix, storage_note, write_c
from featherweight.deploy.golden import GOLDEN_SENTENCES, read_golden, write_golden
from featherweight.deploy.manifest import FORMATS, MANIFEST_FILE, TOKENIZER_DIR, write_manifest
from featherweight.deploy.onnx_fp32 import EXPORTER, export_onnx_fp32, input_names, set_metadata
from featherweight.deploy.onnx_int8 import METHODS, WEIGHTS_SESSION_CONFIG, int8_weight_graph, quantize_with_onnxruntime
from featherweight.deploy.reference_tokenizer import PortableTokenizer
from featherweight.deploy.runtime import ort_logits, ort_session
from featherweight.deploy.tokenizer_port import build_port, write_port
from featherweight.deploy.weights import float_model, int8_bytes, int8_reference_model, int8_weights, is_quantized
from featherweight.measure.metrics import accuracy, macro_f1
from featherweight.student_meta import StudentMeta
from featherweight.tokens import encode_data, encode_texts

logger = logging.getLogger(__name__)

PARITY_ATOL = 1e-4  # max |logit difference| allowed between an exact export and its PyTorch reference
MODEL_FILE = "model.onnx"
# onnxruntime's static calibration keeps the activations of every calibration row in memory, so it takes fewer
# rows than PyTorch's (compress --calibration-rows, quantize.CALIBRATION_ROWS), whose observers keep a running range
ORT_CALIBRATION_ROWS = 256
_SKIPPED_TOKENIZER_FILES = ("vectors.npy",)  # pretrained BPE vectors: training only


@dataclass
class ExportConfig:
    """Settings of `featherweight export`."""

    model: str  # student artifact directory
    output: str  # export directory (created; an earlier export there is replaced)
    format: Literal["onnx", "onnx-int8", "c"] = "onnx"  # onnx (float32), onnx-int8 or c (portable C source)
    int8_method: Literal["weights", "dynamic", "static"] = "weights"  # onnx-int8 only: int8 scheme; see onnx_int8.py
    opset: int = 17  # pinned ONNX opset
    c_prefix: str = "fw"  # C identifiers and file names: <prefix>_predict, <prefix>_model.c
    glue_dir: str | None = None  # data for static calibration / evaluate; default: the student's training data
    calibration_rows: int = ORT_CALIBRATION_ROWS  # held-out train rows for onnx-int8 static calibration
    evaluate: bool = False  # also score the export and PyTorch on the dev split(s)
    verify: bool = True  # run the export on the golden sentences and compare with PyTorch

    def __post_init__(self):
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, got {self.format!r}.")
        if self.int8_method not in METHODS:
            raise ValueError(f"int8_method must be one of {METHODS}, got {self.int8_method!r}.")
        if not isinstance(self.opset, int) or not 13 <= self.opset <= 21:
            raise ValueError(f"opset must be an int in [13, 21] (17 is tested), got {self.opset!r}.")
        if self.calibration_rows < 1:
            raise ValueError(f"calibration_rows must be positive, got {self.calibration_rows}.")

        check_prefix(self.c_prefix)


class ExportParityError(RuntimeError):
    """An export computes different logits from the PyTorch model it stands for."""


def export(config: ExportConfig) -> dict:
    """Write the export `config` asks for and return its manifest (also saved as export.json)."""

    student = load_student(config.model)
    port = build_port(student.tokenizer)  # before writing anything: refuses tokenizers the ports cannot run
    out = _prepare_output(Path(config.output))
    tokenizer_parity = _write_tokenizer(student, port, Path(config.model), out)
    meta = student.meta
    manifest = {"format": config.format, "source": str(Path(config.model).resolve()), "task": meta.task,
                "label_names": meta.label_names, "num_labels": meta.num_labels, "pair": meta.pair,
                "student": meta.student.to_dict(), "embedding": meta.embedding.to_dict(),
                "tokenizer": {"dir": TOKENIZER_DIR, "type": port["type"], "ids_per_token": port["ids_per_token"],
                              "max_length": port["max_length"]},
                "tokenizer_parity": tokenizer_parity, "parity_atol": PARITY_ATOL}
    if config.format == "c":
        manifest.update(_export_c(student, port, out, config))
    else:
        manifest.update(_export_onnx(student, out, config))
    write_manifest(out, manifest)
    logger.info("Exported %s as %s into %s", config.model, config.format, out)
    return {"output": str(out), **manifest}


def _prepare_output(out: Path) -> Path:
    if out.exists() and any(out.iterdir()) and not (out / MANIFEST_FILE).is_file():
        raise ValueError(f"{out} exists and is not an export directory; choose an empty or new --output.")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    return out


def _write_tokenizer(student, port: dict, model_dir: Path, out: Path) -> dict:
    """Copy the spec, write port.json and golden.json; check the Python port against the golden ids."""
    target = out / TOKENIZER_DIR
    shutil.copytree(model_dir / STUDENT_TOKENIZER, target, ignore=shutil.ignore_patterns(*_SKIPPED_TOKENIZER_FILES))
    write_port(port, target)
    write_golden(student.tokenizer, out)
    ported = PortableTokenizer(port)
    mismatches = [row["text"] for row in read_golden(out)
                  if not np.array_equal(ported.encode(row["text"]).reshape(-1), np.asarray(row["ids"]).reshape(-1))]
    if mismatches:
        logger.warning("The portable tokenizer differs from the training tokenizer on %d golden sentences: %r",
                       len(mismatches), mismatches[:3])
    return {"sentences": len(GOLDEN_SENTENCES), "python_port_mismatches": mismatches}


def _golden_inputs(student) -> tuple:
    """Padded ids of the golden sentences (and, for pairs, the sentences reversed as second texts)."""
    texts = list(GOLDEN_SENTENCES)
    index = np.arange(len(texts))
    inputs = (encode_texts(student.tokenizer, texts).batch(index).numpy(),)
    if student.meta.pair:
        inputs += (encode_texts(student.tokenizer, texts[::-1]).batch(index).numpy(),)
    return inputs


def _torch_logits(model, inputs: tuple) -> np.ndarray:
    """PyTorch logits on one thread: tiny recurrent models run many times slower on two busy cores."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            return model(*(torch.from_numpy(a) for a in inputs)).numpy()
    finally:
        torch.set_num_threads(threads)


def _compare(reference: np.ndarray, got: np.ndarray, name: str, enforce: bool) -> dict:
    diff = float(np.abs(reference - got).max())
    agreement = float((reference.argmax(1) == got.argmax(1)).mean())
    result = {"reference": name, "sentences": len(reference), "max_abs_logit_diff": diff, "label_agreement": agreement}
    if enforce and diff > PARITY_ATOL:
        raise ExportParityError(f"The export's logits differ from {name} by up to {diff:.3g} on the golden sentences "
                                f"(allowed {PARITY_ATOL}); this is a bug in the exporter, please report it.")
    return result


def _export_onnx(student, out: Path, config: ExportConfig) -> dict:

    import onnx
    import torch

    ids_per_token = student.tokenizer.ids_per_token
    path = out / MODEL_FILE
    info = {"files": {"model": MODEL_FILE}, "inputs": input_names(student.meta.pair), "outputs": ["logits"],
            "onnx": {"opset": config.opset, "exporter": EXPORTER, "torch": torch.__version__, "onnx": onnx.__version__}}
    reference = float_model(student)  # a quantized artifact's float twin computes with its int8 weights
    reference_name = "pytorch-int8-weights" if is_quantized(student) else "pytorch-fp32"
    enforce = True
    with tempfile.TemporaryDirectory() as tmp:
        if config.format == "onnx":
            export_onnx_fp32(reference, path, ids_per_token, config.opset)
        elif config.int8_method == "weights":
            weights = int8_weights(student)
            reference, reference_name = int8_reference_model(student, weights), "pytorch-int8-weights"
            # the int8 reference traced in fp32: the same graph as the fp32 export, so also its size
            fp32 = export_onnx_fp32(reference, Path(tmp) / "reference.onnx", ids_per_token, config.opset)
            proto, counts = int8_weight_graph(onnx.load(str(fp32)), weights)
            onnx.save(proto, str(path))
            info["int8"] = {"method": "weights", "parameters": counts}
            info["onnxruntime"] = {"session_config": WEIGHTS_SESSION_CONFIG}
        else:
            fp32 = export_onnx_fp32(reference, Path(tmp) / "fp32.onnx", ids_per_token, config.opset)
            calibration = _calibration_feeds(student, config) if config.int8_method == "static" else None
            quantize_with_onnxruntime(fp32, path, config.int8_method, calibration)
            onnx.checker.check_model(str(path))
            enforce = False  # activations are quantized too: close to fp32, not equal (reported, not enforced)
            info["int8"] = {"method": config.int8_method,
                            "calibration_rows": config.calibration_rows if calibration else 0}
        if config.format == "onnx-int8":
            info["int8"].update(fp32_bytes=fp32.stat().st_size, int8_bytes=path.stat().st_size,
                                size_ratio=path.stat().st_size / fp32.stat().st_size)
    set_metadata(path, onnx_metadata(student.meta))
    session = ort_session(path, config_entries=info.get("onnxruntime", {}).get("session_config"))
    if config.verify:
        inputs = _golden_inputs(student)
        got = ort_logits(session, inputs)
        info["parity"] = _compare(_torch_logits(reference, inputs), got, reference_name, enforce)
        if is_quantized(student):  # its own model quantizes activations too: reported, not enforced
            info["parity"]["quantized_model"] = _compare(_torch_logits(student.model, inputs), got,
                                                         "pytorch-quantized-artifact", enforce=False)
    info["bytes"] = {"model": path.stat().st_size}
    if config.evaluate:
        def logits_of(data, encoded):  # the export's graph on the training tokenizer's ids
            batches = [tuple(t.numpy() for t in encoded.inputs(np.arange(i, min(i + 64, len(encoded)))))
                       for i in range(0, len(encoded), 64)]
            return np.concatenate([ort_logits(session, inputs) for inputs in batches])

        info["evaluation"] = _evaluate(student, config, logits_of)
    return info


def onnx_metadata(meta: StudentMeta) -> dict[str, str]:
    """The model.onnx metadata_props: task, label names (a JSON list, in logit order), number of labels, pair."""
    return {"task": str(meta.task), "label_names": json.dumps([str(name) for name in meta.label_names]),
            "num_labels": str(meta.num_labels), "pair": json.dumps(bool(meta.pair))}


def _export_c(student, port: dict, out: Path, config: ExportConfig) -> dict:
    weights = int8_weights(student)
    source, header = write_c(student.meta, weights, port, out, config.c_prefix)
    info = {"files": {"source": source.name, "header": header.name}, "c_prefix": config.c_prefix,
            "bytes": {"source": source.stat().st_size, "header": header.stat().st_size,
                      "int8_weights": int8_bytes(weights)},  # as stored: b-bit codes packed, PQ codes + codebooks
            "weights": storage_note(weights),
            "api": f"int {config.c_prefix}_predict{'_pair' if student.meta.pair else ''}(...)"}
    write_manifest(out, info | {"format": "c"})  # c_build reads the file names from the manifest
    if config.verify or config.evaluate:
        try:
            with tempfile.TemporaryDirectory() as tmp:
                exe, warnings = c_build.build_host(out, tmp)
                if config.verify:
                    info["parity"] = _c_parity(student, exe, int8_reference_model(student, weights), out)
                    if is_quantized(student):
                        info["parity"]["quantized_model"] = _c_quantized_agreement(student, exe, out)
                    info["parity"]["compiler_warnings"] = warnings.strip()
                if config.evaluate:  # the whole path: C tokenizer and C model on the dev texts
                    info["evaluation"] = _evaluate(
                        student, config, lambda data, _: c_build.run_logits(exe, data.texts_a, data.texts_b)[0])
        except c_build.BuildError as error:
            if "No C compiler" not in str(error):
                raise
            logger.warning("%s The C export is written but unchecked.", error)
            info["parity"] = {"skipped": str(error)}
    info["cortex_m4"] = _cortex_m4(out)
    return info


def _cortex_m4(out: Path) -> dict:
    """Flash and RAM on a Cortex-M4F (c_build.cortex_m4_size) when arm-none-eabi-gcc is installed, else why not;
    logged in one line either way."""
    if not c_build.have_arm_toolchain():
        reason = f"not measured: {c_build.ARM_GCC} not found"
        logger.info("Cortex-M4 flash/RAM %s (install gcc-arm-none-eabi to measure it).", reason)
        return {"measured": False, "reason": reason}
    with tempfile.TemporaryDirectory() as tmp:
        size = c_build.cortex_m4_size(out, tmp)
    logger.info("Cortex-M4 flash %d bytes, RAM %d bytes (-Os, newlib-nano firmware; the model alone: %d / %d).",
                size["flash_bytes"], size["ram_bytes"], size["model_flash_bytes"], size["model_ram_bytes"])
    return {"measured": True, **size}


def _c_parity(student, exe, reference_model, out: Path) -> dict:
    """C tokens against the golden ids, and C logits against the int8 reference where the tokens agree."""
    golden = read_golden(out)
    texts = [row["text"] for row in golden]
    tokens = c_build.run_tokens(exe, texts)
    same = np.asarray([np.array_equal(ids.reshape(-1), np.asarray(row["ids"]).reshape(-1))
                       for row, ids in zip(golden, tokens)])
    if not same.all():
        logger.warning("The C tokenizer differs from the training tokenizer on %d golden sentences: %r",
                       int((~same).sum()), [t for t, ok in zip(texts, same) if not ok][:3])
    if student.meta.pair:
        same = same & same[::-1]
    logits, _ = c_build.run_logits(exe, texts, texts[::-1] if student.meta.pair else None)
    reference = _torch_logits(reference_model, _golden_inputs(student))
    result = _compare(reference[same], logits[same], "pytorch-int8-weights", enforce=True)
    result["c_tokenizer_mismatches"] = [t for t, ok in zip(texts, same) if not ok]
    return result


def _c_quantized_agreement(student, exe, out: Path) -> dict:
    """C logits against a quantized artifact's own PyTorch model (activations quantized there): reported only."""
    texts = [row["text"] for row in read_golden(out)]
    logits, _ = c_build.run_logits(exe, texts, texts[::-1] if student.meta.pair else None)
    return _compare(_torch_logits(student.model, _golden_inputs(student)), logits, "pytorch-quantized-artifact",
                    enforce=False)


def _student_data(student, glue_dir: str | None):
    """The DataConfig the student was trained with, pointed at `glue_dir` when given."""
    recorded = dict(student.meta.data_settings or {"task": student.meta.task})
    if glue_dir is not None:
        recorded["glue_dir"] = glue_dir
    known = {f.name for f in dataclasses.fields(DataConfig)}
    return DataConfig(**{k: v for k, v in recorded.items() if k in known})


def _calibration_feeds(student, config: ExportConfig) -> list[dict]:
    """Input feeds of held-out train rows (the slice model selection used), 32 rows a batch."""
    heldout = load_splits(_student_data(student, config.glue_dir), show_progress=False)["heldout"]
    encoded = encode_data(student.tokenizer, heldout)
    rows = np.arange(min(config.calibration_rows, len(encoded)))
    names = ["ids", "ids_b"][:len(encoded.columns)]
    return [{name: tensor.numpy() for name, tensor in zip(names, encoded.inputs(rows[i:i + 32]))}
            for i in range(0, len(rows), 32)]


def _evaluate(student, config: ExportConfig, logits_of) -> dict:
    """Dev accuracy and macro-F1 of the PyTorch student (its int8 model, if quantized) and of the export, and their
    agreement.

    `logits_of(data, encoded)` runs the export on a dev split (TaskData, and its training-tokenizer ids).
    """
    scores, num_labels = {}, student.meta.num_labels
    for name, data in dev_splits(load_splits(_student_data(student, config.glue_dir), show_progress=False)).items():
        encoded = encode_data(student.tokenizer, data)
        pytorch, exported = predict_encoded(student.model, encoded).argmax(1), logits_of(data, encoded).argmax(1)
        scores[name] = {"pytorch_accuracy": accuracy(pytorch, data.labels),
                        "export_accuracy": accuracy(exported, data.labels),
                        "pytorch_macro_f1": macro_f1(pytorch, data.labels, num_labels),
                        "export_macro_f1": macro_f1(exported, data.labels, num_labels),
                        "label_agreement": accuracy(exported, pytorch)}
    return scores
