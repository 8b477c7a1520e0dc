"""Hash tokenizer: words -> k component ids in [1, B] plus one importance id in [1, K]."""
from .base import Tokenizer
from featherweight.hashing import token_hash
from .spec import TokenizerSpec
from .text import normalize, split_words

_CACHE_LIMIT = 200_000  # words memoised per tokenizer; hashing in pure Python is the slow part


NGRAM_SEPARATOR = " "  # an n-gram is hashed as its words joined by one space (words never contain one)


class HashTokenizer(Tokenizer):
    """Svenstrup et al. (2017) hashing: hash function i (seed hash_seed + i) picks component i;
    hash function k picks the row of importance weights. Nothing is learnt from data.

    With word_ngrams = n > 1, token t also carries the ids of the m-grams ending at it (m = 2..n,
    words t-m+1..t), hashed into the same tables as the words (fastText's n-gram features); an
    m-gram that would start before the first word is all-zero (padding) ids.
    """

    def __init__(self, spec: TokenizerSpec):
        if spec.type != "hash":
            raise ValueError(f"HashTokenizer needs a 'hash' spec, got type {spec.type!r}.")
        super().__init__(spec)
        self._cache = {}

    def token_ids(self, word: str) -> tuple:
        """The k + 1 ids of one already-normalised word."""
        ids = self._cache.get(word)
        if ids is None:
            s = self.spec
            ids = tuple(token_hash(word, i, s.hash_function, s.hash_seed) % s.num_components + 1
                        for i in range(s.num_hashes))
            ids += (token_hash(word, s.num_hashes, s.hash_function, s.hash_seed) % s.num_buckets + 1,)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[word] = ids
        return ids

    def tokenize(self, text: str) -> list:
        """Normalised words of `text`, truncated to max_length."""
        s = self.spec
        words = split_words(normalize(text, s.unicode_form, s.lowercase), s.split_punctuation)
        return words[:s.max_length]

    def _ids(self, text: str) -> list:
        words = self.tokenize(text)
        rows = [self.token_ids(w) for w in words]
        padding = (0,) * (self.spec.num_hashes + 1)
        for m in range(2, self.spec.word_ngrams + 1):
            rows = [row + (self.token_ids(NGRAM_SEPARATOR.join(words[t - m + 1:t + 1])) if t >= m - 1 else padding)
                    for t, row in enumerate(rows)]
        return rows
