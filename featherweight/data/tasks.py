"""Task specifications: one TaskSpec describes any text-classification task; SST-2, QQP and MNLI are presets."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TaskSpec:
    """Everything Featherweight needs to know about one task: where its files are, their columns and its labels.

    A GLUE preset names files inside its `directory` of the GLUE folder; a user's own task (`directory`
    None) names its files by path. `to_dict()` is stored in every artifact, `from_dict()` rebuilds it.
    """

    name: str  # canonical lower-case name: the command line's --task, or the user's task name
    text_columns: tuple[str, ...]  # one column for single texts, two for pairs
    label_column: str
    label_values: tuple[str, ...]  # values as written in the file, in label-index order
    label_names: tuple[str, ...]  # human-readable names, same order
    metrics: tuple[str, ...] = ("accuracy",)
    train_file: str = "train.tsv"  # GLUE: file name inside `directory`; own task: its path
    dev_files: dict[str, str] = field(default_factory=lambda: {"dev": "dev.tsv"})  # split -> file; first required
    directory: str | None = None  # folder inside the GLUE directory; None for a user's own task
    download_url: str | None = None  # GLUE zip holding `directory`
    format: str | None = "tsv"  # every file's format (GLUE: tsv); None: each file's by its extension

    @property
    def is_pair(self) -> bool:
        return len(self.text_columns) == 2

    @property
    def num_labels(self) -> int:
        return len(self.label_values)

    @property
    def is_glue(self) -> bool:
        return self.directory is not None

    @property
    def required_files(self) -> tuple[str, ...]:
        return (self.train_file, *list(self.dev_files.values())[:1])

    def to_dict(self) -> dict:
        """A JSON-ready dict of every field (tuples as lists)."""
        return json_ready(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: dict) -> "TaskSpec":
        """The spec `to_dict()` wrote; unknown keys are an error naming them."""
        known = {item.name for item in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"Unknown task spec field(s) {unknown}; expected some of {sorted(known)}. "
                             "The artifact was written by another Featherweight version: write it again.")
        tuples = ("text_columns", "label_values", "label_names", "metrics")
        return cls(**{key: tuple(value) if key in tuples else value for key, value in data.items()})


def json_ready(value):
    """Tuples to lists, recursively (what json.dumps would write)."""
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    return value


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
    """Return the spec of a GLUE task by name, accepting common spellings (SST-2, sst2)."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in TASKS:
        raise ValueError(f"Unknown task {name!r}. Expected one of: {', '.join(TASKS)}; for your own data set "
                         f"pass --train-file (or --hf-dataset) with --text-column and --label-column.")
    return TASKS[key]


def task_from_record(record: dict) -> TaskSpec:
    """The task an artifact's metadata records: its "task_spec", else (older artifacts) the GLUE task it names."""
    if record.get("task_spec"):
        return TaskSpec.from_dict(record["task_spec"])
    return get_task(record["task"])
