"""Open a user's UTF-8 text file (a byte-order mark allowed); DataError, the error of every bad data file."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path


class DataError(ValueError):
    """A problem with a user's data file, with the file and line it was found at."""


@contextmanager
def open_text(path):
    """Open a user's text file as UTF-8 (a leading byte-order mark dropped); bad bytes raise DataError at file:line."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            yield handle
    except UnicodeDecodeError:
        raise DataError(not_utf8_message(path)) from None


def read_text(path) -> str:
    """The whole of a user's UTF-8 text file (see `open_text`)."""
    with open_text(path) as handle:
        return handle.read()


def not_utf8_message(path) -> str:
    """'FILE:LINE is not UTF-8 text (byte 0x.. at column N); ...' for the first undecodable byte of a file."""
    data = Path(path).read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        start = error.start
    else:
        return f"{path} is not UTF-8 text; save the file as UTF-8."
    line = data.count(b"\n", 0, start) + 1
    prefix = data[data.rfind(b"\n", 0, start) + 1:start].removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    return (f"{path}:{line} is not UTF-8 text (byte 0x{data[start]:02x} at column {len(prefix) + 1}); "
            f"save the file as UTF-8.")
