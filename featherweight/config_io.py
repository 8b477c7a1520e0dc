"""Read JSON files a user may hand over and rebuild config dataclasses from saved dicts, refusing unknown fields."""
from __future__ import annotations

import dataclasses
import json

from featherweight.data.glue import DataError, read_text


def read_json(path):
    """The JSON value in a UTF-8 file (a leading byte-order mark allowed); a parse error names file:line:column."""
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as error:
        raise DataError(f"{path}:{error.lineno}:{error.colno}: not valid JSON ({error.msg}); "
                        f"fix the file or write it again.") from None


def from_known_fields(cls, data: dict, hint: str = ""):
    """`cls(**data)`, with an error naming unknown fields instead of a bare TypeError."""
    known = {field.name for field in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"Unknown {cls.__name__} field(s) {unknown}; expected some of {sorted(known)}.{hint}")
    return cls(**data)


def check_options(config, rules: dict) -> None:
    """Raise a ValueError naming the first field (and its CLI option) whose value breaks its rule.

    `rules` maps a field to (is the value valid, what is expected); None values (presets) are not checked.
    """
    for name, (valid, expected) in rules.items():
        value = getattr(config, name)
        if value is not None and not valid(value):
            raise ValueError(f"{name} must be {expected}, got {value!r} (--{name.replace('_', '-')}).")
