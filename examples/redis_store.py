"""A run journaled in Redis, then run again from a second process: nothing runs twice.

    REDIS_URL=redis://localhost:6379/0 python examples/redis_store.py

Needs the redis extra (`pip install 'dagfn[redis]'`) and a running redis-server. The first
run fails at `publish` after `embed` finished; the second run of the same run id, in a new
process, calls only `publish` (the journal in Redis has `embed`'s output).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

from dagfn import node, run_sync
from dagfn.store import RedisStore


def embed(text: str) -> list[float]:
    print(f"  embed({text!r}) ran")
    return [float(len(word)) for word in text.split()]


def publish(vector: list[float]) -> str:
    if os.environ.get("PUBLISH_DOWN"):
        raise ConnectionError("index unavailable")
    return f"published {len(vector)} dims"


pipeline = node(embed) >> node(publish)


def one_run(url: str, run_id: str) -> int:
    with RedisStore(url) as store:
        result = run_sync(pipeline, "typed graphs on trio", store=store, run_id=run_id)
    print(f"  {result}")
    return 0 if result.map(lambda _: True).value_or(False) else 1


def main() -> int:
    url = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
    if len(sys.argv) > 1:  # the second process
        return one_run(url, sys.argv[1])
    run_id = f"example-{uuid.uuid4().hex[:8]}"
    print("first process (publish is down):")
    env = {**os.environ, "PUBLISH_DOWN": "1"}
    subprocess.run([sys.executable, __file__, run_id], env=env, check=False)
    print("second process (publish is back):")
    env.pop("PUBLISH_DOWN")
    return subprocess.run([sys.executable, __file__, run_id], env=env, check=False).returncode


if __name__ == "__main__":
    raise SystemExit(main())
