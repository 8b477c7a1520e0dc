"""Rebuild config dataclasses from saved dicts, refusing fields this version does not know."""
from __future__ import annotations

import dataclasses


def from_known_fields(cls, data: dict, hint: str = ""):
    """`cls(**data)`, with an error naming unknown fields instead of a bare TypeError."""
    known = {field.name for field in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"Unknown {cls.__name__} field(s) {unknown}; expected some of {sorted(known)}.{hint}")
    return cls(**data)
