"""The one-pass-per-word method of the TinyBERT reference code, kept as the speed baseline and a correctness oracle.

For every candidate word it re-tokenizes the text, runs the masked LM on one masked copy
(batch size 1, LM head over every position), or scores the word against the whole GloVe table
and sorts all of it; nothing is cached. It yields the same candidates as `find_candidates`
(same rules, same models), only slower.
"""
from __future__ import annotations

import numpy as np
import torch

from featherweight.augment.glove import GloveTable
from featherweight.augment.mlm import MLM_MAX_LENGTH, autocast, piece_words, single_piece_positions
from featherweight.augment.sample import Slot
from featherweight.augment.words import candidate_words, clean_candidates, match_case


class PerWordCandidates:
    """`find_candidates` done the reference's way: one masked-LM pass or one GloVe scan per word."""

    def __init__(self, table: GloveTable, k: int, model=None, tokenizer=None, max_length: int = MLM_MAX_LENGTH,
                 precision: str = "float32"):
        self.table, self.k, self.model, self.tokenizer, self.max_length = table, k, model, tokenizer, max_length
        self.precision = precision
        autocast(precision)  # refuses an unknown precision
        self._row = {word: index for index, word in enumerate(table.words)}
        norms = np.linalg.norm(table.vectors, axis=1, keepdims=True)
        self._unit = table.vectors / np.maximum(norms, 1e-12)
        if model is not None:
            model.eval()
            self.words = piece_words(tokenizer, model.get_output_embeddings().weight.shape[0])

    def find(self, texts: list[str]) -> dict[str, list[Slot]]:
        """{text: its replaceable words with their candidates}, word by word."""
        slots = {}
        for text in dict.fromkeys(texts):
            slots[text] = []
            for number, word in enumerate(candidate_words(text)):
                listed = self._masked_lm(text, number, word)
                if listed is None:
                    listed = self._glove(word.text)
                if listed:
                    slots[text].append(Slot(word.start, word.end, word.text,
                                            tuple(match_case(c, word.text) for c in listed)))
        return slots

    def _masked_lm(self, text: str, number: int, word) -> tuple[str, ...] | None:
        """Candidates from one forward pass, or None when the word is not a single piece."""
        if self.model is None:
            return None
        encoding = self.tokenizer([text], return_offsets_mapping=True, truncation=True, max_length=self.max_length)
        position = single_piece_positions(encoding, 0, candidate_words(text)).get(number)
        if position is None:
            return None
        ids = torch.tensor(encoding["input_ids"])
        ids[0, position] = self.tokenizer.mask_token_id
        with torch.inference_mode(), autocast(self.precision):
            logits = self.model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits  # (1, T, V)
        top = torch.argsort(logits[0, position].float(), descending=True)[:self.k].numpy()
        return clean_candidates(self.words[top], word.text)

    def _glove(self, word: str) -> tuple[str, ...]:
        row = self._row.get(word.lower())
        if row is None:
            return ()
        scores = self._unit @ self._unit[row]  # (V,)
        scores[row] = -np.inf
        top = np.argsort(-scores, kind="stable")[:self.k]
        return clean_candidates((self.table.words[i] for i in top), word.lower())
