"""Run names: each job is named by what its command line changed, ``activation=sigmoid,depth=10``.

A single run is named by its overrides; a job of a sweep by the keys the sweep varies (swept on
the command line, ``model.depth=2,10``, or in ``hydra.sweeper.params``), since the overrides
every job shares say nothing about one job. Hydra's ``hydra.job.config.override_dirname``
settings apply: ``exclude_keys`` (where outputs go, which experiment was picked) never name a
run, and ``kv_sep``/``item_sep`` join the rest. The name is made easy to scan: a group prefix is
dropped where the leaf is unambiguous (``model.depth`` -> ``depth``), and ``seed`` comes last,
so runs that differ only by seed sit next to each other in TensorBoard.

Importing this module registers the resolver ``${nnref.run_name:}``, used by
``hydra.sweep.subdir`` and ``hydra.run.dir`` (``conf/hydra/default.yaml``). The entry point
imports it, and so does every process a launcher starts to run a job, because the job's
function refers to this module.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path

import yaml
from omegaconf import OmegaConf

__all__ = ["run_name", "sweep_keys", "swept_keys"]

# Leaves that say nothing without their group (init.name, loss.name): named by the group.
GENERIC_LEAVES = ("name",)
# A name for a run that changed nothing.
DEFAULTS = "defaults"
# File systems take 255 bytes per name; a longer name keeps its start and a hash of the whole.
MAX_NAME = 200


def _split(override: str) -> tuple[str, str]:
    key, _, value = override.partition("=")
    return key.lstrip("+~"), value


def run_name(overrides: Iterable[str], exclude: Iterable[str] = (), kv_sep: str = "=",
             item_sep: str = ",", only: Iterable[str] | None = None) -> str:
    """The name of a job that ran with ``overrides`` (Hydra's override strings).

    ``exclude`` holds keys left out of the name, as Hydra's ``exclude_keys``; ``only``, when
    given, the keys that may name it (a sweep's swept keys).

    >>> run_name(["seed=1", "model.depth=10", "model.activation=sigmoid", "data=moons"])
    'data=moons,activation=sigmoid,depth=10,seed=1'
    >>> run_name(["init.name=xavier_normal", "optim.lr=0.1"])
    'init=xavier_normal,lr=0.1'
    >>> run_name(["model.dropout=0.1", "data.dropout=0.2"])
    'data.dropout=0.2,model.dropout=0.1'
    >>> run_name(["experiment=basics", "paths.log_dir=/tmp"], exclude=["experiment",
    ...                                                                 "paths.log_dir"])
    'defaults'
    """
    excluded = set(exclude)
    allowed = None if only is None else set(only)
    items = [(k, v) for k, v in map(_split, overrides)
             if k not in excluded and (allowed is None or k in allowed)]
    if not items:
        return DEFAULTS
    keys = [k for k, _ in items]
    leaves = [k.rpartition(".")[2] for k in keys]

    def short(key: str) -> str:
        group, _, leaf = key.rpartition(".")
        if leaf in GENERIC_LEAVES and group:
            return group  # init.name=xavier_normal reads as the group's choice: init=...
        # the leaf alone must name one key and must not read as a group (data, model, optim)
        return leaf if leaves.count(leaf) == 1 and leaf not in keys else key

    ordered = sorted(items, key=lambda kv: (kv[0] == "seed", kv[0]))
    # a value holding a path must not nest the run one directory deeper
    name = item_sep.join(f"{short(k)}{kv_sep}{v}" for k, v in ordered).replace("/", "_")
    if len(name.encode()) > MAX_NAME:
        digest = hashlib.sha1(name.encode()).hexdigest()[:10]
        name = name.encode()[:MAX_NAME - 11].decode(errors="ignore") + "~" + digest
    return name


def sweep_keys(sweeper: Mapping, sweep_dir: Path | str) -> set[str]:
    """The keys a sweep varies: ``sweeper.params`` (an experiment's grid, an Optuna search
    space) and, where the sweep saved its command line in ``multirun.yaml`` (Hydra's basic
    sweeper, before the first job), the keys swept there (``a=1,2``, ``range(...)``), less the
    params the command line fixed to one value."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    keys = set((sweeper or {}).get("params") or {})
    saved = Path(sweep_dir) / "multirun.yaml"
    if saved.is_file():
        task = yaml.safe_load(saved.read_text())["hydra"]["overrides"]["task"] or []
        for o in OverridesParser.create().parse_overrides(task):
            (keys.add if o.is_sweep_override() else keys.discard)(o.key_or_group)
    return keys


def _job_name_settings():
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hc = HydraConfig.get()
    only = sweep_keys(hc.sweeper, hc.sweep.dir) if hc.mode == RunMode.MULTIRUN else None
    return hc, hc.job.config.override_dirname, only


def _resolve_run_name() -> str:
    """``${nnref.run_name:}``: this job's name, from Hydra's runtime config."""
    hc, settings, only = _job_name_settings()
    return run_name(hc.overrides.task, settings.exclude_keys, settings.kv_sep,
                    settings.item_sep, only)


def swept_keys() -> list[str]:
    """The keys that name this job (inside a Hydra job), in the name's order."""
    hc, settings, only = _job_name_settings()
    excluded = set(settings.exclude_keys)
    keys = [k for k, _ in map(_split, hc.overrides.task)
            if k not in excluded and (only is None or k in only)]
    return sorted(keys, key=lambda k: (k == "seed", k))


OmegaConf.register_new_resolver("nnref.run_name", _resolve_run_name, replace=True)
