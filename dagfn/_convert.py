"""The one factory of the cattrs converters dagfn uses; the options say how they differ.

- the journal: ``make_converter(json=True)``, JSON-friendly (datetimes, bytes...);
- answers to interrupts: ``make_converter(json=True, forbid_extra_keys=True,
  strict_scalars=True)``, since they come from outside;
- dict deltas of state nodes: ``make_converter(forbid_extra_keys=True,
  strict_scalars=True)``, Python values in, Python values out;
- digests of the audit trail: ``make_converter()``, only to unstructure.

>>> strict = make_converter(strict_scalars=True)
>>> strict.structure(3, float), strict.structure(3, int)
(3.0, 3)
>>> strict.structure(True, int)
Traceback (most recent call last):
    ...
TypeError: expected int, got True (type=bool)
>>> make_converter().structure("3", int)  # cattrs' own rule: coerce
3
"""

from __future__ import annotations

import collections.abc
import re
import typing
from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs
import cattrs
from cattrs.preconf.json import make_converter as make_json_converter

__all__ = ["describe", "make_converter", "type_name"]


def make_converter(
    *, json: bool = False, forbid_extra_keys: bool = False, strict_scalars: bool = False
) -> cattrs.Converter:
    """A new cattrs converter.

    ``json``: cattrs' JSON preset (datetimes as ISO text, bytes as base85...).
    ``forbid_extra_keys``: structuring fails on a key the class does not have.
    ``strict_scalars``: structuring never coerces a scalar (cattrs would turn
    ``3`` into ``"3"`` for a str and ``"yes"`` into ``True``): a str, int,
    float or bool (and bytes, except with ``json``, which reads bytes from
    text) must already be one, a bool is not an int, and an int is a float.
    """
    converter = (
        make_json_converter(forbid_extra_keys=forbid_extra_keys)
        if json
        else cattrs.Converter(forbid_extra_keys=forbid_extra_keys)
    )
    if strict_scalars:
        for scalar in (str, int, float, bool) if json else (str, int, float, bool, bytes):
            converter.register_structure_hook(scalar, _strict(scalar))
        # Shapes too: a record from a mapping only, a sequence from a list or tuple only
        # (cattrs would read the str "ab" as the tuple ("a", "b")).
        converter.register_structure_hook_factory(attrs.has, _strict_record(converter))
        _strict_sequences(converter)
    return converter


def type_name(t: object) -> str:
    """A type as a reader writes it: ``Query``, ``tuple[str, ...]``, ``int | None``."""
    if isinstance(t, type) and not typing.get_args(t):
        return t.__name__
    return re.sub(r"\b[\w.]+\.(?=\w)", "", repr(t))  # typing.List[mod.Query] -> List[Query]


def _a(value: object) -> str:
    """``5 (type=int)``: a value and its type, for messages."""
    return f"{value!r} (type={type(value).__name__})"


def _strict_record(
    converter: cattrs.Converter,
) -> Callable[[type], Callable[[object, type], object]]:
    def factory(cls: type) -> Callable[[object, type], object]:
        default: Callable[[Any, type], object] = converter.gen_structure_attrs_fromdict(cls)

        def structure(value: object, t: type) -> object:
            if isinstance(value, cls):
                return value
            if not isinstance(value, Mapping):
                keys = ", ".join(a.name for a in attrs.fields(cls))
                raise TypeError(f"expected {cls.__name__} (an object with {keys}), got {_a(value)}")
            return default(value, t)

        return structure

    return factory


_SEQUENCES: Final = (tuple, list, set, frozenset, collections.abc.Sequence, collections.abc.Set)


def _strict_sequences(converter: cattrs.Converter) -> None:
    """A sequence type structures from a list or tuple only (never a str or a dict)."""
    busy: set[object] = set()  # types whose hook is being made: cattrs' own hook, not ours

    def applies(t: object) -> bool:
        return typing.get_origin(t) in _SEQUENCES and t not in busy

    def factory(t: object) -> Callable[[object, object], object]:
        busy.add(t)
        try:
            default = converter.get_structure_hook(t, cache_result=False)
        finally:
            busy.discard(t)

        def structure(value: object, t: object) -> object:
            if not isinstance(value, list | tuple | set | frozenset):
                raise TypeError(f"expected {type_name(t)} (a list), got {_a(value)}")
            return default(value, t)

        return structure

    converter.register_structure_hook_factory(applies, factory)


def describe(error: BaseException, what: str) -> str:
    """Why a value did not structure, in plain words: each problem with its place in it.

    ``what`` names the value (``--input``, ``answer``): ``--input.text: expected
    str, got 5 (type=int); --input: unknown key 'x' (Query has text)``.
    """

    def plain(exc: BaseException, t: type | None) -> str:
        if isinstance(exc, cattrs.ForbiddenExtraKeysError):
            extra = ", ".join(map(repr, sorted(exc.extra_fields)))
            known = ", ".join(a.name for a in attrs.fields(exc.cl)) if attrs.has(exc.cl) else ""
            plural = "s" if len(exc.extra_fields) > 1 else ""
            return f"unknown key{plural} {extra} ({exc.cl.__name__} has {known})"
        if isinstance(exc, KeyError):
            return "missing" + (f" (expected {type_name(t)})" if t is not None else "")
        if isinstance(exc, TypeError | ValueError) and str(exc).startswith("expected "):
            return str(exc)
        if t is not None:
            return f"expected {type_name(t)}: {exc}"
        return str(exc) or type(exc).__name__

    lines = cattrs.transform_error(error, path="$", format_exception=plain)
    out = []
    for line in lines or [plain(error, None) + " @ $"]:
        message, _, where = line.rpartition(" @ ")
        out.append(f"{what}{where[1:]}: {message}")
    return "; ".join(out)


def _strict(cls: type) -> Callable[[object, type], object]:
    def structure(value: object, _: type) -> object:
        if isinstance(value, cls) and not (cls is int and isinstance(value, bool)):
            return value
        if cls is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        raise TypeError(f"expected {cls.__name__}, got {value!r} (type={type(value).__name__})")

    return structure
