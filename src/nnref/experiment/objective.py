"""What a model is trained with — loss, optimizer, schedule, penalties — checked with torch alone.

The arguments are the config groups themselves (``loss``, ``optim``, ``regularization``), so an
error names the config key (``optim.lr='abc' is not a number``) with no map in between, and a
new option is its YAML line and this module (its default beside the group's others, and the
code that uses it). :class:`~nnref.experiment.lit.LitModel`
trains with a :class:`Recipe`; the command line checks one before Lightning loads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from nnref import registry, regularization
from nnref.experiment.data.base import TASKS
from nnref.experiment.errors import ArgumentError, check, choice, did_you_mean, is_number
from nnref.experiment.impl import check_impl, clip_grad_norm_fn, component

__all__ = ["Recipe", "DEFAULT_LOSS", "SCHEDULERS", "LOSS", "OPTIM", "REGULARIZATION"]

# The loss each task gets with loss.name=auto: logits out, the stable fused loss.
DEFAULT_LOSS = {"multiclass": "cross_entropy", "binary": "bce_with_logits",
                "multilabel": "bce_with_logits", "regression": "mse"}
# Losses that take probabilities / log-probabilities, not logits: the matching output
# activation (a registry module, so it follows ``impl``) is applied before them.
_OUTPUT_ACTIVATION = {"bce": ("sigmoid", {}), "nll": ("log_softmax", {"dim": 1})}
SCHEDULERS = {
    "step": torch.optim.lr_scheduler.StepLR,
    "exponential": torch.optim.lr_scheduler.ExponentialLR,
    "cosine": torch.optim.lr_scheduler.CosineAnnealingLR,
    "plateau": torch.optim.lr_scheduler.ReduceLROnPlateau,
}
# Each group's keys and defaults (conf/loss, conf/optim, train.yaml's regularization).
LOSS = {"name": "auto", "kwargs": {}}
OPTIM = {"name": "adam", "lr": 1e-3, "kwargs": {}, "scheduler": None, "scheduler_kwargs": {}}
REGULARIZATION = {"l1": 0.0, "l2": 0.0, "clip_grad_norm": None}


def _group(name: str, given: Mapping[str, Any] | None,
           defaults: Mapping[str, Any]) -> dict[str, Any]:
    given = dict(given or {})
    for key in given:
        if key not in defaults:
            raise ArgumentError(f"{name}.{key}", given[key], reason=(
                f"not a key of {name}; its keys: {', '.join(defaults)}"
                f"{did_you_mean(key, defaults)}"))
    return {**defaults, **given}


def _relabelled(key: str, value: Any, build):
    """``build()``, a component's complaint about its keyword arguments named as the config
    ``key`` holding ``value``."""
    try:
        return build()
    except ArgumentError as e:
        if e.name == "kwargs":
            raise ArgumentError(key, value, reason=e.reason) from None
        raise
    except (TypeError, ValueError) as e:
        raise ArgumentError(key, value, reason=str(e).splitlines()[0]) from e


@dataclass(frozen=True)
class Recipe:
    """A checked training set-up: the task, the config groups with their defaults filled in,
    and ``impl``. Build one with :meth:`check`.

    Example::

        >>> r = Recipe.check("multiclass", 10, optim={"name": "sgd", "lr": 0.1})
        >>> r.loss_name, r.optim["lr"], r.regularization["clip_grad_norm"]
        ('cross_entropy', 0.1, None)
        >>> Recipe.check("multiclass", 10, optim={"lr": "abc"})
        Traceback (most recent call last):
        ...
        nnref.experiment.errors.ArgumentError: optim.lr='abc' is not a number; must be ...
    """

    task: str
    num_outputs: int
    loss: dict[str, Any]
    optim: dict[str, Any]
    regularization: dict[str, Any]
    impl: str

    @property
    def loss_name(self) -> str:
        name = self.loss["name"]
        return DEFAULT_LOSS[self.task] if name == "auto" else registry.spec("loss", name).name

    @classmethod
    def check(cls, task: str = "multiclass", num_outputs: int = 10,
              loss: Mapping[str, Any] | None = None, optim: Mapping[str, Any] | None = None,
              regularization: Mapping[str, Any] | None = None, impl: str = "reference",
              targets: torch.Tensor | None = None) -> Recipe:
        """Check every value, build the loss and an optimizer once, and, given a few of the
        data's ``targets``, check the loss takes them.

        Raises:
            ArgumentError: (a ``ValueError``) named by the config key (``optim.lr``,
                ``loss.kwargs`` ...), with what is allowed.
        """
        choice("task", task, TASKS)
        check_impl(impl)
        loss, optim = _group("loss", loss, LOSS), _group("optim", optim, OPTIM)
        reg = _group("regularization", regularization, REGULARIZATION)
        choice("loss.name", loss["name"], ["auto", *registry.names("loss", aliases=True)])
        choice("optim.name", optim["name"], registry.names("optim", aliases=True))
        lr = optim["lr"]
        check("optim.lr", lr, is_number(lr) and lr >= 0, "a finite number >= 0")
        if optim["scheduler"] is not None:
            choice("optim.scheduler", optim["scheduler"], list(SCHEDULERS))
        for key in ("l1", "l2"):
            check(f"regularization.{key}", reg[key], is_number(reg[key]) and reg[key] >= 0,
                  "a finite number >= 0")
        clip = reg["clip_grad_norm"]
        if clip is not None:
            check("regularization.clip_grad_norm", clip, is_number(clip) and clip > 0,
                  "a finite number > 0, or null")
        recipe = cls(task, num_outputs, loss, optim, reg, impl)
        loss_fn, output_act = recipe.build_loss()
        recipe.build_optimizer([nn.Parameter(torch.zeros(2))])
        if targets is not None:
            recipe._check_fits(loss_fn, output_act, targets)
        return recipe

    def build_loss(self) -> tuple[nn.Module, nn.Module | None]:
        """The loss module and the output activation it needs (``None`` for logits)."""
        name = self.loss_name
        loss_fn = _relabelled("loss.kwargs", self.loss["kwargs"], lambda: component(
            "loss", name, **dict(self.loss["kwargs"] or {})))
        out = _OUTPUT_ACTIVATION.get(name)
        return loss_fn, (component("activation", out[0], **out[1]) if out else None)

    def build_optimizer(self, params) -> torch.optim.Optimizer:
        """The optimizer of ``impl`` over ``params`` (torch's when it has one)."""
        o = self.optim
        return _relabelled("optim.kwargs", o["kwargs"], lambda: component(
            "optim", o["name"], self.impl, lr=o["lr"], **dict(o["kwargs"] or {}))(params))

    def build_scheduler(self, optimizer: torch.optim.Optimizer):
        o = self.optim
        if o["scheduler"] is None:
            return None
        kwargs = dict(o["scheduler_kwargs"] or {})
        return _relabelled("optim.scheduler_kwargs", kwargs,
                           lambda: SCHEDULERS[o["scheduler"]](optimizer, **kwargs))

    def penalty(self, model: nn.Module) -> torch.Tensor | None:
        """``regularization.l1`` and ``l2`` times the weights' penalties, or ``None``."""
        reg = self.regularization
        terms = [fn(model, reg[k]) for k, fn in (("l1", regularization.l1_penalty),
                                                 ("l2", regularization.l2_penalty)) if reg[k]]
        return sum(terms[1:], terms[0]) if terms else None

    def clip(self, params: list[torch.Tensor]) -> None:
        """Clip the gradients to ``regularization.clip_grad_norm`` (global L2 norm), with
        ``impl``'s clipping."""
        if self.regularization["clip_grad_norm"] is not None:
            clip_grad_norm_fn(self.impl)(params, self.regularization["clip_grad_norm"])

    def _check_fits(self, loss_fn: nn.Module, output_act: nn.Module | None,
                    targets: torch.Tensor) -> None:
        """The loss on logits of the model's output shape and the data's own targets: a loss
        made for another task (``mse`` on class indices) is a config error, not a crash in
        the first training step."""
        y = targets[:2]
        out = torch.zeros(len(y), self.num_outputs, dtype=torch.float32)
        try:
            loss_fn(out if output_act is None else output_act(out), y)
        except (RuntimeError, TypeError, ValueError) as e:
            name = self.loss["name"]
            raise ArgumentError("loss.name", name, reason=(
                f"{self.loss_name} does not take the {self.task} task's targets "
                f"({str(y.dtype).removeprefix('torch.')} of shape {tuple(targets.shape)}): "
                f"{str(e).splitlines()[0]}; the task's default is "
                f"loss.name=auto ({DEFAULT_LOSS[self.task]})")) from None
