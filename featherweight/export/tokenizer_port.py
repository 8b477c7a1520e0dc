"""Build an export's portable tokenizer tables (port.json) from a training tokenizer, and check them.

The tables hold everything the pure-Python and C ports need: a per-codepoint normalisation map over
the covered Unicode ranges (the training tokenizer's own normalisation, and for BPE SentencePiece's
normaliser after it, applied to each codepoint alone), the hash settings, the alphabet, or the BPE
pieces with their merge ranks and student ids.
"""
from __future__ import annotations

import json
from pathlib import Path

from featherweight.export.reference_tokenizer import PORT_FILE, PORT_VERSION, SPACES, WORD_MARK

# Codepoints the normalisation table covers: all of Unicode but the surrogates (which no UTF-8 decoder
# yields), so that per codepoint the ports normalise exactly as training does. Only the codepoints the
# normalisation changes ids are stored: ~6,200 (hash's NFKC + lower), ~2,800 (bpe) and ~3,700 (char),
# where characters that neither tokenizer knows share one stand-in (see _folded); export/README.md lists
# what a per-codepoint table cannot express.
COVERAGE = ((0x01, 0xD7FF), (0xE000, 0x10FFFF))
# char only: NFKD splits each Hangul syllable into 2 or 3 jamo, 11,172 entries (~200 KB of C flash) that
# the port leaves out: there a syllable is one character (unknown to every alphabet), in training 2 or 3.
HANGUL_SYLLABLES = range(0xAC00, 0xD7A4)
_CHUNK = 4096  # codepoints normalised in one call, NUL-separated (NUL neither composes nor changes case)


def covered_codepoints():
    for low, high in COVERAGE:
        yield from range(low, high + 1)


assert SPACES <= set(covered_codepoints())


def build_port(tokenizer) -> dict:
    """The portable tables of a featherweight.embeddings tokenizer (hash, char or bpe)."""
    from featherweight.embeddings.text import normalize

    spec = tokenizer.spec
    if spec.type == "bpe":
        to_pieces = _sentencepiece_charsmap(tokenizer)
        mapping = lambda text: to_pieces(normalize(text, spec.unicode_form, spec.lowercase, spec.digits_to_zero))
    else:
        mapping = lambda text: normalize(text, spec.unicode_form, spec.lowercase)
    known = _known_characters(tokenizer)
    table = [[ord(c), [ord(x) for x in out]] for c, out in _folded(_changed(mapping), known)
             if out != c and not (spec.type == "char" and ord(c) in HANGUL_SYLLABLES)]
    ngrams = spec.type == "hash" and spec.word_ngrams > 1  # version 2 only where needed: older readers refuse it
    port = {"version": PORT_VERSION if ngrams else 1, "type": spec.type, "max_length": spec.max_length,
            "ids_per_token": spec.ids_per_token, "coverage": [list(r) for r in COVERAGE], "normalize": table}
    if spec.type == "hash":
        if spec.hash_function not in ("murmur3_32", "fnv1a_32"):
            raise ValueError(f"Export supports hash_function murmur3_32 or fnv1a_32; this student uses "
                             f"{spec.hash_function!r} (the thesis md5 mode). Retrain it with the default murmur3_32.")
        port["hash"] = {"function": spec.hash_function, "seed": spec.hash_seed, "num_hashes": spec.num_hashes,
                        "num_components": spec.num_components, "num_buckets": spec.num_buckets,
                        "split_punctuation": spec.split_punctuation, "word_ngrams": spec.word_ngrams}
    elif spec.type == "char":
        port["char"] = {"alphabet": [ord(c) for c in spec.alphabet]}
    else:
        port["bpe"] = _bpe_tables(tokenizer)
    return port


def _changed(mapping):
    """(character, mapping(character)) over the coverage, from NUL-joined chunks (one call per chunk)."""
    codepoints = list(covered_codepoints())
    for start in range(0, len(codepoints), _CHUNK):
        chunk = [chr(cp) for cp in codepoints[start:start + _CHUNK]]
        parts = mapping("\0".join(chunk)).split("\0")
        if len(parts) != len(chunk):  # a codepoint's mapping made or removed a NUL: go one by one
            parts = [mapping(c) for c in chunk]
        yield from zip(chunk, parts)


def _known_characters(tokenizer) -> frozenset | None:
    """Characters whose identity changes ids (char: alphabet and spaces; bpe: those in a piece, space,
    "▁"); any other character gives the unknown id, so all others may share one codepoint. hash: None
    (every character's bytes are hashed)."""
    spec = tokenizer.spec
    if spec.type == "char":
        return frozenset(spec.alphabet) | frozenset(map(chr, SPACES))
    if spec.type == "bpe":
        pieces = [p.piece for p in _model_proto(tokenizer).pieces]
        return frozenset("".join(pieces)) | {" ", chr(WORD_MARK)}
    return None


def _folded(pairs, known: frozenset | None):
    """(character, mapping) pairs with every unknown character of a mapping as one stand-in codepoint,
    so that entries which only turn one unknown character into another drop out of the table."""
    if known is None:
        yield from pairs
        return
    other = next(chr(cp) for cp in range(0xFFFF, 0x110000) if chr(cp) not in known)  # a noncharacter
    for c, out in pairs:
        out = "".join(x if x in known else other for x in out)
        yield c, (c if out == (c if c in known else other) else out)


def _model_proto(tokenizer):
    from sentencepiece import sentencepiece_model_pb2

    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(tokenizer.model_proto)
    return proto


def _sentencepiece_charsmap(tokenizer):
    """SentencePiece's character normalisation alone (no whitespace handling) as a str -> str function."""
    import sentencepiece as spm

    normalizer = spm.SentencePieceNormalizer(normalizer_spec=_model_proto(tokenizer).normalizer_spec,
                                             add_dummy_prefix=False, escape_whitespaces=False,
                                             remove_extra_whitespaces=False)
    return normalizer.Normalize


def _bpe_tables(tokenizer) -> dict:
    """Normal pieces with merge rank (0 = merged first) and student id; the whitespace flags."""
    from sentencepiece import sentencepiece_model_pb2

    proto = _model_proto(tokenizer)
    normalizer, trainer = proto.normalizer_spec, proto.trainer_spec
    Piece = sentencepiece_model_pb2.ModelProto.SentencePiece
    problems = []
    if trainer.model_type != sentencepiece_model_pb2.TrainerSpec.BPE:
        problems.append("the SentencePiece model is not BPE")
    if trainer.byte_fallback:
        problems.append("byte_fallback is on")
    if trainer.treat_whitespace_as_suffix or not normalizer.escape_whitespaces:
        problems.append("whitespace is not escaped as a '▁' prefix")
    kinds = {p.type for p in proto.pieces}
    if kinds - {Piece.NORMAL, Piece.UNKNOWN, Piece.CONTROL}:
        problems.append("it has user-defined, unused or byte pieces")
    normal = [(i, p) for i, p in enumerate(proto.pieces) if p.type == Piece.NORMAL]
    if any(chr(WORD_MARK) in p.piece[1:] for _, p in normal):
        problems.append("a piece holds '▁' after its first character")
    if problems:
        raise ValueError(f"{tokenizer.spec.model_file}: the portable BPE tokenizer cannot reproduce this model: "
                         f"{'; '.join(problems)}. Export a student with a default SentencePiece BPE model.")
    scores = sorted({p.score for _, p in normal}, reverse=True)
    rank = {score: r for r, score in enumerate(scores)}
    remap = tokenizer._remap  # SentencePiece id -> student id (the one mapping training used)
    unknown = next(i for i, p in enumerate(proto.pieces) if p.type == Piece.UNKNOWN)
    return {"add_dummy_prefix": normalizer.add_dummy_prefix,
            "remove_extra_whitespaces": normalizer.remove_extra_whitespaces,
            "unknown_id": int(remap[unknown]),
            "pieces": [[p.piece, rank[p.score], int(remap[i])] for i, p in normal]}


def write_port(port: dict, directory) -> Path:
    """Write the tables of `build_port` as port.json into `directory` (an export's tokenizer folder)."""
    path = Path(directory) / PORT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(port, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
