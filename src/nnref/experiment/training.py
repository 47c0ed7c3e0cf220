"""``train(cfg)``: one experiment from a config, returning its final metrics.

This module holds no Hydra decorator (the entry point is ``experiments/train.py``), so it can be
called from tests, notebooks or another sweeper with any ``DictConfig``/mapping of the same
shape as ``conf/train.yaml``. A run that fails or diverges returns its metrics with
``failed``/``diverged`` set instead of raising, so one bad job never kills a sweep; a bad
*config* raises :class:`ConfigError` (one line naming the key and the valid choices) before
anything trains.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from nnref import registry
from nnref.experiment.data import DATASETS, TensorDataModule, build_datamodule
from nnref.experiment.lit import DivergenceGuard, LitModel
from nnref.experiment.lit.module import DEFAULT_LOSS, SCHEDULERS
from nnref.experiment.models import DROPOUT_MODES, MLP, NORMS, TIES, SmallCNN

__all__ = ["ConfigError", "validate", "build", "train", "flatten", "MODELS", "IMPLS"]

log = logging.getLogger(__name__)

MODELS = ("mlp", "cnn")
IMPLS = ("reference", "torch")


class ConfigError(ValueError):
    """A config value that cannot work; the message is one line naming the key."""


def _choices(key: str, value: Any, choices) -> None:
    if value not in choices:
        raise ConfigError(f"{key}={value!r} is not valid; choose one of: "
                          f"{', '.join(map(str, choices)) or '(none registered yet)'}")


def _range(key: str, value: Any, ok: bool, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"{key}={value!r} is out of range; must be {allowed}")


def _num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def validate(cfg: Mapping[str, Any]) -> None:
    """Check names against the registry and values against their ranges, before training.

    Raises:
        ConfigError: naming the first bad key, its value and the valid choices or range.
    """
    _choices("impl", cfg["impl"], IMPLS)
    data, model, optim = cfg["data"], cfg["model"], cfg["optim"]
    _choices("data.name", data["name"], DATASETS)
    bs = data.get("batch_size", 64)
    _range("data.batch_size", bs, bs == "full" or (isinstance(bs, int) and not
                                                   isinstance(bs, bool) and bs >= 1),
           "a positive integer or 'full'")
    _choices("model.name", model["name"], MODELS)
    _choices("model.activation", model["activation"],
             registry.names("activation", aliases=True))
    for key in ("width", "depth", "channels"):
        if key in model:
            v = model[key]
            _range(f"model.{key}", v, isinstance(v, int) and v >= 1, "an integer >= 1")
    for key in ("dropout", "dropconnect"):
        v = model.get(key, 0.0)
        _range(f"model.{key}", v, _num(v) and 0.0 <= v < 1.0, "in [0, 1)")
    _choices("model.norm", model.get("norm"), NORMS)
    if "dropout_mode" in model:
        _choices("model.dropout_mode", model["dropout_mode"], DROPOUT_MODES)
    v = model.get("noise", 0.0)
    _range("model.noise", v, _num(v) and v >= 0, ">= 0")
    if "tie" in model:
        _choices("model.tie", model["tie"], TIES)
    if cfg["init"].get("name") is not None:
        _choices("init.name", cfg["init"]["name"], registry.names("init", aliases=True))
    _choices("loss.name", cfg["loss"]["name"], ["auto", *registry.names("loss", aliases=True)])
    _choices("optim.name", optim["name"], registry.names("optim", aliases=True))
    _range("optim.lr", optim["lr"], _num(optim["lr"]) and optim["lr"] > 0, "> 0")
    if optim.get("scheduler") is not None:
        _choices("optim.scheduler", optim["scheduler"], list(SCHEDULERS))
    reg = cfg.get("regularization") or {}
    for key in ("l1", "l2"):
        v = reg.get(key, 0.0)
        _range(f"regularization.{key}", v, _num(v) and v >= 0, ">= 0")
    clip = reg.get("clip_grad_norm")
    if clip is not None:
        _range("regularization.clip_grad_norm", clip, _num(clip) and clip > 0, "> 0 or null")


def _plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node


def build(cfg: Mapping[str, Any]) -> tuple[TensorDataModule, LitModel]:
    """Data module and LightningModule for ``cfg`` (validated, seeded by the caller).

    Constructor errors (a missing IDX file, an impossible shape) become :class:`ConfigError`.
    """
    data = dict(_plain(cfg["data"]))
    model_cfg = dict(_plain(cfg["model"]))
    impl = cfg["impl"]
    try:
        dm = build_datamodule(data.pop("name"), data_dir=cfg["paths"]["data_dir"], **data)
        dm.prepare_data()
        dm.setup("fit")
        kind = model_cfg.pop("name")
        init = _plain(cfg["init"])
        common = dict(init=init.get("name"), init_kwargs=init.get("kwargs") or {}, impl=impl)
        if kind == "mlp":
            net = MLP(math.prod(dm.input_shape), dm.num_outputs, **model_cfg, **common)
        else:
            net = SmallCNN(dm.input_shape, dm.num_outputs, **model_cfg, **common)
        optim = dict(_plain(cfg["optim"]))
        reg = dict(_plain(cfg.get("regularization") or {}))
        loss = _plain(cfg["loss"])
        lit = LitModel(net, task=dm.task, num_outputs=dm.num_outputs, loss=loss["name"],
                       loss_kwargs=loss.get("kwargs") or {}, optim=optim["name"],
                       optim_kwargs={"lr": optim["lr"], **(optim.get("kwargs") or {})},
                       scheduler=optim.get("scheduler"),
                       scheduler_kwargs=optim.get("scheduler_kwargs") or {},
                       l1=reg.get("l1", 0.0), l2=reg.get("l2", 0.0),
                       clip_grad_norm=reg.get("clip_grad_norm"), impl=impl)
    except (ValueError, TypeError, FileNotFoundError, KeyError) as e:
        raise ConfigError(str(e).splitlines()[0]) from e
    if loss["name"] == "auto":
        log.info("loss: %s (auto for task %s)", DEFAULT_LOSS[dm.task], dm.task)
    return dm, lit


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


def train(cfg: Mapping[str, Any]) -> dict[str, float]:
    """Train one configured experiment and return its final metrics.

    Returns a dict with ``val/loss``, ``val/acc`` (classification), ``train/loss*``,
    ``test/*`` when ``test: true``, and ``steps`` (optimizer steps run), ``diverged`` (1 if a
    NaN/inf loss or gradient stopped the run), ``failed`` (1 if training raised).

    Raises:
        ConfigError: for a bad config, before training.
    """
    validate(cfg)
    L.seed_everything(cfg["seed"], workers=True, verbose=False)
    dm, lit = build(cfg)
    callbacks = _instantiate_all(cfg.get("callbacks"))
    guard = next((c for c in callbacks if isinstance(c, DivergenceGuard)), None)
    loggers = _instantiate_all(cfg.get("logger"))
    trainer = L.Trainer(**_plain(cfg["trainer"]), callbacks=callbacks, logger=loggers or False)
    failed = 0
    fit_metrics: dict[str, float] = {}
    try:
        trainer.fit(lit, datamodule=dm, ckpt_path=_resume_path(cfg))
        # trainer.test resets callback_metrics to the test loop's: keep the fit's first
        fit_metrics = _final_metrics(trainer)
        if cfg.get("test") and not (guard and guard.diverged):
            trainer.test(lit, datamodule=dm, verbose=False)
    except Exception:  # one failed job must not kill the sweep: report it, return metrics
        log.exception("training failed")
        failed = 1
    metrics = {**fit_metrics, **_final_metrics(trainer)}
    metrics.update(steps=float(trainer.global_step), failed=float(failed),
                   diverged=float(guard.diverged if guard else 0))
    if guard is not None and guard.diverged:
        metrics["diverged_step"] = float(guard.diverged_step)
    _log_hparams(trainer, cfg, metrics)
    log.info("final metrics: %s", {k: round(v, 5) for k, v in metrics.items()})
    return metrics


def _log_hparams(trainer: L.Trainer, cfg: Mapping[str, Any], metrics: dict[str, float]) -> None:
    params = flatten(_plain(cfg))
    params = {k: v for k, v in params.items() if not k.startswith(("hydra", "paths/",
                                                                   "callbacks/", "logger/"))}
    hp = {f"hp/{k.replace('/', '_')}": v for k, v in metrics.items()}
    for logger in trainer.loggers:
        try:
            logger.log_hyperparams(params, metrics=hp)
        except TypeError:  # loggers without a metrics argument (CSV)
            logger.log_hyperparams(params)
            logger.log_metrics(hp, step=trainer.global_step)
        logger.save()
