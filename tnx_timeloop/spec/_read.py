"""Small helpers to read plain YAML data with located, collected errors."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tnx_timeloop.errors import SpecError, SpecErrors, Where
from tnx_timeloop.spec.yaml_io import line_of

__all__ = ["Node", "Collector", "kind_of"]


class Collector:
    """Collects :class:`SpecError` s so that all problems are reported at once."""

    def __init__(self) -> None:
        self.errors: list[SpecError] = []

    def add(self, where: Where, message: str) -> None:
        self.errors.append(SpecError(where, message))

    def extend(self, err: SpecError) -> None:
        self.errors.extend(err.errors if isinstance(err, SpecErrors) else [err])

    def raise_if_any(self) -> None:
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise SpecErrors(self.errors)


class Node:
    """A mapping from YAML with its location, for located reads.

    ``Node(data, where).int("depth", aliases=("memory_depth",))`` returns the
    value or raises a :class:`SpecError` naming file, key path and line.
    """

    def __init__(self, data: Any, where: Where) -> None:
        if not isinstance(data, Mapping):
            raise SpecError(where.at_line(line_of(data)), f"expected a mapping, got {kind_of(data)}")
        self.data = data
        self.where = where.at_line(line_of(data) or where.line)

    def at(self, key: str | int) -> Where:
        child = self.data.get(key) if isinstance(key, str) else None
        return (self.where / key).at_line(line_of(child) or self.where.line)

    def has(self, *keys: str) -> bool:
        return any(k in self.data for k in keys)

    def first_key(self, keys: Iterable[str]) -> str | None:
        for k in keys:
            if k in self.data:
                return k
        return None

    def raw(self, key: str, *aliases: str, default: Any = None) -> Any:
        k = self.first_key((key, *aliases))
        return self.data[k] if k is not None else default

    def child(self, key: str, *aliases: str) -> Node:
        k = self.first_key((key, *aliases))
        if k is None:
            raise SpecError(self.where, f"missing key '{key}'")
        return Node(self.data[k], self.at(k))

    def str(self, key: str, *aliases: str, default: Any = ..., required: bool = True) -> Any:
        k = self.first_key((key, *aliases))
        if k is None:
            if default is not ...:
                return default
            raise SpecError(self.where, f"missing key '{key}'")
        value = self.data[k]
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise SpecError(self.at(k), f"expected a string, got {kind_of(value)}")
        return str(value)

    def int(self, key: str, *aliases: str, default: Any = ..., minimum: int | None = None) -> Any:
        k = self.first_key((key, *aliases))
        if k is None:
            if default is not ...:
                return default
            raise SpecError(self.where, f"missing key '{key}'")
        return to_int(self.data[k], self.at(k), minimum=minimum)

    def float(self, key: str, *aliases: str, default: Any = ...) -> Any:
        k = self.first_key((key, *aliases))
        if k is None:
            if default is not ...:
                return default
            raise SpecError(self.where, f"missing key '{key}'")
        return to_float(self.data[k], self.at(k))

    def bool(self, key: str, *aliases: str, default: Any = ...) -> Any:
        k = self.first_key((key, *aliases))
        if k is None:
            if default is not ...:
                return default
            raise SpecError(self.where, f"missing key '{key}'")
        value = self.data[k]
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in {"true", "false", "yes", "no", "1", "0"}:
            return value.strip().lower() in {"true", "yes", "1"}
        if isinstance(value, int):
            return bool(value)
        raise SpecError(self.at(k), f"expected true or false, got {value!r}")

    def list(self, key: str, *aliases: str, default: Any = ...) -> list:
        k = self.first_key((key, *aliases))
        if k is None:
            if default is not ...:
                return default
            raise SpecError(self.where, f"missing key '{key}'")
        value = self.data[k]
        if value is None:
            return []
        if not isinstance(value, list):
            raise SpecError(self.at(k), f"expected a list, got {kind_of(value)}")
        return value

    def check_keys(self, allowed: Iterable[str], *, what: str = "key") -> None:
        allowed_set = set(allowed)
        for key in self.data:
            if key not in allowed_set:
                raise SpecError(
                    self.at(key) if isinstance(key, str) else self.where,
                    f"unknown {what} {key!r}; allowed: {sorted(allowed_set)}",
                )


def kind_of(value: Any) -> str:
    """What a YAML value is, in words, for error messages ("a mapping", "int 3", ...)."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return f"a boolean ({value})"
    return f"{type(value).__name__} {value!r}"


def to_int(value: Any, where: Where, *, minimum: int | None = None) -> int:
    """Convert a YAML scalar to int (accepting ``"64"`` and ``64.0``) or raise located."""
    if isinstance(value, bool):
        raise SpecError(where, f"expected an integer, got {value!r}")
    result: int
    if isinstance(value, int):
        result = value
    elif isinstance(value, float) and value.is_integer():
        result = int(value)
    elif isinstance(value, str):
        try:
            result = int(value.strip(), 0)
        except ValueError:
            try:
                f = float(value)
            except ValueError:
                raise SpecError(where, f"expected an integer, got {value!r}") from None
            if not f.is_integer():
                raise SpecError(where, f"expected an integer, got {value!r}") from None
            result = int(f)
    else:
        raise SpecError(where, f"expected an integer, got {kind_of(value)}")
    if minimum is not None and result < minimum:
        raise SpecError(where, f"must be >= {minimum}, got {result}")
    return result


def to_float(value: Any, where: Where) -> float:
    """Convert a YAML scalar to float or raise located."""
    if isinstance(value, bool):
        raise SpecError(where, f"expected a number, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise SpecError(where, f"expected a number, got {kind_of(value)}")
