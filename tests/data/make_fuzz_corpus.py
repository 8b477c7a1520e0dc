"""Write tests/data/fuzz_corpus.jsonl: the tokenizer fuzz corpus (deterministic: same file on every run).

One JSON object per line: {"id", "category", "text"} for a Python string, or {"id", "category",
"bytes_hex"} for a byte string that is not valid UTF-8 (the C side reads it; Python's
bytes.decode("utf-8", "replace") gives the text it must tokenise like). Only the stdlib `random`
with a fixed seed and fixed codepoint ranges are used (no unicodedata, whose tables change with
Python). Run: python tests/data/make_fuzz_corpus.py
"""
from __future__ import annotations

import json
import random
from pathlib import Path

OUT = Path(__file__).with_name("fuzz_corpus.jsonl")
SEED = 17

WHITESPACE = [0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x1F, 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B),
              0x2028, 0x2029, 0x202F, 0x205F, 0x3000]
INVISIBLE = [0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2060, 0x2066, 0x2067,
             0x2068, 0x2069, 0xAD, 0xFEFF, 0xFFFD, 0x2581, 0x061C, 0x180E, 0xFFF9, 0xFFFC]
SCRIPTS = {  # short sentences, most with upper case where the script has it
    "latin": ["Ce film est très émouvant !", "Der Film war überraschend GUT, aber zu lang.",
              "Phim này thật tuyệt vời, tôi rất thích.", "İstanbul'da ılık bir akşam; IŞIK ve ışık.",
              "Ångström, Øresund, ÆSIR, straße, STRASSE", "¿Qué tal? ¡Muy bien! Señor NIÑO",
              "Łódź, Żółć, Čeština, Ďábel, Ŋŋ Ɓɓ ǅ ǈ ǋ", "ʰʲʷ ˈfɪlm ɡʊd"],
    "greek": ["Η ταινία ήταν ΠΟΛΥ καλή.", "ΟΔΥΣΣΕΥΣ και Σίσυφος", "ἐν ἀρχῇ ἦν ὁ λόγος", "σοφός ΣΟΦΟΣ"],
    "cyrillic": ["Этот фильм ОЧЕНЬ хороший!", "Ёлка и ЁЖИК", "Це чудовий фільм, Ґанок", "Ђорђе ЉУБАВ Џеп"],
    "armenian": ["Այս ֆիլմը ԼԱՎՆ է", "և ﬓ ﬔ"],
    "georgian": ["ეს ფილმი კარგია", "ႠႡႢ ⴀⴁ"],
    "arabic": ["هذا الفيلم رائع جدا", "الفيلم ٣ من ١٠", "ﻻ ﷺ ﷽", "كتاب‌ها خوب است"],
    "hebrew": ["הסרט הזה מצוין", "שָׁלוֹם עוֹלָם"],
    "devanagari": ["यह फ़िल्म बहुत अच्छी है", "क़ ख़ ग़ ज़ ड़ ढ़ फ़ य़", "०१२३४५६७८९"],
    "bengali": ["ছবিটি খুব ভালো", "০১২৩"],
    "tamil": ["இந்த படம் நன்றாக உள்ளது"],
    "thai": ["หนังเรื่องนี้ดีมาก", "น้ำ ทำ คำ"],
    "lao": ["ຮູບເງົານີ້ດີຫຼາຍ"],
    "khmer": ["ភាពយន្តនេះល្អណាស់"],
    "tibetan": ["འདི་ཡག་པོ་རེད།"],
    "myanmar": ["ဒီရုပ်ရှင်ကောင်းတယ်"],
    "ethiopic": ["ይህ ፊልም ጥሩ ነው።"],
    "cherokee": ["ᏣᎳᎩ ᎦᏬᏂᎯᏍᏗ ꭰꭱ"],
    "cjk": ["这部电影非常好看。", "這部電影非常好看！", "映画はとても良かった。", "カタカナ ひらがな ｶﾀｶﾅ", "豈 更 車"],
    "hangul": ["이 영화는 정말 좋아요", "ᄒᆞᆫ글 ㄱㄴㄷ"],
    "mongolian": ["ᠮᠣᠩᠭᠣᠯ ᠪᠢᠴᠢᠭ"],
    "sinhala": ["මෙම චිත්‍රපටය හොඳයි"],
    "glagolitic": ["ⰀⰁⰂ ⰰⰱⰲ"],
}
EMOJI = ["👍", "🙂", "😂😂😂", "👨\u200d👩\u200d👧\u200d👦", "🏳️\u200d🌈", "👩🏽\u200d💻", "🇫🇷🇯🇵", "1️⃣ #️⃣", "❤️", "🧑🏿\u200d🦯",
         "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f", "☺︎ ☺️", "🫠🫶"]
COMBINING = ["e\u0301", "E\u0301", "a\u0308\u0304", "n\u0303", "Z\u0351\u0358\u0336\u0335", "i\u0307", "o\u031b\u0323",
             "A\u030a", "c\u0327", "u\u0308\u0301", "\u0301alone", "x\u20dd", "q\u0323\u0307", "\u0345\u0391"]
FULLWIDTH = ["ＧＯＯＤ ｆｉｌｍ", "ｇｏｏｄ　ｆｉｌｍ！", "１２３４５", "（ａ）［ｂ］", "ﾊﾟﾝ ｶﾞ", "￥１００ ￡５", "ﬁne ﬂow ﬀ ﬃ", "①②③ ⑴ ⒜ Ⓐ",
             "x² H₂O ½ ¼ ™ № ℃ Ⅻ ⅷ", "ｔｈｅ　ＦＩＬＭ　ｗａｓ　ｂａｄ"]
PUNCT = ["it's NOT bad -- 3.5/5, ok?", "...!!!???", "\"quoted\" 'single' `back`", "a-b_c.d,e;f:g", "<html>&amp;</html>",
         "C:\\path\\to\\file", "e-mail@example.com http://x.y/z?q=1#f", "“smart” ‘quotes’ — … • ‹›«»",
         "100% $5 €3 £2 ¥1",
         "(((nested)))", "{json: [1, 2]}", "~`^|+=*"]
WORDS = ["good", "bad", "film", "movie", "great", "boring", "the", "a", "plot", "acting", "not", "very", "fine", "dull"]
ASTRAL_RANGES = [(0x1F300, 0x1FAFF), (0x20000, 0x2A6DF), (0x10000, 0x1018F), (0x10300, 0x1034F), (0xF0000, 0xF00FF),
                 (0x1D400, 0x1D7FF), (0x1F100, 0x1F1FF)]


def _bmp(rng: random.Random) -> str:
    cp = rng.randrange(0x01, 0x10000)
    return chr(0xFFFD if 0xD800 <= cp <= 0xDFFF else cp)


def _any(rng: random.Random) -> str:
    if rng.random() < 0.7:
        return _bmp(rng)
    low, high = rng.choice(ASTRAL_RANGES)
    return chr(rng.randrange(low, high + 1))


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def valid_strings(rng: random.Random) -> list[tuple[str, str]]:
    """(category, text) pairs of valid Unicode."""
    out = [("empty", ""), ("empty", " "), ("nul", "\0"), ("nul", "good\0film"), ("nul", "\0bad film"),
           ("nul", "film bad\0")]
    for cp in WHITESPACE:
        ws = chr(cp)
        out += [("whitespace", ws), ("whitespace", ws * 3), ("whitespace", f"good{ws}film"),
                ("whitespace", f"{ws}bad film{ws}{ws}")]
    out.append(("whitespace", "".join(map(chr, WHITESPACE))))
    for cp in [*range(0x01, 0x09), 0x0E, 0x0F, *range(0x10, 0x1C), 0x7F, *range(0x80, 0xA0)]:
        out += [("control", chr(cp)), ("control", f"good{chr(cp)}film bad{chr(cp)}")]
    for cp in INVISIBLE:
        ch = chr(cp)
        out += [("invisible", ch), ("invisible", f"{ch}good film"), ("invisible", f"good{ch}film {ch} bad{ch}")]
    out += [("emoji", e) for e in EMOJI] + [("emoji", f"good film {e} bad{e}ok") for e in EMOJI]
    out += [("combining", c) for c in COMBINING] + [("combining", f"caf{c} {c}good") for c in COMBINING]
    out += [("fullwidth", f) for f in FULLWIDTH]
    out += [("punctuation", p) for p in PUNCT]
    for script, sentences in SCRIPTS.items():
        for s in sentences:
            out += [(script, s), (script, s.upper()), (script, s.lower()), (script, f"good {s} bad"),
                    (script, s.replace(" ", "\u3000"))]
    for n in (64, 127, 128, 129, 500, 1000, 2000):
        out += [("long-word", "ab" * (n // 2)), ("long-word", "x" * n), ("long-word", "é" * n),
                ("long-word", "映" * n), ("long-word", "good" + "😂" * n)]
    out.append(("long-word", "Donaudampfschifffahrtselektrizitätenhauptbetriebswerkbauunterbeamtengesellschaft"))
    for n in (1023, 1024, 1025, 3000):
        out += [("long-text", _sentence(rng, n)), ("long-text", "a " * n), ("long-text", "é" * n * 2)]
    out.append(("long-text", "x" * 5000))
    for _ in range(150):
        out.append(("random-ascii", "".join(chr(rng.randrange(0x20, 0x7F)) for _ in range(rng.randrange(1, 60)))))
    for _ in range(300):
        out.append(("random-bmp", "".join(_bmp(rng) for _ in range(rng.randrange(1, 30)))))
    for _ in range(150):
        out.append(("random-unicode", "".join(_any(rng) for _ in range(rng.randrange(1, 30)))))
    for _ in range(150):
        words = [rng.choice(WORDS) if rng.random() < 0.6 else "".join(_any(rng) for _ in range(rng.randrange(1, 6)))
                 for _ in range(rng.randrange(1, 12))]
        out.append(("random-mixed", rng.choice([" ", "  ", "\t", "\u00a0"]).join(words)))
    out += [("lone-surrogate", "good \ud800 film"), ("lone-surrogate", "\udc80\udcff"), ("lone-surrogate", "bad\udfff"),
            ("lone-surrogate", "\ud83d")]
    return out


INVALID = [  # byte strings that are not UTF-8: overlongs, surrogates, > U+10FFFF, truncations, stray bytes
    b"good \xc0\x80 film bad bad bad", b"\xc0\x80", b"\xc1\xbf", b"\xe0\x80\x80", b"\xe0\x9f\xbf", b"\xf0\x80\x80\x80",
    b"\xf0\x8f\xbf\xbf", b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xed\xa0\xbd\xed\xb8\x80", b"\xf4\x90\x80\x80",
    b"\xf5\x80\x80\x80", b"\xf7\xbf\xbf\xbf", b"\xf8\x88\x80\x80\x80", b"\xfc\x84\x80\x80\x80\x80", b"\xfe", b"\xff",
    b"\x80", b"\xbf", b"\x80\x80\x80", b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98", b"good\xc3", b"good\xe2\x82 film",
    b"\xf0\x9f\x98good", b"caf\xe9", b"na\xefve caf\xe9", b"\xc3\x28", b"\xa0\xa1", b"\xe2\x28\xa1", b"\xe2\x82\x28",
    b"\xf0\x28\x8c\xbc", b"\xf0\x90\x28\xbc", b"\xf0\x28\x8c\x28", b"good \xff\xfe film", b"\xef\xbb\xbfgood film",
    b"\xed\x9f\xbf\xee\x80\x80", b"\xf4\x8f\xbf\xbf", b"a\xc2", b"\xc2\xc2\xa0", b"bad\x80film", b"\xe1\x80\xe2\xf0",
    b"\xf1\x80\x80\xe1\x80\xc2", b"\xdf", b"\xef\xbf", b"\xf3\xbf\xbf", b"\xed\x80", b"\xc0\xaf", b"\xe0\x80\xaf",
]


def invalid_bytes(rng: random.Random) -> list[bytes]:
    """Fixed malformed sequences, plus seeded random byte strings and valid text with bytes spliced in."""
    out = list(INVALID)
    for _ in range(60):
        out.append(bytes(rng.randrange(1, 256) for _ in range(rng.randrange(1, 24))))
    for _ in range(40):
        text = bytearray(_sentence(rng, rng.randrange(1, 6)).encode())
        text.insert(rng.randrange(len(text) + 1), rng.randrange(0x80, 0x100))
        out.append(bytes(text))
    return out


def rows() -> list[dict]:
    rng = random.Random(SEED)
    out = [{"category": c, "text": t} for c, t in valid_strings(rng)]
    out += [{"category": "invalid-utf8", "bytes_hex": b.hex()} for b in invalid_bytes(rng)]
    return [{"id": i, **row} for i, row in enumerate(out)]


def main() -> None:
    lines = [json.dumps(row, ensure_ascii=True) for row in rows()]
    OUT.write_text("\n".join(lines) + "\n", encoding="ascii")
    print(f"wrote {len(lines)} rows to {OUT}")


if __name__ == "__main__":
    main()
