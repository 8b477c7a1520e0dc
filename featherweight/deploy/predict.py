"""Torch-free prediction from an ONNX export: text in, label and probabilities out (numpy + onnxruntime only).

    from featherweight.deploy.predict import load
    predictor = load("exports/sst2-bilstm-onnx")
    predictor.predict(["a charming, funny film"])[0].label   # "positive"

The command line: `featherweight predict --model EXPORT_DIR "some text" ["more text" ...]` prints one
JSON document; `featherweight predict --model EXPORT_DIR --input FILE` (or `-` for standard input) reads one
text a line (pair models: text<TAB>text_b) and prints JSON Lines, one object per text. Empty texts are
refused unless --allow-empty.
Tokenisation is the export's portable tokenizer (tokenizer/port.json), the same algorithm the
C export runs; nothing here imports torch or sentencepiece.
"""
from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from featherweight.data import read_text
from featherweight.deploy.manifest import read_manifest
from featherweight.deploy.reference_tokenizer import PortableTokenizer
from featherweight.deploy.runtime import ort_logits, ort_session, pad_ids


STDIN = "-"  # the single TEXT that reads texts from standard input


@dataclass
class PredictConfig:
    """Settings of `featherweight predict`: texts as arguments, or one a line from --input FILE or `-` (stdin)."""

    model: str  # an export directory (featherweight export --format onnx or onnx-int8)
    texts: list[str] = field(default_factory=list)  # texts to classify; a single - reads them from stdin, one a line
    texts_b: list[str] | None = None  # second sentences of pair tasks (QQP, MNLI), one per text; default: none
    input: str | None = None  # UTF-8 file, one text a line (pairs: text<TAB>text_b); prints JSON Lines; default: none
    allow_empty: bool = False  # classify empty or whitespace-only texts instead of refusing them
    batch_size: int = 64  # texts per onnxruntime call
    threads: int = 1  # onnxruntime intra-op threads

    def __post_init__(self):
        if isinstance(self.texts, str) or not all(isinstance(t, str) for t in self.texts):
            raise ValueError(f"texts must be a non-empty list of strings, got {self.texts!r}.")
        if not self.texts and self.input is None:
            raise ValueError("texts must be a non-empty list of strings (TEXT arguments, or - to read standard "
                             "input) unless --input FILE is given; got neither.")
        if self.texts and self.input is not None:
            raise ValueError(f"Pass texts (TEXT arguments or -) or --input {self.input}, not both.")
        if STDIN in self.texts and len(self.texts) > 1:
            raise ValueError(f"- reads the texts from standard input and must be the only TEXT; got {self.texts!r}.")
        if self.texts_b is not None and self.streamed:
            raise ValueError("texts_b (--texts-b) goes with TEXT arguments only; with --input or -, write "
                             "text<TAB>text_b on each line.")
        if self.texts_b is not None and len(self.texts_b) != len(self.texts):
            raise ValueError(f"Got {len(self.texts)} texts but {len(self.texts_b)} texts_b; pair tasks need one "
                             "second sentence per text.")
        if self.batch_size < 1 or self.threads < 1:
            raise ValueError(f"batch_size and threads must be positive, got {self.batch_size} and {self.threads}.")
        if not self.allow_empty and not self.streamed:
            for name, texts in (("text", self.texts), ("texts_b", self.texts_b or [])):
                blank = [i + 1 for i, text in enumerate(texts) if not text.strip()]
                if blank:
                    raise ValueError(f"{name} {blank[0]} of {len(texts)} ({texts[blank[0] - 1]!r}) is empty or "
                                     f"whitespace only; give the text to classify, or pass --allow-empty.")

    @property
    def streamed(self) -> bool:
        """True when texts come one a line from --input or standard input (and go out as JSON Lines)."""
        return self.input is not None or self.texts == [STDIN]


@dataclass
class Prediction:
    """One text's predicted label, its probabilities and logits."""

    text: str
    label: str
    label_id: int
    probabilities: dict
    logits: list
    text_b: str | None = None


class Predictor:
    """An ONNX export loaded for prediction: tokenizer port + onnxruntime session."""

    def __init__(self, export_dir, threads: int = 1):
        export_dir = Path(export_dir)
        self.manifest = read_manifest(export_dir)
        if self.manifest["format"] not in ("onnx", "onnx-int8"):
            raise ValueError(f"{export_dir} is a {self.manifest['format']!r} export, which runs on the device; "
                             "predict needs --format onnx or onnx-int8. Export the student again with one of those.")
        self.label_names = list(self.manifest["label_names"])
        self.pair = bool(self.manifest["pair"])
        self.tokenizer = PortableTokenizer.load(export_dir / self.manifest["tokenizer"]["dir"])
        session_config = self.manifest.get("onnxruntime", {}).get("session_config")
        self.session = ort_session(export_dir / self.manifest["files"]["model"], threads, session_config)

    def encode(self, texts: list[str]) -> np.ndarray:
        """Padded ids (B, T, C) of `texts`."""
        return pad_ids([self.tokenizer.encode(t) for t in texts], self.tokenizer.ids_per_token)

    def logits(self, texts: list[str], texts_b: list[str] | None = None, batch_size: int = 64) -> np.ndarray:
        """Logits (N, num_labels) of texts (and their second sentences for pair models)."""
        if self.pair and texts_b is None:
            raise ValueError("This is a sentence-pair model; pass texts_b (--texts-b) with one second sentence "
                             "per text.")
        if not self.pair and texts_b is not None:
            raise ValueError("This is a single-sentence model; drop texts_b (--texts-b).")
        out = []
        for start in range(0, len(texts), batch_size):
            inputs = (self.encode(texts[start:start + batch_size]),)
            if self.pair:
                inputs += (self.encode(texts_b[start:start + batch_size]),)
            out.append(ort_logits(self.session, inputs))
        return np.concatenate(out) if out else np.zeros((0, len(self.label_names)), np.float32)

    def predict(self, texts: list[str], texts_b: list[str] | None = None, batch_size: int = 64) -> list[Prediction]:
        """Label, probabilities (softmax of the logits) and logits of every text."""
        logits = self.logits(list(texts), None if texts_b is None else list(texts_b), batch_size)
        return predictions_from_logits(logits, self.label_names, texts, texts_b)


def predictions_from_logits(logits: np.ndarray, label_names, texts, texts_b=None) -> list[Prediction]:
    """One Prediction per text: the arg-max label, the softmax of the logits by label name, and the logits."""
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities = shifted / shifted.sum(axis=1, keepdims=True)
    predictions = []
    for i, text in enumerate(texts):
        best = int(logits[i].argmax())
        named = {name: float(p) for name, p in zip(label_names, probabilities[i])}
        predictions.append(Prediction(text=text, label=label_names[best], label_id=best, probabilities=named,
                                      logits=[float(v) for v in logits[i]],
                                      text_b=None if texts_b is None else texts_b[i]))
    return predictions


def load(export_dir, threads: int = 1) -> Predictor:
    """Load an ONNX export for prediction."""
    return Predictor(export_dir, threads)


def predict(config: PredictConfig, out=None) -> dict | None:
    """The `featherweight predict` command.

    TEXT arguments: returns {"model", "predictions": [...]}. --input FILE or `-`: writes one JSON object a line
    (text, label, label_id, probabilities by label name, logits) to `out` (default stdout) and returns None.
    """
    predictor = load(config.model, config.threads)
    if not config.streamed:
        predictions = predictor.predict(config.texts, config.texts_b, config.batch_size)
        return {"model": config.model, "predictions": [asdict(p) for p in predictions]}
    rows = read_rows(config.input, predictor.pair, config.allow_empty)
    out = out or sys.stdout
    for start in range(0, len(rows), config.batch_size):
        batch = rows[start:start + config.batch_size]
        texts_b = [row[1] for row in batch] if predictor.pair else None
        for prediction in predictor.predict([row[0] for row in batch], texts_b, config.batch_size):
            out.write(json.dumps(asdict(prediction)) + "\n")
        out.flush()
    return None


def read_rows(path: str | None, pair: bool, allow_empty: bool = False) -> list[tuple[str, ...]]:
    """Texts one a line from a UTF-8 file (None: standard input); pair models read text<TAB>text_b lines.

    A leading byte-order mark is dropped and a trailing newline ends the last text; empty texts are refused
    with their line number unless `allow_empty`.
    """
    name = "standard input" if path is None else path
    lines = (_read_stdin() if path is None else _read_file(path)).split("\n")
    if lines[-1] == "":
        lines.pop()
    rows = []
    for number, line in enumerate(lines, 1):
        row = tuple(line.removesuffix("\r").split("\t")) if pair else (line.removesuffix("\r"),)
        if pair and len(row) != 2:
            raise ValueError(f"{name}:{number}: a sentence-pair model needs text<TAB>text_b on each line, found "
                             f"{len(row) - 1} tabs.")
        if not allow_empty and not all(text.strip() for text in row):
            raise ValueError(f"{name}:{number}: empty or whitespace-only text; remove the line, or pass "
                             "--allow-empty to classify it anyway.")
        rows.append(row)
    if not rows:
        raise ValueError(f"{name} holds no texts; write one text a line.")
    return rows


def _read_file(path: str) -> str:
    if not Path(path).is_file():
        raise FileNotFoundError(f"--input {path}: no such file; pass a UTF-8 text file with one text a line.")
    return read_text(path)


def _read_stdin() -> str:
    data = sys.stdin.buffer.read()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ValueError(f"standard input:{line} is not UTF-8 text (byte 0x{data[error.start]:02x}); "
                         "send UTF-8 text.") from None
