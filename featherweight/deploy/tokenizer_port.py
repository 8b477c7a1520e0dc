"""Build an export's portable tokenizer tables (port.json) from a training tokenizer, and check them.

The tables hold everything the pure-Python and C ports need: a per-codepoint normalisation map over
the covered Unicode ranges (the training tokenizer's own normalisation, and for BPE SentencePiece's
normaliser after it, applied to each codepoint alone) stored as runs plus the irregular rest (see
encode_runs), the hash settings, the alphabet, or the BPE pieces with their merge ranks and student ids.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

from featherweight.deploy.reference_tokenizer import PORT_FILE, PORT_VERSION, SPACES, WORD_MARK
from featherweight.embeddings.text import normalize

RUN_MAX_COUNT = 255  # the C runtime stores a run's count in a byte, its step in a signed byte
RUN_STRIDES = (1, 2)  # 1: A-Z -> a-z, fullwidth, math letters; 2: alternating upper/lower pairs (Latin Extended)
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

    spec = tokenizer.spec
    charsmap = _model_proto(tokenizer).normalizer_spec.SerializeToString() if spec.type == "bpe" else None
    runs, irregular = _normalisation(spec.type, spec.unicode_form, spec.lowercase,
                                     spec.digits_to_zero if spec.type == "bpe" else None, charsmap,
                                     _known_characters(tokenizer))
    ngrams = spec.type == "hash" and spec.word_ngrams > 1  # version 2 only where needed: older readers refuse it
    # the run-encoded table has new keys (no "normalize"), so a reader from before runs fails instead of misreading
    port = {"version": PORT_VERSION if ngrams else 1, "type": spec.type, "max_length": spec.max_length,
            "ids_per_token": spec.ids_per_token, "coverage": [list(r) for r in COVERAGE],
            "normalize_runs": [list(run) for run in runs],
            "normalize_irregular": [[cp, list(out)] for cp, out in irregular]}
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


@functools.lru_cache(maxsize=8)
def _normalisation(kind: str, unicode_form, lowercase, digits_to_zero, charsmap: bytes | None,
                   known: frozenset | None) -> tuple[tuple, tuple]:
    """(runs, irregular) of the per-codepoint table, built once per tokenizer settings in a process (the sweep
    over all of Unicode takes ~0.3-1 s)."""
    if kind == "bpe":
        to_pieces = _spm_normalizer(charsmap)
        mapping = lambda text: to_pieces(normalize(text, unicode_form, lowercase, digits_to_zero))
    else:
        mapping = lambda text: normalize(text, unicode_form, lowercase)
    table = [(ord(c), tuple(map(ord, out))) for c, out in _folded(_changed(mapping), known)
             if out != c and not (kind == "char" and ord(c) in HANGUL_SYLLABLES)]
    runs, irregular = encode_runs(table)
    return tuple(runs), tuple(irregular)


def encode_runs(table) -> tuple[list, list]:
    """Runs [start, count, stride, step, first] (codepoint start + k * stride becomes first + k * step, k < count)
    and the rest [codepoint, (codepoints)] of a sorted per-codepoint table [(codepoint, (codepoints))].

    Greedy from the lowest codepoint: the longest run of at least 2 single-codepoint mappings with a stride
    of RUN_STRIDES and a step that fits a signed byte. Runs stay within a plane (the C keys are 16-bit per
    plane) and their spans do not overlap, so a binary search finds the one run that may hold a codepoint;
    entries between a stride-2 run's members go to the rest.
    """
    single = {cp: out[0] for cp, out in table if len(out) == 1}
    runs, irregular, end = [], [], -1
    for cp, out in table:
        if cp <= end:  # inside the last run's span: a member, or one between its members
            start, _, stride, _, _ = runs[-1]
            if (cp - start) % stride:
                irregular.append((cp, out))
            continue
        run = max((_run(single, cp, stride) for stride in RUN_STRIDES if cp in single), default=None,
                  key=lambda r: r[1])
        if run is not None and run[1] >= 2:
            runs.append(run)
            end = cp + (run[1] - 1) * run[2]
        else:
            irregular.append((cp, out))
    return runs, irregular


def _run(single: dict, start: int, stride: int) -> list:
    """The longest run [start, count, stride, step, first] from `start` with this stride (count 1: none)."""
    first = single[start]
    step = single.get(start + stride, first) - first
    count = 1
    while (count < RUN_MAX_COUNT and -128 <= step <= 127 and (start + count * stride) >> 16 == start >> 16
           and single.get(start + count * stride) == first + count * step):
        count += 1
    return [start, count, stride, step, first]


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
    return _spm_normalizer(_model_proto(tokenizer).normalizer_spec.SerializeToString())


def _spm_normalizer(normalizer_spec: bytes):
    """_sentencepiece_charsmap of a serialized NormalizerSpec."""
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2

    spec = sentencepiece_model_pb2.NormalizerSpec()
    spec.ParseFromString(normalizer_spec)
    normalizer = spm.SentencePieceNormalizer(normalizer_spec=spec,
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
