"""Fuzz-corpus parity: training, portable Python and C tokenizers give the same ids (tests/data/fuzz_corpus.jsonl).

The documented differences (embeddings/README.md), computed per string and asserted to be the
only ones: normalisation of the whole text that no per-codepoint table can express (NFKC composing a
base and a combining mark, canonical reordering, Greek final sigma), and for char Hangul syllables,
which NFKD splits into jamo but the port's table leaves out for size. Strings with lone surrogates
are checked against their U+FFFD form; invalid UTF-8 byte strings (C only) against Python's
bytes.decode("utf-8", "replace").
"""
from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from featherweight.artifact import load_student
from featherweight.embeddings import fit_tokenizer
from featherweight.embeddings.text import normalize
from featherweight.deploy import ExportConfig, c_build, export
from featherweight.deploy.reference_tokenizer import PortableTokenizer
from featherweight.deploy.tokenizer_port import HANGUL_SYLLABLES, _sentencepiece_charsmap, build_port
from conftest import TRAIN_TEXTS, make_student

CORPUS = Path(__file__).parent / "data" / "fuzz_corpus.jsonl"
ROWS = [json.loads(line) for line in CORPUS.read_text(encoding="ascii").splitlines()]
TEXTS = [row["text"] for row in ROWS if "text" in row]
INVALID = [bytes.fromhex(row["bytes_hex"]) for row in ROWS if "bytes_hex" in row]
VALID = [t for t in TEXTS if not any("\ud800" <= c <= "\udfff" for c in t)]  # the rest hold lone surrogates
MULTILINGUAL = [row["text"] for row in ROWS if row["category"] in ("latin", "greek", "cyrillic", "cjk", "hangul")]
TOKENIZERS = {  # name: (embedding, fit_tokenizer options)
    "hash": ("hash", {"num_buckets": 200}),
    "hash-fnv-bigrams": ("hash", {"num_buckets": 200, "hash_function": "fnv1a_32", "word_ngrams": 2,
                                  "split_punctuation": False}),
    "char": ("char", {}),
    "bpe": ("bpe", {"download": False}),
}
C_BPE_FLAGS = ("-DFW_BPE_MAX_SYMBOLS=8192", "-DFW_BPE_MAX_WORD_BYTES=32768")  # the corpus's longest word whole
needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None and shutil.which("cc") is None,
                               reason="no host C compiler (gcc) on PATH")


def test_corpus_is_large_varied_and_reproducible(tmp_path):
    """The committed corpus has >= 1,000 strings across the required kinds and equals its generator's output."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_fuzz_corpus", CORPUS.parent / "make_fuzz_corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.rows() == ROWS
    categories = {row["category"] for row in ROWS}
    assert len(ROWS) >= 1000 and len(INVALID) >= 100
    assert {"empty", "whitespace", "control", "nul", "emoji", "combining", "fullwidth", "arabic", "hebrew",
            "devanagari", "thai", "cjk", "hangul", "long-word", "long-text", "random-unicode"} <= categories


def training_normalised(tokenizer, text: str) -> str:
    """The text the training tokenizer's splitter sees (for BPE after SentencePiece's character map)."""
    s = tokenizer.spec
    if s.type != "bpe":
        return normalize(text, s.unicode_form, s.lowercase)
    return charsmap(tokenizer)(normalize(text, s.unicode_form, s.lowercase, s.digits_to_zero))


@functools.cache
def charsmap(tokenizer):
    """SentencePiece's character map of a BPE tokenizer (built once per tokenizer)."""
    return _sentencepiece_charsmap(tokenizer)


def expected_text(tokenizer, text: str) -> str | None:
    """The text whose training ids the ports must give: `text`, for char with each Hangul syllable as one
    unknown character (documented); None where training normalises `text` otherwise than codepoint by
    codepoint (documented: composition, reordering, final sigma)."""
    if tokenizer.spec.type == "char":
        text = "".join("\uffff" if ord(c) in HANGUL_SYLLABLES else c for c in text)
    if "".join(training_normalised(tokenizer, c) for c in text) != training_normalised(tokenizer, text):
        return None
    return text


def fit(name: str, tmp_path):
    kind, options = TOKENIZERS[name]
    return fit_tokenizer(kind, TRAIN_TEXTS + MULTILINGUAL, dim=8, seed=0, cache_dir=str(tmp_path), **options)


@pytest.mark.parametrize("name", sorted(TOKENIZERS))
def test_portable_tokenizer_gives_the_training_ids_on_the_fuzz_corpus(name, tmp_path):
    """On every valid string the port gives the training ids, except the documented normalisation cases."""
    tokenizer = fit(name, tmp_path)
    port = PortableTokenizer(build_port(tokenizer))
    exempt = []
    for text in VALID:
        expected = expected_text(tokenizer, text)
        if expected is None:
            exempt.append(text)
            continue
        np.testing.assert_array_equal(port.encode(text), tokenizer.encode(expected), err_msg=repr(text))
    assert len(exempt) <= 0.03 * len(VALID), exempt


@pytest.mark.parametrize("name", sorted(TOKENIZERS))
def test_lone_surrogates_tokenise_as_the_replacement_character(name, tmp_path):
    """Training and portable tokenizers read a lone surrogate as U+FFFD instead of raising."""
    tokenizer = fit(name, tmp_path)
    port = PortableTokenizer(build_port(tokenizer))
    for text in (t for t in TEXTS if t not in VALID):
        replaced = "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)
        np.testing.assert_array_equal(tokenizer.encode(text), tokenizer.encode(replaced), err_msg=repr(text))
        np.testing.assert_array_equal(port.encode(text), tokenizer.encode(replaced), err_msg=repr(text))


@pytest.fixture(scope="module")
def c_builds(tmp_path_factory):
    """c_builds(name) -> (training tokenizer, C harness) of a tiny FFN student with that tokenizer."""
    made = {}

    def get(name):
        if name not in made:
            root = tmp_path_factory.mktemp(name)
            kind, options = TOKENIZERS[name]
            student = make_student(root / "s", "ffn", kind, **options)
            export(ExportConfig(model=str(student), output=str(root / "c"), format="c", verify=False))
            exe, _ = c_build.build_host(root / "c", root / "build", flags=(*c_build.HOST_FLAGS, *C_BPE_FLAGS))
            made[name] = load_student(student).tokenizer, exe
        return made[name]

    return get


@needs_gcc
@pytest.mark.parametrize("name", sorted(TOKENIZERS))
def test_c_tokenizer_gives_the_portable_and_training_ids_on_the_fuzz_corpus(name, c_builds):
    """C gives the port's ids on every valid string, and the training ids outside the documented cases."""
    tokenizer, exe = c_builds(name)
    port = PortableTokenizer(build_port(tokenizer))
    for text, ids in zip(VALID, c_build.run_tokens(exe, VALID), strict=True):
        ids = ids.reshape(-1, tokenizer.ids_per_token)  # the harness cannot tell an empty row's width
        np.testing.assert_array_equal(ids, port.encode(text), err_msg=repr(text))
        expected = expected_text(tokenizer, text)
        if expected is not None:
            np.testing.assert_array_equal(ids, tokenizer.encode(expected), err_msg=repr(text))


@needs_gcc
@pytest.mark.parametrize("name", sorted(TOKENIZERS))
def test_c_tokenizer_reads_invalid_utf8_as_python_replace_decoding(name, c_builds):
    """Invalid UTF-8 bytes tokenise in C as bytes.decode('utf-8', 'replace') does in Python, without crashing."""
    tokenizer, exe = c_builds(name)
    port = PortableTokenizer(build_port(tokenizer))
    got = c_build.run_tokens(exe, INVALID)
    wrong = [data for data, ids in zip(INVALID, got, strict=True)
             if not np.array_equal(ids.reshape(-1), port.encode(data.decode("utf-8", "replace")).reshape(-1))]
    assert wrong == []
