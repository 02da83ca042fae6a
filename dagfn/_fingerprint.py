"""Content addresses for the step cache: a canonical digest of a value, a fingerprint of code.

`value_digest` encodes a value as plain data and hashes the text. The
encoding is canonical: a dict's or a set's order, and how a float was
written, never change it; every value carries its type (``1``, ``1.0``,
``True`` and ``"1"`` differ, and so do ``Point(1, 2)`` and ``Size(1, 2)``),
so values of different types never collide. Values that compare equal
under Python's own rules for dict keys and set members (so ``-0.0`` and
``0.0``) digest alike. A value with no such encoding (a socket, a lock, a
class cattrs cannot unstructure) raises `Uncacheable`.

`code_fingerprint` hashes what a function computes with: its bytecode and
constants, its defaults, the values of the cells it closes over and of the
globals it reads (functions among them recursively, when they are the
program's own, not the standard library's or an installed package's), and its
annotations. Line numbers, file names and local names are left out: moving a
function, or adding lines above it, keeps its fingerprint.

>>> value_digest({"a": 1, "b": {2, 3}}) == value_digest({"b": {3, 2}, "a": 1})
True
>>> value_digest(1) == value_digest(1.0)
False
"""

from __future__ import annotations

import collections.abc as abc
import contextlib
import dataclasses
import datetime
import decimal
import enum
import fractions
import functools
import hashlib
import io
import itertools
import marshal
import operator
import os
import pathlib
import sysconfig
import types
import typing
import uuid
import weakref
from collections.abc import Callable
from typing import Any, Final

import attrs

from dagfn._convert import make_converter
from dagfn._errors import DagfnError

__all__ = ["Uncacheable", "code_fingerprint", "undigestable", "value_digest"]


class Uncacheable(DagfnError, TypeError):
    """A cached step's input has no canonical digest, so it cannot be looked up."""

    def __init__(self, step: str, type_name: str, reason: str) -> None:
        super().__init__(
            f"step {step!r} is cached but its input of type {type_name} has no digest: "
            f"{reason}; pass attrs classes, dataclasses or plain data, register a cattrs "
            "unstructure hook on dagfn._journal.converter, or drop .cache() from this step"
        )
        self.step = step
        self.type_name = type_name


class _NoDigest(Exception):
    """Raised inside the encoder: ``cls`` cannot be encoded (``reason``)."""

    def __init__(self, cls: type, reason: str) -> None:
        super().__init__(reason)
        self.cls = cls
        self.reason = reason


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


# Types whose value is its text, tagged with the type (cattrs leaves them as they are).
_TEXTUAL: Final = (
    uuid.UUID,
    decimal.Decimal,
    fractions.Fraction,
    pathlib.PurePath,
    datetime.datetime,
    datetime.date,
    datetime.time,
    datetime.timedelta,
)


# Exact classes that marshal (format version 2: no back references, so sharing never
# shows) writes with their type: kept as they are in the canonical form.
_PLAIN: Final = frozenset((str, int, float, bool, type(None), bytes))

_Record = tuple[str, Callable[[Any], Any]]  # a record class's tag and a getter of its fields
# Every class met so far -> its `_Record`, or None when it is not an attrs or dataclass class.
_RECORDS: Final[dict[type, _Record | None]] = {}


class _Canon:
    """Turns a value into its canonical form: plain data that marshal writes the same
    way for equal values, whatever the order of dicts and sets.

    Canonical forms: a str, int, float, bool, None or bytes is itself; a tuple is
    the tuple of its items' forms; everything else is a tagged tuple
    ``(..., tag, ...)`` (a list ``(..., "[", items)``, an attrs record
    ``(..., "@module.Class(fields)", values)``...). Invariant: no canonical
    form but a tagged one is a tuple starting with ``...`` (a user's Ellipsis is
    tagged too), and tags differ by type, so values of different types never
    share a form. A list (or tuple) of records of one class whose fields are all
    plain has a form of its own, ``(..., "[@", record tag, rows of field values)``,
    made in C (``map``): which form a value takes depends only on the value, so
    equal values still share a form.
    """

    __slots__ = ("records", "unstructure")

    def __init__(self, unstructure: Callable[[Any], Any]) -> None:
        self.unstructure = unstructure
        self.records = _RECORDS

    def of(self, v: Any) -> Any:
        cls = v.__class__
        if cls in _PLAIN:
            return v
        if cls is tuple or cls is list:
            kinds = set(map(type, v))
            if kinds <= _PLAIN:
                items = tuple(v)
            else:
                rows = self.rows(v, kinds.pop()) if len(kinds) == 1 else None
                if rows is not None:  # records of one class, of plain fields
                    return (..., "[@" if cls is list else "(@", *rows)
                items = tuple(map(self.of, v))
            return (..., "[", items) if cls is list else items
        if cls is dict:
            if set(map(type, v)) == {str}:  # str keys sort canonically as they are
                keys = sorted(v)
                return (..., "{s", tuple(keys), self.of(tuple(map(v.__getitem__, keys))))
            key = self.key
            return (
                ...,
                "{",
                tuple(sorted(marshal.dumps((key(k), key(x)), 2) for k, x in v.items())),
            )
        if cls is set or cls is frozenset:
            members = tuple(sorted(marshal.dumps(self.key(x), 2) for x in v))
            return (..., "<" if cls is set else "<f", members)
        record = self.record(cls)
        if record is not None:
            tag, fields = record
            values = fields(v)
            if not set(map(type, values)) <= _PLAIN:
                values = tuple(map(self.of, values))
            return (..., tag, values)
        return self.other(v, cls)

    def rows(self, items: Any, cls: type) -> tuple[str, tuple[Any, ...]] | None:
        """``items``, all records of class ``cls`` whose fields are all plain: the class's
        tag and their field values (in C: no call per record); else None."""
        record = self.record(cls)
        if record is None:
            return None
        tag, fields = record
        rows = tuple(map(fields, items))
        if set(map(type, itertools.chain.from_iterable(rows))) <= _PLAIN:
            return tag, rows
        return None

    def key(self, v: Any) -> Any:
        """The form of a set member or a dict key: -0.0 is 0.0 there, as Python has it."""
        return v + 0.0 if v.__class__ is float else self.of(v)

    def record(self, cls: type) -> _Record | None:
        """The tag and field getter of an attrs or dataclass class (None for another class)."""
        try:
            return self.records[cls]
        except KeyError:
            pass
        found: _Record | None = None
        names: tuple[str, ...] = ()
        if attrs.has(cls):
            names = tuple(f.name for f in attrs.fields(cls))
        elif dataclasses.is_dataclass(cls):
            names = tuple(f.name for f in dataclasses.fields(cls))
        if attrs.has(cls) or dataclasses.is_dataclass(cls):
            getter = operator.attrgetter(*names) if names else _no_fields
            found = (
                f"@{_name(cls)}({','.join(names)})",
                _boxed(getter) if len(names) == 1 else getter,
            )
        self.records[cls] = found
        return found

    def other(self, v: Any, cls: type) -> Any:
        if isinstance(v, enum.Enum):
            return (..., f"enum {_name(cls)}", v.name)
        if isinstance(v, _TEXTUAL):
            text = v.isoformat() if isinstance(v, datetime.date | datetime.time) else str(v)
            return (..., f"text {_name(cls)}", text)
        if cls is complex:
            return (..., "complex", v.real, v.imag)
        if v is ...:
            return (..., "...")
        for base in _BASES:
            if isinstance(v, base):  # a subclass of plain data (a NamedTuple, say)
                plain: Any = bytes(v) if isinstance(v, bytearray) else base(v)
                return (..., f"sub {_name(cls)}", self.of(plain))
        try:
            plain = self.unstructure(v)
        except Exception as error:
            raise _NoDigest(cls, f"cattrs cannot unstructure it ({error})") from error
        if plain is v or plain.__class__ is cls:
            raise _NoDigest(cls, "cattrs has no unstructure hook for it")
        return (..., f"cattrs {_name(cls)}", self.of(plain))


_BASES: Final[tuple[type, ...]] = (
    str,
    int,
    float,
    bytes,
    tuple,
    list,
    dict,
    set,
    frozenset,
    bytearray,
)


def _no_fields(_: object) -> tuple[()]:
    return ()


def _boxed(getter: Callable[[Any], Any]) -> Callable[[Any], tuple[Any, ...]]:
    def fields(v: Any) -> tuple[Any, ...]:
        return (getter(v),)

    return fields


# Without a converter given: cattrs' JSON preset (the journal passes its own, with hooks).
_DEFAULT_UNSTRUCTURE: Final = make_converter(json=True).unstructure


def value_digest(value: object, unstructure: Callable[[Any], Any] | None = None) -> str:
    """The canonical digest of ``value`` (SHA-256, hex); raises `_NoDigest` (which
    `digest_or_raise` turns into `Uncacheable`) when a part of it has none.

    ``unstructure`` turns classes the encoder does not know into plain data
    (the journal's cattrs converter, so hooks registered there count).
    """
    canon = _Canon(_DEFAULT_UNSTRUCTURE if unstructure is None else unstructure)
    try:
        data = marshal.dumps(canon.of(value), 2)
    except RecursionError as error:
        raise _NoDigest(type(value), "it is nested too deeply (or refers to itself)") from error
    except _NoDigest:
        raise
    except Exception as error:  # a record missing a field, a hook that raised...
        raise _NoDigest(type(value), f"encoding it raised {error!r}") from error
    return hashlib.sha256(data).hexdigest()


def digest_or_raise(value: object, step: str, unstructure: Callable[[Any], Any]) -> str:
    """`value_digest`, or `Uncacheable` naming ``step`` and the class that has no digest."""
    try:
        return value_digest(value, unstructure)
    except _NoDigest as failed:
        raise Uncacheable(step, failed.cls.__qualname__, failed.reason) from None


# -- code -------------------------------------------------------------------------

# Code of the standard library and of installed packages is named, not hashed:
# its version is the environment's business (and walking it would be slow).
_STDLIB: Final = os.path.normcase(os.path.realpath(sysconfig.get_paths()["stdlib"])) + os.sep
_PACKAGES: Final = ("site-packages", "dist-packages")
# dagfn's own wrappers (a route's selector, a fold) are walked wherever dagfn is
# installed: what they close over is the user's code.
_DAGFN: Final = os.path.normcase(os.path.realpath(os.path.dirname(__file__))) + os.sep

_FINGERPRINTS: Final[weakref.WeakKeyDictionary[Any, str]] = weakref.WeakKeyDictionary()


def _is_library(code: types.CodeType) -> bool:
    file = os.path.normcase(os.path.realpath(code.co_filename))
    if file.startswith(_DAGFN):
        return False
    return file.startswith(_STDLIB) or any(p in file for p in _PACKAGES)


def code_fingerprint(fn: object) -> str:
    """A digest of what ``fn`` computes with (see the module docstring); computed once per fn."""
    try:
        found = _FINGERPRINTS.get(fn)
    except TypeError:  # not weakly referenceable (a builtin, say): compute each time
        found = None
    if found is not None:
        return found
    parts: list[str] = []
    _Code(parts).callable(fn)
    result = hashlib.sha256("\n".join(parts).encode("utf-8", "surrogatepass")).hexdigest()
    with contextlib.suppress(TypeError):  # not weakly referenceable
        _FINGERPRINTS[fn] = result
    return result


class _Code:
    """Walks a callable and what it refers to, appending text to ``parts``; each object once."""

    __slots__ = ("parts", "seen")

    def __init__(self, parts: list[str]) -> None:
        self.parts = parts
        self.seen: set[int] = set()

    def callable(self, fn: object) -> None:
        if id(fn) in self.seen:
            self.parts.append("<seen>")
            return
        self.seen.add(id(fn))
        if isinstance(fn, functools.partial):
            self.parts.append("partial")
            self.callable(fn.func)
            self.data(fn.args)
            self.data(dict(fn.keywords))
        elif isinstance(fn, types.MethodType):
            self.parts.append("method")
            self.callable(fn.__func__)
            self.data_or_name(fn.__self__)
        elif isinstance(fn, types.FunctionType):
            self.function(fn)
        elif isinstance(fn, type):
            self.cls(fn)
        elif callable(fn) and isinstance(type(fn).__call__, types.FunctionType):
            self.parts.append(f"instance of {_name(type(fn))}")
            self.function(typing.cast(types.FunctionType, type(fn).__call__))
            self.data_or_name(fn)
        else:
            self.parts.append(f"callable {_qualified(fn)}")

    def cls(self, cls: type) -> None:
        """A class used as a step (an attrs join, say): its fields and own methods."""
        self.parts.append(f"class {_name(cls)}")
        if attrs.has(cls):
            for f in attrs.fields(cls):
                self.parts.append(f"field {f.name}")
                factory = getattr(f.default, "factory", None)  # attrs.Factory(list), say
                self.reference(factory if callable(factory) else f.default)
        for name, member in sorted(vars(cls).items()):
            if (
                isinstance(member, types.FunctionType)
                and not _is_library(member.__code__)
                # attrs writes these from the fields (above); its __hash__ holds a seeded hash
                and not member.__code__.co_filename.startswith("<attrs generated")
            ):
                self.parts.append(f"def {name}")
                self.function(member)

    def function(self, fn: types.FunctionType) -> None:
        code = fn.__code__
        if _is_library(code):
            self.parts.append(f"library {fn.__module__}.{fn.__qualname__}")
            return
        self.code(code)
        self.data_or_name(fn.__defaults__)
        self.data_or_name(fn.__kwdefaults__)
        self.parts.append(repr(sorted((k, _annotation(v)) for k, v in fn.__annotations__.items())))
        for cell in fn.__closure__ or ():
            try:
                content = cell.cell_contents
            except ValueError:  # an empty cell (a name assigned later)
                self.parts.append("<empty cell>")
                continue
            self.reference(content)
        names = _global_names(code)
        for name in sorted(names):
            if name in fn.__globals__:
                self.parts.append(f"global {name}")
                self.reference(fn.__globals__[name])

    def code(self, code: types.CodeType) -> None:
        self.parts.append(code.co_code.hex())
        self.parts.append(repr(code.co_names))
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                self.code(const)
            else:  # a digest, not a repr: a frozenset's repr follows the hash seed
                self.data_or_name(const)

    def reference(self, value: object) -> None:
        """Something a function refers to: code is walked, data digested, the rest named."""
        if isinstance(value, types.ModuleType):
            self.parts.append(f"module {value.__name__}")
        elif isinstance(value, types.FunctionType | functools.partial | types.MethodType):
            self.callable(value)
        elif isinstance(value, type):
            if id(value) in self.seen:
                self.parts.append(f"<seen class {_name(value)}>")
            else:
                self.seen.add(id(value))
                self.cls(value)  # its own methods: a helper class's edited method is a miss
        else:
            self.data_or_name(value)

    def data(self, value: object) -> None:
        self.parts.append(value_digest(value))

    def data_or_name(self, value: object) -> None:
        """The value's digest if it is plain data, else its type's name (a client, a lock)."""
        if value.__class__ in _PLAIN:  # shared or not, the same text (ids vary by run)
            self.parts.append(value_digest(value))
            return
        if id(value) in self.seen:
            self.parts.append("<seen>")
            return
        self.seen.add(id(value))
        try:
            self.parts.append(value_digest(value))
        except Exception:
            self.parts.append(f"object of {_qualified(type(value))}")


def _global_names(code: types.CodeType) -> set[str]:
    """Names a code object (and the code nested in it) may read as globals."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


def _qualified(obj: object) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', type(obj).__name__)}"


def _annotation(t: object) -> str:
    return t if isinstance(t, str) else repr(t)


# -- annotations ------------------------------------------------------------------

# What an annotation can name that is never data: a cached step taking one cannot be digested.
_NEVER_DATA: Final[tuple[Any, ...]] = (
    abc.Callable,
    abc.Iterator,
    abc.AsyncIterator,
    abc.Awaitable,
    io.IOBase,
    types.ModuleType,
)


def undigestable(annotation: object) -> str | None:
    """The name of a type in ``annotation`` whose values never have a digest, or None.

    Only what the annotation alone shows: callables, iterators, coroutines,
    modules, files (records and collections that happen to be callable pass).
    Other classes pass even when cattrs cannot unstructure them yet (a hook can
    be registered later): the run finds those.
    """
    pending = [annotation]
    seen: set[int] = set()
    while pending:
        t = pending.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        origin = typing.get_origin(t)
        target = origin if origin is not None else t
        if (
            isinstance(target, type)
            and issubclass(target, _NEVER_DATA)
            and not issubclass(target, abc.Collection)
            and not attrs.has(target)
            and not dataclasses.is_dataclass(target)
        ):
            return target.__qualname__
        pending.extend(typing.get_args(t))
    return None


def check_cacheable(fn: object, step: str) -> None:
    """Raise `Uncacheable` naming ``step`` if ``fn``'s parameter annotations show an input
    with no digest (see `undigestable`); unannotated or unresolvable parameters pass."""
    fn = getattr(fn, "__dagfn_wrapped__", fn)
    while isinstance(fn, functools.partial):
        fn = fn.func
    target = fn if isinstance(fn, types.FunctionType | types.MethodType | type) else None
    if target is None:
        call = vars(type(fn)).get("__call__")
        target = call if isinstance(call, types.FunctionType) else None
    if target is None:
        return
    try:
        init: Any = target.__init__ if isinstance(target, type) else target  # type: ignore[misc]
        hints = typing.get_type_hints(init)
    except Exception:
        return
    for name, annotation in hints.items():
        if name == "return":
            continue
        bad = undigestable(annotation)
        if bad is not None:
            msg = f"its parameter {name!r} is annotated {annotation!r}, and a {bad} is never data"
            raise Uncacheable(step, bad, msg)
