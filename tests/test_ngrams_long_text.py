"""Hash word n-grams and long texts through every export path.

The training tokenizer, the portable (predictor) tokenizer and the C tokenizer give the same ids,
n-grams included, and truncate long texts identically; ONNX fp32, ONNX int8 and C students with
word_ngrams=2 compute the PyTorch logits; a 2,000-word review runs end to end in all three.
"""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from conftest import CHECK_TEXTS, C_LOGIT_ATOL, FILLER, NEGATIVE, POSITIVE, padded, torch_logits
from featherweight.artifact import load_student
from featherweight.embeddings import fit_tokenizer, token_hash
from featherweight.deploy import ExportConfig, c_build, export
from featherweight.deploy.golden import GOLDEN_SENTENCES
from featherweight.deploy.reference_tokenizer import PortableTokenizer
from featherweight.deploy.weights import int8_reference_model
from featherweight.deploy.predict import load

needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None and shutil.which("cc") is None,
                               reason="no host C compiler (gcc) on PATH")
pytestmark = pytest.mark.usefixtures("one_thread")


def review(words: int = 2000, seed: int = 0) -> str:
    """A seeded review of exactly `words` whitespace-separated words, with punctuation and accents."""
    rng = np.random.default_rng(seed)
    vocabulary = POSITIVE + NEGATIVE + FILLER + ["café,", "naïve", "it's", "(really)", "10/10!", "—", "映画", "ok."]
    return " ".join(rng.choice(vocabulary, size=words))


LONG_REVIEW = review()
TEXTS = list(GOLDEN_SENTENCES) + CHECK_TEXTS + [
    "good", "a b", "Don't stop!", "Café naïve — “quoted” … ﬁne 映画 好き 🙂", "a\u00a0b\u2003c\td\ne", "x" * 500,
    "   ", LONG_REVIEW]


def exported_c(directory, out):
    """Export `directory` as C into out/c, build it with the host compiler; returns the harness."""
    export(ExportConfig(model=str(directory), output=str(out / "c"), format="c"))
    return c_build.build_host(out / "c", out / "build")[0]


# ---- the tokenizers ----------------------------------------------------------------------------

def test_ngram_ids_are_the_hash_of_the_words_joined_by_one_space():
    """Token t's second group of k + 1 ids hashes "w[t-1] w[t]"; position 0's (and 1's trigram) are zero."""
    tokenizer = fit_tokenizer("hash", [], dim=8, seed=0, num_buckets=200, word_ngrams=3, hash_seed=5)
    spec, k = tokenizer.spec, tokenizer.spec.num_hashes
    words = tokenizer.tokenize("Good film, really!")
    assert words == ["good", "film", ",", "really", "!"]
    ids = tokenizer.encode("Good film, really!")
    assert ids.shape == (5, 3 * (k + 1))

    def hashed(gram: str) -> list:
        return ([token_hash(gram, i, spec.hash_function, spec.hash_seed) % spec.num_components + 1 for i in range(k)]
                + [token_hash(gram, k, spec.hash_function, spec.hash_seed) % spec.num_buckets + 1])

    for t, word in enumerate(words):
        assert ids[t, :k + 1].tolist() == hashed(word)
        bigram, trigram = ids[t, k + 1:2 * (k + 1)].tolist(), ids[t, 2 * (k + 1):].tolist()
        assert bigram == (hashed(f"{words[t - 1]} {word}") if t >= 1 else [0] * (k + 1))
        assert trigram == (hashed(f"{words[t - 2]} {words[t - 1]} {word}") if t >= 2 else [0] * (k + 1))


def test_ngrams_are_formed_after_truncation_and_summed_by_the_embedding():
    """max_length cuts the words first; the embedding of a token is its word's vector plus its bigram's."""
    from featherweight.embeddings.modules import HashEmbedding

    text = "one two three four five"
    tokenizer = fit_tokenizer("hash", [], dim=8, seed=0, word_ngrams=2)
    long = tokenizer.encode(text)
    short = fit_tokenizer("hash", [], dim=8, seed=0, word_ngrams=2, max_length=3).encode(text)
    np.testing.assert_array_equal(short, long[:3])
    torch.manual_seed(0)
    tables = (tokenizer.spec.num_components, tokenizer.spec.num_buckets, tokenizer.spec.num_hashes, 4)
    ngrams, words = HashEmbedding(*tables, word_ngrams=2), HashEmbedding(*tables)
    words.load_state_dict(ngrams.state_dict())
    ids = torch.from_numpy(long)[None]
    with torch.no_grad():
        np.testing.assert_allclose(ngrams(ids), words(ids[..., :4]) + words(ids[..., 4:]), atol=1e-6)


TOKENIZER_OPTIONS = {
    "bigrams": {"word_ngrams": 2},
    "trigrams-fnv-no-punctuation-split-short": {"word_ngrams": 3, "hash_function": "fnv1a_32", "hash_seed": 7,
                                                "split_punctuation": False, "max_length": 16},
    "words-long": {"max_length": 4096},
}


@needs_gcc
@pytest.mark.parametrize("name", sorted(TOKENIZER_OPTIONS))
def test_training_portable_and_c_tokenizers_give_the_same_ids(name, tmp_path):
    """On golden, odd, empty, one-word and over-long texts the three tokenizers agree id for id."""
    from conftest import make_student

    directory = make_student(tmp_path / "s", "ffn", "hash", **TOKENIZER_OPTIONS[name])
    exe = exported_c(directory, tmp_path)
    tokenizer = load_student(directory).tokenizer
    ported = PortableTokenizer.load(tmp_path / "c" / "tokenizer")
    texts = TEXTS + ["word " * 5000]  # past every max_length here, 4096 included
    for text, c_ids in zip(texts, c_build.run_tokens(exe, texts)):
        expected = tokenizer.encode(text)
        np.testing.assert_array_equal(ported.encode(text), expected, err_msg=repr(text[:80]))
        assert len(c_ids) == len(expected), repr(text[:80])
        np.testing.assert_array_equal(c_ids.reshape(-1), expected.reshape(-1), err_msg=repr(text[:80]))
    assert len(tokenizer.encode(texts[-1])) == tokenizer.spec.max_length


def test_a_port_without_word_ngrams_reads_as_words_only(tmp_path):
    """port.json written before n-grams (version 1, no word_ngrams) still loads, as one id group per token."""
    from featherweight.deploy.tokenizer_port import build_port

    tokenizer = fit_tokenizer("hash", [], dim=8, seed=0)
    port = build_port(tokenizer)
    assert port["version"] == 1
    del port["hash"]["word_ngrams"]
    np.testing.assert_array_equal(PortableTokenizer(port).encode("a fine film"), tokenizer.encode("a fine film"))
    assert build_port(fit_tokenizer("hash", [], dim=8, seed=0, word_ngrams=2))["version"] == 2


# ---- students with bigrams: ONNX, ONNX int8 and C against PyTorch -------------------------------

@pytest.mark.parametrize("arch", ["ffn", "bilstm", "rnn"])
def test_bigram_student_exports_to_onnx_int8_and_c_with_parity(arch, students, tmp_path):
    """ONNX equals the float student, ONNX int8 and C the PyTorch int8 reference, on padded rows of all lengths."""
    directory = students(arch, "hash", word_ngrams=2)
    student = load_student(directory)
    texts = CHECK_TEXTS + ["Café naïve — ﬁne, it's 10/10!", LONG_REVIEW]
    ids = padded(student, texts)
    reference = torch_logits(int8_reference_model(student), ids)
    manifest = export(ExportConfig(model=str(directory), output=str(tmp_path / "onnx"), format="onnx"))
    assert manifest["tokenizer_parity"]["python_port_mismatches"] == []
    np.testing.assert_allclose(load(tmp_path / "onnx").logits(texts), torch_logits(student.model, ids), atol=1e-5)
    export(ExportConfig(model=str(directory), output=str(tmp_path / "int8"), format="onnx-int8"))
    np.testing.assert_allclose(load(tmp_path / "int8").logits(texts), reference, atol=1e-5)
    if shutil.which("gcc") is None and shutil.which("cc") is None:
        pytest.skip("no host C compiler (gcc) on PATH")
    exe = exported_c(directory, tmp_path)
    logits, _ = c_build.run_logits(exe, texts)
    np.testing.assert_allclose(logits, reference, atol=C_LOGIT_ATOL)
    assert (logits.argmax(1) == reference.argmax(1)).all()


# ---- a 2,000-word review, end to end ----------------------------------------------------------

@needs_gcc
@pytest.mark.parametrize("arch,embedding,options", [
    ("bilstm", "hash", {"word_ngrams": 2, "max_length": 4096}),  # reads the whole review
    ("bilstm", "hash", {"word_ngrams": 2, "max_length": 64}),  # reads its first 64 tokens
    ("rnn", "char", {}),  # reads the default first 4096 characters
    ("ffn", "bpe", {"max_length": 64})])
def test_a_2000_word_review_is_classified_alike_in_pytorch_onnx_and_c(arch, embedding, options, students, tmp_path):
    """Text in, logits out: PyTorch (training tokenizer), the ONNX predictor (portable tokenizer) and C agree."""
    directory = students(arch, embedding, **options)
    student = load_student(directory)
    ids = student.tokenizer.encode(LONG_REVIEW)
    whole = options.get("max_length", 0) >= 4096
    assert len(ids) > 2000 if whole else len(ids) == student.tokenizer.spec.max_length
    float_logits = torch_logits(student.model, ids[None])
    int8_logits = torch_logits(int8_reference_model(student), ids[None])

    export(ExportConfig(model=str(directory), output=str(tmp_path / "onnx"), format="onnx"))
    predictor = load(tmp_path / "onnx")
    np.testing.assert_array_equal(predictor.encode([LONG_REVIEW])[0], ids)
    onnx_logits = predictor.logits([LONG_REVIEW])
    np.testing.assert_allclose(onnx_logits, float_logits, atol=1e-5)

    exe = exported_c(directory, tmp_path)
    (c_ids,) = c_build.run_tokens(exe, [LONG_REVIEW])
    np.testing.assert_array_equal(c_ids.reshape(ids.shape), ids)
    c_logits, _ = c_build.run_logits(exe, [LONG_REVIEW])
    np.testing.assert_allclose(c_logits, int8_logits, atol=C_LOGIT_ATOL)
    assert onnx_logits.argmax() == float_logits.argmax() and c_logits.argmax() == int8_logits.argmax()
