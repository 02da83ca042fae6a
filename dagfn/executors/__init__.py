"""Where a step's function runs: inline, in threads, in processes or on a Dask cluster.

Layout:

- `_base`: the `Executor` protocol and the reentrant open/close every executor shares.
- `_local`: `Inline` (the trio thread) and `Threads` (``trio.to_thread``).
- `_processes`: `Processes` (trio-parallel worker processes).
- `_dask`: `Dask` (a distributed cluster, by address or a LocalCluster).
- `_shipping`: cloudpickle in the parent, a trampoline in the worker, and the
  original exception brought back; shared by `Processes` and `Dask`.
- `_errors`: `ExecutorError` and its kinds.

Importing this package needs only trio: trio-parallel, cloudpickle and
distributed are imported when an executor that uses them is created
(extras ``dagfn[processes]`` and ``dagfn[dask]``).

Failures: ``submit`` raises the step function's own exception unchanged, and
`ExecutorError` for problems of the executor; the interpreter turns both into
a failed step (``Failure(RunFailure(...))``). A bad constructor argument
raises `dagfn.InvalidArgument` at once.
"""

from dagfn.executors._base import Executor as Executor
from dagfn.executors._dask import Dask as Dask
from dagfn.executors._errors import ExecutorError as ExecutorError
from dagfn.executors._errors import ExecutorUnavailableError as ExecutorUnavailableError
from dagfn.executors._errors import ShippingError as ShippingError
from dagfn.executors._errors import WorkerLostError as WorkerLostError
from dagfn.executors._local import Inline as Inline
from dagfn.executors._local import Threads as Threads
from dagfn.executors._processes import Processes as Processes

__all__ = [
    "Dask",
    "Executor",
    "ExecutorError",
    "ExecutorUnavailableError",
    "Inline",
    "Processes",
    "ShippingError",
    "Threads",
    "WorkerLostError",
]
