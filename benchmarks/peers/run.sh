#!/usr/bin/env bash
# The one command for the peer table: create/refresh the peers' venv, then run every workload on
# dagfn, the trio engine and each installed peer; writes benchmarks/results/peers.{json,md} and
# benchmarks/results/per_step.png, then the cache workload beside LangGraph's CachePolicy
# (cache_peers.py: benchmarks/results/cache_peers.md). Arguments go to run_peers.py.
#   bash benchmarks/peers/run.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$here/setup.sh"
"$here/.venv/bin/python" "$here/run_peers.py" "$@"
# The cache workload (a warm run beside a cold one) does not fit the table above.
exec "$here/.venv/bin/python" "$here/cache_peers.py"
