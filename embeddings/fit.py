"""Build a tokenizer for an embedding family (fit_tokenizer) and load a saved one (load_tokenizer)."""
import dataclasses
import json
import logging
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sentencepiece as spm

from .base import SPEC_FILE, Tokenizer
from .bpe_tokenizer import BpeTokenizer
from .bpemb import BPEMB_DIMS, BPEMB_URL, DEFAULT_CACHE, align_vectors, download_bpemb, find_bpemb, read_word2vec
from .char_tokenizer import CharTokenizer
from .fallback import ppmi_vectors, train_sentencepiece
from .glove import glove_vectors
from .hash_tokenizer import HashTokenizer
from .spec import ALPHABETS, MAX_LENGTH_DEFAULTS, TokenizerSpec
from .text import normalize

log = logging.getLogger(__name__)

MODEL_FILE = "bpe.model"
_HASH_OPTIONS = ("num_hashes", "num_buckets", "num_components", "hash_function", "hash_seed",
                 "split_punctuation", "word_ngrams", "max_length", "lowercase", "unicode_form")
_CHAR_OPTIONS = ("alphabet", "max_length", "lowercase", "unicode_form")


@dataclass
class BpeOptions:
    """Options of fit_tokenizer('bpe', ...)."""

    vocab_size: int = 5000  # BPEmb vocabulary; the fallback may end up smaller on a small corpus
    lang: str = "en"
    download: bool = True  # try bpemb.h-its.org when the cache lacks the files; failure -> fallback
    base_url: str = BPEMB_URL
    timeout: float = 10.0  # seconds per download request
    vectors: str = "ppmi"  # fallback vectors: "ppmi" (trained on train_texts) or "glove"
    window: int = 5  # PPMI co-occurrence window, in pieces
    prune: bool = False  # keep only pieces seen in train_texts
    max_length: int = MAX_LENGTH_DEFAULTS["bpe"]

    def __post_init__(self):
        if self.vectors not in ("ppmi", "glove"):
            raise ValueError(f"vectors must be 'ppmi' or 'glove', got {self.vectors!r}.")
        if self.vocab_size < 2 or self.window < 1:
            raise ValueError(f"Need vocab_size >= 2 and window >= 1, got {self.vocab_size} and {self.window}.")


def fit_tokenizer(kind: str, train_texts: list, *, dim: int, seed: int, cache_dir=None, **options) -> Tokenizer:
    """Tokenizer for `kind` in "hash" | "char" | "bpe".

    hash and char learn nothing from the texts (`seed` is not their hash seed: pass hash_seed).
    bpe loads BPEmb (vs5000, `dim`) from `cache_dir` (default ~/.cache/bpemb), else downloads it,
    else trains the offline fallback on `train_texts` (see fallback.py); vectors ride along and
    `build_embedding` starts from them.
    """
    if kind == "hash":
        return HashTokenizer(TokenizerSpec(type="hash", **_check_options(kind, options, _HASH_OPTIONS)))
    if kind == "char":
        options = _check_options(kind, options, _CHAR_OPTIONS)
        name = options.pop("alphabet", "default")
        if name not in ALPHABETS:
            raise ValueError(f"alphabet must be one of {sorted(ALPHABETS)}, got {name!r}; for a custom "
                             "alphabet build CharTokenizer(TokenizerSpec(type='char', alphabet=...)).")
        return CharTokenizer(TokenizerSpec(type="char", alphabet_name=name, **options))
    if kind == "bpe":
        names = tuple(f.name for f in dataclasses.fields(BpeOptions))
        return _fit_bpe(list(train_texts), dim, seed, cache_dir, BpeOptions(**_check_options(kind, options, names)))
    raise ValueError(f"Unknown embedding type {kind!r}; expected 'hash', 'char' or 'bpe'.")


def _check_options(kind: str, options: dict, allowed: tuple) -> dict:
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise TypeError(f"fit_tokenizer({kind!r}) got unknown options {unknown}; valid: {sorted(allowed)}.")
    return dict(options)


def _fit_bpe(texts: list, dim: int, seed: int, cache_dir, opts: BpeOptions) -> BpeTokenizer:
    cache = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE
    files = find_bpemb(cache, opts.lang, opts.vocab_size, dim)
    if files is None and opts.download and dim in BPEMB_DIMS:
        try:
            files = download_bpemb(cache, opts.lang, opts.vocab_size, dim, opts.base_url, opts.timeout)
        except (OSError, ValueError, tarfile.TarError) as err:  # URLError is an OSError
            log.warning("BPEmb download failed (%s); training the offline fallback instead", err)
    if files is not None:
        model_proto = files[0].read_bytes()
        pieces = _pieces(model_proto)
        words, vectors = read_word2vec(files[1])
        if vectors.shape[1] != dim:
            raise ValueError(f"{files[1]} holds {vectors.shape[1]}-d vectors, expected {dim}.")
        piece_vectors, source = align_vectors(pieces, words, vectors, seed), "bpemb"
        log.info("BPE embeddings from BPEmb: %s", files[0])
    else:
        # the bpe spec defaults (unicode_form="none", lowercase, digits_to_zero) applied to the corpus
        normalised = [normalize(t, "none", lowercase=True, digits_to_zero=True) for t in texts]
        model_proto = train_sentencepiece(normalised, opts.vocab_size)
        pieces = _pieces(model_proto)
        if opts.vectors == "glove":
            piece_vectors, found = glove_vectors(pieces, dim, seed)
            log.info("BPE fallback: %d of %d pieces found in GloVe", found, len(pieces))
        else:
            sp = spm.SentencePieceProcessor(model_proto=model_proto)
            piece_vectors = ppmi_vectors([sp.encode(t) for t in normalised], len(pieces), dim, seed, opts.window)
        source = f"fallback-sentencepiece-{opts.vectors}"
        log.warning("BPEmb files not found in %s; using %s (vocabulary %d)", cache, source, len(pieces))
    spec = TokenizerSpec(type="bpe", max_length=opts.max_length, model_file=MODEL_FILE,
                         vocab_size=len(pieces), source=source, seed=seed)
    vectors = np.concatenate([np.zeros((1, dim), np.float32), piece_vectors.astype(np.float32)])
    tokenizer = BpeTokenizer(spec, model_proto, vectors)
    return tokenizer.pruned(texts) if opts.prune else tokenizer


def _pieces(model_proto: bytes) -> list:
    sp = spm.SentencePieceProcessor(model_proto=model_proto)
    return [sp.id_to_piece(i) for i in range(sp.get_piece_size())]


def load_tokenizer(directory) -> Tokenizer:
    """The tokenizer saved by `tokenizer.save(directory)`."""
    path = Path(directory) / SPEC_FILE
    if not path.is_file():
        raise FileNotFoundError(f"No {SPEC_FILE} in {directory}; write one with tokenizer.save({str(directory)!r}).")
    try:
        spec = TokenizerSpec.from_json(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}:{err.lineno}: not valid JSON ({err.msg}).") from None
    if spec.type == "hash":
        return HashTokenizer(spec)
    if spec.type == "char":
        return CharTokenizer(spec)
    return BpeTokenizer.load(directory, spec)
