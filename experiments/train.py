"""Hydra entry point: ``python experiments/train.py [overrides]`` (``-m`` for a sweep).

Examples::

    python experiments/train.py model.activation=tanh model.depth=6 optim=sgd optim.lr=0.05
    python experiments/train.py -m experiment=vanishing_gradient
    python experiments/train.py -m model.activation=sigmoid,relu hydra/launcher=joblib
    python experiments/train.py hparams_search=optuna hydra.sweeper.n_trials=30
    python experiments/train.py impl=torch          # same run on torch's built-ins

All logic lives in :func:`nnref.experiment.training.train`; this wrapper only turns a bad config into a
one-line error (exit status 2 for a single run; a logged line and a NaN objective for one job of
a sweep, so the other jobs still run) and returns ``cfg.optimized_metric`` to sweepers.
"""

from __future__ import annotations

import logging
import math
import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

# Paths in conf/paths are absolute, derived from the repository root, whatever the cwd.
os.environ.setdefault("NNREF_ROOT", str(Path(__file__).resolve().parents[1]))

log = logging.getLogger("nnref.train")


@hydra.main(config_path="../conf", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> float:
    from nnref.experiment.training import ConfigError, train  # after Hydra parsed the command line

    try:
        metrics = train(cfg)
    except ConfigError as e:
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            log.error("config error: %s", e)
            return math.nan
        print(f"config error: {e}", file=sys.stderr)
        sys.exit(2)
    return metrics.get(cfg.get("optimized_metric") or "val/loss", math.nan)


if __name__ == "__main__":
    main()
