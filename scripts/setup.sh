#!/usr/bin/env bash
# Sourced by test.sh and run.sh: create .venv if missing and install nnref into it.
# torch is pinned and installed first: an unpinned torch pulls several GB of CUDA wheels.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
if [ ! -x "$PY" ]; then
    echo "[setup] creating $VENV"
    python3 -m venv "$VENV"
fi
if ! "$PY" -c "import torch" >/dev/null 2>&1; then
    echo "[setup] installing torch==2.13.0"
    "$PY" -m pip install --quiet --disable-pip-version-check "torch==2.13.0"
fi
# Re-install only when pyproject.toml changed since the last install.
STAMP="$VENV/.nnref-installed"
EXTRAS="${NNREF_EXTRAS:-dev,sweeps,docs}"
if [ ! -f "$STAMP" ] || [ "$ROOT/pyproject.toml" -nt "$STAMP" ] || [ "$(cat "$STAMP")" != "$EXTRAS" ]; then
    echo "[setup] installing nnref[$EXTRAS]"
    "$PY" -m pip install --quiet --disable-pip-version-check -e "$ROOT[$EXTRAS]"
    echo "$EXTRAS" > "$STAMP"
fi
