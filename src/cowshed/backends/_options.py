"""Typed parsing of a backend's option table: one helper so every driver rejects the same way."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar, get_type_hints

from cowshed.errors import ConfigError

T = TypeVar("T")


def parse_options(store: str, cls: type[T], options: Mapping[str, object]) -> T:
    """Build the frozen config dataclass ``cls`` from ``options``.

    Unknown keys and values of the wrong type raise ConfigError naming the store and the key.
    ``int`` fields refuse ``bool``; ``float`` fields accept ``int``.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(
            f"store {store!r}: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    values: dict[str, Any] = {}
    for key, value in options.items():
        values[key] = _coerce(store, key, hints[key], value)
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"store {store!r}: {exc}") from exc


def _coerce(store: str, key: str, hint: Any, value: object) -> object:
    accepted: tuple[type, ...]
    text = str(hint)
    if hint is bool:
        accepted = (bool,)
    elif hint is int:
        accepted = (int,)
    elif hint is float:
        accepted = (int, float)
    elif hint is str:
        accepted = (str,)
    elif "str" in text and "None" in text:
        accepted = (str, type(None))
    elif "int" in text and "None" in text:
        accepted = (int, type(None))
    else:
        return value
    if isinstance(value, bool) and bool not in accepted:
        raise ConfigError(f"store {store!r}: option {key!r} must be {text}, got a boolean")
    if not isinstance(value, accepted):
        raise ConfigError(f"store {store!r}: option {key!r} must be {text}, got {value!r}")
    return value
