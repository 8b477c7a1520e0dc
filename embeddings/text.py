"""Text normalisation and word splitting shared by every tokenizer (pure Python, no torch).

Pipeline, in this order: lone surrogates to U+FFFD (text that is not valid Unicode, read the way a
UTF-8 decoder reads an invalid byte), Unicode form (`unicode_form`), lowercasing (`str.lower`),
digits to "0" (BPEmb's preprocessing). For ASCII input every step but lowercasing is an identity,
and lowercasing is A-Z -> a-z, which is what a C port must reproduce.
"""
import re
import string
import unicodedata

UNICODE_FORMS = ("none", "nfkc", "nfkd_strip_accents")
_PUNCT = re.escape(string.punctuation)
_WORDS_AND_PUNCT = re.compile(rf"[^\s{_PUNCT}]+|[{_PUNCT}]")
_DIGIT = re.compile(r"\d")
_SPACES = re.compile(r"\s+")
_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"  # what a lone surrogate becomes (the C decoder's U+FFFD for an invalid byte)


def replace_surrogates(text: str) -> str:
    """`text` with each lone surrogate (e.g. from surrogateescape decoding) replaced by U+FFFD."""
    return _SURROGATE.sub(REPLACEMENT, text)


def normalize(text: str, unicode_form: str, lowercase: bool, digits_to_zero: bool = False) -> str:
    """Apply the spec's normalisation steps to `text`."""
    if not isinstance(text, str):
        raise TypeError(f"Expected text as str, got {type(text).__name__}.")
    text = replace_surrogates(text)
    if unicode_form == "nfkc":
        text = unicodedata.normalize("NFKC", text)
    elif unicode_form == "nfkd_strip_accents":  # thesis: fold accents, "é" -> "e"
        text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    elif unicode_form != "none":
        raise ValueError(f"Unknown unicode_form {unicode_form!r}; expected one of {UNICODE_FORMS}.")
    if lowercase:
        text = text.lower()
    if digits_to_zero:
        text = _DIGIT.sub("0", text)
    return text


def split_words(text: str, split_punctuation: bool) -> list[str]:
    """Split on whitespace; with `split_punctuation`, each ASCII punctuation char is its own token.

    "Don't stop!" -> ["Don", "'", "t", "stop", "!"]. Non-ASCII characters belong to words.
    """
    if split_punctuation:
        return _WORDS_AND_PUNCT.findall(text)
    return text.split()


def collapse_spaces(text: str) -> str:
    """Turn every whitespace run into one space and strip both ends."""
    return _SPACES.sub(" ", text).strip()
