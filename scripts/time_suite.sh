#!/usr/bin/env bash
# Wall time of the experiment suite and of the main job, for a quiet machine: scripts/run.sh
# first (after set-up), then scripts/run_experiments.sh, then one table of seconds.
#   scripts/time_suite.sh                     # run.sh and all 11 experiments
#   scripts/time_suite.sh basics optimizers   # run.sh and some experiments
#   scripts/time_suite.sh --jobs 1            # one job at a time, to compare
#   scripts/time_suite.sh --no-run-sh ...     # the experiments only
# Arguments other than --no-run-sh go to run_experiments.sh; outputs go under logs/ as usual.
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$ROOT"
RUN_SH=1
ARGS=()
for arg in "$@"; do
    if [ "$arg" = --no-run-sh ]; then RUN_SH=0; else ARGS+=("$arg"); fi
done
mkdir -p logs
OUT="logs/time_suite_$(date +%Y-%m-%d_%H-%M-%S).txt"
if [ "$RUN_SH" = 1 ]; then
    start=$EPOCHREALTIME
    bash scripts/run.sh > "${OUT%.txt}.run_sh.log" 2>&1 || {
        echo "run.sh failed, see ${OUT%.txt}.run_sh.log" >&2; exit 1; }
    awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%-26s %4d s\n", "run.sh", b - a + 0.5 }' >> "$OUT"
fi
before=$(ls logs/experiment_times_*.txt 2>/dev/null | sort | tail -n 1 || true)
bash scripts/run_experiments.sh "${ARGS[@]}"
after=$(ls logs/experiment_times_*.txt | sort | tail -n 1)
[ "$after" != "$before" ] && cat "$after" >> "$OUT"
echo "--- seconds (also in $OUT)"
cat "$OUT"
