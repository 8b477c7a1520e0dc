"""Torch-free prediction from an ONNX export: text in, label and probabilities out (numpy + onnxruntime only).

    from featherweight.predict import load
    predictor = load("exports/sst2-bilstm-onnx")
    predictor.predict(["a charming, funny film"])[0].label   # "positive"

The command line: `featherweight predict --model EXPORT_DIR "some text" ["more text" ...]`.
Tokenisation is the export's portable tokenizer (tokenizer/port.json), the same algorithm the
C export runs; nothing here imports torch or sentencepiece.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from featherweight.export.manifest import read_manifest
from featherweight.export.reference_tokenizer import PortableTokenizer
from featherweight.export.runtime import ort_logits, ort_session, pad_ids


@dataclass
class PredictConfig:
    """Settings of `featherweight predict`."""

    model: str  # an export directory (featherweight export --format onnx or onnx-int8)
    texts: list[str] = field(default_factory=list)  # sentences to classify (the command's TEXT arguments)
    texts_b: list[str] | None = None  # second sentences of pair tasks (QQP, MNLI), one per text
    batch_size: int = 64
    threads: int = 1  # onnxruntime intra-op threads

    def __post_init__(self):
        if isinstance(self.texts, str) or not self.texts or not all(isinstance(t, str) for t in self.texts):
            raise ValueError(f"texts must be a non-empty list of strings, got {self.texts!r}.")
        if self.texts_b is not None and len(self.texts_b) != len(self.texts):
            raise ValueError(f"Got {len(self.texts)} texts but {len(self.texts_b)} texts_b; pair tasks need one "
                             "second sentence per text.")
        if self.batch_size < 1 or self.threads < 1:
            raise ValueError(f"batch_size and threads must be positive, got {self.batch_size} and {self.threads}.")


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
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities = shifted / shifted.sum(axis=1, keepdims=True)
        predictions = []
        for i, text in enumerate(texts):
            best = int(logits[i].argmax())
            named = {name: float(p) for name, p in zip(self.label_names, probabilities[i])}
            predictions.append(Prediction(text=text, label=self.label_names[best], label_id=best, probabilities=named,
                                          logits=[float(v) for v in logits[i]],
                                          text_b=None if texts_b is None else texts_b[i]))
        return predictions


def load(export_dir, threads: int = 1) -> Predictor:
    """Load an ONNX export for prediction."""
    return Predictor(export_dir, threads)


def predict(config: PredictConfig) -> dict:
    """The `featherweight predict` command: {"model", "predictions": [...]} for the config's texts."""
    predictor = load(config.model, config.threads)
    predictions = predictor.predict(config.texts, config.texts_b, config.batch_size)
    return {"model": config.model, "predictions": [asdict(p) for p in predictions]}
