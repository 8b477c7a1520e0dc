"""Build argparse options from config dataclasses, so the CLI and the Python API share one source."""
from __future__ import annotations

import argparse
import dataclasses
import types
import typing


def _field_types(cls) -> dict[str, typing.Any]:
    return typing.get_type_hints(cls)


def _unwrap_optional(annotation):
    """`int | None` -> (int, True); `int` -> (int, False)."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0], True
    return annotation, False


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls, *, skip: tuple[str, ...] = ()) -> None:
    """Add one `--kebab-name` option per field; nested dataclass fields are flattened."""
    hints = _field_types(cls)
    for field in dataclasses.fields(cls):
        if field.name in skip:
            continue
        annotation, optional = _unwrap_optional(hints[field.name])
        if dataclasses.is_dataclass(annotation):
            add_dataclass_arguments(parser, annotation, skip=skip)
            continue
        flag = "--" + field.name.replace("_", "-")
        default = (field.default if field.default is not dataclasses.MISSING
                   else field.default_factory() if field.default_factory is not dataclasses.MISSING
                   else None)
        required = default is None and not optional and field.default is dataclasses.MISSING
        help_text = f"(default: {default})" if not required else "(required)"
        if annotation is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=help_text)
        elif typing.get_origin(annotation) in (list, tuple):
            item = typing.get_args(annotation)[0]
            parser.add_argument(flag, nargs="+", type=item, default=default, required=required, help=help_text)
        elif typing.get_origin(annotation) is typing.Literal:
            parser.add_argument(flag, choices=typing.get_args(annotation), default=default,
                                required=required, help=help_text)
        else:
            parser.add_argument(flag, type=annotation, default=default, required=required, help=help_text)


def dataclass_from_args(cls, namespace: argparse.Namespace):
    """Build `cls` from parsed options, recursing into nested dataclass fields."""
    hints = _field_types(cls)
    values = {}
    for field in dataclasses.fields(cls):
        annotation, _ = _unwrap_optional(hints[field.name])
        if dataclasses.is_dataclass(annotation):
            values[field.name] = dataclass_from_args(annotation, namespace)
        elif hasattr(namespace, field.name):
            value = getattr(namespace, field.name)
            values[field.name] = tuple(value) if typing.get_origin(annotation) is tuple and value else value
    return cls(**values)
