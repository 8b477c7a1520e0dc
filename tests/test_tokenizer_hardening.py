"""Tokenizers on hostile text: huge words in the portable BPE, lone surrogates, BOM / U+FFFD / U+2581 in BPE."""
from __future__ import annotations

import random
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import make_sentences
from featherweight.embeddings import fit_tokenizer
from featherweight.embeddings.text import normalize
from featherweight.deploy.reference_tokenizer import PortableTokenizer
from featherweight.deploy.tokenizer_port import build_port
from featherweight.tokens import encode_data

TRAIN = make_sentences(200, seed=1)[0] + ["ab abab ababab abba baba", "it's a 10/10 film, isn't it?"]
SURROGATE_TEXTS = ["good \ud800 film", "\udc80\udcff", "bad\udfff", "\ud83d"]


@pytest.fixture(scope="module")
def bpe(tmp_path_factory):
    """A tiny offline BPE tokenizer and its portable twin."""
    tokenizer = fit_tokenizer("bpe", TRAIN, dim=8, seed=0, download=False,
                              cache_dir=str(tmp_path_factory.mktemp("no-bpemb")))
    return tokenizer, PortableTokenizer(build_port(tokenizer))


def quadratic_merge(pieces: dict, symbols: list[str]) -> list[str]:
    """The former portable merge, kept as the reference: rescan for the best (rank, leftmost) pair each step."""
    while len(symbols) > 1:
        ranked = [(pieces[symbols[i] + symbols[i + 1]][0], i) for i in range(len(symbols) - 1)
                  if symbols[i] + symbols[i + 1] in pieces]
        if not ranked:
            break
        _, best = min(ranked)
        symbols[best:best + 2] = [symbols[best] + symbols[best + 1]]
    return symbols


def test_heap_merge_equals_the_quadratic_merge_on_random_words(bpe):
    """The O(n log n) merge picks the same pairs as the rescanning merge it replaced, ties included."""
    _, port = bpe
    rng = random.Random(0)
    letters = "▁abcdefghilmnorstuvwy'"
    for _ in range(500):
        word = "▁" + "".join(rng.choice(letters) for _ in range(rng.randrange(1, 40)))
        assert port._merge(list(word)) == quadratic_merge(port._pieces, list(word)), word


@pytest.mark.parametrize("word", ["ab" * 50_000, "goodfilmthemovie" * 1000])
def test_portable_bpe_handles_huge_words_with_sentencepieces_ids(word, bpe):
    """A 100,000- or 16,000-character word (once minutes of work) gets SentencePiece's ids from the port."""
    tokenizer, port = bpe
    np.testing.assert_array_equal(port.encode(word), tokenizer.encode(word))


@pytest.mark.parametrize("kind", ["hash", "char", "bpe"])
def test_lone_surrogates_read_as_the_replacement_character(kind, tmp_path):
    """Every training tokenizer encodes lone surrogates as U+FFFD instead of raising."""
    tokenizer = fit_tokenizer(kind, TRAIN, dim=8, seed=0, download=False, cache_dir=str(tmp_path)) \
        if kind == "bpe" else fit_tokenizer(kind, [], dim=8, seed=0)
    for text in SURROGATE_TEXTS:
        replaced = "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)
        np.testing.assert_array_equal(tokenizer.encode(text), tokenizer.encode(replaced))


def test_normalize_replaces_each_lone_surrogate():
    """The shared normalisation maps each lone surrogate to one U+FFFD before any other step."""
    assert normalize("A\ud800b\udfff", "nfkc", lowercase=True) == "a\ufffdb\ufffd"


def test_encode_data_caches_texts_with_lone_surrogates(tmp_path):
    """The on-disk id cache keys texts holding lone surrogates instead of failing to encode them."""
    tokenizer = fit_tokenizer("hash", [], dim=8, seed=0)
    data = SimpleNamespace(path=tmp_path / "train.tsv", texts_a=SURROGATE_TEXTS, texts_b=None)  # what encode_data reads
    first = encode_data(tokenizer, data, cache_dir=tmp_path / "cache")
    again = encode_data(tokenizer, data, cache_dir=tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1
    np.testing.assert_array_equal(first.columns[0].ids, again.columns[0].ids)


@pytest.mark.parametrize("text", ["\ufeffgood film", "good \ufffd film", "good\u2581film", "good \u2581 film",
                                  "\u2581good film\ufeff"])
def test_bpe_port_drops_bom_replacement_and_word_mark_like_sentencepiece(text, bpe):
    """U+FEFF, U+FFFD and U+2581 read as spaces in SentencePiece, and so in the port: "good film"'s ids."""
    tokenizer, port = bpe
    expected = tokenizer.encode("good film")
    np.testing.assert_array_equal(tokenizer.encode(text), expected)
    np.testing.assert_array_equal(port.encode(text), expected)
