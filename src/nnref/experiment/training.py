"""``train(cfg)``: one experiment from a config, returning its final metrics.

This module holds no Hydra decorator (the entry point is ``experiments/train.py``), so it can be
called from tests, notebooks or another sweeper with any ``DictConfig``/mapping of the same
shape as ``conf/train.yaml``. A run that fails or diverges returns its metrics with
``failed``/``diverged`` set instead of raising, so one bad job never kills a sweep; a bad
*config* raises :class:`ConfigError` (one line naming the key and the valid choices) before
anything trains.
"""

from __future__ import annotations

import inspect
import logging
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.errors import InstantiationException
from hydra.utils import get_object, instantiate
from lightning.pytorch.callbacks import Checkpoint, ProgressBar
from omegaconf import OmegaConf

from nnref.experiment import console
from nnref.experiment.data import TensorDataModule
from nnref.experiment.errors import ArgumentError, ConfigError, did_you_mean
from nnref.experiment.lit import DivergenceGuard, LitModel
from nnref.experiment.lit.module import DEFAULT_LOSS

__all__ = ["ConfigError", "validate", "build", "train", "flatten"]

log = logging.getLogger(__name__)

# The config key each LightningModule argument comes from.
_LIT_KEYS = {"task": "data", "impl": "impl", "loss": "loss.name", "loss_kwargs": "loss.kwargs",
             "optim": "optim.name", "lr": "optim.lr", "optim_kwargs": "optim.kwargs",
             "scheduler": "optim.scheduler", "scheduler_kwargs": "optim.scheduler_kwargs",
             "l1": "regularization.l1", "l2": "regularization.l2",
             "clip_grad_norm": "regularization.clip_grad_norm"}
# Model arguments that come from the init group rather than the model group.
_MODEL_KEYS = {"init": "init.name", "init_kwargs": "init.kwargs"}


def _plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node


def _options(target: Any) -> list[str]:
    """Keyword arguments ``target`` accepts (a class: every ``__init__`` up its hierarchy, since
    subclasses pass ``**kwargs`` on)."""
    found: list[str] = []
    fns = [c.__init__ for c in target.__mro__ if "__init__" in vars(c)] \
        if inspect.isclass(target) else [target]
    for fn in fns:
        try:
            params = inspect.signature(fn).parameters.values()
        except (TypeError, ValueError):
            continue
        found += [p.name for p in params if p.name != "self" and p.name not in found
                  and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    return found


def _config_error(exc: BaseException, group: str, keys: Mapping[str, str],
                  target: Any = None) -> ConfigError:
    """One line for what the constructor configured by ``group`` rejected."""
    while isinstance(exc, InstantiationException) and exc.__cause__ is not None:
        exc = exc.__cause__
    if isinstance(exc, ArgumentError):
        return ConfigError(exc.describe(keys.get(exc.name, f"{group}.{exc.name}")))
    unexpected = re.search(r"unexpected keyword argument '(\w+)'", str(exc))
    if unexpected and target is not None:
        options = _options(target)
        return ConfigError(f"{group}.{unexpected[1]} is not an option of "
                           f"{getattr(target, '__name__', target)}; its options: "
                           f"{', '.join(options)}{did_you_mean(unexpected[1], options)}")
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


def build(cfg: Mapping[str, Any]) -> tuple[TensorDataModule, LitModel]:
    """Data module and LightningModule for ``cfg`` (seeded by the caller).

    The data module and the model come from their groups' ``_target_``; the constructors
    validate their arguments.

    Raises:
        ConfigError: one line naming the config key, its value and the valid choices or range.
    """
    dm = _build_group(cfg, "data", {})
    try:
        dm.prepare_data()
        dm.setup("fit")
    except (ValueError, FileNotFoundError) as e:
        raise _config_error(e, "data", {}) from e
    init = _plain(cfg["init"])
    net = _build_group(cfg, "model", _MODEL_KEYS, dm.input_shape, dm.num_outputs,
                       init=init.get("name"), init_kwargs=init.get("kwargs") or {})
    optim = dict(_plain(cfg["optim"]))
    reg = dict(_plain(cfg.get("regularization") or {}))
    loss = _plain(cfg["loss"])
    try:
        lit = LitModel(net, task=dm.task, num_outputs=dm.num_outputs, loss=loss["name"],
                       loss_kwargs=loss.get("kwargs") or {}, optim=optim["name"],
                       optim_kwargs={"lr": optim["lr"], **(optim.get("kwargs") or {})},
                       scheduler=optim.get("scheduler"),
                       scheduler_kwargs=optim.get("scheduler_kwargs") or {},
                       l1=reg.get("l1", 0.0), l2=reg.get("l2", 0.0),
                       clip_grad_norm=reg.get("clip_grad_norm"), impl=cfg["impl"])
    except (ValueError, TypeError) as e:
        raise _config_error(e, "lit", _LIT_KEYS) from e
    if loss["name"] == "auto":
        log.info("loss: %s (auto for task %s)", DEFAULT_LOSS[dm.task], dm.task)
    return dm, lit


def validate(cfg: Mapping[str, Any]) -> None:
    """Build everything ``cfg`` describes without training: a bad value raises here.

    Raises:
        ConfigError: as :func:`build`.
    """
    build(cfg)


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


def _resume_path(cfg: Mapping[str, Any]) -> str | None:
    ckpt = cfg.get("ckpt_path")
    if ckpt != "last":
        return ckpt
    last = Path(cfg["paths"]["output_dir"]) / "checkpoints" / "last.ckpt"
    if last.is_file():
        log.info("resuming from %s", last)
        return str(last)
    log.info("ckpt_path=last but %s does not exist: starting fresh", last)
    return None


def _final_metrics(trainer: L.Trainer) -> dict[str, float]:
    out = {}
    for k, v in trainer.callback_metrics.items():
        if isinstance(v, torch.Tensor) and v.numel() == 1:
            out[k] = float(v)
    return out


def train(cfg: Mapping[str, Any], hparams_first: Sequence[str] = ()) -> dict[str, float]:
    """Train one configured experiment and return its final metrics.

    ``hparams_first``: config keys (``model.depth``) listed first among the run's hparams,
    normally the keys a sweep varies.

    Returns a dict with ``val/loss``, ``val/acc`` (classification), ``train/loss*``,
    ``test/*`` when ``test: true``, and ``steps`` (optimizer steps run), ``diverged`` (1 if a
    NaN/inf loss or gradient stopped the run), ``failed`` (1 if training raised).

    Raises:
        ConfigError: for a bad config, before training (one line naming the key).
    """
    _check_ckpt_path(cfg)
    L.seed_everything(cfg["seed"], workers=True, verbose=False)
    dm, lit = build(cfg)
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
    failed = 0
    fit_metrics: dict[str, float] = {}
    try:
        trainer.fit(lit, datamodule=dm, ckpt_path=_resume_path(cfg))
        # trainer.test resets callback_metrics to the test loop's: keep the fit's first
        fit_metrics = _final_metrics(trainer)
        if cfg.get("test") and not (guard and guard.diverged):
            trainer.test(lit, datamodule=dm, verbose=False)
    except Exception as e:  # one failed job must not kill the sweep: report it, return metrics
        log.error("training failed: %s: %s", type(e).__name__, str(e).splitlines()[0] if
                  str(e) else "")
        _traceback_to_log_files()
        failed = 1
    metrics = {**fit_metrics, **_final_metrics(trainer)}
    metrics.update(steps=float(trainer.global_step), failed=float(failed),
                   diverged=float(guard.diverged if guard else 0))
    if guard is not None and guard.diverged:
        metrics["diverged_step"] = float(guard.diverged_step)
    _log_hparams(trainer, cfg, metrics, hparams_first)
    return metrics


def _traceback_to_log_files() -> None:
    """The current exception's traceback, into the log files only: the console keeps one
    line per failure."""
    record = log.makeRecord(log.name, logging.ERROR, __file__, 0, "traceback", None,
                            sys.exc_info())
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


# The settings that tell runs apart, listed after the swept keys in TensorBoard's hparams tab;
# where outputs go and how the trainer logs are left out.
_HPARAMS = ("impl", "seed", "data/", "model/", "init/", "loss/", "optim/", "regularization/",
            "trainer/max_epochs", "trainer/max_steps")


def _log_hparams(trainer: L.Trainer, cfg: Mapping[str, Any], metrics: dict[str, float],
                 first: Sequence[str] = ()) -> None:
    params = flatten(_plain(cfg))
    swept = [k.replace(".", "/") for k in first]
    swept = [k for k in swept if k in params] + sorted(
        {p for k in swept for p in params if p.startswith(k + "/")})  # a swept group
    rest = [k for k in params if k not in swept and (k == "seed" or k.startswith(_HPARAMS))]
    # TensorBoard's hparams tab sorts names and shows the first few: a leading digit puts the
    # swept keys before every setting (letters sort after digits).
    params = {**{f"1_swept/{k}": params[k] for k in swept}, **{k: params[k] for k in rest}}
    hp = {f"hp/{k.replace('/', '_')}": v for k, v in metrics.items()}
    for logger in trainer.loggers:
        try:
            logger.log_hyperparams(params, metrics=hp)
        except TypeError:  # loggers without a metrics argument (CSV)
            logger.log_hyperparams(params)
            logger.log_metrics(hp, step=trainer.global_step)
        logger.save()
