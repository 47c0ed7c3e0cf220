"""Hydra entry point: ``python experiments/train.py [overrides]`` (``-m`` for a sweep).

Examples::

    python experiments/train.py model.activation=tanh model.depth=6 optim=sgd optim.lr=0.05
    python experiments/train.py -m experiment=vanishing_gradient
    python experiments/train.py -m model.activation=sigmoid,relu hydra/launcher=joblib
    python experiments/train.py hparams_search=optuna hydra.sweeper.n_trials=30
    python experiments/train.py impl=torch          # same run on torch's built-ins
    python experiments/train.py +imports=[my_acts] model.activation=scaled_tanh
    python experiments/train.py resume=<run dir> trainer.max_epochs=20
    python experiments/train.py --help              # groups, keys and more examples

Each job's directory and TensorBoard run are named by its overrides
(``activation=sigmoid,depth=10,seed=0``, :mod:`nnref.experiment.naming`); a run ends with one
line of final metrics and its directory, a single run also with the ``tensorboard`` command,
a sweep with its quick report and the command.

All logic lives in :mod:`nnref.experiment.training` (``train(cfg)``) and
:mod:`nnref.experiment.cli` (what runs before and after Hydra). Exit status: 2 for a command
that cannot run (a misspelled group or key, a bad value — every swept value is checked before
the first job —, a bad resume directory: one line each, nothing left on disk); 1 for a single
run that failed while training, or a sweep with a failed job (after the others finished, one
line per failed job); 0 otherwise.
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

# Registers ${nnref.run_name:} (hydra.run.dir, hydra.sweep.subdir). main() refers to these
# modules, so a launcher that ships main to another process imports them there too.
from nnref.experiment import cli, console, naming

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
# Paths in conf/paths are absolute, derived from the repository root, whatever the cwd.
os.environ.setdefault("NNREF_ROOT", str(ROOT))

log = logging.getLogger("nnref.train")


@hydra.main(config_path="../conf", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> float:
    import lightning  # noqa: F401  (its loggers must exist for quiet() to route them)

    from nnref.experiment.training import CheckpointError, ConfigError, train, write_result

    console.quiet()  # again: Lightning loaded, and a launcher may run this job elsewhere
    hc = HydraConfig.get()
    single = hc.mode != RunMode.MULTIRUN
    out = Path(hc.runtime.output_dir)
    try:
        metrics = train(cfg, hparams_first=naming.swept_keys())
    except (ConfigError, CheckpointError) as e:
        config = isinstance(e, ConfigError)
        if single:
            if config:  # checked before Hydra started; only a value no check foresaw is here
                console.remove_run_dir(out, cfg.paths.log_dir)
            cli.fail(f"config error: {e}" if config else f"resume failed: {e}", 2 if config else 1)
        log.error("%s: %s", "config error" if config else "resume failed", e)
        write_result(out, "config error" if config else "failed", str(e))
        return math.nan
    if single and metrics.get("failed"):
        cli.fail(f"training failed: see {out / 'train.log'}", 1)
    log.info("%s", console.summary(metrics, out))
    if single:
        # the run's parent, so TensorBoard lists the run by its name rather than as "."
        log.info("inspect it: %s", console.tensorboard_command(out.parent))
    return metrics.get(cfg.get("optimized_metric") or "val/loss", math.nan)


if __name__ == "__main__":
    console.quiet()
    try:
        sys.argv[1:] = cli.prepare(sys.argv[1:], CONF)
    except cli.UsageError as e:
        cli.fail(str(e), 2)
    main()
    if console.SWEEP_FAILURES:
        sys.exit(1)
