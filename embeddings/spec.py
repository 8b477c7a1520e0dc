"""TokenizerSpec: the serialisable description of one tokenisation path (written as tokenizer.json).

An exporter re-implements tokenisation from this spec alone (plus the BPE model file):
normalise (see text.py), split, map to ids, truncate to `max_length`. Id 0 is padding in
every column; real ids start at 1.
"""
import dataclasses
import json
from dataclasses import dataclass
from typing import Optional

from featherweight.hashing import HASH_FUNCTIONS, MASK32
from .text import UNICODE_FORMS

SPEC_VERSION = 1
TYPES = ("hash", "char", "bpe")
ALPHABETS = {
    "thesis": "abcdefghijklmnopqrstuvwxyz ,.;:?!",  # 33 symbols, as in the thesis
    "default": "abcdefghijklmnopqrstuvwxyz0123456789 ,.;:?!'-",  # thesis + digits, ' and -
}
BPE_SOURCES = ("bpemb", "fallback-sentencepiece-ppmi", "fallback-sentencepiece-glove")

HASH_BUCKETS = 5000  # K, the hash embedding's importance rows: the default of --hash-buckets (thesis value)
# Fields each type owns, with their defaults (None = required, no default).
_TYPE_FIELDS = {
    "hash": {"num_hashes": 3, "num_buckets": HASH_BUCKETS, "num_components": None,
             "hash_function": "murmur3_32", "hash_seed": 0, "split_punctuation": True, "word_ngrams": 1},
    "char": {"alphabet_name": "default", "alphabet": None},
    "bpe": {"model_file": None, "vocab_size": None, "source": None, "digits_to_zero": True,
            "kept_pieces": None, "seed": None},
}
# Tokens (characters for char) a student reads of one text; the rest is cut. Long enough for whole reviews:
# 1024 words keep 99% of IMDB reviews whole (the thesis's 128 cut 87% of them), 4096 characters 98%.
# Cost: linear time in the kept length, and the C export's static id buffer of max_length x ids_per_token ids
# (2 bytes each below 65536): 8 KB at the hash default, 16 KB with bigrams.
MAX_LENGTH_DEFAULTS = {"hash": 1024, "char": 4096, "bpe": 1024}
_TYPE_DEFAULTS = {  # shared fields whose default depends on the type
    "hash": {"max_length": MAX_LENGTH_DEFAULTS["hash"], "unicode_form": "nfkc"},
    "char": {"max_length": MAX_LENGTH_DEFAULTS["char"], "unicode_form": "nfkd_strip_accents"},  # thesis folds accents
    "bpe": {"max_length": MAX_LENGTH_DEFAULTS["bpe"], "unicode_form": "none"},  # BPEmb: lower() + digits -> 0, then SentencePiece's own NFKC
}


@dataclass
class TokenizerSpec:
    """How text becomes ids. Type-specific fields are None on the other types."""

    type: str
    max_length: Optional[int] = None  # tokens (hash, bpe) or characters (char); longer input is truncated
    lowercase: bool = True
    unicode_form: Optional[str] = None  # "none" | "nfkc" | "nfkd_strip_accents"
    # hash: ids = murmur3/fnv1a/md5 of the word's UTF-8 bytes with seed hash_seed + i
    num_hashes: Optional[int] = None  # k component vectors per token
    num_buckets: Optional[int] = None  # K rows of importance weights (the distillation's hash_buckets)
    num_components: Optional[int] = None  # B shared component vectors; default K // 10
    hash_function: Optional[str] = None
    hash_seed: Optional[int] = None
    split_punctuation: Optional[bool] = None
    word_ngrams: Optional[int] = None  # n: each token also carries the hashes of the n-grams ending at it (fastText)
    # char: id 1 = unknown character, id 2 + i = alphabet[i]
    alphabet_name: Optional[str] = None
    alphabet: Optional[str] = None
    # bpe: id = remapped SentencePiece id + 1
    model_file: Optional[str] = None  # SentencePiece model, relative to tokenizer.json
    vocab_size: Optional[int] = None  # pieces in the model file
    source: Optional[str] = None  # "bpemb" or a fallback name; never claim bpemb for a fallback
    digits_to_zero: Optional[bool] = None
    kept_pieces: Optional[list] = None  # pruned: kept pieces (with unknown), id 1 + i; others -> unknown
    seed: Optional[int] = None  # seed the fallback was trained with
    version: int = SPEC_VERSION

    def __post_init__(self):
        if self.type not in TYPES:
            raise ValueError(f"TokenizerSpec.type must be one of {TYPES}, got {self.type!r}.")
        if self.type == "char" and self.alphabet is not None and self.alphabet_name is None:
            self.alphabet_name = "custom"
        for name, default in _TYPE_DEFAULTS[self.type].items():
            if getattr(self, name) is None:
                setattr(self, name, default)
        for kind, fields in _TYPE_FIELDS.items():
            for name, default in fields.items():
                value = getattr(self, name)
                if kind == self.type and value is None:
                    setattr(self, name, default)
                elif kind != self.type and value is not None:
                    raise ValueError(f"Field {name!r} belongs to {kind!r} specs, got {name}={value!r} "
                                     f"on a {self.type!r} spec; remove it.")
        if self.type == "hash" and self.num_components is None and isinstance(self.num_buckets, int):
            self.num_components = max(1, self.num_buckets // 10)  # thesis: B = K / 10
        if self.type == "char" and self.alphabet is None:
            if self.alphabet_name not in ALPHABETS:
                raise ValueError(f"Unknown alphabet_name {self.alphabet_name!r}; expected one of "
                                 f"{sorted(ALPHABETS)} or pass alphabet='...' explicitly.")
            self.alphabet = ALPHABETS[self.alphabet_name]
        if self.type == "char" and ALPHABETS.get(self.alphabet_name, self.alphabet) != self.alphabet:
            raise ValueError(f"alphabet_name={self.alphabet_name!r} does not match alphabet={self.alphabet!r}; "
                             "drop alphabet_name for a custom alphabet.")
        self._validate()

    def _validate(self):
        _positive_int("max_length", self.max_length)
        if not isinstance(self.lowercase, bool):
            raise TypeError(f"lowercase must be a bool, got {self.lowercase!r}.")
        if self.unicode_form not in UNICODE_FORMS:
            raise ValueError(f"unicode_form must be one of {UNICODE_FORMS}, got {self.unicode_form!r}.")
        if self.version != SPEC_VERSION:
            raise ValueError(f"Spec version {self.version} is not supported (this code reads {SPEC_VERSION}).")
        if self.type == "hash":
            for name in ("num_hashes", "num_buckets", "num_components", "word_ngrams"):
                _positive_int(name, getattr(self, name))
            if self.hash_function not in HASH_FUNCTIONS:
                raise ValueError(f"hash_function must be one of {HASH_FUNCTIONS}, got {self.hash_function!r}.")
            if not isinstance(self.hash_seed, int) or not 0 <= self.hash_seed <= MASK32:
                raise ValueError(f"hash_seed must be an int in [0, 2**32), got {self.hash_seed!r}.")
        elif self.type == "char":
            if not isinstance(self.alphabet, str) or not self.alphabet:
                raise ValueError(f"alphabet must be a non-empty string, got {self.alphabet!r}.")
            if len(set(self.alphabet)) != len(self.alphabet):
                raise ValueError(f"alphabet has repeated characters: {self.alphabet!r}.")
        else:
            if not self.model_file or "/" in self.model_file or "\\" in self.model_file:
                raise ValueError("A bpe spec needs model_file: the file name of the SentencePiece model next to "
                                 f"tokenizer.json, got {self.model_file!r}.")
            _positive_int("vocab_size", self.vocab_size)
            if self.source not in BPE_SOURCES:
                raise ValueError(f"source must be one of {BPE_SOURCES}, got {self.source!r}.")
            if self.kept_pieces is not None:
                if not all(isinstance(p, str) for p in self.kept_pieces):
                    raise TypeError("kept_pieces must be a list of piece strings.")
                if len(set(self.kept_pieces)) != len(self.kept_pieces):
                    raise ValueError("kept_pieces has repeated pieces.")

    @property
    def ids_per_token(self) -> int:
        """Columns per token: for hash, k component ids + 1 importance id per n-gram order (1..n), else 1."""
        return (self.num_hashes + 1) * self.word_ngrams if self.type == "hash" else 1

    def to_dict(self) -> dict:
        """Plain dict with the fields that apply to this type."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict) -> "TokenizerSpec":
        """Inverse of to_dict; unknown keys are an error."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"Unknown tokenizer spec keys {unknown}; expected a subset of {sorted(known)}.")
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> "TokenizerSpec":
        return cls.from_dict(json.loads(text))


def _positive_int(name: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}.")


# Named presets (dataclasses.replace of the defaults).
HASH_DEFAULT = TokenizerSpec(type="hash")  # k=3, K=HASH_BUCKETS, B=K/10
HASH25_STAR = dataclasses.replace(HASH_DEFAULT, num_buckets=2500, num_components=250)  # thesis Hash25*: half tables
CHAR_DEFAULT = TokenizerSpec(type="char")
CHAR_THESIS = dataclasses.replace(CHAR_DEFAULT, alphabet_name="thesis", alphabet=ALPHABETS["thesis"])
