"""dagfn: pipelines as typed expressions, run on trio with dataflow scheduling.

Layout (data flows top to bottom; a module imports only modules of its own
layer or of the layers above it, as `tests/test_layers.py` checks):

- foundation: `_errors` (`DagfnError`, the message shape), `_checks` (argument
  predicates), `_annotations` (what a return annotation promises), `_convert`
  (the cattrs converter factory), `_codec` (the journal's exact encoding),
  `_failures` (`RunFailure`, `Paused`): plain
  values and helpers every layer, edges included, may use.
- expression: `_expr` (the untyped nodes), `_graph` (`Graph`, `node`, `>>`,
  `&`, `gather`, policies), `_route` (`route`), `_state` (`update`), `_loop`
  (`loop`), `_pause` (`interrupt`), `_streamed` (`streamed`, `Chunk`),
  `_policy` (`Limits`, `Rate`, breakers, the executor protocol), `monoid`:
  immutable typed values; building one never runs anything. `_builder`
  (`Builder`) makes the same values from data; `_workloads` holds the
  benchmark DAGs and wires a DAG as a graph.
- plan: `_plan` lowers an expression to a flat, validated DAG of numbered steps.
- interpreter: `_interpret` (`run`, `run_sync`) runs a plan on trio through
  `_execute`, `_schedule`, `_attempt`, `_regions`, `_events` and `_outcome`;
  `_stream` (`stream`) runs one whose streamed steps' chunks are read as made;
  `_storage` is what it needs of a store; `_lease` is who owns a run id;
  `_journal` and `_durable` keep and resume runs in a store (`resume`, `replay`).
- edges: `store/` (journals), `executors/` (where step functions run).
- views: `aio` (`dagfn.aio.run` from asyncio code), `_trace` (`Trace`), `_logging`
  (`log_events`), `otel` (OpenTelemetry spans), `_render` (`to_mermaid`,
  `to_gantt`), `cli` (the ``dagfn`` command) and `__main__` (``python -m dagfn``),
  `testing` (hypothesis strategies), `_benchmark` (``dagfn bench``).

Mistakes in building a graph raise at once; failures while running come back
as ``Failure(RunFailure(...))``.
"""

from dagfn._attempt import StepTimeout as StepTimeout
from dagfn._builder import Builder as Builder
from dagfn._builder import CycleError as CycleError
from dagfn._builder import StepMismatch as StepMismatch
from dagfn._builder import UnknownStep as UnknownStep
from dagfn._durable import InvalidAnswer as InvalidAnswer
from dagfn._durable import StepRow as StepRow
from dagfn._durable import history as history
from dagfn._durable import replay as replay
from dagfn._durable import resume as resume
from dagfn._durable import resume_sync as resume_sync
from dagfn._errors import DagfnError as DagfnError
from dagfn._errors import InvalidArgument as InvalidArgument
from dagfn._events import current_run_id as current_run_id
from dagfn._expr import DuplicatePath as DuplicatePath
from dagfn._failures import Paused as Paused
from dagfn._failures import PendingAnswer as PendingAnswer
from dagfn._failures import RunFailure as RunFailure
from dagfn._failures import StepFailure as StepFailure
from dagfn._graph import Fan as Fan
from dagfn._graph import Gathered as Gathered
from dagfn._graph import Graph as Graph
from dagfn._graph import gather as gather
from dagfn._graph import node as node
from dagfn._interpret import WrongLoop as WrongLoop
from dagfn._interpret import run as run
from dagfn._interpret import run_sync as run_sync
from dagfn._journal import GraphChanged as GraphChanged
from dagfn._journal import InputChanged as InputChanged
from dagfn._journal import JournalError as JournalError
from dagfn._lease import AlreadyAnswered as AlreadyAnswered
from dagfn._lease import LeaseLost as LeaseLost
from dagfn._lease import RunInProgress as RunInProgress
from dagfn._logging import log_events as log_events
from dagfn._loop import MaxStepsExceeded as MaxStepsExceeded
from dagfn._loop import loop as loop
from dagfn._pause import interrupt as interrupt
from dagfn._policy import Breaker as Breaker
from dagfn._policy import BreakerOpen as BreakerOpen
from dagfn._policy import Limits as Limits
from dagfn._policy import Rate as Rate
from dagfn._policy import RetryPolicy as RetryPolicy
from dagfn._render import to_gantt as to_gantt
from dagfn._render import to_mermaid as to_mermaid
from dagfn._route import NoBranch as NoBranch
from dagfn._route import NotEnumerable as NotEnumerable
from dagfn._route import Router as Router
from dagfn._route import route as route
from dagfn._route import route_total as route_total
from dagfn._state import StateError as StateError
from dagfn._state import update as update
from dagfn._stream import Stream as Stream
from dagfn._stream import StreamNotFinished as StreamNotFinished
from dagfn._stream import stream as stream
from dagfn._streamed import Chunk as Chunk
from dagfn._streamed import ChunkFoldError as ChunkFoldError
from dagfn._streamed import streamed as streamed
from dagfn._trace import Event as Event
from dagfn._trace import StepRecord as StepRecord
from dagfn._trace import Trace as Trace
from dagfn.monoid import Monoid as Monoid
from dagfn.monoid import NoReducer as NoReducer
from dagfn.monoid import reduced as reduced


def __getattr__(name: str) -> str:
    """``dagfn.__version__``: the installed package's version (read when first asked)."""
    if name == "__version__":
        from dagfn.cli import version

        return version()
    raise AttributeError(f"module 'dagfn' has no attribute {name!r}")


__all__ = [
    "AlreadyAnswered",
    "Breaker",
    "BreakerOpen",
    "Builder",
    "Chunk",
    "ChunkFoldError",
    "CycleError",
    "DagfnError",
    "DuplicatePath",
    "Event",
    "Fan",
    "Gathered",
    "Graph",
    "GraphChanged",
    "InputChanged",
    "InvalidAnswer",
    "InvalidArgument",
    "JournalError",
    "LeaseLost",
    "Limits",
    "MaxStepsExceeded",
    "Monoid",
    "NoBranch",
    "NoReducer",
    "NotEnumerable",
    "Paused",
    "PendingAnswer",
    "Rate",
    "RetryPolicy",
    "Router",
    "RunFailure",
    "RunInProgress",
    "StateError",
    "StepFailure",
    "StepMismatch",
    "StepRecord",
    "StepRow",
    "StepTimeout",
    "Stream",
    "StreamNotFinished",
    "Trace",
    "UnknownStep",
    "WrongLoop",
    "current_run_id",
    "gather",
    "history",
    "interrupt",
    "log_events",
    "loop",
    "node",
    "reduced",
    "replay",
    "resume",
    "resume_sync",
    "route",
    "route_total",
    "run",
    "run_sync",
    "to_gantt",
    "stream",
    "streamed",
    "to_mermaid",
    "update",
]
