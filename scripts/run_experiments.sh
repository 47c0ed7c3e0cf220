#!/usr/bin/env bash
# Run every experiment of the lecture notes as a Hydra multirun and write its report, showing
# experiment k/N, elapsed and estimated remaining time.
#   scripts/run_experiments.sh                        # every experiment, in order
#   scripts/run_experiments.sh optimizers basics      # some of them
#   scripts/run_experiments.sh --update-tracked basics
#   scripts/run_experiments.sh --long mnist1d_baselines   # + what its YAML's suite.long adds
#   scripts/run_experiments.sh --jobs 1 basics        # one job at a time (default: 2 at once)
# Sweeps and reports go under logs/<name>/multiruns/<stamp>/ (report in its report/ folder);
# only --update-tracked rewrites the tracked experiments/<name>/README.md and figures.
# Extra Hydra overrides can be passed in NNREF_OVERRIDES (e.g. "trainer=gpu").
# The jobs of a sweep run in parallel under Hydra's joblib launcher, each on one thread: a
# job's numbers do not depend on how many run at once.
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$ROOT"
# The suite is every conf/experiment/<name>.yaml with a `suite:` block (its order, rough cost in
# seconds on 2 CPU cores, and what --long adds): nnref.experiment.suite reads them.
ALL=()
declare -A COST=()
while read -r name cost; do ALL+=("$name"); COST[$name]="$cost"; done \
    < <("$PY" -m nnref.experiment.suite list)
TRACKED=()
LONG=0
JOBS=2
NAMES=()
while [ $# -gt 0 ]; do
    case "$1" in
        --update-tracked) TRACKED=(--update-tracked) ;;
        --long) LONG=1 ;;
        --jobs) JOBS="${2:-}"; shift ;;
        --jobs=*) JOBS="${1#--jobs=}" ;;
        -*) echo "unknown option: $1 (--update-tracked, --long, --jobs N)" >&2; exit 2 ;;
        *) NAMES+=("$1") ;;
    esac
    shift
done
if ! [[ "$JOBS" =~ ^[1-9][0-9]*$ ]]; then
    echo "--jobs must be a positive integer, got '$JOBS'" >&2
    exit 2
fi
LAUNCHER=()
[ "$JOBS" -gt 1 ] && LAUNCHER=(hydra/launcher=joblib "hydra.launcher.n_jobs=$JOBS")
EXPERIMENTS=("${NAMES[@]:-${ALL[@]}}")
for name in "${EXPERIMENTS[@]}"; do
    if [ -z "${COST[$name]:-}" ]; then
        echo "unknown experiment: $name (choose from: ${ALL[*]})" >&2
        exit 2
    fi
done
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"   # small models: threads only add overhead
STAMP="$(date +%Y-%m-%d/%H-%M-%S)"
TIMES="$ROOT/logs/experiment_times_${STAMP//\//_}.txt"
mkdir -p "$ROOT/logs"
left=0
for name in "${EXPERIMENTS[@]}"; do left=$(( left + ${COST[$name]:-60} )); done
total_start=$(date +%s)
k=0
done_cost=0
for name in "${EXPERIMENTS[@]}"; do
    k=$(( k + 1 ))
    elapsed=$(( $(date +%s) - total_start ))
    # once something has run, scale the rough costs by how fast this machine actually is
    eta=$(( done_cost > 0 ? left * elapsed / done_cost : left ))
    printf '[%d/%d] %s  (elapsed %dm%02ds, about %dm%02ds left)\n' "$k" "${#EXPERIMENTS[@]}" \
        "$name" $(( elapsed / 60 )) $(( elapsed % 60 )) $(( eta / 60 )) $(( eta % 60 ))
    sweep="$ROOT/logs/$name/multiruns/$STAMP"
    mkdir -p "$(dirname "$sweep")"
    start=$(date +%s)
    long=()
    if [ "$LONG" = 1 ]; then
        mkdir -p "$sweep"
        while read -r kind what jobs; do
            if [ "$kind" = override ]; then long+=("$what"); continue; fi
            stem="$(basename "$what" .py)"
            extra=()
            [ "$jobs" = 1 ] && extra=(--jobs "$JOBS")
            "$PY" "$what" "${extra[@]}" --out "$sweep/$stem.json" > "$sweep.$stem.log" 2>&1 || {
                echo "$name: $stem.py failed, see $sweep.$stem.log" >&2; exit 1; }
        done < <("$PY" -m nnref.experiment.suite long "$name")
    fi
    # shellcheck disable=SC2086
    "$PY" experiments/train.py -m "experiment=$name" "hydra.sweep.dir=$sweep" "${long[@]}" \
        "${LAUNCHER[@]}" ${NNREF_OVERRIDES:-} > "$sweep.log" 2>&1 || {
        echo "$name: sweep failed, see $sweep.log" >&2; exit 1; }
    "$PY" "experiments/$name/report.py" "$sweep" "${TRACKED[@]}"
    secs=$(( $(date +%s) - start ))
    left=$(( left - ${COST[$name]:-60} ))
    done_cost=$(( done_cost + ${COST[$name]:-60} ))
    printf '%-26s %4d s\n' "$name" "$secs" | tee -a "$TIMES"
done
printf '%-26s %4d s\n' "total" "$(( $(date +%s) - total_start ))" | tee -a "$TIMES"
