"""`featherweight compose`: long pseudo-documents made of several training rows, for the teacher to label.

SST-2's training rows are mostly short phrases, while users classify whole reviews. A student that only
ever saw phrases has never learnt what a long text's mean (or last state) looks like. Each composed row
joins 2..max_parts training rows (held-out rows excluded) into one text; most parts share one drawn label
(`agree`), the rest bring the contrast real reviews have. The label column holds the drawn label only so
the file reads like the task's own: the teacher labels every composed row (`featherweight soft-targets`),
and distillation uses its logits and argmax. Single-text tasks only.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from featherweight import workspace
from featherweight.data import DataConfig, DataError, load_splits
from featherweight.data.formats import tsv_field
from featherweight.progress import report


@dataclass
class ComposeConfig:
    """Settings of `featherweight compose`."""

    data: DataConfig = field(default_factory=DataConfig)
    output: str | None = None  # composed texts (TSV); default: artifacts/compose-<task>/composed.tsv
    rows: int = 20000  # composed texts to write
    min_parts: int = 2  # training rows joined per text, drawn uniformly in [min_parts, max_parts]
    max_parts: int = 8  # most training rows joined per text
    agree: float = 0.8  # chance that a part has the text's drawn label (else another label)
    max_words: int = 100  # stop adding parts past this many words (the teacher reads its --max-length word pieces)
    seed: int = 42  # random seed of the draws

    def __post_init__(self):
        if isinstance(self.data, dict):
            self.data = DataConfig(**self.data)
        if self.rows < 1 or not 1 <= self.min_parts <= self.max_parts:
            raise ValueError(f"Need rows >= 1 and 1 <= min_parts <= max_parts; got rows={self.rows}, "
                             f"min_parts={self.min_parts}, max_parts={self.max_parts}.")
        if not 0.0 <= self.agree <= 1.0 or self.max_words < 1:
            raise ValueError(f"agree must be in [0, 1] and max_words positive; got {self.agree}, {self.max_words}.")
        if self.output is None:
            self.output = str(workspace.composed_file(self.data.task))


def compose_texts(texts: list[str], labels: np.ndarray, config: ComposeConfig) -> tuple[list[str], np.ndarray]:
    """`config.rows` texts, each a space-joined run of rows of `texts`, and the label each was drawn for."""
    rng = np.random.default_rng(config.seed)
    classes = np.unique(labels)
    if len(classes) < 2:
        raise DataError(f"compose needs rows of at least two labels, got only {classes.tolist()}.")
    by_label = {label: np.flatnonzero(labels == label) for label in classes}
    others = {label: classes[classes != label] for label in classes}
    out, drawn = [], rng.choice(classes, size=config.rows)
    for label in drawn:
        parts, words = [], 0
        for _ in range(rng.integers(config.min_parts, config.max_parts + 1)):
            source = label if rng.random() < config.agree else rng.choice(others[label])
            text = texts[rng.choice(by_label[source])]
            length = len(text.split())
            if parts and words + length > config.max_words:
                break
            parts.append(text.strip())
            words += length
        out.append(" ".join(parts))
    return out, drawn


def compose(config: ComposeConfig) -> dict:
    """Write the composed TSV (the task's text and label columns) and a metadata JSON; reuse a finished one."""
    task = config.data.spec
    if task.is_pair:
        raise ValueError(f"compose makes single texts; task {task.name} has sentence pairs.")
    output, meta_path = Path(config.output), Path(config.output).with_suffix(".json")
    settings = json.loads(json.dumps(asdict(config), default=str))
    previous = json.loads(meta_path.read_text()) if output.is_file() and meta_path.is_file() else {}
    if previous.get("config") == settings:
        report(f"compose: {output} already made with these settings; reusing it")
        return previous["summary"]
    train = load_splits(config.data, show_progress=False)["train"]  # held-out rows never reach training
    texts, drawn = compose_texts(train.texts_a, np.asarray(train.labels), config)
    lines = [f"{task.text_columns[0]}\t{task.label_column}\n"]
    lines += [f"{tsv_field(text)}\t{task.label_values[label]}\n" for text, label in zip(texts, drawn)]
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_suffix(".tmp")
    tmp.write_text("".join(lines), encoding="utf-8")
    tmp.rename(output)
    words = [len(t.split()) for t in texts]
    summary = {"output": str(output), "rows": len(texts), "source_rows": len(train),
               "mean_words": round(float(np.mean(words)), 1), "max_words": int(np.max(words)),
               "next": f"featherweight soft-targets --teacher TEACHER_DIR --data-file {output}"
                       + (f" --task {task.name}" if task.is_glue else "")}
    meta = {"config": settings, "task_spec": task.to_dict(), "summary": summary,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "labels": "label column = the label drawn for the text, not checked; the teacher labels every row"}
    meta_path.write_text(json.dumps(meta, indent=2))
    report(f"compose: {len(texts)} texts of {summary['mean_words']} words on average -> {output}")
    return summary
