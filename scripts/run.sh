#!/usr/bin/env bash
# Set up if needed, then run the main job: a short vanishing-gradient sweep (sigmoid vs relu
# MLPs of depth 2, 5, 10 on the 8x8 digits), with histograms and the per-epoch gradient-flow
# figure on; the sweep ends with its report and the command to inspect every layer's gradients
# in TensorBoard. Extra arguments are Hydra overrides (e.g. impl=torch, hydra/launcher=joblib).
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$ROOT"
SWEEP="$ROOT/logs/vanishing_gradient/multiruns/$(date +%Y-%m-%d/%H-%M-%S)"
# One thread per job, as in run_experiments.sh: these small MLPs gain nothing from a second
# thread and lose much when the cores are busy (spinning threads), and a job's numbers then
# equal those of the same configuration in run_experiments.sh, on any machine.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
# The sweep is spelled out here (command-line values take precedence over the experiment's
# hydra.sweeper.params), so the experiment config can hold the full study while this stays short.
"$PY" experiments/train.py -m experiment=vanishing_gradient hydra.sweep.dir="$SWEEP" \
    model.activation=sigmoid,relu model.depth=2,5,10 seed=0 trainer.max_epochs=10 \
    callbacks.gradient_flow.histograms=true callbacks.gradient_flow.figure=true "$@"
