"""Shipping a call to another process and its outcome back, with cloudpickle.

The parent pickles ``(fn, args)`` itself (`pack`), so a failure names the step
and the exact thing that would not pickle; the worker runs `call_packed`, a
module-level function that both trio-parallel and Dask ship by reference; the
parent turns the worker's reply back into a value or the original exception
(`unpack`). The pools only ever move ``bytes`` and small tuples, so every
pickling problem surfaces here, with one message shape.

This module is imported by every worker process: keep it free of trio, attrs
and dagfn's other modules (cloudpickle is imported where it is used).
"""

from __future__ import annotations

import pickle
import traceback
from collections.abc import Callable
from typing import Any, Final

from dagfn.executors._errors import ExecutorError, ShippingError

# The tags of a worker's reply; each reply is a tuple starting with one of them.
RETURNED: Final = "returned"  # (RETURNED, pickled result)
RAISED: Final = "raised"  # (RAISED, pickled exception, remote traceback text)
RAISED_UNSHIPPABLE: Final = "raised-unshippable"  # (tag, "Type: message", pickling error, tb)
RESULT_UNSHIPPABLE: Final = "result-unshippable"  # (tag, description of result, pickling error)
UNLOADABLE: Final = "unloadable"  # (UNLOADABLE, unpickling error)

Reply = tuple[Any, ...]


def describe(value: object) -> str:
    """Name a value's type for a message: ``a _thread.lock``, ``an int``."""
    kind = type(value)
    name = (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )
    article = "an" if name[:1].lower() in "aeiou" else "a"
    return f"{article} {name}"


def _function_name(fn: object) -> str:
    return str(getattr(fn, "__qualname__", None) or describe(fn))


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def pack(fn: Callable[..., Any], args: tuple[Any, ...], *, step: str, where: str) -> bytes:
    """Pickle ``(fn, args)`` for `call_packed`, or raise a `ShippingError` naming the culprit."""
    import cloudpickle

    try:
        return cloudpickle.dumps((fn, args), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        # Only on failure: pickle the parts one by one to name the one that fails.
        what = "the function and its arguments"
        reason = exc
        try:
            cloudpickle.dumps(fn, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as fn_exc:
            what, reason = f"the function {_function_name(fn)}", fn_exc
        else:
            for index, arg in enumerate(args):
                try:
                    cloudpickle.dumps(arg, protocol=pickle.HIGHEST_PROTOCOL)
                except Exception as arg_exc:
                    what, reason = f"argument {index} ({describe(arg)})", arg_exc
                    break
        message = f"step {step!r}: cannot ship {what} to {where}: {_reason(reason)}"
        raise ShippingError(message, step=step, what=what) from exc


def call_packed(payload: bytes) -> Reply:
    """Run in the worker: unpickle ``(fn, args)``, call it, pickle the outcome.

    Never raises for anything the step does, so the pool only reports its own
    problems (a dead worker) and the parent sees every outcome in one shape.
    """
    import cloudpickle

    try:
        fn, args = cloudpickle.loads(payload)
    except BaseException as exc:
        return (UNLOADABLE, _reason(exc))
    try:
        result = fn(*args)
    except BaseException as exc:
        remote_traceback = traceback.format_exc()
        try:
            return (
                RAISED,
                cloudpickle.dumps(exc, protocol=pickle.HIGHEST_PROTOCOL),
                remote_traceback,
            )
        except BaseException as pickling_exc:
            return (RAISED_UNSHIPPABLE, _reason(exc), _reason(pickling_exc), remote_traceback)
    try:
        return (RETURNED, cloudpickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
    except BaseException as pickling_exc:
        return (RESULT_UNSHIPPABLE, describe(result), _reason(pickling_exc))


def unpack(reply: Reply, *, step: str, where: str) -> Any:
    """Return the remote result, or raise the remote exception with its original type.

    A remote ``SystemExit``, ``KeyboardInterrupt`` or other non-`Exception` is
    not re-raised here (it would stop the caller's process): it becomes an
    `ExecutorError`, with the original as its ``__cause__``.
    """
    import cloudpickle

    tag = reply[0]
    if tag == RETURNED:
        try:
            return cloudpickle.loads(reply[1])
        except Exception as exc:
            what = "the result"
            message = f"step {step!r}: cannot load {what} shipped back from {where}: {_reason(exc)}"
            raise ShippingError(message, step=step, what=what) from exc
    if tag == RAISED:
        try:
            error = cloudpickle.loads(reply[1])
        except Exception as exc:
            what = "the exception"
            message = (
                f"step {step!r}: cannot load {what} shipped back from {where}: {_reason(exc)}\n"
                f"remote traceback:\n{reply[2]}"
            )
            raise ShippingError(message, step=step, what=what) from exc
        error.add_note(f"remote traceback ({where}):\n{reply[2]}")
        if isinstance(error, Exception):
            raise error
        message = f"step {step!r}: the function raised {_reason(error)} in {where}"
        raise ExecutorError(message, step=step) from error
    if tag == RAISED_UNSHIPPABLE:
        what = "the exception"
        message = (
            f"step {step!r}: the function raised {reply[1]} in {where}, but cannot ship "
            f"{what} back: {reply[2]}\nremote traceback:\n{reply[3]}"
        )
        raise ShippingError(message, step=step, what=what)
    if tag == RESULT_UNSHIPPABLE:
        what = f"the result ({reply[1]})"
        message = f"step {step!r}: cannot ship {what} back from {where}: {reply[2]}"
        raise ShippingError(message, step=step, what=what)
    if tag == UNLOADABLE:
        what = "the function and its arguments"
        message = (
            f"step {step!r}: cannot load {what} in {where}: {reply[1]} "
            "(is the function's module importable there?)"
        )
        raise ShippingError(message, step=step, what=what)
    message = f"step {step!r}: unexpected reply from {where}: {tag!r}"
    raise ExecutorError(message, step=step)
