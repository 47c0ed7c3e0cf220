"""Verification cases of the optimizers, and the independent formulas they are compared with
where torch has no counterpart or the option is one of the notes' variants (plain tensor
arithmetic, one line per equation, no foreach, no in-place tricks, no code shared with
:mod:`nnref.optim`).

``kwargs`` are keyword sets both the reference and ``torch.optim`` accept (the lockstep test
runs each for 500 steps against the built-in); ``variants`` are the notes' forms, checked against
their documented torch equivalent or a formula here (see :mod:`nnref.verify.optim`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

Kwargs = Mapping[str, Any]


@dataclass(frozen=True)
class OptimCases:
    """What the harness needs to test one optimizer.

    Attributes:
        state_bytes: optimizer state per parameter element, in bytes of float32.
        kwargs: keyword sets (over the Spec's defaults), each a lockstep run against torch.
        variants: keyword sets of the notes' forms, each checked against its documented torch
            equivalent or an independent formula.
        hyper: ``name -> (low, high)`` ranges property tests draw float hyper-parameters from.
        invalid: ``(kwargs, exception type)`` pairs construction must refuse, first key named.
        oracle: ``(params, **kwargs) -> Optimizer``, an independent formula for an optimizer
            torch lacks.
    """

    state_bytes: int
    kwargs: tuple[Kwargs, ...] = ({},)
    variants: tuple[Kwargs, ...] = ()
    hyper: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    invalid: tuple[tuple[Kwargs, type[Exception]], ...] = ()
    oracle: Callable[..., torch.optim.Optimizer] | None = None


CASE_TYPE = OptimCases


class LarsFormula(torch.optim.Optimizer):
    r"""LARS straight from the formula: :math:`r = \eta\|w\| / (\|g\| + \lambda\|w\| + \epsilon)`
    (1 when a norm is 0), :math:`d = r (g + \lambda w)`, :math:`b = \mu b + d` (:math:`b_1 = d`),
    :math:`w \leftarrow w - \gamma b`; tensors with < 2 dims skip r and :math:`\lambda` when
    ``exclude_bias_and_norm``."""

    def __init__(self, params, lr=1.0, momentum=0.9, weight_decay=0.0,
                 trust_coefficient=1e-3, eps=1e-8, exclude_bias_and_norm=False,
                 maximize=False, foreach=None):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                                      trust_coefficient=trust_coefficient, eps=eps,
                                      exclude_bias_and_norm=exclude_bias_and_norm,
                                      maximize=maximize))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lam, eta = group["weight_decay"], group["trust_coefficient"]
            for w in group["params"]:
                if w.grad is None:
                    continue
                g = -w.grad if group["maximize"] else w.grad
                if group["exclude_bias_and_norm"] and w.dim() < 2:
                    d = g
                else:
                    wn, gn = (w * w).sum().sqrt(), (g * g).sum().sqrt()
                    r = eta * wn / (gn + lam * wn + group["eps"])
                    if wn == 0 or gn == 0:
                        r = torch.ones_like(r)
                    d = r * (g + lam * w)
                state = self.state[w]
                b = d if "b" not in state else group["momentum"] * state["b"] + d
                state["b"] = b
                w.copy_(w - group["lr"] * b)
        return loss


class RMSpropEpsInsideFormula(torch.optim.Optimizer):
    r"""The notes' RMSProp: :math:`v = \alpha v + (1-\alpha) g^2` (centered: minus
    :math:`\bar g^2`), :math:`s = \sqrt{v + \epsilon}`, then torch's momentum / plain step."""

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, maximize=False, foreach=None, eps_inside_sqrt=True):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            a = group["alpha"]
            for w in group["params"]:
                if w.grad is None:
                    continue
                g = -w.grad if group["maximize"] else w.grad
                g = g + group["weight_decay"] * w
                st = self.state[w]
                st["v"] = a * st.get("v", torch.zeros_like(w)) + (1 - a) * g * g
                var = st["v"]
                if group["centered"]:
                    st["m"] = a * st.get("m", torch.zeros_like(w)) + (1 - a) * g
                    var = var - st["m"] * st["m"]
                s = (var + group["eps"]).sqrt()
                if group["momentum"] > 0:
                    st["b"] = group["momentum"] * st.get("b", torch.zeros_like(w)) + g / s
                    w.copy_(w - group["lr"] * st["b"])
                else:
                    w.copy_(w - group["lr"] * g / s)
        return loss


_NEG_LR = ({"lr": -1e-3}, ValueError)
_NEG_WD = ({"weight_decay": -1e-2}, ValueError)
_NEG_EPS = ({"eps": -1e-8}, ValueError)
_NEG_MOMENTUM = ({"momentum": -0.5}, ValueError)
_BAD_BETAS = (({"betas": (1.0, 0.999)}, ValueError), ({"betas": (0.9, 1.0)}, ValueError),
              ({"betas": (-0.1, 0.999)}, ValueError))
_ADAM_HYPER = {"lr": (1e-4, 1e-2), "weight_decay": (0.0, 0.1), "eps": (1e-10, 1e-4)}
_ADAM_CASES = ({}, {"amsgrad": True}, {"weight_decay": 1e-2}, {"betas": (0.8, 0.99), "eps": 1e-6},
               {"maximize": True}, {"amsgrad": True, "weight_decay": 1e-2, "maximize": True})

CASES: dict[str, OptimCases] = {
    "sgd": OptimCases(
        0, kwargs=({}, {"weight_decay": 1e-2}, {"maximize": True},
                   {"weight_decay": 1e-2, "maximize": True}),
        invalid=(_NEG_LR, _NEG_WD, _NEG_MOMENTUM, ({"nesterov": True}, ValueError)),
        hyper={"lr": (1e-4, 0.1), "weight_decay": (0.0, 0.1)}),
    "momentum": OptimCases(
        4, kwargs=({}, {"dampening": 0.5}, {"weight_decay": 1e-2},
                   {"dampening": 0.1, "weight_decay": 1e-2, "maximize": True}),
        variants=({"ema": True}, {"ema": True, "weight_decay": 1e-2}),
        invalid=(_NEG_LR, _NEG_WD, _NEG_MOMENTUM, ({"ema": True, "dampening": 0.5}, ValueError)),
        hyper={"lr": (1e-4, 0.05), "momentum": (0.0, 0.99), "dampening": (0.0, 0.9),
               "weight_decay": (0.0, 0.1)}),
    "nesterov": OptimCases(
        4, kwargs=({}, {"weight_decay": 1e-2}, {"weight_decay": 1e-2, "maximize": True}),
        variants=({"nesterov": False, "lookahead": True},),
        invalid=(_NEG_LR, _NEG_WD, ({"momentum": 0.0}, ValueError),
                 ({"dampening": 0.1}, ValueError)),
        hyper={"lr": (1e-4, 0.05), "momentum": (0.01, 0.99), "weight_decay": (0.0, 0.1)}),
    "adagrad": OptimCases(
        4, kwargs=({}, {"lr_decay": 1e-2}, {"weight_decay": 1e-2},
                   {"initial_accumulator_value": 0.1},
                   {"eps": 1e-3, "lr_decay": 1e-3, "weight_decay": 1e-2,
                    "initial_accumulator_value": 0.1, "maximize": True}),
        invalid=(_NEG_LR, _NEG_WD, _NEG_EPS, ({"lr_decay": -1.0}, ValueError),
                 ({"initial_accumulator_value": -1.0}, ValueError)),
        hyper={"lr": (1e-4, 0.1), "lr_decay": (0.0, 0.1), "weight_decay": (0.0, 0.1),
               "initial_accumulator_value": (0.0, 1.0), "eps": (1e-10, 1e-3)}),
    "rmsprop": OptimCases(
        4, kwargs=({}, {"centered": True}, {"momentum": 0.9}, {"weight_decay": 1e-2},
                   {"alpha": 0.9}, {"maximize": True},
                   {"centered": True, "momentum": 0.5, "weight_decay": 1e-2, "maximize": True}),
        variants=({"eps_inside_sqrt": True},
                  {"eps_inside_sqrt": True, "centered": True, "momentum": 0.5}),
        invalid=(_NEG_LR, _NEG_WD, _NEG_EPS, _NEG_MOMENTUM, ({"alpha": -0.5}, ValueError)),
        hyper={"lr": (1e-4, 1e-2), "alpha": (0.5, 0.999), "momentum": (0.0, 0.9),
               "weight_decay": (0.0, 0.1), "eps": (1e-10, 1e-3)}),
    "adam": OptimCases(8, kwargs=_ADAM_CASES, invalid=(_NEG_LR, _NEG_WD, _NEG_EPS, *_BAD_BETAS),
                       hyper=_ADAM_HYPER),
    "adamw": OptimCases(
        8, kwargs=_ADAM_CASES[:3] + ({"weight_decay": 0.1, "maximize": True},
                                     {"amsgrad": True, "weight_decay": 0.1, "maximize": True}),
        invalid=(_NEG_LR, _NEG_WD, _NEG_EPS, *_BAD_BETAS), hyper=_ADAM_HYPER),
    "lars": OptimCases(
        4, kwargs=({}, {"weight_decay": 1e-2}, {"momentum": 0.0},
                   {"trust_coefficient": 1e-2, "lr": 0.1},
                   {"exclude_bias_and_norm": True, "weight_decay": 1e-2},
                   {"maximize": True, "weight_decay": 1e-2}),
        invalid=(_NEG_LR, _NEG_WD, _NEG_EPS, _NEG_MOMENTUM,
                 ({"trust_coefficient": -1e-3}, ValueError)),
        hyper={"lr": (0.1, 2.0), "momentum": (0.0, 0.95), "weight_decay": (0.0, 0.1),
               "trust_coefficient": (1e-4, 1e-2)},
        oracle=LarsFormula),
}
