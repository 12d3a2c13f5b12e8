"""Frozen dataclasses to and from JSON values, checking every field against its type annotation.

The message types declare their fields once, with types; this module is the single place that turns
untrusted JSON into them, so every malformed field gets the same kind of one-sentence complaint with
its path (`rois[2].width`). Fields annotated `bytes` never appear in JSON: they travel as binary
frames, and the codec passes them in separately.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from collections.abc import Mapping
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeVar

from mross_shared.errors import ErrorCode, ProtocolError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")


def bad_field(message: str) -> ProtocolError:
    """A `bad_field` ProtocolError with the given sentence."""
    return ProtocolError(ErrorCode.BAD_FIELD, message)


@functools.cache
def field_types(cls: type[DataclassInstance]) -> Mapping[str, Any]:
    """Each field of dataclass `cls` and its resolved annotation, in declaration order.

    Cached because resolving annotations is most of the cost of converting a 1000-stroke round.
    """
    hints = typing.get_type_hints(cls)
    return types.MappingProxyType({f.name: hints[f.name] for f in dataclasses.fields(cls)})


def binary_fields(cls: type[DataclassInstance]) -> list[str]:
    """Names of `cls`'s fields annotated `bytes`, in declaration order (they become binary frames)."""
    return [name for name, annotation in field_types(cls).items() if annotation is bytes]


def to_json(obj: Any) -> dict[str, Any]:
    """The JSON-ready dict of a dataclass instance, leaving out its `bytes` fields."""
    skip = set(binary_fields(type(obj)))
    return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.name not in skip}


def from_json(cls: type[T], data: object, binary: dict[str, bytes] | None = None, where: str = "") -> T:
    """Build `cls` from a decoded JSON object, validating each field; `binary` supplies the `bytes` fields.

    Raises:
        ProtocolError: `bad_field` naming the first field that is missing, unexpected or of the wrong
            type, or whatever the dataclass's own `__post_init__` checks reject.
    """
    label = f"field '{where}'" if where else "the message content"
    if not isinstance(data, dict):
        raise bad_field(f"{label} must be a JSON object")
    declared_types = field_types(cls)
    binary = binary or {}
    declared = {f.name: f for f in dataclasses.fields(cls) if declared_types[f.name] is not bytes}
    unexpected = sorted(set(data) - set(declared))
    if unexpected:
        # The name comes from the peer: shortened and escaped, so replies and log lines stay one short line.
        name = _join(where, unexpected[0][:40].encode("unicode_escape").decode("ascii"))
        raise bad_field(f"unexpected field '{name}'")
    values: dict[str, Any] = dict(binary)
    for name, field in declared.items():
        path = _join(where, name)
        if name in data:
            values[name] = _convert(declared_types[name], data[name], path)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise bad_field(f"missing field '{path}'")
    try:
        return cls(**values)
    except ProtocolError as error:
        # A nested object's own checks cannot know where it sits (`rois[2]`); say it unless they did.
        if not where or f"'{where}" in str(error):
            raise
        raise ProtocolError(error.code, f"field '{where}': {error}") from None


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return to_json(value)
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    if isinstance(value, Enum):
        return value.value
    return value


def _convert(annotation: Any, value: object, path: str) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [arg for arg in args if arg is not type(None)]
        return _convert(inner, value, path)
    if origin is tuple:
        if not isinstance(value, list):
            raise bad_field(f"field '{path}' must be a list")
        return tuple(_convert(args[0], item, f"{path}[{index}]") for index, item in enumerate(value))
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        return from_json(annotation, value, where=path)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        try:
            return annotation(value)
        except ValueError:
            choices = ", ".join(member.value for member in annotation)
            raise bad_field(f"field '{path}' must be one of {choices}") from None
    return _convert_scalar(annotation, value, path)


def _convert_scalar(annotation: Any, value: object, path: str) -> Any:
    # bool is a subclass of int in Python but a different type in JSON, so it is tested first and
    # excluded from the numeric types.
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise bad_field(f"field '{path}' must be true or false")
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            # A 400-digit integer parses; no field needs more than 64 bits, and replies quote values.
            if -(2**63) <= value < 2**63:
                return value
            raise bad_field(f"field '{path}' must be an integer of at most 64 bits")
        raise bad_field(f"field '{path}' must be an integer")
    if annotation is float:
        # JSON has no NaN/Infinity, but literals like 1e999 (inf) or a 400-digit integer still parse.
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:
                number = math.inf
            if math.isfinite(number):
                return number
        raise bad_field(f"field '{path}' must be a finite number")
    if annotation is str:
        if isinstance(value, str):
            return value
        raise bad_field(f"field '{path}' must be a string")
    raise TypeError(f"fields.py cannot convert annotation {annotation!r} at '{path}'")
