#!/usr/bin/env bash
# Run every experiment of the notes as a Hydra multirun and regenerate its report
# (experiments/<name>/README.md + figures), printing the wall-clock time of each.
#   scripts/run_experiments.sh                      # all 11, in order
#   scripts/run_experiments.sh optimizers basics    # some of them
# Extra Hydra overrides can be passed in NNREF_OVERRIDES (e.g. "trainer=gpu").
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$ROOT"
ALL=(vanishing_gradient exploding_gradient initialization activations optimizers
     gradient_descent_variants regularization batch_norm universal_approximation basics
     mnist1d_baselines)
EXPERIMENTS=("${@:-${ALL[@]}}")
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"   # small models: threads only add overhead
STAMP="$(date +%Y-%m-%d/%H-%M-%S)"
TIMES="$ROOT/logs/experiment_times_${STAMP//\//_}.txt"
mkdir -p "$ROOT/logs"
total_start=$(date +%s)
for name in "${EXPERIMENTS[@]}"; do
    if [ ! -f "conf/experiment/$name.yaml" ]; then
        echo "unknown experiment: $name (choose from: ${ALL[*]})" >&2
        exit 2
    fi
    sweep="$ROOT/logs/$name/multiruns/$STAMP"
    mkdir -p "$(dirname "$sweep")"
    start=$(date +%s)
    # shellcheck disable=SC2086
    "$PY" experiments/train.py -m "experiment=$name" "hydra.sweep.dir=$sweep" \
        ${NNREF_OVERRIDES:-} > "$sweep.log" 2>&1 || {
        echo "$name: sweep failed, see $sweep.log" >&2; exit 1; }
    "$PY" "experiments/$name/make_report.py" "$sweep"
    secs=$(( $(date +%s) - start ))
    printf '%-26s %4d s\n' "$name" "$secs" | tee -a "$TIMES"
done
printf '%-26s %4d s\n' "total" "$(( $(date +%s) - total_start ))" | tee -a "$TIMES"
