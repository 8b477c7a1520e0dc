"""Build argparse options from config dataclasses, so the CLI and the Python API share one source.

Each option's --help is its field's `# comment` in the dataclass source (the comment on the field's line,
else the comment lines right above it) followed by the default:

    epochs: int = 10  # passes over the training rows                  -> "... (default: 10)"
    teacher: str  # fine-tuned teacher directory                         -> "... (required)"
    hidden_dim: int | None = None  # state size; default: thesis preset  -> "state size (default: thesis preset)"

A field whose default is None says what None means in its comment after "; default: " (that phrase becomes the
default shown); without it the help reads "(default: None)", which tests/test_cli_help.py rejects, as it rejects
a field with no comment at all.
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import inspect
import io
import textwrap
import tokenize
import types
import typing

DEFAULT_MARK = "; default: "


def _field_types(cls) -> dict[str, typing.Any]:
    return typing.get_type_hints(cls)


def _unwrap_optional(annotation):
    """`int | None` -> (int, True); `int` -> (int, False)."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0], True
    return annotation, False


@functools.lru_cache(maxsize=None)
def field_comments(cls) -> dict[str, str]:
    """{field name: its `# comment`} of a dataclass and its dataclass bases (a subclass's comment wins)."""
    comments: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if dataclasses.is_dataclass(klass) and klass is not object:
            comments.update(_class_comments(klass))
    return comments


def _class_comments(klass) -> dict[str, str]:
    """Comments of the annotated fields written in one class body: on the field's line, else just above it."""
    try:
        source = textwrap.dedent(inspect.getsource(klass))
    except (OSError, TypeError):  # no source (e.g. a frozen build): options keep only their defaults
        return {}
    by_line = {token.start[0]: token.string.lstrip("#").strip()
               for token in tokenize.generate_tokens(io.StringIO(source).readline)
               if token.type == tokenize.COMMENT}
    lines = source.splitlines()
    body = next(node for node in ast.parse(source).body if isinstance(node, ast.ClassDef)).body
    comments = {}
    for node in body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        trailing = [by_line[n] for n in range(node.lineno, node.end_lineno + 1) if n in by_line]
        above, line = [], node.lineno - 1
        while line in by_line and lines[line - 1].lstrip().startswith("#"):
            above.insert(0, by_line[line])
            line -= 1
        text = trailing[-1] if trailing else " ".join(above)
        if text:
            comments[node.target.id] = text
    return comments


def _default_of(field: dataclasses.Field):
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def _shown(default) -> str:
    """A default as it would be typed: lists space-separated, booleans as on/off."""
    if isinstance(default, bool):
        return "on" if default else "off"
    if isinstance(default, (list, tuple)):
        return " ".join(str(item) for item in default) or "none"
    return str(default)


def option_help(comment: str | None, default, required: bool) -> str:
    """The --help line of one option: its description, then "(required)" or "(default: ...)"."""
    description, none_means = comment or "", ""
    if default is None:
        description, _, none_means = description.partition(DEFAULT_MARK)
    if required:
        marker = "(required)"
    elif default is None and none_means:
        marker = f"(default: {none_means.strip()})"
    else:
        marker = f"(default: {_shown(default)})"
    text = f"{description.strip()} {marker}".strip()
    return text.replace("%", "%%")  # argparse %-formats help strings


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls, *, skip: tuple[str, ...] = ()) -> None:
    """Add one `--kebab-name` option per field, described by its comment; nested dataclass fields are flattened."""
    hints = _field_types(cls)
    comments = field_comments(cls)
    for field in dataclasses.fields(cls):
        if field.name in skip:
            continue
        annotation, optional = _unwrap_optional(hints[field.name])
        if dataclasses.is_dataclass(annotation):
            add_dataclass_arguments(parser, annotation, skip=skip)
            continue
        flag = "--" + field.name.replace("_", "-")
        default = _default_of(field)
        required = default is None and not optional and field.default is dataclasses.MISSING
        help_text = option_help(comments.get(field.name), default, required)
        if annotation is bool:
            action = parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
            action.help = help_text  # set after: BooleanOptionalAction would append its own "(default: ...)"
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


def dataclass_to_args(config, *, skip: tuple[str, ...] = ()) -> list[str]:
    """The options that `add_dataclass_arguments`' parser turns back into `config`: one per field whose value differs
    from its default, in field order (nested dataclass fields flattened), e.g. ["--epochs", "4", "--no-progress"]."""
    hints = _field_types(type(config))
    arguments: list[str] = []
    for field in dataclasses.fields(config):
        if field.name in skip:
            continue
        annotation, _ = _unwrap_optional(hints[field.name])
        value = getattr(config, field.name)
        if dataclasses.is_dataclass(annotation):
            arguments += dataclass_to_args(value, skip=skip)
        elif not _same(value, _default_of(field)):  # a required field has no default: always written
            arguments += _option_words(field.name, annotation, value)
    return arguments


def _same(value, default) -> bool:
    """A value equals its default (a list equals the same items as a tuple; 0 is not False)."""
    if isinstance(value, (list, tuple)) and isinstance(default, (list, tuple)):
        return list(value) == list(default)
    return value == default and isinstance(value, bool) == isinstance(default, bool)


def _option_words(name: str, annotation, value) -> list[str]:
    """`--name VALUE` as the parser reads it back (booleans --name / --no-name, lists --name A B)."""
    flag = "--" + name.replace("_", "-")
    if annotation is bool:
        return [flag if value else "--no-" + flag[2:]]
    if value is None or (typing.get_origin(annotation) in (list, tuple) and not value):
        raise ValueError(f"{flag}: {value!r} cannot be written on the command line (its default differs).")
    if typing.get_origin(annotation) in (list, tuple):
        return [flag, *(str(item) for item in value)]
    text = str(value)
    return [f"{flag}={text}"] if text.startswith("-") else [flag, text]  # "-1e-05" would read as an option
