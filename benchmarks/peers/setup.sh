#!/usr/bin/env bash
# Create benchmarks/peers/.venv with the pinned peers (requirements.txt) and dagfn itself
# (editable, from this checkout), and run nothing else.
# Usage, from anywhere:  bash benchmarks/peers/setup.sh   (or bash benchmarks/peers/run.sh)
# The peers are never dependencies of dagfn; this environment is separate from the repo's .venv.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
python="${PYTHON:-python3.11}"
if [ ! -x "$here/.venv/bin/python" ]; then
    "$python" -m venv "$here/.venv"
fi
"$here/.venv/bin/python" -m pip install --quiet --upgrade pip
if ! "$here/.venv/bin/python" -m pip install --quiet -r "$here/requirements.txt"; then
    # One peer that cannot install (no wheel, no network) must not stop the others:
    # run_peers.py skips a peer it cannot import, with a note.
    grep -vE '^\s*(#|$)' "$here/requirements.txt" | while read -r requirement; do
        "$here/.venv/bin/python" -m pip install --quiet "$requirement" \
            || echo "setup.sh: could not install $requirement; run_peers.py will skip it" >&2
    done
fi
# dagfn from this checkout, so that peer_dagfn.py measures the code beside it.
"$here/.venv/bin/python" -m pip install --quiet -e "$repo"
"$here/.venv/bin/python" -m pip list --format=freeze \
    | grep -iE '^(dagfn|langgraph|pydantic-graph|pydantic_graph|synapsekit|dask|distributed|trio|matplotlib)==' \
    || true
