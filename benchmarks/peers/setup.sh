#!/usr/bin/env bash
# Create benchmarks/peers/.venv with the pinned peers (requirements.txt) and run nothing else.
# Usage, from anywhere:  bash benchmarks/peers/setup.sh && benchmarks/peers/.venv/bin/python benchmarks/peers/run_peers.py
# The peers are never dependencies of dagfn; this environment is separate from the repo's .venv.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3.11}"
if [ ! -x "$here/.venv/bin/python" ]; then
    "$python" -m venv "$here/.venv"
fi
"$here/.venv/bin/python" -m pip install --quiet --upgrade pip
"$here/.venv/bin/python" -m pip install --quiet -r "$here/requirements.txt"
"$here/.venv/bin/python" -m pip list --format=freeze | grep -iE '^(langgraph|pydantic-graph|pydantic_graph|synapsekit|dask|distributed|trio)=='
