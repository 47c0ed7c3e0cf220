#!/usr/bin/env bash
# Build nnref's book into site/ (MkDocs strict; every page generated from the code), or build it
# and serve it on localhost with --serve [--port N]. Needs the docs packages in .venv.
# Sets up .venv first if needed (scripts/setup.sh, which installs the docs extra).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
exec "$PY" "$ROOT/scripts/docs/build.py" "$@"
