"""Hydra entry point: ``python experiments/train.py [overrides]`` (``-m`` for a sweep).

Examples::

    python experiments/train.py model.activation=tanh model.depth=6 optim=sgd optim.lr=0.05
    python experiments/train.py -m experiment=vanishing_gradient
    python experiments/train.py -m model.activation=sigmoid,relu hydra/launcher=joblib
    python experiments/train.py hparams_search=optuna hydra.sweeper.n_trials=30
    python experiments/train.py impl=torch          # same run on torch's built-ins
    python experiments/train.py --help              # groups, keys and more examples

Each job's directory and TensorBoard run are named by its overrides
(``activation=sigmoid,depth=10,seed=0``, :mod:`nnref.experiment.naming`); a run ends with one
line of final metrics and its directory, a single run also with the ``tensorboard`` command,
a sweep with its quick report and the command.

All logic lives in :func:`nnref.experiment.training.train`. This wrapper makes the errors a
script can trust: a misspelled group or key, or (single run) a bad value, is one line naming
the key, the choices and a did-you-mean, exit status 2, and no run directory is left behind;
a single run that fails while training prints one line and exits 1. Inside a sweep a bad or
failed job is logged and gets a NaN objective, and the other jobs still run.
"""

from __future__ import annotations

import logging
import math
import os
import re
import shutil
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

# Registers ${nnref.run_name:} (hydra.run.dir, hydra.sweep.subdir). main() refers to these
# modules, so a launcher that ships main to another process imports them there too.
from nnref.experiment import console, naming

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
# Paths in conf/paths are absolute, derived from the repository root, whatever the cwd.
os.environ.setdefault("NNREF_ROOT", str(ROOT))

log = logging.getLogger("nnref.train")


def _fail(message: str, status: int = 2) -> None:
    print(message, file=sys.stderr)
    sys.exit(status)


def _key_error(overrides: list[str], key: str) -> str:
    """``model.widht is not a key of model; its keys: ... (did you mean 'width'?)``."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from nnref.experiment.errors import did_you_mean

    parent, _, leaf = key.rpartition(".")
    rest = [o for o in overrides if not o.lstrip("+~").startswith(key + "=")]
    try:
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            cfg = compose("train", overrides=rest)
        node = OmegaConf.select(cfg, parent) if parent else cfg
        keys = [str(k) for k in node.keys()]
    except Exception:  # the other overrides are broken too: report this one plainly
        return f"config error: {key} is not a config key"
    where = parent or "the config"
    return (f"config error: {key} is not a key of {where}; its keys: {', '.join(keys)}"
            f"{did_you_mean(leaf, keys)} (add a new key with +{key}=...)")


def _precheck(argv: list[str]) -> None:
    """Compose the config before Hydra creates a run directory, so a misspelled group or key
    exits with one line (status 2) and leaves nothing on disk. Sweep values are checked one
    by one where they are a list; ranges and intervals (Optuna) are left to the sweeper."""
    from hydra import compose, initialize_config_dir
    from hydra._internal.utils import get_args_parser
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import (
        ConfigCompositionException,
        MissingConfigException,
        OverrideParseException,
    )

    from nnref.experiment.errors import did_you_mean

    args, _ = get_args_parser().parse_known_args(argv)
    if args.help or args.hydra_help or args.info or args.cfg or args.shell_completion:
        return
    try:
        parsed = OverridesParser.create().parse_overrides(args.overrides)
    except OverrideParseException as e:
        _fail(f"config error: {str(e).splitlines()[0]}")
    fixed, sweeps = [], []
    for text, o in zip(args.overrides, parsed, strict=True):
        if not o.is_sweep_override():
            fixed.append(text)
        elif o.is_choice_sweep():
            key = o.get_key_element()
            sweeps.append([f"{key}={v}" for v in o.sweep_string_iterator()])
    candidates = [fixed + [s[0] for s in sweeps]]
    candidates += [fixed + [v] + [s[0] for s in sweeps if s is not sw]
                   for sw in sweeps for v in sw[1:]]
    for overrides in candidates:
        try:
            with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
                compose("train", overrides=overrides)
        except MissingConfigException as e:
            group = (e.missing_cfg_file or "").rpartition("/")[0]
            value = (e.missing_cfg_file or "").rpartition("/")[2]
            options = list(e.options or [])
            if group and options:
                _fail(f"config error: {group}={value!r} is not valid; choose one of: "
                      f"{', '.join(options)}{did_you_mean(value, options)}")
            _fail(f"config error: {str(e).splitlines()[0]}")
        except ConfigCompositionException as e:
            missing = re.search(r"Could not override '([\w.]+)'", str(e))
            if missing:
                _fail(_key_error(overrides, missing[1]))
            _fail(f"config error: {str(e).splitlines()[0]}")


def _remove_run_dir(log_dir: str) -> None:
    """Remove this run's directory (Hydra made it before the task ran) and the folders above
    it, up to ``log_dir``, that are left empty."""
    out = Path(HydraConfig.get().runtime.output_dir)
    root = logging.getLogger()
    for handler in list(root.handlers):  # Hydra's train.log handler, which would recreate it
        if (isinstance(handler, logging.FileHandler)
                and Path(handler.baseFilename).is_relative_to(out)):
            root.removeHandler(handler)
            handler.close()
    shutil.rmtree(out, ignore_errors=True)
    for parent in out.parents:
        if parent == Path(log_dir) or not parent.is_relative_to(log_dir):
            break
        try:
            parent.rmdir()
        except OSError:  # not empty: other runs live there
            break


@hydra.main(config_path="../conf", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> float:
    from nnref.experiment.training import ConfigError, train  # after Hydra parsed the command line

    console.quiet()  # again: a launcher may run this job in a process of its own
    hc = HydraConfig.get()
    single = hc.mode != RunMode.MULTIRUN
    try:
        metrics = train(cfg, hparams_first=naming.swept_keys())
    except ConfigError as e:
        if not single:
            log.error("config error: %s", e)
            return math.nan
        _remove_run_dir(cfg.paths.log_dir)
        _fail(f"config error: {e}")
    out = Path(hc.runtime.output_dir)
    if single and metrics.get("failed"):
        _fail(f"training failed: see {out / 'train.log'}", 1)
    log.info("%s", console.summary(metrics, out))
    if single:
        # the run's parent, so TensorBoard lists the run by its name rather than as "."
        log.info("inspect it: %s", console.tensorboard_command(out.parent))
    return metrics.get(cfg.get("optimized_metric") or "val/loss", math.nan)


if __name__ == "__main__":
    console.quiet()
    _precheck(sys.argv[1:])
    main()
