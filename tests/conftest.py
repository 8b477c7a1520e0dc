"""Shared fixtures and builders: a tiny GLUE directory, a tiny 2-layer BERT teacher, tiny students, toy data,
all built in code. Test modules import helpers from here only, never from each other."""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from featherweight.artifact import load_student, save_student
from featherweight.data import DataConfig, get_task
from featherweight.compression.distill import DistillConfig
from featherweight.student_meta import EmbeddingMeta, StudentMeta
from featherweight.tokens import encode_texts

os.environ.setdefault("FEATHERWEIGHT_NO_PROGRESS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


# Modules whose tests compile C, start Ray or subprocesses, or train several models: `pytest -m "not slow"` is the
# fast tier (a few seconds a module), the whole suite what CI runs.
SLOW_MODULES = {"test_export_c", "test_c_hardening", "test_export_lowbit", "test_export_multiclass", "test_norm_table",
                "test_tokenizer_fuzz", "test_ngrams_long_text", "test_batch_independence", "test_export_bench",
                "test_ray_labelling", "test_sweep_ray", "test_sweep", "test_cli_interrupt", "test_teacher_fairseq",
                "test_quantize", "test_qat", "test_lowbit_bench", "test_main_job", "test_custom_pipeline"}


def pytest_configure(config):
    """Register the `slow` marker; quiet transformers' per-file loading bars in test logs."""
    from transformers.utils import logging as hf_logging

    config.addinivalue_line("markers", "slow: compiles C, starts Ray or subprocesses, or trains "
                                       "(deselect: -m 'not slow')")
    hf_logging.disable_progress_bar()


def pytest_collection_modifyitems(config, items):
    """Mark every test of SLOW_MODULES as slow."""
    for item in items:
        if item.module.__name__ in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)

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
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
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
    from featherweight.teacher.finetune import FinetuneConfig, finetune

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

    import featherweight.experiments.pipeline as module  # where the pipeline looks finetune up

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
    from featherweight.deploy import ExportConfig, export

    root = tmp_path_factory.mktemp("ffn-onnx")
    out = root / "onnx"
    export(ExportConfig(model=str(make_student(root, "ffn", "hash")), output=str(out), format="onnx"))
    return out


def saved_soft_targets_folder(teacher, folder: Path, files) -> Path:
    """A folder holding the teacher's saved soft targets (.npz + .json) of each SST-2-layout file."""
    import shutil

    from featherweight.teacher.soft_targets import SoftTargetConfig, soft_targets

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
    meta = StudentMeta(task=task.name, label_names=list(task.label_names), pair=False, num_labels=2, student=config,
                       embedding=EmbeddingMeta(embedding, 8), variant="distilled")
    torch.manual_seed(seed)
    return build_model(meta, tokenizer).eval(), tokenizer, meta


ARCHS = ("bilstm", "rnn", "ffn")


EMBEDDINGS = ("hash", "char", "bpe")


TRAIN_TEXTS = make_sentences(200, seed=1)[0] + [
    "it's a 10/10 film, isn't it?", "Hello World!!! (really)", "Café naïve — “quoted” … ﬁne, 42 times."]


# Varied lengths and padding: empty, one token, long (600 characters; the golden sentences and
# test_ngrams_long_text.py cover truncation at max_length), odd characters.
CHECK_TEXTS = make_sentences(12, seed=5)[0] + ["", "good", "a " * 300, "It's NOT bad -- 3.5/5, ok?", "Ångström ﬁne"]


def make_student(directory, arch: str, embedding: str, *, pair: bool = False, pooling: str | None = None,
                 glue_dir=None, dim: int = 8, seed: int = 0, **tokenizer_options) -> Path:
    """Save a tiny untrained student (hidden 6, classifier 5) with a real tokenizer; returns its directory.

    `tokenizer_options` go to fit_tokenizer (e.g. word_ngrams=2, max_length=64).
    """
    from featherweight.embeddings import build_embedding, fit_tokenizer
    from featherweight.students import build_student, student_preset

    torch.manual_seed(seed)
    options = {"hash": {"num_buckets": 200}, "char": {}, "bpe": {"download": False}}[embedding] | tokenizer_options
    tokenizer = fit_tokenizer(embedding, TRAIN_TEXTS, dim=dim, seed=seed, cache_dir=str(Path(directory) / "no-bpemb"),
                              **options)
    overrides = {"classifier_dim": 5, **({"pooling": pooling} if pooling else {})}
    if arch != "ffn":
        overrides["hidden_dim"] = 6
    config = student_preset(arch, pair, **overrides)
    task = get_task("qqp" if pair else "sst-2")
    model = build_student(config, build_embedding(tokenizer, dim), task.num_labels, pair).eval()
    data = {"task": task.name, "glue_dir": str(glue_dir), "heldout_fraction": 0.1}
    recorded = {"data": data} if glue_dir is not None else None
    meta = StudentMeta(task=task.name, label_names=list(task.label_names), pair=pair, num_labels=task.num_labels,
                       student=config, embedding=EmbeddingMeta(embedding, dim), variant="distilled",
                       distill_config=recorded)
    out = Path(directory) / "student"
    save_student(out, model, tokenizer, meta)
    return out


def make_quantized(student_dir) -> Path:
    """Quantize a saved student with featherweight.compression.quantize's defaults and save it beside, as the pipeline does."""
    from featherweight.compression.quantize import QuantizeConfig, quantize

    student, config = load_student(student_dir), QuantizeConfig()
    out = Path(str(student_dir) + "-quantized")
    save_student(out, quantize(student.model, config), student.tokenizer,
                 dataclasses.replace(student.meta, variant="quantized", quantization=config.to_dict()))
    return out


@pytest.fixture(scope="module")
def students(tmp_path_factory):
    """Memoised make_student: students(arch, embedding, **options) -> artifact directory."""
    made = {}

    def get(arch, embedding, **options):
        key = (arch, embedding, tuple(sorted(options.items())))
        if key not in made:
            made[key] = make_student(tmp_path_factory.mktemp(f"{arch}-{embedding}"), arch, embedding, **options)
        return made[key]

    return get


def padded(student, texts) -> np.ndarray:
    return encode_texts(student.tokenizer, texts).batch(np.arange(len(texts))).numpy()


def torch_logits(model, *inputs) -> np.ndarray:
    with torch.no_grad():
        return model(*(torch.from_numpy(a) for a in inputs)).numpy()


ANIMALS = ["zebra", "horse", "pony", "donkey"]  # "zebra" is split into pieces by the tiny MLM's tokenizer


def build_tiny_glove(directory: Path) -> Path:
    """A GloVe folder in the kumo layout: clustered, seeded vectors for the toy words plus decoys.

    Positive, negative and animal words form three clusters; "," sits next to "good" and "42"
    next to "zebra", so punctuation and numbers are among the nearest rows and must be filtered.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    centres = {name: rng.standard_normal(16) * 3 for name in ("pos", "neg", "animal")}
    words, vectors = [], []
    for group, members in (("pos", POSITIVE), ("neg", NEGATIVE), ("animal", ANIMALS)):
        for word in members:
            words.append(word)
            vectors.append(centres[group] + rng.standard_normal(16) * 0.5)
    for word in sorted(set(FILLER)):
        words.append(word)
        vectors.append(rng.standard_normal(16) * 3)
    words += [",", "42"]
    vectors += [vectors[words.index("good")] + 0.01, vectors[words.index("zebra")] + 0.01]
    directory.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"index": words}), directory / "glove_6B_index.parquet")
    np.save(directory / "glove_6B_50d_emb.npy", np.asarray(vectors, dtype=np.float32))
    return directory


def build_tiny_mlm(directory: Path) -> Path:
    """A seeded tiny BERT masked LM knowing the toy words and all animals but "zebra"."""
    return build_tiny_bert(directory, masked_lm=True, extra_words=tuple(ANIMALS[1:]))


def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(command path, parser) of every command and analyze subcommand."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name), sub
                yield from commands(sub, (*path, name))


def options(parser: argparse.ArgumentParser):
    """The options and positionals of one parser, without -h and subcommand choosers."""
    skipped = (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)
    return [action for action in parser._actions if not isinstance(action, skipped)]


TOPICS = {"sport": ["goal", "match", "team"], "music": ["song", "band", "album"],
          "food": ["pizza", "bread", "soup"], "tech": ["laptop", "phone", "code"]}


TOPIC_FILLER = ["the", "new", "a", "great", "about", "today"]


def topic_rows(n: int, seed: int) -> list[dict]:
    """Seeded one-topic sentences: {"text", "topic"} rows of the four TOPICS."""
    rng = np.random.default_rng(seed)
    names = sorted(TOPICS)
    rows = []
    for i in range(n):
        topic = names[i % len(names)]
        words = list(rng.choice(FILLER, size=3)) + list(rng.choice(TOPICS[topic], size=2))
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "topic": topic})
    return rows


def write_rows(path, rows: list[dict]):
    """Write rows as the format of `path`'s extension (.tsv, .csv, .jsonl, .parquet)."""
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    columns = list(rows[0])
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    elif path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    elif path.suffix == ".csv":
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
    else:
        lines = ["\t".join(columns)] + ["\t".join(str(row[c]) for c in columns) for row in rows]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def custom(train, dev=None, **options) -> DataConfig:
    options.setdefault("label_column", "topic")
    return DataConfig(train_file=str(train), dev_file=None if dev is None else str(dev), **options)


def tiny_grid(glue_dir, tmp_path, **overrides) -> dict:
    """Two tiny FFN runs (seeds 1 and 2) without a teacher (alpha 1), distilled and quantized."""
    grid = {"task": "sst-2", "glue_dir": str(glue_dir), "heldout_fraction": 0.1, "alpha": 1.0, "epochs": 1,
            "arch": "ffn", "embedding": "char", "dim": 8, "classifier_dim": 8, "batch_size": 32,
            "work_dir": str(tmp_path / "work"), "seeds": [1, 2], "variants": ["distilled", "quantized"]}
    grid.update(overrides)
    return grid


C_LOGIT_ATOL = 1e-4  # the stated tolerance: C float32 sums in another order than PyTorch's kernels


def write_sacred_run(runs: Path, run_id: int, command: str, config: dict, result: dict, status="COMPLETED",
               started="2024-01-01T00:00:00") -> Path:
    """A run directory in the layout sacred's FileStorageObserver writes."""
    directory = runs / str(run_id)
    directory.mkdir(parents=True)
    (directory / "config.json").write_text(json.dumps(config))
    (directory / "run.json").write_text(json.dumps({
        "experiment": {"name": command}, "status": status, "result": result, "start_time": started,
        "stop_time": started, "host": {"hostname": "box"}}))
    (directory / "info.json").write_text(json.dumps({"versions": {"torch": "2.13.0"}}))
    return directory


def distill_run_config(seed: int, **overrides) -> dict:
    config = json.loads(json.dumps(dataclasses.asdict(
        DistillConfig(student_arch="ffn", embedding_type="hash", embedding_dim=25, seed=seed, **overrides)),
        default=str))
    return {**config, "compression_actions": ["distill", "quantize"]}


def padded_ids(tokenizer, texts):
    """Model inputs for `texts`, right padded, in one batch."""
    from featherweight.embeddings import pad_batch

    return torch.from_numpy(pad_batch([tokenizer.encode(t) for t in texts])).long()


def local_ray_instance(num_cpus: int):
    """For a fixture to `yield from`: a local Ray instance without dashboard, shut down afterwards; the test
    skips where Ray is not installed or does not start on this machine."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'featherweight[ray]'); "
                                            "the ray backend is optional")
    try:
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
    except Exception as error:  # noqa: BLE001 - Ray's own start-up failures (e.g. a raylet timing out)
        ray.shutdown()
        pytest.skip(f"A local Ray instance did not start on this machine: {error}")
    yield ray
    ray.shutdown()
