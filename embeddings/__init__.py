"""Embeddings for tiny students: hash, character and BPE tokenizers plus their embedding modules.

Tokenisation (spec, tokenizers, fit/load) needs only numpy and sentencepiece; the torch
modules (build_embedding, HashEmbedding, TokenEmbedding) are imported on first use.
"""
from .base import SPEC_FILE, Tokenizer, pad_batch
from .bpe_tokenizer import BpeTokenizer
from .char_tokenizer import CharTokenizer
from .fit import BpeOptions, fit_tokenizer, load_tokenizer
from .hash_tokenizer import HashTokenizer
from featherweight.hashing import fnv1a_32, murmur3_32, token_hash
from .params import parameter_count, thesis_parameter_count
from .spec import ALPHABETS, CHAR_DEFAULT, CHAR_THESIS, HASH25_STAR, HASH_DEFAULT, TokenizerSpec

_TORCH_NAMES = ("build_embedding", "HashEmbedding", "TokenEmbedding")

__all__ = ["ALPHABETS", "BpeOptions", "BpeTokenizer", "CHAR_DEFAULT", "CHAR_THESIS", "CharTokenizer",
           "HASH25_STAR", "HASH_DEFAULT", "HashTokenizer", "SPEC_FILE", "Tokenizer", "TokenizerSpec",
           "fit_tokenizer", "fnv1a_32", "load_tokenizer", "murmur3_32", "pad_batch", "parameter_count",
           "thesis_parameter_count", "token_hash", *_TORCH_NAMES]


def __getattr__(name):  # PEP 562: keep `import featherweight.embeddings` free of torch
    if name in _TORCH_NAMES:
        from . import modules
        return getattr(modules, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
