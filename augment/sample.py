"""Draw augmented variants of rows: each candidate word replaced with probability p by a random candidate.

Randomness comes from one generator per row, seeded by (seed, row key), so a row's variants do
not depend on the other rows, on how the input is cut into shards, or on a resumed run.
Pairs: each draw rewrites one side and keeps the other original (sides take turns), so the
relation between the two texts (duplicate question, entailment) is changed from one side only.
"""
from __future__ import annotations

import hashlib
from collections import Counter
from typing import NamedTuple

import numpy as np


class Slot(NamedTuple):
    """A replaceable word of a text: its span, the word, and its candidate replacements."""

    start: int
    end: int
    word: str
    candidates: tuple[str, ...]


def rewrite(text: str, slots: list[Slot], replace: np.ndarray, pick: np.ndarray) -> str:
    """`text` with slot i replaced by candidate floor(pick[i] * n_i) wherever replace[i] is true."""
    pieces, cursor = [], 0
    for slot, chosen, u in zip(slots, replace, pick):
        if chosen:
            pieces += [text[cursor:slot.start], slot.candidates[int(u * len(slot.candidates))]]
            cursor = slot.end
    return "".join(pieces) + text[cursor:]


def draw_variants(texts: tuple[str, ...], slots: tuple[list[Slot], ...], *, samples: int, p: float,
                  rng: np.random.Generator) -> list[tuple[str, ...]]:
    """`samples` draws of the row (one or two texts), unfiltered: a draw may equal the input or repeat.

    For a pair, draw n rewrites side sides[n % len(sides)] of the sides that have candidates.
    """
    sides = [side for side, side_slots in enumerate(slots) if side_slots]
    if not sides:
        return []
    # Drawn for every side whatever is used, so one side's candidates never shift the other's draws.
    replace = [rng.random((samples, len(s))) < p for s in slots]  # (N, C_side)
    pick = [rng.random((samples, len(s))) for s in slots]
    out = []
    for n in range(samples):
        side = sides[n % len(sides)]
        row = list(texts)
        row[side] = rewrite(texts[side], slots[side], replace[side][n], pick[side][n])
        out.append(tuple(row))
    return out


def row_digest(texts: tuple[str, ...]) -> bytes:
    """A stable 8-byte digest of a row's texts, for de-duplication across a whole run."""
    return hashlib.blake2b("\t".join(texts).encode("utf-8"), digest_size=8).digest()


def augment_rows(rows: list[tuple[str, ...]], keys: list[int], slots_of: dict[str, list[Slot]], *,
                 samples: int, p: float, seed: int, keep_fraction: float = 1.0, seen: set | None = None,
                 counts: Counter | None = None) -> list[tuple[int, tuple[str, ...]]]:
    """(row number, variant) for the kept variants of each row, in row then draw order.

    A variant identical to its row is dropped, then one already seen (`seen`: digests of the
    original rows and of earlier variants, updated in place), then a seeded `keep_fraction` of the
    rest is kept. `keys` (e.g. source line numbers) seed each row's generator.
    """
    seen = seen if seen is not None else set()
    counts = counts if counts is not None else Counter()
    kept = []
    for number, (texts, key) in enumerate(zip(rows, keys)):
        rng = np.random.default_rng([seed, int(key)])
        variants = draw_variants(texts, tuple(slots_of[t] for t in texts), samples=samples, p=p, rng=rng)
        keep = rng.random(len(variants)) < keep_fraction
        counts["rows_with_candidates"] += bool(variants)
        for variant, chosen in zip(variants, keep):
            counts["drawn"] += 1
            if variant == texts:
                counts["unchanged"] += 1
                continue
            digest = row_digest(variant)
            if digest in seen:
                counts["duplicates"] += 1
                continue
            if not chosen:
                counts["not_kept"] += 1
                continue
            seen.add(digest)
            kept.append((number, variant))
    return kept
