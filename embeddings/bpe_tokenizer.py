"""BPE tokenizer: SentencePiece pieces -> ids (piece id + 1, or the pruned remapping), with vectors."""
import dataclasses
from pathlib import Path

import numpy as np
import sentencepiece as spm

from .base import Tokenizer
from .spec import TokenizerSpec
from .text import normalize

VECTORS_FILE = "vectors.npy"
VOCAB_FILE = "bpe.vocab"  # "piece<TAB>score" per line, for ports that do not parse the protobuf


class BpeTokenizer(Tokenizer):
    """Normalise (lower, digits -> 0), SentencePiece-encode, remap, truncate to max_length pieces."""

    def __init__(self, spec: TokenizerSpec, model_proto: bytes, vectors: np.ndarray | None = None):
        if spec.type != "bpe":
            raise ValueError(f"BpeTokenizer needs a 'bpe' spec, got type {spec.type!r}.")
        super().__init__(spec)
        self.model_proto = bytes(model_proto)
        self._sp = spm.SentencePieceProcessor(model_proto=self.model_proto)
        if self._sp.get_piece_size() != spec.vocab_size:
            raise ValueError(f"SentencePiece model has {self._sp.get_piece_size()} pieces, "
                             f"spec says vocab_size={spec.vocab_size}; the model file does not match the spec.")
        self._remap = self._build_remap()
        if vectors is not None and vectors.shape[0] != self.num_embeddings:
            raise ValueError(f"Pretrained vectors have {vectors.shape[0]} rows, expected {self.num_embeddings} "
                             "(one per id, row 0 = padding).")
        self.vectors = vectors

    def _build_remap(self) -> np.ndarray:
        sp, kept = self._sp, self.spec.kept_pieces
        if kept is None:
            return np.arange(1, sp.get_piece_size() + 1, dtype=np.int64)
        unk = sp.id_to_piece(sp.unk_id())
        if unk not in kept:
            raise ValueError(f"kept_pieces must contain the unknown piece {unk!r}.")
        remap = np.full(sp.get_piece_size(), kept.index(unk) + 1, dtype=np.int64)
        for i, piece in enumerate(kept):
            pid = sp.piece_to_id(piece)
            if pid == sp.unk_id() and piece != unk:
                raise ValueError(f"kept_pieces[{i}]={piece!r} is not a piece of {self.spec.model_file}.")
            remap[pid] = i + 1
        return remap

    @property
    def num_embeddings(self) -> int:
        """Table rows: pad + one per (kept) piece."""
        n = self.spec.vocab_size if self.spec.kept_pieces is None else len(self.spec.kept_pieces)
        return n + 1

    @property
    def unknown_id(self) -> int:
        return int(self._remap[self._sp.unk_id()])

    def piece_ids(self, text: str) -> list:
        """Raw SentencePiece ids of the normalised text (before remapping and truncation)."""
        s = self.spec
        return self._sp.encode(normalize(text, s.unicode_form, s.lowercase, s.digits_to_zero))

    def pieces(self, text: str) -> list:
        return [self._sp.id_to_piece(i) for i in self.piece_ids(text)][:self.spec.max_length]

    def encode(self, text: str) -> np.ndarray:
        raw = np.asarray(self.piece_ids(text)[:self.spec.max_length], dtype=np.int64)
        ids = self._remap[raw]
        for pid in raw[ids == self.unknown_id]:
            self.unknown_counts[self._sp.id_to_piece(int(pid))] += 1
        return ids.reshape(-1, 1)

    def pruned(self, texts) -> "BpeTokenizer":
        """A copy keeping only the pieces that occur in `texts` (plus unknown), ids renumbered 1..n."""
        if self.spec.kept_pieces is not None:
            raise ValueError("This tokenizer is already pruned; prune the unpruned one instead.")
        used = {self._sp.unk_id()}
        for text in texts:
            used.update(self.piece_ids(text))
        kept = sorted(used)
        spec = dataclasses.replace(self.spec, kept_pieces=[self._sp.id_to_piece(i) for i in kept])
        vectors = None
        if self.vectors is not None:
            vectors = np.concatenate([self.vectors[:1], self.vectors[np.asarray(kept) + 1]])
        return BpeTokenizer(spec, self.model_proto, vectors)

    def pretrained_vectors(self, dim: int) -> np.ndarray:
        """The (num_embeddings, dim) float32 vectors this tokenizer was fitted with; row 0 is zero."""
        if self.vectors is None:
            raise ValueError("This BPE tokenizer has no pretrained vectors; refit it with fit_tokenizer('bpe', ...).")
        if self.vectors.shape[1] != dim:
            raise ValueError(f"Tokenizer holds {self.vectors.shape[1]}-d vectors, asked for {dim}-d; "
                             f"refit with fit_tokenizer('bpe', ..., dim={dim}).")
        return self.vectors.copy()

    def _save_files(self, directory: Path) -> None:
        (directory / self.spec.model_file).write_bytes(self.model_proto)
        sp = self._sp
        lines = (f"{sp.id_to_piece(i)}\t{sp.get_score(i)}\n" for i in range(sp.get_piece_size()))
        (directory / VOCAB_FILE).write_text("".join(lines), encoding="utf-8")
        if self.vectors is not None:
            np.save(directory / VECTORS_FILE, self.vectors)

    @classmethod
    def load(cls, directory, spec: TokenizerSpec) -> "BpeTokenizer":
        directory = Path(directory)
        model = directory / spec.model_file
        if not model.is_file():
            raise FileNotFoundError(f"{directory / 'tokenizer.json'} names model_file {spec.model_file!r}, "
                                    f"but {model} does not exist.")
        vectors = directory / VECTORS_FILE
        return cls(spec, model.read_bytes(), np.load(vectors) if vectors.is_file() else None)

    def __getstate__(self):  # SentencePieceProcessor does not pickle; rebuild it from the bytes
        state = self.__dict__.copy()
        del state["_sp"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._sp = spm.SentencePieceProcessor(model_proto=self.model_proto)
