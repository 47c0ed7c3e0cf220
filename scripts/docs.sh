#!/usr/bin/env bash
# Build nnref's book into site/ (MkDocs strict; every page generated from the code), or build it
# and serve it on localhost with --serve [--port N]. Needs the docs packages in .venv.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PY:-$ROOT/.venv/bin/python}"
exec "$PY" "$ROOT/scripts/docs/build.py" "$@"
