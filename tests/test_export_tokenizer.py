"""The portable tokenizer (Python twin of the C one): same ids as the training tokenizer, hashes, whitespace, limits."""
from __future__ import annotations

import re

import numpy as np
import pytest

from conftest import make_sentences
from featherweight.embeddings import fit_tokenizer, fnv1a_32, murmur3_32
from featherweight.deploy.golden import GOLDEN_SENTENCES
from featherweight.deploy.reference_tokenizer import SPACES, PortableTokenizer
from featherweight.deploy import reference_tokenizer as port_module
from featherweight.deploy.tokenizer_port import build_port

TRAIN = make_sentences(200, seed=1)[0] + ["it's a 10/10 film, isn't it?", "Café naïve — “quoted” … ﬁne"]
SENTENCES = list(GOLDEN_SENTENCES) + make_sentences(30, seed=7)[0] + [
    "   Leading and trailing   ", "tabs\tand\nnewlines\r\n", "ÉCOLE Über ÀÉÎÕÜ ñ ç", "x" * 500,
    "a\u00a0b\u2003c",
    "digits 0123456789 ²³ ½", "dash-joined words_and_underscores", "emoji 🙂 and 映画"]

TOKENIZERS = {
    "hash-murmur": ("hash", {}),
    "hash-fnv-no-punctuation-split": ("hash", {"hash_function": "fnv1a_32", "split_punctuation": False,
                                               "hash_seed": 7}),
    "char-default": ("char", {}),
    "char-thesis": ("char", {"alphabet": "thesis"}),
    "bpe": ("bpe", {"download": False}),
    "bpe-pruned": ("bpe", {"download": False, "prune": True}),
}


@pytest.mark.parametrize("name", sorted(TOKENIZERS))
def test_port_gives_the_training_tokenizer_ids(name, tmp_path):
    """The portable tokenizer reproduces the training tokenizer's ids on golden, toy and tricky sentences."""
    kind, options = TOKENIZERS[name]
    tokenizer = fit_tokenizer(kind, TRAIN, dim=8, seed=0, cache_dir=str(tmp_path), **options)
    ported = PortableTokenizer(build_port(tokenizer))
    for text in SENTENCES:
        np.testing.assert_array_equal(ported.encode(text), tokenizer.encode(text), err_msg=repr(text))


def test_port_normalises_every_codepoint_but_does_not_compose(tmp_path):
    """The table covers all of Unicode ("𝔘" -> "u" as NFKC + lower), but per codepoint: no composition (documented)."""
    tokenizer = fit_tokenizer("hash", [], dim=8, seed=0)
    ported = PortableTokenizer(build_port(tokenizer))
    assert ported.normalized("𝔘") == [ord("u")] and ported.normalized("É") == [ord("é")]
    assert ported.normalized("e\u0301") == [ord("e"), 0x301]  # NFKC would give "é"


def test_portable_hashes_equal_the_embedding_hashes():
    """The torch-free murmur3_32 and fnv1a_32 equal featherweight.embeddings' on random byte strings."""
    rng = np.random.default_rng(0)
    for length in range(0, 40):
        data = bytes(rng.integers(0, 256, size=length, dtype=np.uint8))
        seed = int(rng.integers(0, 2**32))
        assert port_module.murmur3_32(data, seed) == murmur3_32(data, seed)
        assert port_module.fnv1a_32(data, seed) == fnv1a_32(data, seed)


def test_whitespace_set_is_pythons():
    """SPACES is exactly the codepoints where str.isspace() holds and re's \\s matches."""
    spaces = {cp for cp in range(0x110000) if chr(cp).isspace()}
    pattern = re.compile(r"\s")
    assert SPACES == spaces == {cp for cp in spaces | set(range(0x3100)) if pattern.match(chr(cp))}


def test_bpe_port_merges_a_run_of_unknown_pieces_into_one_id(tmp_path):
    """Like SentencePiece, consecutive unknown characters become one unknown id."""
    tokenizer = fit_tokenizer("bpe", TRAIN, dim=8, seed=0, cache_dir=str(tmp_path), download=False)
    ported = PortableTokenizer(build_port(tokenizer))
    ids = ported.encode("good ЖЖЖЖ good").ravel().tolist()
    assert ids == tokenizer.encode("good ЖЖЖЖ good").ravel().tolist()
    assert ids.count(tokenizer.unknown_id) == 1


def test_md5_hashing_is_refused_with_the_fix():
    """The thesis md5 hash mode has no portable implementation; the error names the supported ones."""
    tokenizer = fit_tokenizer("hash", [], dim=8, seed=0, hash_function="md5")
    with pytest.raises(ValueError, match="murmur3_32"):
        build_port(tokenizer)


def test_a_newer_port_version_is_refused():
    """A port.json from another version is refused with the fix instead of mis-tokenising."""
    port = build_port(fit_tokenizer("char", [], dim=8, seed=0))
    with pytest.raises(ValueError, match="re-export"):
        PortableTokenizer({**port, "version": 99})
