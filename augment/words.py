"""Words of a text as character spans, and the rules for which words and replacements are allowed.

A text is split like BERT's basic tokenizer: runs of word characters and single punctuation marks
(`don't` -> `don`, `'`, `t`). Only the spans of candidate words are ever rewritten, so everything
else in a text (spacing, punctuation, case) is kept byte for byte.
"""
from __future__ import annotations

import re
from typing import NamedTuple

_TOKEN = re.compile(r"\w+|[^\w\s]")

# NLTK's English stopword list (as used by the TinyBERT reference): never replaced.
STOPWORDS = frozenset("""
i me my myself we our ours ourselves you you're you've you'll you'd your yours yourself yourselves
he him his himself she she's her hers herself it it's its itself they them their theirs themselves
what which who whom this that that'll these those am is are was were be been being have has had
having do does did doing a an the and but if or because as until while of at by for with about
against between into through during before after above below to from up down in out on off over
under again further then once here there when where why how all any both each few more most other
some such no nor not only own same so than too very s t can will just don don't should should've
now d ll m o re ve y ain aren aren't couldn couldn't didn didn't doesn doesn't hadn hadn't hasn
hasn't haven haven't isn isn't ma mightn mightn't mustn mustn't needn needn't shan shan't shouldn
shouldn't wasn wasn't weren weren't won won't wouldn wouldn't
""".split())


class Word(NamedTuple):
    """One candidate word of a text: its character span and its text."""

    start: int
    end: int
    text: str


def is_candidate(word: str) -> bool:
    """A word may be replaced when it is ASCII-alphabetic and not a stopword."""
    return word.isascii() and word.isalpha() and word.lower() not in STOPWORDS


def candidate_words(text: str) -> list[Word]:
    """The replaceable words of `text`, in order."""
    return [Word(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(text) if is_candidate(m.group())]


def is_replacement(candidate: str, word: str) -> bool:
    """A proposed replacement is kept when it is a whole ASCII-alphabetic word other than `word`.

    This drops sub-word fragments (callers strip or reject continuation markers first),
    punctuation, numbers, special tokens such as [UNK], and the word itself in any case.
    """
    return candidate.isascii() and candidate.isalpha() and candidate.lower() != word.lower()


def clean_candidates(candidates, word: str) -> tuple[str, ...]:
    """`candidates` filtered by `is_replacement`, without repeats (case-insensitive), order kept."""
    seen, out = set(), []
    for candidate in candidates:
        if candidate is not None and is_replacement(candidate, word) and candidate.lower() not in seen:
            seen.add(candidate.lower())
            out.append(candidate)
    return tuple(out)


def match_case(candidate: str, word: str) -> str:
    """Give a lower-case replacement the case pattern of the word it replaces (Title, UPPER)."""
    if not candidate.islower():
        return candidate  # a cased model chose its case in context
    if len(word) > 1 and word.isupper():
        return candidate.upper()
    if word[:1].isupper():
        return candidate[:1].upper() + candidate[1:]
    return candidate
