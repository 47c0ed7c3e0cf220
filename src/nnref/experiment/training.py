"""``train(cfg)``: one experiment from a config, returning its final metrics.

This module holds no Hydra decorator (the entry point is ``experiments/train.py``), so it can be
called from tests, notebooks or another sweeper with any ``DictConfig``/mapping of the same
shape as ``conf/train.yaml``. A run that fails or diverges returns its metrics with
``failed``/``diverged`` set instead of raising, so one bad job never kills a sweep; a bad
*config* raises :class:`ConfigError` (one line naming the key and the valid choices) before
anything trains.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from hydra.errors import InstantiationException
from hydra.utils import get_object, instantiate
from omegaconf import OmegaConf

from nnref.experiment.data import TensorData
from nnref.experiment.errors import (
    ArgumentError,
    ConfigError,
    check,
    did_you_mean,
    is_int,
    options,
)
from nnref.experiment.objective import DEFAULT_LOSS, Recipe

__all__ = ["ConfigError", "CheckpointError", "RESULT", "import_modules", "validate", "build",
           "train", "write_result", "flatten", "hparams"]

log = logging.getLogger(__name__)

# Model arguments that come from the init group rather than the model group.
_MODEL_KEYS = {"init": "init.name", "init_kwargs": "init.kwargs"}
# What each job leaves in its directory: its status (ok, diverged, failed, config error), the
# reason, and its final metrics, so a sweep's report and exit status account for every job.
RESULT = "result.yaml"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read; the message names the file and what to do."""


def _plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node


def _config_error(exc: BaseException, group: str, keys: Mapping[str, str],
                  target: Any = None) -> ConfigError:
    """One line for what the constructor configured by ``group`` rejected."""
    while isinstance(exc, InstantiationException) and exc.__cause__ is not None:
        exc = exc.__cause__
    if isinstance(exc, ArgumentError):
        key = exc.name if "." in exc.name else keys.get(exc.name, f"{group}.{exc.name}")
        return ConfigError(exc.describe(key))
    unexpected = re.search(r"unexpected keyword argument '(\w+)'", str(exc))
    if unexpected and target is not None:
        own = options(target)
        return ConfigError(f"{group}.{unexpected[1]} is not an option of "
                           f"{getattr(target, '__name__', target)}; its options: "
                           f"{', '.join(own)}{did_you_mean(unexpected[1], own)}")
    return ConfigError(f"{group}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")


def _build_group(cfg: Mapping[str, Any], group: str, keys: Mapping[str, str], *args,
                 **kwargs) -> Any:
    """``instantiate(cfg[group], *args, **kwargs)`` with constructor errors as config errors."""
    node = cfg[group]
    try:
        target = get_object(node["_target_"])
    except Exception as e:
        raise ConfigError(f"{group}._target_={node.get('_target_')!r} cannot be imported: "
                          f"{e}") from e
    try:
        return instantiate(node, *args, _convert_="all", **kwargs)
    except (InstantiationException, ValueError, TypeError, FileNotFoundError) as e:
        raise _config_error(e, group, keys, target) from e


def import_modules(cfg: Mapping[str, Any]) -> None:
    """Import the config's ``imports`` (a user's modules that register components), from the
    Python path and the directory the command ran in; in every process that builds a job.

    Raises:
        ConfigError: for an ``imports`` that is not a list of module names, or a module that
            cannot be imported (its error, one line).
    """
    mods = cfg.get("imports") or []
    if isinstance(mods, str) or not all(isinstance(m, str) for m in mods):
        raise ConfigError(f"imports={_plain(mods)!r} is not valid; must be a list of module "
                          "names, e.g. +imports=[my_acts]")
    if mods and os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    for name in mods:
        try:
            importlib.import_module(name)
        except Exception as e:
            where = "" if isinstance(e, ModuleNotFoundError) and e.name != name.split(".")[0] \
                else f" (searched PYTHONPATH and {os.getcwd()})"
            raise ConfigError(f"imports: {name!r} cannot be imported: {type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''}"
                              f"{where if isinstance(e, ModuleNotFoundError) else ''}") from e


def _check_schedule(cfg: Mapping[str, Any]) -> None:
    """Non-positive budgets are refused (Lightning would run 0 steps and call it done)."""
    tr = cfg["trainer"]
    epochs, steps = tr.get("max_epochs"), tr.get("max_steps", -1)
    try:
        check("trainer.max_steps", steps, is_int(steps) and (steps == -1 or steps >= 1),
              "an integer >= 1, or -1 for no limit")
        check("trainer.max_epochs", epochs, is_int(epochs) and (
            epochs >= 1 or (epochs == -1 and steps >= 1)),
            "an integer >= 1 (-1 only with trainer.max_steps >= 1)")
        threads = cfg.get("threads", "auto")
        check("threads", threads, threads == "auto" or (is_int(threads) and threads >= 1),
              "auto or an integer >= 1")
    except ArgumentError as e:
        raise ConfigError(str(e)) from None


def _data(cfg: Mapping[str, Any], cache: dict | None = None) -> TensorData:
    """The data set ``cfg`` describes, set up; from ``cache`` (keyed by its resolved config)
    when one was built already."""
    key = repr(_plain(cfg["data"])) if cache is not None else None
    if key is not None and key in cache:
        return cache[key]
    data = _build_group(cfg, "data", {})
    try:
        data.prepare_data()
        data.setup("fit")
    except (ValueError, FileNotFoundError) as e:
        raise _config_error(e, "data", {}) from e
    if key is not None:
        cache[key] = data
    return data


def _checked(cfg: Mapping[str, Any], cache: dict | None = None
             ) -> tuple[TensorData, Any, Recipe]:
    """Data set, model and training recipe for ``cfg``, every value checked, with torch alone
    (Lightning is not imported)."""
    import_modules(cfg)
    _check_schedule(cfg)
    _check_ckpt_path(cfg)
    data = _data(cfg, cache)
    init = _plain(cfg["init"])
    net = _build_group(cfg, "model", _MODEL_KEYS, data.input_shape, data.num_outputs,
                       init=init.get("name"), init_kwargs=init.get("kwargs") or {})
    try:
        recipe = Recipe.check(data.task, data.num_outputs, _plain(cfg["loss"]),
                              _plain(cfg["optim"]), _plain(cfg.get("regularization") or {}),
                              cfg["impl"], targets=data.splits["train"][1])
    except ArgumentError as e:
        raise ConfigError(str(e)) from e
    return data, net, recipe


def validate(cfg: Mapping[str, Any], data_cache: dict | None = None) -> None:
    """Check every value of ``cfg`` by building what it describes, without training and
    without Lightning: the command line calls this before any run directory exists.
    ``data_cache`` (a dict kept between calls) reuses the data sets of earlier calls.

    Raises:
        ConfigError: one line naming the config key, its value and the valid choices or range.
    """
    _checked(cfg, data_cache)


def build(cfg: Mapping[str, Any]):
    """Lightning data module and LightningModule for ``cfg`` (seeded by the caller).

    Raises:
        ConfigError: as :func:`validate`.
    """
    from nnref.experiment.lit import DataModule, LitModel

    data, net, recipe = _checked(cfg)
    lit = LitModel(net, task=recipe.task, num_outputs=recipe.num_outputs, loss=recipe.loss,
                   optim=recipe.optim, regularization=recipe.regularization, impl=recipe.impl)
    if recipe.loss["name"] == "auto":
        log.info("loss: %s (auto for task %s)", DEFAULT_LOSS[recipe.task], recipe.task)
    return DataModule(data), lit


def flatten(node: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a/b": 1}``, dropping ``None`` and turning other non-scalars
    into strings: the TensorBoard hparams plugin takes only numbers, strings and bools."""
    out: dict[str, Any] = {}
    for k, v in node.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, key + "/"))
        elif v is None:
            continue
        elif isinstance(v, (bool, int, float, str)):
            out[key] = v
        else:
            out[key] = str(v)
    return out


def _instantiate_all(group: Mapping[str, Any] | None) -> list[Any]:
    if not group:
        return []
    return [instantiate(c) for c in group.values() if c is not None and "_target_" in c]


def _check_ckpt_path(cfg: Mapping[str, Any]) -> None:
    ckpt = cfg.get("ckpt_path")
    if ckpt not in (None, "last") and not Path(ckpt).is_file():
        raise ConfigError(f"ckpt_path={ckpt!r} is not a file; must be null, last or the path "
                          "of a checkpoint")


def _readable(path: Path) -> Path:
    """``path`` if torch can read it, else :class:`CheckpointError` naming it and what to do."""
    try:
        torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:
        first = (str(e).splitlines() or ["no detail"])[0].split(". ")[0]
        raise CheckpointError(
            f"checkpoint {path} cannot be read ({type(e).__name__}: {first}); it is probably "
            "truncated by a killed run: delete it to resume from an earlier checkpoint in its "
            "folder, or start the run again") from e
    return path


def _resume_path(cfg: Mapping[str, Any]) -> str | None:
    """The checkpoint a run continues from: ``ckpt_path`` as given, or for ``last`` this run's
    ``checkpoints/last.ckpt`` — the newest other checkpoint there when a run killed while
    saving left the link pointing at a file it had just replaced.

    Raises:
        CheckpointError: for a checkpoint that cannot be read.
    """
    ckpt = cfg.get("ckpt_path")
    if ckpt is None:
        return None
    if ckpt != "last":
        return str(_readable(Path(ckpt)))
    folder = Path(cfg["paths"]["output_dir"]) / "checkpoints"
    last = folder / "last.ckpt"
    if not last.exists():  # a dangling link too
        others = sorted((p for p in folder.glob("*.ckpt") if p.name != "last.ckpt"),
                        key=lambda p: p.stat().st_mtime)
        if not others:
            log.info("ckpt_path=last but %s holds no checkpoint: starting fresh", folder)
            return None
        last = others[-1]
    log.info("resuming from %s", last)
    return str(_readable(last))


def _final_metrics(trainer) -> dict[str, float]:
    out = {}
    for k, v in trainer.callback_metrics.items():
        if isinstance(v, torch.Tensor) and v.numel() == 1:
            out[k] = float(v)
    return out


def _set_threads(cfg: Mapping[str, Any]) -> None:
    """``threads: auto`` is one thread on the CPU unless ``OMP_NUM_THREADS`` says otherwise:
    the stack's models are small, and a second thread only adds synchronisation (and, on a
    busy machine, spinning: measured 4.0-4.4 s an epoch at the default count against 0.2-0.4
    s on one thread on a loaded 2-core machine). The log says what was chosen."""
    want = cfg.get("threads", "auto")
    accelerator = str(cfg["trainer"].get("accelerator", "cpu"))
    if want != "auto":
        torch.set_num_threads(int(want))
        why = "threads"
    elif os.environ.get("OMP_NUM_THREADS"):
        why = "OMP_NUM_THREADS"
    elif accelerator == "cpu":
        torch.set_num_threads(1)
        why = "auto: small models train fastest on one CPU thread; threads=N for more"
    else:
        why = f"auto on {accelerator}: torch's default"
    log.info("threads: %d (%s)", torch.get_num_threads(), why)


def _chance(data: TensorData) -> float | None:
    """The validation accuracy of always answering the most frequent class (classification
    only): the level a reported accuracy must clear."""
    y = data.splits["val"][1]
    if not len(y):
        return None  # no validation split: no accuracy to compare with
    if data.task == "multiclass":
        return float(torch.bincount(y.long()).max()) / len(y)
    if data.task == "binary":
        p = float(y.float().mean())
        return max(p, 1 - p)
    return None


def write_result(out_dir: Path | str, status: str, reason: str = "",
                 metrics: Mapping[str, float] | None = None) -> None:
    """Record a job's outcome in ``<out_dir>/result.yaml`` (:data:`RESULT`)."""
    import yaml

    record = {"status": status, "reason": reason,
              "metrics": {k: float(v) for k, v in (metrics or {}).items()}}
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    (Path(out_dir) / RESULT).write_text(yaml.safe_dump(record, sort_keys=False))


def train(cfg: Mapping[str, Any], hparams_first: Sequence[str] = ()) -> dict[str, float]:
    """Train one configured experiment and return its final metrics.

    ``hparams_first``: config keys (``model.depth``) listed first among the run's hparams,
    normally the keys a sweep varies.

    Returns a dict with ``val/loss``, ``val/acc`` (classification), ``train/loss*``,
    ``test/*`` when ``test: true``, and ``steps`` (optimizer steps run), ``diverged`` (1 if a
    NaN/inf loss or gradient stopped the run), ``failed`` (1 if training raised). The outcome
    is also written to the run directory's ``result.yaml``.

    Raises:
        ConfigError: for a bad config, before training (one line naming the key).
        CheckpointError: for a checkpoint to resume from that cannot be read.
    """
    import lightning as L
    from lightning.pytorch.callbacks import Checkpoint, ProgressBar

    from nnref.experiment import console
    from nnref.experiment.lit import DivergenceGuard

    console.STOP_REASON.clear()  # a sweep's jobs share a process: no earlier job's reason
    _set_threads(cfg)
    L.seed_everything(cfg["seed"], workers=True, verbose=False)
    dm, lit = build(cfg)
    resume = _resume_path(cfg)
    callbacks = _instantiate_all(cfg.get("callbacks"))
    guard = next((c for c in callbacks if isinstance(c, DivergenceGuard)), None)
    loggers = _instantiate_all(cfg.get("logger"))
    trainer_kwargs = _plain(cfg["trainer"])
    if any(isinstance(c, ProgressBar) for c in callbacks):
        # a progress bar in the callbacks is a request for one (callbacks=[...,progress_bar])
        trainer_kwargs["enable_progress_bar"] = True
    elif trainer_kwargs.get("enable_progress_bar", True):
        callbacks.append(console.progress_bar())
    if not any(isinstance(c, Checkpoint) for c in callbacks):
        # callbacks.model_checkpoint=null means no checkpoints: otherwise Lightning adds its
        # own and writes one every epoch, which no report reads
        trainer_kwargs.setdefault("enable_checkpointing", False)
    try:
        trainer = L.Trainer(**trainer_kwargs, callbacks=callbacks, logger=loggers or False)
    except Exception as e:  # Lightning's MisconfigurationException and plain TypeErrors
        accelerator = trainer_kwargs.get("accelerator")
        if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
            raise ConfigError(f"trainer.accelerator={accelerator!r} needs a CUDA device and this "
                              "machine has none; choose trainer=cpu or trainer=default") from e
        raise _config_error(e, "trainer", {}, L.Trainer) from e
    failed, reason = 0, ""
    fit_metrics: dict[str, float] = {}
    try:
        trainer.fit(lit, datamodule=dm, ckpt_path=resume)
        # trainer.test resets callback_metrics to the test loop's: keep the fit's first
        fit_metrics = _final_metrics(trainer)
        if cfg.get("test") and not (guard and guard.diverged):
            trainer.test(lit, datamodule=dm, verbose=False)
    except Exception as e:  # one failed job must not kill the sweep: report it, return metrics
        reason = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}".rstrip(": ")
        log.error("training failed: %s", reason)
        _traceback_to_log_files()
        failed = 1
    metrics = {**fit_metrics, **_final_metrics(trainer)}
    metrics.update(steps=max(float(trainer.global_step), metrics.get("steps", 0.0)),
                   failed=float(failed),
                   diverged=float(guard.diverged if guard else 0))
    if guard is not None and guard.diverged:
        metrics["diverged_step"] = float(guard.diverged_step)
    _log_hparams(trainer, cfg, metrics, hparams_first)
    chance = _chance(dm.data)
    if chance is not None:
        metrics["chance/acc"] = chance
    status = "failed" if failed else "diverged" if metrics["diverged"] else "ok"
    if status == "diverged":
        reason = f"non-finite loss or gradient at step {int(metrics['diverged_step'])}"
    write_result(cfg["paths"]["output_dir"], status, reason, metrics)
    return metrics


def _traceback_to_log_files() -> None:
    """The current exception's traceback, into the log files only: the console keeps one
    line per failure."""
    record = log.makeRecord(log.name, logging.ERROR, __file__, 0, "traceback", None,
                            sys.exc_info())
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


# The metrics the hparams tab shows first; the per-step training loss is left out (noisy).
_FIRST_METRICS = ("val/loss", "val/acc", "train/loss_epoch", "train/acc")


def hparams(cfg: Mapping[str, Any], first: Sequence[str] = ()) -> dict[str, Any]:
    """The settings that tell a sweep's runs apart, for TensorBoard's hparams tab: the swept
    keys ``first`` (a swept group: all its keys), then every setting that follows one of them
    through an interpolation (``init.name: ${matching_init.${model.activation}}``), never a
    path. Names carry a leading digit (the tab sorts them): ``1_swept/model/depth``,
    ``2_follows/init/name``."""
    values = flatten(_plain(cfg))
    raw = flatten(OmegaConf.to_container(cfg, resolve=False)) if OmegaConf.is_config(cfg) \
        else values
    swept = [k.replace(".", "/") for k in first]
    swept = [k for k in swept if k in values] + sorted(
        {p for k in swept for p in values if p.startswith(k + "/")})  # a swept group
    refs = {k: {r.rstrip(".").replace(".", "/") for r in re.findall(r"\$\{([\w.]+)", v)}
            for k, v in raw.items() if isinstance(v, str) and "${" in v}
    moving = set(swept)

    def touches(ref: str) -> bool:
        return any(ref == m or ref.startswith(m + "/") or m.startswith(ref + "/") for m in moving)

    follows: list[str] = []
    changed = True
    while changed:  # to a fixed point: a setting may follow one that follows a swept key
        changed = False
        for k, r in refs.items():
            if k not in moving and any(touches(x) for x in r):
                moving.add(k)
                follows.append(k)
                changed = True

    def shown(k: str) -> bool:
        v = values.get(k)
        return k in values and not k.startswith(("paths/", "hydra/")) and not (
            isinstance(v, str) and (v.startswith("/") or "://" in v))

    return {**{f"1_swept/{k}": values[k] for k in swept if shown(k)},
            **{f"2_follows/{k}": values[k] for k in sorted(follows) if shown(k)}}


def _log_hparams(trainer, cfg: Mapping[str, Any], metrics: dict[str, float],
                 first: Sequence[str] = ()) -> None:
    params = hparams(cfg, first)
    ordered = [k for k in _FIRST_METRICS if k in metrics] + [
        k for k in metrics if k not in _FIRST_METRICS and k != "train/loss_step"]
    hp = {f"hp/{k.replace('/', '_')}": metrics[k] for k in ordered}
    for logger in trainer.loggers:
        try:
            logger.log_hyperparams(params, metrics=hp)
        except TypeError:  # loggers without a metrics argument (CSV)
            logger.log_hyperparams(params)
            logger.log_metrics(hp, step=trainer.global_step)
        logger.save()
