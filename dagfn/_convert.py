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

from collections.abc import Callable

import cattrs
from cattrs.preconf.json import make_converter as make_json_converter

__all__ = ["make_converter"]


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
    return converter


def _strict(cls: type) -> Callable[[object, type], object]:
    def structure(value: object, _: type) -> object:
        if isinstance(value, cls) and not (cls is int and isinstance(value, bool)):
            return value
        if cls is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        raise TypeError(f"expected {cls.__name__}, got {value!r} (type={type(value).__name__})")

    return structure
