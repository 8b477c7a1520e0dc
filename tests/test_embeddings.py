"""Tests for featherweight.embeddings: spec, hash and char tokenizers, modules, parameter counts."""
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from featherweight.embeddings import (
    CHAR_THESIS, HASH25_STAR, HASH_DEFAULT, TokenizerSpec, build_embedding, fit_tokenizer, fnv1a_32,
    load_tokenizer, murmur3_32, pad_batch, parameter_count, thesis_parameter_count, token_hash)
import featherweight.embeddings

SENTENCE = "The movie wasn't good!"
TEXTS = [SENTENCE, "Émile's café: naïve, über-cool 42 €", "", "   ", "日本語 テキスト", "a" * 50]
# bpe fallback corpus: two word groups that share contexts within, not across
CORPUS = ["the cat purrs softly", "the kitten purrs softly", "a dog barks loudly", "a puppy barks loudly",
          "the cat sleeps", "the kitten sleeps", "a dog runs", "a puppy runs"] * 3


def small_tokenizers():
    return [fit_tokenizer("hash", [], dim=8, seed=0, num_buckets=50),
            fit_tokenizer("char", [], dim=8, seed=0),
            fit_tokenizer("bpe", CORPUS, dim=8, seed=0, cache_dir=None, download=False)]


# --- hashes ---------------------------------------------------------------------------------

def test_murmur3_matches_published_vectors():
    """murmur3_32 reproduces the reference MurmurHash3_x86_32 test vectors."""
    assert murmur3_32(b"", 0) == 0
    assert murmur3_32(b"", 1) == 0x514E28B7
    assert murmur3_32(b"hello", 0) == 0x248BFA47
    assert murmur3_32(b"The quick brown fox jumps over the lazy dog", 0) == 0x2E4FF723


def test_fnv1a_matches_published_vectors():
    """fnv1a_32 with seed 0 is standard FNV-1a 32."""
    assert fnv1a_32(b"") == 0x811C9DC5
    assert fnv1a_32(b"a") == 0xE40C292C
    assert fnv1a_32(b"foobar") == 0xBF9CF968


def test_token_hashes_match_pinned_constants():
    """Seeded token hashes (and md5 as in the thesis: index prefixed) stay what they were when pinned."""
    assert token_hash("good", 0, "md5", 0) == 71948538819523328796318753849443844401
    assert token_hash("good", 0, "md5", 0) == int(hashlib.md5(b"0good").hexdigest(), 16)
    assert token_hash("good", 1, "fnv1a_32", 7) == 3974051968
    assert token_hash("café", 2, "murmur3_32", 0) == 697600000


def test_hash_tokenizer_ids_match_pinned_constants():
    """The default hash tokenizer's ids for a fixed sentence never change silently."""
    ids = fit_tokenizer("hash", [], dim=100, seed=0).encode(SENTENCE)
    assert ids.tolist() == [[339, 26, 326, 2925], [51, 35, 365, 2589], [395, 484, 176, 3077],
                            [79, 24, 102, 2819], [158, 27, 318, 3375], [230, 382, 331, 4527],
                            [209, 416, 328, 4826]]


def test_c_reference_hashes_match_python(tmp_path):
    """hash_reference.c computes the same murmur3_32 and fnv1a_32 values as the Python code."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    source = str(Path(featherweight.embeddings.__file__).with_name("hash_reference.c"))
    binary = tmp_path / "fw_hash"
    subprocess.run([cc, "-std=c99", "-DFW_HASH_MAIN", source, "-o", str(binary)], check=True)
    tokens = ["good", "café", "", "abcde", "n't"]
    for function in ("murmur3_32", "fnv1a_32"):
        out = subprocess.run([str(binary), function, "42", *tokens], capture_output=True, text=True, check=True)
        assert [int(x) for x in out.stdout.split()] == [token_hash(t, 0, function, 42) for t in tokens]


# --- spec -----------------------------------------------------------------------------------

def test_spec_fills_type_defaults():
    """A bare spec gets the documented defaults: K=5000, B=K/10, k=3, words only, 1024 tokens; char 4096 chars."""
    assert (HASH_DEFAULT.num_buckets, HASH_DEFAULT.num_components, HASH_DEFAULT.num_hashes) == (5000, 500, 3)
    assert HASH_DEFAULT.max_length == 1024 and HASH_DEFAULT.word_ngrams == 1 and HASH_DEFAULT.ids_per_token == 4
    assert TokenizerSpec(type="hash", word_ngrams=2).ids_per_token == 8
    assert TokenizerSpec(type="hash", num_buckets=2500).num_components == 250
    char = TokenizerSpec(type="char")
    assert char.max_length == 4096 and char.ids_per_token == 1 and len(char.alphabet) == 45
    assert len(CHAR_THESIS.alphabet) == 33


def test_spec_json_round_trip_is_lossless():
    """to_json/from_json and to_dict/from_dict give back an equal spec, without other types' fields."""
    for spec in (HASH_DEFAULT, HASH25_STAR, CHAR_THESIS):
        assert TokenizerSpec.from_json(spec.to_json()) == spec
        assert TokenizerSpec.from_dict(spec.to_dict()) == spec
    assert "alphabet" not in HASH_DEFAULT.to_dict() and "num_hashes" not in CHAR_THESIS.to_dict()


@pytest.mark.parametrize("kwargs, message", [
    ({"type": "word"}, "type must be one of"),
    ({"type": "hash", "max_length": 0}, "max_length must be a positive int"),
    ({"type": "hash", "hash_function": "sha1"}, "hash_function must be one of"),
    ({"type": "hash", "alphabet": "abc"}, "belongs to 'char' specs"),
    ({"type": "char", "alphabet": "aab"}, "repeated characters"),
    ({"type": "char", "alphabet_name": "klingon"}, "Unknown alphabet_name"),
    ({"type": "bpe", "vocab_size": 10, "source": "bpemb"}, "needs model_file"),
    ({"type": "bpe", "model_file": "m", "vocab_size": 10, "source": "mine"}, "source must be one of"),
])
def test_spec_rejects_invalid_fields_with_clear_message(kwargs, message):
    """Invalid specs fail in __post_init__ with a message naming the problem."""
    with pytest.raises((ValueError, TypeError), match=message):
        TokenizerSpec(**kwargs)


def test_spec_from_dict_rejects_unknown_keys():
    """Unknown keys in tokenizer.json are reported, not ignored."""
    with pytest.raises(ValueError, match="Unknown tokenizer spec keys"):
        TokenizerSpec.from_dict({"type": "hash", "buckets": 10})


def test_fit_tokenizer_rejects_unknown_kind_and_options():
    """fit_tokenizer names the bad embedding type or option and lists the valid ones."""
    with pytest.raises(ValueError, match="Unknown embedding type 'word'"):
        fit_tokenizer("word", [], dim=8, seed=0)
    with pytest.raises(TypeError, match=r"unknown options \['buckets'\]"):
        fit_tokenizer("hash", [], dim=8, seed=0, buckets=10)
    with pytest.raises(ValueError, match="alphabet must be one of"):
        fit_tokenizer("char", [], dim=8, seed=0, alphabet="klingon")


# --- tokenizers -----------------------------------------------------------------------------

def test_encode_shapes_dtype_and_id_ranges():
    """encode gives int64 (T, C); hash ids lie in [1, B] and [1, K], char ids in [1, |A| + 1]."""
    hash_tok = fit_tokenizer("hash", [], dim=8, seed=0, num_buckets=50)
    char_tok = fit_tokenizer("char", [], dim=8, seed=0)
    words = [f"w{i}" for i in range(1100)]
    ids = hash_tok.encode(" ".join(words))
    assert ids.dtype == np.int64 and ids.shape == (1024, 4)  # truncated at the default max_length
    assert ids[:, :3].min() >= 1 and ids[:, :3].max() <= 5 and ids[:, 3].min() >= 1 and ids[:, 3].max() <= 50
    assert len(np.unique(ids[:, 3])) > 40  # the importance hash spreads over the K rows
    chars = char_tok.encode(TEXTS[1])
    assert chars.dtype == np.int64 and chars.shape[1] == 1
    assert chars.min() >= 1 and chars.max() <= 46


def test_empty_and_blank_text_encode_to_zero_tokens():
    """'' and whitespace-only text give shape (0, C) for every tokenizer."""
    for tok in small_tokenizers():
        for text in ("", "   \n\t"):
            assert tok.encode(text).shape == (0, tok.ids_per_token)


def test_long_input_is_truncated_to_max_length():
    """Inputs longer than max_length keep exactly their first max_length tokens."""
    text = " ".join(f"word{i} the cat" for i in range(2000))
    for tok in small_tokenizers():
        full, prefix = tok.encode(text), tok.encode(text[:300])
        assert full.shape == (tok.spec.max_length, tok.ids_per_token)
        n = min(len(prefix), len(full)) - 1  # the last prefix token may be a cut word
        assert np.array_equal(full[:n], prefix[:n])


def test_non_ascii_text_is_tokenised_not_dropped():
    """Non-ASCII words get hash ids; the char tokenizer folds accents ('é' -> 'e')."""
    hash_tok = fit_tokenizer("hash", [], dim=8, seed=0)
    assert hash_tok.tokenize("日本語 テキスト") == ["日本語", "テキスト"]
    assert hash_tok.encode("日本語 テキスト").shape == (2, 4)
    assert hash_tok.tokenize("Don't STOP!") == ["don", "'", "t", "stop", "!"]
    assert hash_tok.tokenize("ｆｕｌｌ") == ["full"]  # NFKC folds full-width letters
    char_tok = fit_tokenizer("char", [], dim=8, seed=0)
    assert np.array_equal(char_tok.encode("Café"), char_tok.encode("cafe"))


def test_hash_options_change_ids():
    """Seed, hash function and punctuation splitting are honoured (not silently ignored)."""
    base = fit_tokenizer("hash", [], dim=8, seed=0).encode(SENTENCE)
    for options in ({"hash_seed": 1}, {"hash_function": "fnv1a_32"}, {"hash_function": "md5"}):
        assert not np.array_equal(fit_tokenizer("hash", [], dim=8, seed=0, **options).encode(SENTENCE), base)
    no_split = fit_tokenizer("hash", [], dim=8, seed=0, split_punctuation=False, lowercase=False)
    assert no_split.tokenize(SENTENCE) == ["The", "movie", "wasn't", "good!"]


def test_char_unknowns_are_counted_not_dropped():
    """Characters outside the alphabet map to id 1 and are counted per character."""
    thesis = fit_tokenizer("char", [], dim=8, seed=0, alphabet="thesis")
    ids = thesis.encode("Hi 2 you€")
    assert len(ids) == 9 and (ids[:, 0] == 1).sum() == 2
    assert thesis.unknown_counts == {"2": 1, "€": 1} and thesis.unknown_total == 2
    default = fit_tokenizer("char", [], dim=8, seed=0)
    default.encode("Hi 2 you€")
    assert default.unknown_counts == {"€": 1}


def test_pad_batch_pads_with_zero_ids():
    """pad_batch stacks (T_i, C) arrays into (B, T, C) with id 0 after each sequence."""
    tok = fit_tokenizer("hash", [], dim=8, seed=0)
    batch = pad_batch(tok.encode_batch(["a b c", "a"]))
    assert batch.shape == (2, 3, 4) and (batch[1, 1:] == 0).all() and (batch[:, 0] != 0).all()


def test_save_load_round_trip_gives_same_ids(tmp_path):
    """A saved tokenizer reloads with an equal spec and identical ids for every family."""
    for i, tok in enumerate(small_tokenizers()):
        directory = tok.save(tmp_path / str(i))
        assert json.loads((directory / "tokenizer.json").read_text())["type"] == tok.spec.type
        loaded = load_tokenizer(directory)
        assert loaded.spec == tok.spec and type(loaded) is type(tok)
        for text in TEXTS + CORPUS[:4]:
            assert np.array_equal(loaded.encode(text), tok.encode(text))


def test_load_tokenizer_reports_missing_file(tmp_path):
    """load_tokenizer on a directory without tokenizer.json says what is missing and how to fix it."""
    with pytest.raises(FileNotFoundError, match="No tokenizer.json"):
        load_tokenizer(tmp_path)


_CHILD = """
import hashlib, json, sys
from featherweight.embeddings import fit_tokenizer, load_tokenizer
texts = json.loads(sys.argv[2])
out = {d: [load_tokenizer(d).encode(t).tolist() for t in texts] for d in sys.argv[1].split(",")}
bpe = fit_tokenizer("bpe", texts, dim=8, seed=3, download=False, cache_dir=None)
out["fit"] = [hashlib.md5(bpe.model_proto).hexdigest(), hashlib.md5(bpe.vectors.tobytes()).hexdigest()]
out["torch_imported"] = "torch" in sys.modules
print(json.dumps(out))
"""


def test_tokenisation_is_identical_across_processes_and_hash_seeds(tmp_path):
    """Two processes with different PYTHONHASHSEED produce the same ids and the same fitted BPE model."""
    directories = [str(tok.save(tmp_path / str(i))) for i, tok in enumerate(small_tokenizers())]
    texts = TEXTS + CORPUS
    outputs = []
    for seed in ("1", "2"):
        env = {"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
        run = subprocess.run([sys.executable, "-c", _CHILD, ",".join(directories), json.dumps(texts)],
                             capture_output=True, text=True, env=env, check=True)
        outputs.append(json.loads(run.stdout.strip().splitlines()[-1]))
    assert outputs[0] == outputs[1]
    assert outputs[0]["torch_imported"] is False  # the tokenisation path runs without torch
    for d in directories:
        assert outputs[0][d] == [load_tokenizer(d).encode(t).tolist() for t in texts]


# --- modules and parameter counts -----------------------------------------------------------

def test_pad_positions_embed_to_zero_and_stay_zero_after_training():
    """Pad rows are zero, pad outputs exactly zero, and AdamW steps with weight decay keep them so."""
    torch.manual_seed(0)
    for tok in small_tokenizers():
        module = build_embedding(tok, 8)
        assert module.embedding_dim == 8
        ids = torch.from_numpy(pad_batch(tok.encode_batch(["the cat purrs", "a dog"]), length=6))
        optimizer = torch.optim.AdamW(module.parameters(), lr=0.1, weight_decay=0.1)
        for _ in range(3):
            optimizer.zero_grad()
            out = module(ids)
            (out ** 2).sum().backward()
            optimizer.step()
        out = module(ids)
        assert out.shape == (2, 6, 8)
        assert torch.equal(out[ids[..., 0] == 0], torch.zeros_like(out[ids[..., 0] == 0]))
        assert out[ids[..., 0] != 0].abs().sum() > 0
        for table in module.modules():
            if isinstance(table, torch.nn.Embedding):
                assert torch.equal(table.weight[0], torch.zeros_like(table.weight[0]))


def test_embedding_rejects_ids_of_wrong_shape():
    """forward names the expected (batch, tokens, C) shape when given the wrong one."""
    module = build_embedding(fit_tokenizer("hash", [], dim=8, seed=0), 8)
    with pytest.raises(ValueError, match=r"Expected ids of shape \(batch, tokens, 4\), got \(2, 5\)"):
        module(torch.zeros(2, 5, dtype=torch.long))


def test_parameter_counts_follow_thesis_formulas():
    """Thesis formulas: hash B*d + K*k, char |A|*d, bpe V*d; our modules add only the zero/unknown rows."""
    assert thesis_parameter_count(HASH_DEFAULT, 100) == 500 * 100 + 5000 * 3 == 65_000  # Hash100
    assert thesis_parameter_count(HASH25_STAR, 25) == 250 * 25 + 2500 * 3 == 13_750  # Hash25*
    assert thesis_parameter_count(CHAR_THESIS, 100) == 33 * 100  # Char100, thesis alphabet
    bpemb = TokenizerSpec(type="bpe", model_file="m", vocab_size=5000, source="bpemb")
    assert thesis_parameter_count(bpemb, 25) == 125_000 and thesis_parameter_count(bpemb, 100) == 500_000
    assert parameter_count(HASH_DEFAULT, 100) == 65_000 + 100 + 3  # + pad component row + pad importance row
    assert parameter_count(CHAR_THESIS, 100) == 3300 + 2 * 100  # + pad and unknown rows
    assert parameter_count(bpemb, 100) == 500_000 + 100  # + pad row


def test_built_modules_hold_exactly_the_counted_parameters():
    """build_embedding's parameter total equals parameter_count for every family and preset."""
    tokenizers = small_tokenizers() + [fit_tokenizer("hash", [], dim=25, seed=0, num_buckets=2500),
                                       fit_tokenizer("char", [], dim=100, seed=0, alphabet="thesis")]
    for tok, dim in zip(tokenizers, (8, 8, 8, 25, 100)):
        total = sum(p.numel() for p in build_embedding(tok, dim).parameters())
        assert total == parameter_count(tok.spec, dim)
    assert sum(p.numel() for p in build_embedding(tokenizers[3], 25).parameters()) == 13_750 + 25 + 3
