"""Masked-LM candidates for many (text, word) positions at once: one [MASK] per copy, many copies per pass.

A word gets masked-LM candidates when the model's tokenizer keeps it as one piece in its text.
Every such word becomes a copy of its text's token ids with that piece replaced by the mask
token; copies are sorted by length and run `batch_size` at a time, and the LM head is applied
only at the masked positions (for BERT- and RoBERTa-style models; others run the whole model).
With `mask_group` G > 1, one copy masks up to G words of a text at once (spread apart), which
runs about G times fewer copies but gives each prediction less context: an approximation of the
paper's one-mask-per-pass method, off by default. With `precision="bfloat16"` the encoder runs under
bfloat16 autocast (the LM head stays float32): the same model and masking, several times faster on
CPUs with AMX or AVX512-BF16 and on GPUs, but scores rounded, so a near-tie at rank K can swap; exact
float32 is the default.
"""
from __future__ import annotations

import contextlib
import logging
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from featherweight.augment.words import Word, clean_candidates
from featherweight.fingerprint import path_sha256

logger = logging.getLogger(__name__)

_HEADS = ("cls", "lm_head")  # the LM head's attribute in BERT- and RoBERTa-family masked LMs
PRECISIONS = ("float32", "bfloat16")
MLM_MAX_LENGTH = 128  # word pieces of a text the masked LM reads; words beyond them get GloVe neighbours


def piece_words(tokenizer, size: int) -> np.ndarray:
    """(size,) object array: the word a vocabulary piece stands for, or None for fragments and specials.

    WordPiece continuations start with "##"; byte-level BPE and SentencePiece mark word starts
    with "Ġ" and "▁", so pieces without the mark are fragments there.
    """
    tokens = tokenizer.convert_ids_to_tokens(list(range(min(size, len(tokenizer)))))
    tokens = [t if isinstance(t, str) else None for t in tokens] + [None] * (size - len(tokens))
    present = [t for t in tokens if t]
    if any(t.startswith("##") for t in present):
        words = [None if t is None or t.startswith("##") else t for t in tokens]
    elif any(t.startswith(mark) for t in present for mark in ("\u0120", "\u2581")):
        words = [t[1:] if t and t[0] in ("\u0120", "\u2581") else None for t in tokens]
    else:
        words = list(tokens)
    for special in tokenizer.all_special_ids:
        if special < size:
            words[special] = None
    return np.array(words, dtype=object)


def single_piece_positions(encoding, index: int, words: list[Word]) -> dict[int, int]:
    """{word number: token position} for the words that text `index` of a fast-tokenizer batch keeps whole."""
    offsets = encoding["offset_mapping"][index]
    found = {}
    for number, word in enumerate(words):
        first = encoding.char_to_token(index, word.start)
        last = encoding.char_to_token(index, word.end - 1)
        if first is not None and first == last and tuple(offsets[first]) == (word.start, word.end):
            found[number] = first
    return found


def autocast(precision: str, device: str = "cpu"):
    """The context a masked LM's encoder runs in: nothing for float32, bf16 autocast for bfloat16."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}.")
    if precision == "float32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)


def mlm_identity(name_or_path: str) -> dict:
    """What the candidates depend on: a local model's content hash, or a hub name (not content-pinned)."""
    path = Path(name_or_path)
    if path.exists():
        return {"name": str(name_or_path), "sha256": path_sha256(path)}
    return {"name": name_or_path, "sha256": None}


class MaskedLM:
    """Top-K masked-LM candidates of single-piece words, batched over many masked copies."""

    def __init__(self, model, tokenizer, *, k: int, batch_size: int = 128, max_length: int = MLM_MAX_LENGTH,
                 mask_group: int = 1, precision: str = "float32", device: str = "cpu", name: str = "model"):
        if not getattr(tokenizer, "is_fast", False):
            raise ValueError(f"The masked LM {name} has a slow tokenizer; batched augmentation needs character "
                             f"offsets from a fast (Rust) tokenizer. Save the model with a tokenizer.json.")
        if tokenizer.mask_token_id is None:
            raise ValueError(f"The tokenizer of {name} has no mask token; pass a masked language model.")
        self.model, self.tokenizer = model.eval().to(device), tokenizer
        self.k, self.batch_size, self.max_length, self.device, self.name = k, batch_size, max_length, device, name
        autocast(precision)  # refuses an unknown precision now, not at the first batch
        self.mask_group, self.precision = mask_group, precision
        output = model.get_output_embeddings()
        self.words = piece_words(tokenizer, output.weight.shape[0] if output is not None else model.config.vocab_size)
        base = getattr(model, model.base_model_prefix, None)
        head = next((getattr(model, attr) for attr in _HEADS if hasattr(model, attr)), None)
        self._split = (base, head) if base is not None and head is not None else None

    @classmethod
    def load(cls, name_or_path: str, **kwargs) -> "MaskedLM":
        """Load a Hugging Face masked LM; refuse one whose LM head was not in the checkpoint."""
        from transformers import AutoModelForMaskedLM, AutoTokenizer

        model, info = AutoModelForMaskedLM.from_pretrained(name_or_path, output_loading_info=True)
        head_missing = sorted(key for key in info.get("missing_keys", ())
                              if not key.startswith(model.base_model_prefix + "."))
        if head_missing:
            raise ValueError(f"{name_or_path} has no trained masked-LM head (the checkpoint lacks "
                             f"{', '.join(head_missing[:3])}{', ...' if len(head_missing) > 3 else ''}); its "
                             f"predictions would be random. Pass a masked LM (roberta-large, bert-base-uncased, "
                             f"or bench/work/minilm-mlm from bench/train_mlm_head.py), or leave --mlm unset to "
                             f"use GloVe neighbours for every word.")
        tokenizer = AutoTokenizer.from_pretrained(name_or_path)
        return cls(model, tokenizer, name=str(name_or_path), **kwargs)

    def candidates(self, texts: list[str], words: list[list[Word]],
                   counts: Counter | None = None) -> list[dict[int, tuple[str, ...]]]:
        """For each text, {word number: cleaned top-K candidates} of the words the tokenizer keeps whole.

        Words split into several pieces, or cut off by `max_length`, are left out (GloVe's job).
        """
        counts = counts if counts is not None else Counter()
        encoding = self.tokenizer(texts, return_offsets_mapping=True, truncation=True, max_length=self.max_length)
        requests = []  # (length, text, ((word number, token position), ...)): one masked copy each
        for index, text_words in enumerate(words):
            length = len(encoding["input_ids"][index])
            found = list(single_piece_positions(encoding, index, text_words).items())
            copies = -(-len(found) // self.mask_group)  # ceil: interleave so one copy's masks lie apart
            requests += [(length, index, tuple(found[c::copies])) for c in range(copies)]
        requests.sort()
        results = [dict() for _ in texts]
        for start in range(0, len(requests), self.batch_size):
            batch = requests[start:start + self.batch_size]
            top = iter(self._top_k([encoding["input_ids"][index] for _, index, _ in batch],
                                   [[position for _, position in masked] for _, _, masked in batch]))
            for _, index, masked in batch:
                for number, _ in masked:
                    results[index][number] = clean_candidates(self.words[next(top)], words[index][number].text)
            counts["mlm_sequences"] += len(batch)
            counts["mlm_batches"] += 1
        return results

    def _top_k(self, sequences: list[list[int]], positions: list[list[int]]) -> np.ndarray:
        """(masks, K) ids of the K highest-scoring pieces at each masked position, copy by copy."""
        return self._scores(sequences, positions).topk(self.k, dim=-1).indices.cpu().numpy()

    def _scores(self, sequences: list[list[int]], positions: list[list[int]]) -> torch.Tensor:
        """(masks, V) float32 LM scores at each masked position, copy by copy."""
        width = max(len(s) for s in sequences)
        ids = torch.full((len(sequences), width), self.tokenizer.pad_token_id or 0, dtype=torch.long)
        attention = torch.zeros((len(sequences), width), dtype=torch.long)
        for row, sequence in enumerate(sequences):
            ids[row, :len(sequence)] = torch.tensor(sequence)
            attention[row, :len(sequence)] = 1
        rows = torch.tensor([row for row, where in enumerate(positions) for _ in where])
        where = torch.tensor([position for masked in positions for position in masked])
        ids[rows, where] = self.tokenizer.mask_token_id
        ids, attention = ids.to(self.device), attention.to(self.device)
        with torch.inference_mode():
            if self._split:
                base, head = self._split
                with self._autocast():
                    hidden = base(input_ids=ids, attention_mask=attention).last_hidden_state  # (B, T, H)
                return head(hidden[rows, where].float())  # (masks, V): the head only where it is needed
            with self._autocast():
                return self.model(input_ids=ids, attention_mask=attention).logits[rows, where].float()

    def _autocast(self):
        return autocast(self.precision, self.device)
