#!/usr/bin/env bash
# The one prepared CUDA check, for a GPU machine with no network whose python3 already has torch,
# Lightning, pytest and hypothesis (no Hydra, nnref not installed): nnref is used from src/.
# Sized to finish in under 8 minutes. Writes its tables under $OUT (default: logs/gpu_check).
#   bash scripts/gpu_check.sh
# DEVICE=cpu runs the same steps on the CPU (a dry run of the script on a machine without a GPU).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${OUT:-$ROOT/logs/gpu_check}"
PY="${PYTHON:-python3}"
DEVICE="${DEVICE:-cuda}"
mkdir -p "$OUT"
cd "$ROOT"
export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"
status=0
step() {  # step NAME SECONDS CMD...: run CMD with a time limit, its output in $OUT/NAME.txt
    local name=$1 limit=$2; shift 2
    echo "== $name"
    timeout "$limit" "$@" > "$OUT/$name.txt" 2>&1
    local rc=$?
    tail -n 3 "$OUT/$name.txt"
    echo "   ($name: exit $rc)"
    [ "$rc" -eq 0 ] || status=1
}
"$PY" -c "import torch; print('torch', torch.__version__, '|', torch.cuda.get_device_name(0)
    if '$DEVICE' == 'cuda' else 'cpu')" \
    | tee "$OUT/device.txt"
# verify --thorough: every registered component, then torch's own sample databases
step verify 210 "$PY" -m nnref verify --thorough --device "$DEVICE"
# The core tests' CUDA variants (the experiment stack's tests need Hydra, absent there).
[ "$DEVICE" = cuda ] && step tests_cuda 100 "$PY" -m pytest -q -p no:cacheprovider -o addopts="" -m "cuda and not slow" \
    tests/test_activations.py tests/test_losses.py tests/test_init.py tests/test_optim.py \
    tests/test_dropout.py tests/test_normalization.py tests/test_regularization.py \
    tests/test_swap.py
# eager only: compiling every model variant would not fit the 8 minutes
step bench 150 "$PY" -m nnref bench --device "$DEVICE" --quick --no-compile
echo "tables: $OUT"
exit $status
