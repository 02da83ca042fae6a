"""An asyncio web app (Starlette) that runs a pipeline per request and resumes it on approval.

    pip install 'dagfn[asgi]'
    uvicorn examples.asgi_app:app            # journal in ./comments.sqlite (DAGFN_STORE=...)

    curl -s -X POST localhost:8000/comments -d '{"author": "ada", "text": "trio rocks"}'
    # 202 {"status": "paused", "run_id": "...", "prompt": "Publish ada's comment ...?"}
    curl -s -X POST localhost:8000/comments/RUN_ID/verdict -d '{"approved": true}'
    # 200 {"status": "done", "result": "published: ada: trio rocks"}

The endpoints are asyncio code; `dagfn.aio.run` and `dagfn.aio.resume` run the
pipeline on trio in guest mode on the same loop. A client that disconnects
cancels its request's task, and with it every step of the run.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

import attrs
import trio
from returns.result import Failure, Result, Success
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import dagfn.aio
from dagfn import (
    AlreadyAnswered,
    DagfnError,
    InvalidAnswer,
    Paused,
    RunFailure,
    interrupt,
    node,
)
from dagfn.store import SqliteStore, UnknownRunError


@attrs.frozen
class Comment:
    author: str
    text: str


@attrs.frozen
class Scored:
    comment: Comment
    spam: float


@attrs.frozen
class Verdict:
    approved: bool
    note: str = ""


@node
async def score(c: Comment) -> Scored:
    await trio.sleep(0.01)  # a model call
    return Scored(c, 0.9 if "buy now" in c.text.lower() else 0.1)


def ask(s: Scored) -> str:
    return f"Publish {s.comment.author}'s comment {s.comment.text!r} (spam {s.spam:.0%})?"


def publish(s: Scored, v: Verdict) -> str:
    what = f"{s.comment.author}: {s.comment.text}"
    return f"published: {what}" if v.approved else f"rejected: {what} ({v.note})"


moderation = (score & (score >> interrupt(ask, answer=Verdict, name="moderator"))).join(publish)


def _reply(result: Result[str, RunFailure[Any]]) -> JSONResponse:
    match result:
        case Success(message):
            return JSONResponse({"status": "done", "result": message})
        case Failure(Paused() as paused):
            body = {"status": "paused", "run_id": paused.run_id, "prompt": paused.prompt}
            return JSONResponse(body, status_code=202)
        case Failure(failure):
            return JSONResponse({"status": "failed", "error": str(failure)}, status_code=500)
    raise AssertionError(result)  # pragma: no cover


async def _body(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        return None


async def submit(request: Request) -> JSONResponse:
    data = await _body(request)
    if not (isinstance(data, dict) and data.keys() == {"author", "text"}):
        return JSONResponse({"error": 'expected {"author": str, "text": str}'}, status_code=400)
    comment = Comment(str(data["author"]), str(data["text"]))
    store = request.app.state.store
    return _reply(await dagfn.aio.run(moderation, comment, store=store))


async def verdict(request: Request) -> JSONResponse:
    run_id = request.path_params["run_id"]
    store = request.app.state.store
    try:
        result = await dagfn.aio.resume(
            moderation, run_id, store=store, answer=await _body(request)
        )
    except UnknownRunError:
        return JSONResponse({"error": f"no run {run_id!r}"}, status_code=404)
    except InvalidAnswer as error:  # the run stays paused: send a correct verdict
        return JSONResponse({"error": str(error)}, status_code=422)
    except AlreadyAnswered as error:  # a second verdict (a double click): the first one stands
        return JSONResponse({"error": str(error)}, status_code=409)
    except DagfnError as error:  # e.g. the run is not paused any more
        return JSONResponse({"error": str(error)}, status_code=409)
    return _reply(result)


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    with SqliteStore(os.environ.get("DAGFN_STORE", "comments.sqlite")) as store:
        app.state.store = store
        yield


app = Starlette(
    routes=[
        Route("/comments", submit, methods=["POST"]),
        Route("/comments/{run_id}/verdict", verdict, methods=["POST"]),
    ],
    lifespan=lifespan,
)
