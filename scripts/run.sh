#!/usr/bin/env bash
# Set up if needed, then run the main job: verify every registered component against torch.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$ROOT"
exec "$PY" -m nnref verify "$@"
