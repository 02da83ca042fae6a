"""The journal's exact encoding: Python values as tagged, canonical JSON (never pickle).

Every value `encode` accepts, `decode` gives back equal and of the same type,
recursively, with or without an annotation to guide it:

- ``None``, ``bool``, ``str``, ``int`` and finite ``float`` are JSON scalars;
  ``list`` is a JSON array; a ``dict`` whose keys are all ``str`` (none of
  them ``"!"``) is a JSON object.
- Everything else is a tagged object, ``{"!": tag, "v": payload}``: ``tuple``,
  ``set``, ``frozenset`` (items sorted by their JSON text, so one value has
  one text), any other ``dict`` (a list of ``[key, value]`` pairs, keys of any
  of these types), ``bytes`` (base64), NaN and the infinities, ``datetime``,
  ``date``, ``time``, ``timedelta``, ``Decimal``, ``UUID``, ``complex``; and
  records, which also name their class (``"c"``): attrs classes and
  dataclasses (``"rec"``, by field), enums (``"enum"``, by value),
  named tuples (``"ntuple"``).

A JSON object with a ``"!"`` key is therefore always a tag: a user's dict
with that key is written as pairs. Decoding never imports anything: a record's
class is looked up by its qualified name through the caller's ``classes``
function, which decides which classes a row may build.

What cannot be represented exactly raises `Unencodable` (naming the type):
an object of any other class (subclasses of the built-ins included), an int
too long for ``str()``, a structure nested deeper than `MAX_DEPTH` or cyclic.

>>> text = encode_text({(1, 2): {"a", "b"}, 3: [None, 1.5, b"x"]})
>>> text
'{"!":"dict","v":[[{"!":"tuple","v":[1,2]},{"!":"set","v":["a","b"]}],[3,[null,1.5,{"!":"bytes","v":"eA=="}]]]}'
>>> decode_text(text, lambda name: None) == {(1, 2): {"a", "b"}, 3: [None, 1.5, b"x"]}
True
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import decimal
import enum
import json
import sys
import uuid
from collections.abc import Callable
from typing import Any, Final

import attrs

__all__ = [
    "MAX_DEPTH",
    "Undecodable",
    "Unencodable",
    "class_name",
    "decode_text",
    "encode",
    "encode_text",
]

#: Containers nested deeper than this are refused (JSON readers recurse too).
MAX_DEPTH: Final = 200

TAG: Final = "!"

# One encoder for every row: json.dumps with options builds a new one per call.
# allow_nan=False: non-finite floats are tagged, so a bare NaN here is a bug.
_dump: Final = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
# Ints with more bits than this may exceed `sys.get_int_max_str_digits()`: checked.
_LONG_INT_BITS: Final = 13_000


class Unencodable(ValueError):
    """A value the journal cannot hold exactly; ``.type_name`` names the culprit's type."""

    def __init__(self, message: str, *, type_name: str) -> None:
        super().__init__(message)
        self.type_name = type_name


def class_name(cls: type) -> str:
    """The name a row gives ``cls``: ``module.QualName``."""
    return f"{cls.__module__}.{cls.__qualname__}"


def encode_text(value: object, seen: dict[str, type] | None = None) -> str:
    """The canonical JSON text of ``value``; raises `Unencodable`.

    ``seen`` (if given) receives every record class the value holds, by name.
    """
    return _dump(encode(value, seen))


def encode(value: object, seen: dict[str, type] | None = None) -> Any:
    """``value`` as plain JSON data (dicts, lists, scalars); raises `Unencodable`."""
    try:
        return _encode(value, 0, seen)
    except Unencodable:
        raise
    except RecursionError:
        raise _too_deep(value) from None
    except Exception as error:  # a field that is not set, a property that raises...
        name = type(value).__qualname__
        msg = f"reading the {name} to encode it raised {error!r}"
        raise Unencodable(msg, type_name=name) from error


def _encode(v: Any, depth: int, seen: dict[str, type] | None) -> Any:
    cls = v.__class__
    if cls is str or cls is bool or v is None:
        return v
    if cls is int:
        if v.bit_length() > _LONG_INT_BITS:
            try:
                int.__repr__(v)
            except ValueError:
                msg = (
                    f"an int of {v.bit_length()} bits has more digits than str() "
                    "allows (sys.get_int_max_str_digits())"
                )
                raise Unencodable(msg, type_name="int") from None
        return v
    if cls is float:
        if v - v == 0.0:  # finite
            return v
        return {TAG: "float", "v": "nan" if v != v else ("inf" if v > 0 else "-inf")}
    depth += 1
    if depth > MAX_DEPTH:
        raise _too_deep(v)
    if cls is list:
        return [_encode(x, depth, seen) for x in v]
    if cls is dict:
        if TAG not in v and all(k.__class__ is str for k in v):
            return {k: _encode(x, depth, seen) for k, x in v.items()}
        pairs = [[_encode(k, depth, seen), _encode(x, depth, seen)] for k, x in v.items()]
        return {TAG: "dict", "v": pairs}
    if cls is tuple:
        return {TAG: "tuple", "v": [_encode(x, depth, seen) for x in v]}
    if cls is set or cls is frozenset:
        items = [_encode(x, depth, seen) for x in v]
        if len(items) > 1:
            items.sort(key=_dump)
        return {TAG: cls.__name__, "v": items}
    encoder = _OTHERS.get(cls)
    if encoder is not None:
        return encoder(v, depth, seen)
    return _record(v, cls, depth, seen)


def _record(v: Any, cls: type, depth: int, seen: dict[str, type] | None) -> Any:
    """An attrs class, dataclass, enum or named tuple (else `Unencodable`)."""
    name = class_name(cls)
    if isinstance(v, enum.Enum):
        payload: Any = _encode(v.value, depth, seen)
        tag = "enum"
    elif attrs.has(cls):
        fields = attrs.fields(cls)
        payload = {f.name: _encode(getattr(v, f.name), depth, seen) for f in fields}
        tag = "rec"
    elif dataclasses.is_dataclass(cls):
        fields_ = dataclasses.fields(cls)
        payload = {f.name: _encode(getattr(v, f.name), depth, seen) for f in fields_}
        tag = "rec"
    elif isinstance(v, tuple) and hasattr(cls, "_fields"):
        payload = [_encode(x, depth, seen) for x in v]
        tag = "ntuple"
    else:
        kind = "a subclass of a built-in type" if isinstance(v, _BUILTINS) else "an object"
        msg = (
            f"{kind} of class {name} has no exact JSON form; return plain data, "
            "tuples, sets, attrs classes, dataclasses, enums or named tuples"
        )
        raise Unencodable(msg, type_name=cls.__qualname__)
    if seen is not None:
        seen[name] = cls
    return {TAG: tag, "c": name, "v": payload}


_BUILTINS: Final = (str, int, float, list, dict, tuple, set, frozenset, bytes)


def _too_deep(value: object) -> Unencodable:
    what = "cyclic" if _cyclic(value) else f"nested deeper than {MAX_DEPTH} levels"
    return Unencodable(
        f"a {type(value).__qualname__} {what} has no JSON form",
        type_name=type(value).__qualname__,
    )


def _cyclic(value: object) -> bool:
    """Whether a container refers to itself (iteratively: the value is deep)."""
    on_path: set[int] = set()
    stack: list[tuple[object, bool]] = [(value, True)]
    while stack:
        v, entering = stack.pop()
        if not entering:
            on_path.discard(id(v))
            continue
        if id(v) in on_path:
            return True
        children = _children(v)
        if children is None:
            continue
        on_path.add(id(v))
        stack.append((v, False))
        stack.extend((c, True) for c in children)
    return False


def _children(v: object) -> list[object] | None:
    if isinstance(v, dict):
        return [*v.keys(), *v.values()]
    if isinstance(v, list | tuple | set | frozenset):
        return list(v)
    cls: Any = type(v)
    if attrs.has(cls):
        return [getattr(v, f.name, None) for f in attrs.fields(cls)]
    if dataclasses.is_dataclass(v):
        return [getattr(v, f.name, None) for f in dataclasses.fields(v)]
    return None


def _zone(tz: datetime.tzinfo | None, cls: type) -> dict[str, Any]:
    """The extra fields naming a datetime's or time's zone ({} when naive or fixed)."""
    if tz is None or tz.__class__ is datetime.timezone:
        return {}
    # zoneinfo is imported only when needed: a ZoneInfo exists only if it was.
    zoneinfo = sys.modules.get("zoneinfo")
    if zoneinfo is not None and tz.__class__ is zoneinfo.ZoneInfo:
        return {"zone": tz.key}  # type: ignore[attr-defined]
    msg = f"a {cls.__name__} with a tzinfo of class {class_name(tz.__class__)} has no exact form"
    raise Unencodable(msg, type_name=cls.__name__)


def _datetime(v: datetime.datetime, *_: Any) -> Any:
    extra = _zone(v.tzinfo, datetime.datetime)
    text = v.replace(tzinfo=None).isoformat() if extra else v.isoformat()
    return {TAG: "datetime", "v": text, **extra, **({"fold": 1} if v.fold else {})}


def _time(v: datetime.time, *_: Any) -> Any:
    extra = _zone(v.tzinfo, datetime.time)
    text = v.replace(tzinfo=None).isoformat() if extra else v.isoformat()
    return {TAG: "time", "v": text, **extra, **({"fold": 1} if v.fold else {})}


def _complex(v: complex, depth: int, seen: dict[str, type] | None) -> Any:
    return {TAG: "complex", "v": [_encode(v.real, depth, seen), _encode(v.imag, depth, seen)]}


_OTHERS: Final[dict[type, Callable[[Any, int, dict[str, type] | None], Any]]] = {
    bytes: lambda v, *_: {TAG: "bytes", "v": base64.b64encode(v).decode("ascii")},
    datetime.datetime: _datetime,
    datetime.date: lambda v, *_: {TAG: "date", "v": v.isoformat()},
    datetime.time: _time,
    datetime.timedelta: lambda v, *_: {TAG: "timedelta", "v": [v.days, v.seconds, v.microseconds]},
    decimal.Decimal: lambda v, *_: {TAG: "decimal", "v": str(v)},
    uuid.UUID: lambda v, *_: {TAG: "uuid", "v": str(v)},
    complex: _complex,
}


# -- reading ---------------------------------------------------------------------


class Undecodable(ValueError):
    """A row's text is not in the journal's encoding, or names a class it may not build."""


def decode_text(text: str, classes: Callable[[str], type | None]) -> Any:
    """The value of a row's ``text``; ``classes(name)`` is the class a record may
    name (None: refused). Raises `Undecodable` (or ``json.JSONDecodeError``).
    """

    def hook(obj: dict[str, Any]) -> Any:
        tag = obj.get(TAG)
        if tag is None:
            return obj
        read = _READERS.get(tag) if isinstance(tag, str) else None
        if read is None:
            raise Undecodable(f"unknown tag {tag!r}")
        try:
            return read(obj, classes)
        except Undecodable:
            raise
        except Exception as error:
            raise Undecodable(f"a {tag!r} value does not read back: {error!r}") from error

    return json.loads(text, object_hook=hook)


def _built(obj: dict[str, Any], classes: Callable[[str], type | None], kind: str) -> type:
    name = obj["c"]
    cls = classes(name) if isinstance(name, str) else None
    if cls is None:
        raise Undecodable(
            f"the row names class {name!r}, which is not a class this graph annotates, "
            "defines in a step's module, or produced in this process"
        )
    if kind == "enum":
        ok = issubclass(cls, enum.Enum)
    elif kind == "rec":
        ok = attrs.has(cls) or dataclasses.is_dataclass(cls)
    else:
        ok = issubclass(cls, tuple) and hasattr(cls, "_fields")
    if not ok:
        raise Undecodable(f"class {name!r} is not a {kind} class")
    return cls


def _read_record(obj: dict[str, Any], classes: Callable[[str], type | None]) -> Any:
    """A record rebuilt field by field, without calling its ``__init__``.

    The fields are the values that were written: no converter, validator or
    ``__post_init__`` runs again (a converter that is not idempotent would
    change them), and reading a row runs no code of the class.
    """
    cls: Any = _built(obj, classes, "rec")
    data = obj["v"]
    if not isinstance(data, dict):
        raise Undecodable("a record's fields are not an object")
    names = [f.name for f in (attrs.fields(cls) if attrs.has(cls) else dataclasses.fields(cls))]
    if set(data) != set(names):
        raise Undecodable(
            f"the fields {sorted(data)} are not those of {class_name(cls)} ({sorted(names)})"
        )
    value = object.__new__(cls)
    for name in names:
        object.__setattr__(value, name, data[name])
    hash_code = getattr(cls.__hash__, "__code__", None)
    if hash_code is not None and _HASH_CACHE in hash_code.co_names:  # attrs cache_hash=True
        object.__setattr__(value, _HASH_CACHE, None)
    return value


_HASH_CACHE: Final = "_attrs_cached_hash"  # where attrs keeps a cached hash


def _read_datetime(obj: dict[str, Any], _: Any) -> Any:
    value = datetime.datetime.fromisoformat(obj["v"])
    if "zone" in obj:
        value = value.replace(tzinfo=_zone_named(obj["zone"]))
    return value.replace(fold=1) if obj.get("fold") else value


def _read_time(obj: dict[str, Any], _: Any) -> Any:
    value = datetime.time.fromisoformat(obj["v"])
    if "zone" in obj:
        value = value.replace(tzinfo=_zone_named(obj["zone"]))
    return value.replace(fold=1) if obj.get("fold") else value


def _zone_named(key: str) -> datetime.tzinfo:
    import zoneinfo  # only for rows that name a zone

    return zoneinfo.ZoneInfo(key)


def _read_float(obj: dict[str, Any], _: Any) -> float:
    if obj["v"] not in ("nan", "inf", "-inf"):
        raise Undecodable(f"{obj['v']!r} is not a tagged float")
    return float(obj["v"])


def _read_dict(obj: dict[str, Any], _: Any) -> dict[Any, Any]:
    return {k: v for k, v in obj["v"]}


_READERS: Final[dict[str, Callable[[dict[str, Any], Callable[[str], type | None]], Any]]] = {
    "tuple": lambda obj, _: tuple(obj["v"]),
    "set": lambda obj, _: set(obj["v"]),
    "frozenset": lambda obj, _: frozenset(obj["v"]),
    "dict": _read_dict,
    "float": _read_float,
    "bytes": lambda obj, _: base64.b64decode(obj["v"], validate=True),
    "datetime": _read_datetime,
    "date": lambda obj, _: datetime.date.fromisoformat(obj["v"]),
    "time": _read_time,
    "timedelta": lambda obj, _: datetime.timedelta(*obj["v"]),
    "decimal": lambda obj, _: decimal.Decimal(obj["v"]),
    "uuid": lambda obj, _: uuid.UUID(obj["v"]),
    "complex": lambda obj, _: complex(*obj["v"]),
    "enum": lambda obj, classes: _built(obj, classes, "enum")(obj["v"]),
    "rec": _read_record,
    "ntuple": lambda obj, classes: _built(obj, classes, "ntuple")(*obj["v"]),
}
