"""Shared fixtures: a tiny GLUE directory and a tiny 2-layer BERT teacher, built in code."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("FEATHERWEIGHT_NO_PROGRESS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def pytest_configure(config):
    """Quiet transformers' per-file loading bars in test logs."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

SHARED_GLUE = Path(__file__).resolve().parents[2] / "shared" / "data" / "glue"
BENCH_DIR = Path(__file__).resolve().parents[1] / "bench"


def load_bench(name: str):
    """Import bench/<name>.py (benchmarks are scripts, not a package) as module bench_<name>."""
    import importlib.util
    import sys

    if str(BENCH_DIR) not in sys.path:  # benchmarks import their shared helpers (bench/common.py) by name
        sys.path.insert(0, str(BENCH_DIR))
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH_DIR / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

POSITIVE = ["good", "great", "fine", "lovely", "superb", "charming", "moving", "funny"]
NEGATIVE = ["bad", "awful", "dull", "boring", "tedious", "clumsy", "flat", "weak"]
FILLER = ["the", "film", "movie", "story", "is", "was", "a", "very", "and", "acting", "plot", "really"]


def make_sentences(n: int, seed: int) -> tuple[list[str], list[int]]:
    """Seeded toy sentiment sentences whose label is set by their sentiment words."""
    rng = np.random.default_rng(seed)
    sentences, labels = [], []
    for _ in range(n):
        label = int(rng.integers(2))
        words = list(rng.choice(FILLER, size=int(rng.integers(2, 7))))
        words += list(rng.choice(POSITIVE if label else NEGATIVE, size=int(rng.integers(1, 3))))
        rng.shuffle(words)
        sentences.append(" ".join(words))
        labels.append(label)
    return sentences, labels


def write_tsv(path: Path, header: list[str], rows: list[list]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(header)] + ["\t".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def build_glue_dir(root: Path, n_train: int = 200, n_dev: int = 60) -> Path:
    """A GLUE-layout directory with toy SST-2, QQP and MNLI files."""
    train, train_labels = make_sentences(n_train, seed=1)
    dev, dev_labels = make_sentences(n_dev, seed=2)
    write_tsv(root / "SST-2" / "train.tsv", ["sentence", "label"], list(zip(train, train_labels)))
    write_tsv(root / "SST-2" / "dev.tsv", ["sentence", "label"], list(zip(dev, dev_labels)))
    qqp_header = ["id", "qid1", "qid2", "question1", "question2", "is_duplicate"]
    for name, texts, labels in [("train.tsv", train, train_labels), ("dev.tsv", dev, dev_labels)]:
        rows = [[i, "", "", a, b, int(la == lb)]
                for i, (a, b, la, lb) in enumerate(zip(texts, texts[1:] + texts[:1], labels, labels[1:] + labels[:1]))]
        write_tsv(root / "QQP" / name, qqp_header, rows)
    mnli_header = ["index", "promptID", "pairID", "genre", "sentence1_binary_parse", "sentence2_binary_parse",
                   "sentence1_parse", "sentence2_parse", "sentence1", "sentence2", "label1", "gold_label"]
    names = ["entailment", "neutral", "contradiction"]
    for name, texts, labels in [("train.tsv", train, train_labels), ("dev_matched.tsv", dev, dev_labels)]:
        rows = [[i, "", "", "", "", "", "", "", a, b, names[i % 3], names[i % 3]]
                for i, (a, b) in enumerate(zip(texts, texts[::-1]))]
        write_tsv(root / "MNLI" / name, mnli_header, rows)
    return root


@pytest.fixture
def one_thread():
    """Run a test on one torch thread: tiny models on a shared 2-core machine are far slower on two."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def glue_dir(tmp_path_factory) -> Path:
    return build_glue_dir(tmp_path_factory.mktemp("glue"))


def build_tiny_bert(directory: Path, num_labels: int = 2, *, masked_lm: bool = False,
                    extra_words: tuple[str, ...] = ()) -> Path:
    """Save a seeded 2-layer, 32-dim BERT (classifier, or masked LM) with a word-level vocabulary of the toy words."""
    import torch
    from transformers import BertConfig, BertForMaskedLM, BertForSequenceClassification, BertTokenizerFast

    torch.manual_seed(0)
    directory.mkdir(parents=True, exist_ok=True)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    letters = list("abcdefghijklmnopqrstuvwxyz0123456789.,!?'-") + [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"]
    vocab = specials + sorted(set(POSITIVE + NEGATIVE + FILLER + list(extra_words))) + letters
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = BertTokenizerFast(str(directory / "vocab.txt"), do_lower_case=True)  # positional: v4 and v5 names differ
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, num_labels=num_labels)
    (BertForMaskedLM if masked_lm else BertForSequenceClassification)(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    """An untrained tiny BERT, as a teacher to fine-tune."""
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def finetuned_teacher(tmp_path_factory, glue_dir, tiny_bert) -> Path:
    """The tiny BERT fine-tuned on toy SST-2 until it is accurate (shared by the suite)."""
    from featherweight.data import DataConfig
    from featherweight.finetune import FinetuneConfig, finetune

    out = tmp_path_factory.mktemp("teacher")
    config = FinetuneConfig(data=DataConfig(task="sst-2", glue_dir=str(glue_dir), heldout_fraction=0.1),
                            teacher=str(tiny_bert), output_dir=str(out), epochs=8, learning_rate=1e-3,
                            batch_size=16, progress=False)
    finetune(config)
    return config.best_dir


def cli_error(argv: list[str], caplog) -> str:
    """Run `featherweight ARGV`, check it exits 2 with exactly one one-line error, and return that line."""
    import logging

    from featherweight.cli import main

    caplog.clear()
    caplog.set_level(logging.ERROR)
    assert main(argv) == 2
    errors = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(errors) == 1 and "\n" not in errors[0], errors
    return errors[0]


def spy_on_finetune(monkeypatch, teacher_dir) -> list:
    """Replace fine-tuning with a copy of `teacher_dir` into the requested best/ directory; return the calls."""
    import shutil

    import featherweight.finetune as module

    calls = []

    def fake_finetune(config):
        calls.append(config)
        shutil.copytree(teacher_dir, config.best_dir)
        return {}

    monkeypatch.setattr(module, "finetune", fake_finetune)
    return calls


@pytest.fixture(scope="module")
def ffn_onnx_export(tmp_path_factory):
    """A tiny single-sentence (SST-2) FFN hash student exported as ONNX."""
    from featherweight.export import ExportConfig, export
    from test_export import make_student

    root = tmp_path_factory.mktemp("ffn-onnx")
    out = root / "onnx"
    export(ExportConfig(model=str(make_student(root, "ffn", "hash")), output=str(out), format="onnx"))
    return out


def saved_soft_targets_folder(teacher, folder: Path, files) -> Path:
    """A folder holding the teacher's saved soft targets (.npz + .json) of each SST-2-layout file."""
    import shutil

    from featherweight.soft_targets import SoftTargetConfig, soft_targets

    folder.mkdir(parents=True)
    for path in map(Path, files):
        config = SoftTargetConfig(teacher=str(teacher), data_file=str(path), task="sst-2", progress=False)
        soft_targets(config)
        for suffix in (".npz", ".json"):
            shutil.copy(Path(config.output).with_suffix(suffix), folder / f"{path.stem}{suffix}")
    return folder


TINY_TEXTS = make_sentences(60, seed=3)[0]


def tiny_student(arch: str, embedding: str, directory: Path, seed: int = 0, texts: list[str] = TINY_TEXTS):
    """An untrained, seeded SST-2 student of `arch` on `embedding` (8-dim), its tokenizer and its metadata."""
    import torch

    from featherweight.artifact import build_model
    from featherweight.data import get_task
    from featherweight.embeddings import fit_tokenizer
    from featherweight.students import student_preset

    options = {"hash": {"num_buckets": 50}, "char": {},
               "bpe": {"download": False, "cache_dir": Path(directory) / "no-bpemb", "vocab_size": 60}}[embedding]
    tokenizer = fit_tokenizer(embedding, texts, dim=8, seed=seed, **options)
    config = student_preset(arch, classifier_dim=8, **({} if arch == "ffn" else {"hidden_dim": 6}))
    task = get_task("sst-2")
    meta = {"task": task.name, "label_names": list(task.label_names), "pair": False, "num_labels": 2,
            "student": config.to_dict(), "embedding": {"type": embedding, "dim": 8}, "variant": "distilled"}
    torch.manual_seed(seed)
    return build_model(meta, tokenizer).eval(), tokenizer, meta
