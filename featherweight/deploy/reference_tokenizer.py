"""Pure-Python tokenizer from an export's portable tables (stdlib + numpy): the algorithm the C code runs.

It needs no torch and no sentencepiece, so the predictor can run where only numpy and onnxruntime
exist. Text -> codepoints -> per-codepoint normalisation table -> split -> ids:
  hash  words and (optionally) ASCII punctuation, truncated; k component ids + 1 importance id per word
        from murmur3_32 / fnv1a_32 of the word's UTF-8 bytes; with word_ngrams = n > 1, then the k + 1 ids
        of each m-gram ending at the word (m = 2..n: its words joined by one space), zeros before the text.
  char  whitespace runs collapsed to one space, stripped, truncated; alphabet index + 2, else 1.
  bpe   SentencePiece BPE: spaces collapsed and stripped, "▁" marks each word, then within each word
        the adjacent pair whose merged piece ranks best is merged, leftmost first, until none is
        left (a heap over a linked list of symbols: O(n log n) in the word's length, as SentencePiece);
        unknown symbols become the unknown id and a run of them collapses into one.
A lone surrogate (not valid Unicode) reads as U+FFFD first, as in embeddings/text.py and the C decoder.
The table covers the codepoints in `coverage`; others pass through unchanged (see export/README.md).
It is stored as runs (`normalize_runs`: [start, count, stride, step, first]: codepoint start + k * stride
becomes first + k * step, k < count) and the rest (`normalize_irregular`: [codepoint, [codepoints]]);
ports written before runs hold one `normalize` list of the latter kind.
"""
from __future__ import annotations

import heapq
import json
from pathlib import Path

import numpy as np

from featherweight.hashing import MASK32, fnv1a_32, murmur3_32

PORT_FILE = "port.json"
PORT_VERSION = 2  # the newest version this code reads; 2 = hash word n-grams (a version 1 reader would misread them)

# Codepoints for which str.isspace() holds (and re's \s matches): the whitespace of every split.
SPACES = frozenset([*range(0x09, 0x0E), *range(0x1C, 0x21), 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B),
                    0x2028, 0x2029, 0x202F, 0x205F, 0x3000])
PUNCTUATION = frozenset(map(ord, "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"))  # string.punctuation
WORD_MARK = 0x2581  # SentencePiece's "▁"
_HASHES = {"murmur3_32": murmur3_32, "fnv1a_32": fnv1a_32}


class PortableTokenizer:
    """encode(text) -> int64 ids (T, C), from the tables in port.json (see build_port in tokenizer_port.py)."""

    def __init__(self, port: dict):
        if port.get("version") not in range(1, PORT_VERSION + 1):
            raise ValueError(f"Portable tokenizer version {port.get('version')!r} is not supported "
                             f"(this code reads 1 to {PORT_VERSION}); re-export the model.")
        self.port = port
        self.type = port["type"]
        self.max_length = port["max_length"]
        self.ids_per_token = port["ids_per_token"]
        self.table = (decode_runs(port["normalize_runs"], port["normalize_irregular"]) if "normalize_runs" in port
                      else {cp: tuple(out) for cp, out in port["normalize"]})
        if self.type == "hash":
            h = port["hash"]
            if h["function"] not in _HASHES:
                raise ValueError(f"Hash function {h['function']!r} has no portable implementation; "
                                 f"expected one of {sorted(_HASHES)}.")
            self._hash = _HASHES[h["function"]]
            self.word_ngrams = h.get("word_ngrams", 1)  # ports older than n-grams: words only
        elif self.type == "char":
            self._alphabet = {cp: i + 2 for i, cp in enumerate(port["char"]["alphabet"])}
        elif self.type == "bpe":
            self._pieces = {piece: (rank, sid) for piece, rank, sid in port["bpe"]["pieces"]}
        else:
            raise ValueError(f"Unknown tokenizer type {self.type!r} in port.json.")

    @classmethod
    def load(cls, directory) -> "PortableTokenizer":
        path = Path(directory) / PORT_FILE
        if not path.is_file():
            raise FileNotFoundError(f"No {PORT_FILE} in {directory}; it is written by `featherweight export`.")
        return cls(json.loads(path.read_text(encoding="utf-8")))

    def normalized(self, text: str) -> list[int]:
        """Codepoints of `text` after the per-codepoint normalisation table."""
        if not isinstance(text, str):
            raise TypeError(f"Expected text as str, got {type(text).__name__}.")
        out = []
        for ch in text:
            cp = ord(ch)
            if 0xD800 <= cp <= 0xDFFF:  # a lone surrogate reads as U+FFFD, as in embeddings/text.py
                cp = 0xFFFD
            out.extend(self.table.get(cp, (cp,)))
        return out

    def encode(self, text: str) -> np.ndarray:
        rows = {"hash": self._hash_ids, "char": self._char_ids, "bpe": self._bpe_ids}[self.type](self.normalized(text))
        return np.asarray(rows, dtype=np.int64).reshape(len(rows), self.ids_per_token)

    def _hash_ids(self, cps: list[int]) -> list:
        h = self.port["hash"]
        words, word = [], []
        for cp in cps:
            if cp in SPACES or (h["split_punctuation"] and cp in PUNCTUATION):
                if word:
                    words.append(word)
                    word = []
                if cp not in SPACES:
                    words.append([cp])
            else:
                word.append(cp)
        if word:
            words.append(word)
        words = ["".join(map(chr, word)).encode("utf-8") for word in words[:self.max_length]]
        padding = [0] * (h["num_hashes"] + 1)
        rows = []
        for t in range(len(words)):  # the m-gram ending at word t is words t-m+1..t joined by one space
            rows.append([i for m in range(1, self.word_ngrams + 1)
                         for i in (self._word_ids(b" ".join(words[t - m + 1:t + 1])) if t >= m - 1 else padding)])
        return rows

    def _word_ids(self, data: bytes) -> list:
        """The k component ids and the importance id of one word's (or n-gram's) UTF-8 bytes."""
        h = self.port["hash"]
        k, seed = h["num_hashes"], h["seed"]
        row = [self._hash(data, (seed + i) & MASK32) % h["num_components"] + 1 for i in range(k)]
        row.append(self._hash(data, (seed + k) & MASK32) % h["num_buckets"] + 1)
        return row

    def _char_ids(self, cps: list[int]) -> list:
        out, pending = [], False
        for cp in cps:
            if cp in SPACES:
                pending = bool(out)
                continue
            if pending:
                out.append(0x20)
                pending = False
            out.append(cp)
        return [self._alphabet.get(cp, 1) for cp in out[:self.max_length]]

    def _bpe_ids(self, cps: list[int]) -> list:
        b = self.port["bpe"]
        text = []
        for cp in cps:  # SentencePiece's whitespace handling: collapse and strip spaces, "▁" for each
            if cp == 0x20 and b["remove_extra_whitespaces"] and (not text or text[-1] == 0x20):
                continue
            text.append(cp)
        if b["remove_extra_whitespaces"]:
            while text and text[-1] == 0x20:
                text.pop()
        if not text:
            return []
        marked = "".join(chr(WORD_MARK) if cp == 0x20 else chr(cp) for cp in text)
        if b["add_dummy_prefix"]:
            marked = chr(WORD_MARK) + marked
        ids, previous_unknown = [], False
        for word in _words(marked):
            for piece in self._merge(list(word)):
                found = self._pieces.get(piece)
                if found is None:
                    if not previous_unknown:  # SentencePiece merges a run of unknown pieces into one
                        ids.append(b["unknown_id"])
                    previous_unknown = True
                else:
                    ids.append(found[1])
                    previous_unknown = False
                if len(ids) >= self.max_length:
                    return [[i] for i in ids[:self.max_length]]
        return [[i] for i in ids]

    def _merge(self, symbols: list[str]) -> list[str]:
        """Greedy BPE: merge the best-ranked adjacent pair (lowest rank, then leftmost) until none is a piece.

        As SentencePiece does: a heap of candidate pairs over a linked list of symbols, so a word of n
        symbols takes O(n log n) (merged pieces are vocabulary pieces, of bounded length). A heap entry
        is stale once either of its symbols has changed; it is then skipped.
        """
        nxt = list(range(1, len(symbols) + 1))  # nxt[i]: the symbol after symbol i (len(symbols): none)
        prev = list(range(-1, len(symbols) - 1))

        def pair(i: int):
            """Heap entry (rank, i, j, merged length) of symbol i and the next one, or None."""
            j = nxt[i]
            found = self._pieces.get(symbols[i] + symbols[j]) if j < len(symbols) else None
            return None if found is None else (found[0], i, j, len(symbols[i]) + len(symbols[j]))

        heap = [entry for entry in map(pair, range(len(symbols) - 1)) if entry is not None]
        heapq.heapify(heap)
        while heap:
            _, i, j, length = heapq.heappop(heap)
            if symbols[i] is None or nxt[i] != j or len(symbols[i]) + len(symbols[j]) != length:
                continue  # stale: symbols only grow, so a merge since changed a length or a neighbour
            symbols[i], symbols[j] = symbols[i] + symbols[j], None
            nxt[i] = nxt[j]
            if nxt[i] < len(symbols):
                prev[nxt[i]] = i
            for entry in (pair(prev[i]) if prev[i] >= 0 else None, pair(i)):
                if entry is not None:
                    heapq.heappush(heap, entry)
        return [symbol for symbol in symbols if symbol is not None]


def decode_runs(runs: list, irregular: list) -> dict:
    """The per-codepoint table {codepoint: normalised codepoints} of a run-encoded one (see encode_runs)."""
    table = {cp: tuple(out) for cp, out in irregular}
    for start, count, stride, step, first in runs:
        table.update((start + k * stride, (first + k * step,)) for k in range(count))
    return table


def _words(marked: str) -> list[str]:
    """Split before every "▁": merged pieces never span one (checked when the tables are built)."""
    words, start = [], 0
    for i, ch in enumerate(marked):
        if ch == chr(WORD_MARK) and i > start:
            words.append(marked[start:i])
            start = i
    if start < len(marked):
        words.append(marked[start:])
    return words
