"""Golden test vectors: fixed sentences and the training tokenizer's ids, written with every export.

Any port of the tokenizer (the Python one in reference_tokenizer.py, the generated C) must
reproduce these ids exactly; tests and `featherweight export` check both.
"""
from __future__ import annotations

import json
from pathlib import Path

GOLDEN_FILE = "golden.json"

# What a port must get right: case, punctuation, digits, whitespace runs and control characters,
# Latin accents and ligatures, typographic quotes and dashes, characters outside every vocabulary,
# and truncation at the default max_length (the last two rows: 1100 words and over 4096 characters each,
# past the default 1024 tokens of hash and BPE and 4096 characters of char).
GOLDEN_SENTENCES = (
    "",
    "   ",
    "a",
    "Hello, World!",
    "the film is good",
    "It's not the BEST movie I've seen -- but it's fine.",
    "  multiple   spaces\tand\ttabs\nand a newline  ",
    "it's 42 or 3.14? maybe 2,000,000!",
    "Café, naïve, Ångström, Straße, cœur, ÆON, façade",
    "“curly” ‘quotes’ — em dash – en dash … ellipsis",
    "non\u00a0breaking\u2009thin\u3000ideographic spaces",
    "ﬁne ﬂow ﬀ",
    "zzqx ~~ <unk> @@ ^^ {[()]} #$%&*+/=|\\",
    "映画 is 好き, ok?",
    "ctrl\x01chars\x7fhere \x0bvt\x0cff\x1cfs",
    "UPPER-lower_mixed/slash\\back 'single' \"double\"",
    " ".join(["word"] * 1100),
    "abc " * 1100,
)


def golden_vectors(tokenizer, sentences=GOLDEN_SENTENCES) -> list[dict]:
    """[{"text", "ids"}] with ids as nested lists (T, C) from the training tokenizer."""
    return [{"text": text, "ids": tokenizer.encode(text).tolist()} for text in sentences]


def write_golden(tokenizer, directory) -> Path:
    path = Path(directory) / GOLDEN_FILE
    path.write_text(json.dumps(golden_vectors(tokenizer), ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def read_golden(directory) -> list[dict]:
    path = Path(directory) / GOLDEN_FILE
    if not path.is_file():
        raise FileNotFoundError(f"No {GOLDEN_FILE} in {directory}; it is written by `featherweight export`.")
    return json.loads(path.read_text(encoding="utf-8"))
