"""Character tokenizer: each character -> 2 + its alphabet index, or 1 (unknown, counted)."""
from .base import Tokenizer
from .spec import TokenizerSpec
from .text import collapse_spaces, normalize

UNKNOWN_ID = 1


class CharTokenizer(Tokenizer):
    """Normalise, collapse whitespace runs to one space, truncate to max_length characters."""

    def __init__(self, spec: TokenizerSpec):
        if spec.type != "char":
            raise ValueError(f"CharTokenizer needs a 'char' spec, got type {spec.type!r}.")
        super().__init__(spec)
        self._index = {c: i + 2 for i, c in enumerate(spec.alphabet)}

    @property
    def num_embeddings(self) -> int:
        """Table rows: pad + unknown + alphabet."""
        return len(self.spec.alphabet) + 2

    def tokenize(self, text: str) -> str:
        s = self.spec
        return collapse_spaces(normalize(text, s.unicode_form, s.lowercase))[:s.max_length]

    def _ids(self, text: str) -> list:
        ids = []
        for c in self.tokenize(text):
            i = self._index.get(c, UNKNOWN_ID)
            if i == UNKNOWN_ID:
                self.unknown_counts[c] += 1
            ids.append(i)
        return ids
