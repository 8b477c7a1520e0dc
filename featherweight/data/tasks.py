"""GLUE task specifications: files, columns, label order and metrics of SST-2, QQP and MNLI."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TaskSpec:
    """Everything Featherweight needs to know about one GLUE task."""

    name: str  # canonical lower-case name used on the command line
    directory: str  # folder name inside the GLUE directory
    train_file: str
    dev_files: dict[str, str]  # split name -> file name; the first one is required
    text_columns: tuple[str, ...]  # one column for single sentences, two for pairs
    label_column: str
    label_values: tuple[str, ...]  # values as written in the TSV, in label-index order
    label_names: tuple[str, ...]  # human-readable names, same order
    metrics: tuple[str, ...]
    download_url: str

    @property
    def is_pair(self) -> bool:
        return len(self.text_columns) == 2

    @property
    def num_labels(self) -> int:
        return len(self.label_values)

    @property
    def required_files(self) -> tuple[str, ...]:
        return (self.train_file, next(iter(self.dev_files.values())))


GLUE_URL = "https://dl.fbaipublicfiles.com/glue/data"

TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in [
        TaskSpec(
            name="sst-2",
            directory="SST-2",
            train_file="train.tsv",
            dev_files={"dev": "dev.tsv"},
            text_columns=("sentence",),
            label_column="label",
            label_values=("0", "1"),
            label_names=("negative", "positive"),
            metrics=("accuracy",),
            download_url=f"{GLUE_URL}/SST-2.zip",
        ),
        TaskSpec(
            name="qqp",
            directory="QQP",
            train_file="train.tsv",
            dev_files={"dev": "dev.tsv"},
            text_columns=("question1", "question2"),
            label_column="is_duplicate",
            label_values=("0", "1"),
            label_names=("not_duplicate", "duplicate"),
            metrics=("accuracy", "f1"),
            download_url=f"{GLUE_URL}/QQP-clean.zip",
        ),
        TaskSpec(
            name="mnli",
            directory="MNLI",
            train_file="train.tsv",
            # The mismatched file is optional: the shared MNLI-10k subset has none.
            dev_files={"dev_matched": "dev_matched.tsv", "dev_mismatched": "dev_mismatched.tsv"},
            text_columns=("sentence1", "sentence2"),
            label_column="gold_label",
            # Hugging Face datasets order; the fairseq RoBERTa MNLI head uses another one,
            # which is why every saved teacher records its order and consumers check it.
            label_values=("entailment", "neutral", "contradiction"),
            label_names=("entailment", "neutral", "contradiction"),
            metrics=("accuracy",),
            download_url=f"{GLUE_URL}/MNLI.zip",
        ),
    ]
}

ALIASES = {"sst2": "sst-2", "sst": "sst-2", "mnli-m": "mnli"}


def get_task(name: str) -> TaskSpec:
    """Return the spec of a task by name, accepting common spellings (SST-2, sst2)."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in TASKS:
        raise ValueError(f"Unknown task {name!r}. Expected one of: {', '.join(TASKS)}.")
    return TASKS[key]
