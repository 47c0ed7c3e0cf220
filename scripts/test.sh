#!/usr/bin/env bash
# Set up if needed, then run the test suite. Extra arguments go to pytest (e.g. -m slow).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$ROOT"
exec "$PY" -m pytest "$@"
