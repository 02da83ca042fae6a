#!/usr/bin/env bash
# The one command for the peer table: create/refresh the peers' venv, then run every workload on
# dagfn, the trio engine and each installed peer; writes benchmarks/results/peers.{json,md} and
# benchmarks/results/per_step.png. Arguments go to run_peers.py (e.g. --quick, --repeats 7).
#   bash benchmarks/peers/run.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$here/setup.sh"
exec "$here/.venv/bin/python" "$here/run_peers.py" "$@"
