"""Candidate replacements for every candidate word of many texts: masked LM where it keeps the word whole, else GloVe."""
from __future__ import annotations

from collections import Counter

from featherweight.augment.glove import GloveNeighbours
from featherweight.augment.mlm import MaskedLM
from featherweight.augment.sample import Slot
from featherweight.augment.words import candidate_words, match_case


def find_candidates(texts: list[str], glove: GloveNeighbours, mlm: MaskedLM | None = None,
                    counts: Counter | None = None) -> dict[str, list[Slot]]:
    """{text: its replaceable words with their candidates}, for each distinct text.

    With `mlm`, a word its tokenizer keeps as one piece gets the masked LM's top K at its masked
    position (batched over all texts); every other word gets its K nearest GloVe neighbours
    (one blocked lookup for all texts). Without `mlm`, every word uses GloVe. A word whose list
    is empty after filtering is left as it is.
    """
    counts = counts if counts is not None else Counter()
    texts = list(dict.fromkeys(texts))
    words = [candidate_words(text) for text in texts]
    from_mlm = mlm.candidates(texts, words, counts) if mlm is not None else [{} for _ in texts]
    neighbours = glove.lookup(w.text for text_words, chosen in zip(words, from_mlm)
                              for number, w in enumerate(text_words) if number not in chosen)
    slots = {}
    for text, text_words, chosen in zip(texts, words, from_mlm):
        slots[text] = []
        for number, word in enumerate(text_words):
            listed = chosen[number] if number in chosen else neighbours[word.text]
            counts["mlm_words" if number in chosen else "glove_words"] += 1
            if not listed:
                counts["words_without_candidates"] += 1
                continue
            slots[text].append(Slot(word.start, word.end, word.text,
                                    tuple(match_case(c, word.text) for c in listed)))
    return slots
