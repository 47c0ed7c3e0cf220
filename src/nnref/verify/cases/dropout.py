"""Verification cases of the dropout family, and the oracles for what torch lacks (classic
dropout, DropConnect): compositions of built-ins that draw their masks as torch does, so that
with the same seed they drop the same units as the reference."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

Kwargs = Mapping[str, Any]


@dataclass(frozen=True)
class DropoutCases:
    """What the harness needs to test one dropout variant.

    Attributes:
        shape: the input shape (channels on dim 1).
        kwargs: constructor keyword sets, one run each.
        hyper: ``name -> (low, high)`` ranges property tests draw float hyper-parameters from.
        invalid: ``(kwargs, exception type)`` pairs construction must refuse, first key named.
        unit: what one Bernoulli draw keeps or drops: ``"element"``, ``"channel"`` (a whole
            channel of (N, C, ...)) or ``"weight"`` (an entry of the layer's weight, which
            the keep-fraction check of the output cannot see).
        saturation: the value a dropped unit is sent to before the affine correction (alpha
            dropout: SELU's negative saturation); ``None``: dropped units are 0.
        oracle: ``(reference module, x, training, seed, kwargs) -> y`` for a variant or an
            option torch lacks; it draws its mask itself after seeding with ``seed``.
    """

    shape: tuple[int, ...]
    kwargs: tuple[Kwargs, ...] = ({},)
    hyper: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    invalid: tuple[tuple[Kwargs, type[Exception]], ...] = ()
    unit: str = "element"
    saturation: float | None = None
    oracle: Callable[..., torch.Tensor] | None = None


CASE_TYPE = DropoutCases


def classic_oracle(module, x: torch.Tensor, training: bool, seed: int, kwargs: Kwargs):
    """Classic dropout from its definition: m x in training (torch's mask draw), (1-p) x else."""
    p = kwargs.get("p", 0.5)
    if not training:
        return x * (1 - p)
    torch.manual_seed(seed)
    mask = torch.empty_like(x).bernoulli_(1 - p)
    return x * mask


def dropconnect_oracle(module, x: torch.Tensor, training: bool, seed: int, kwargs: Kwargs):
    """F.linear with the weight multiplied by a Bernoulli(1 - p) mask drawn as torch would."""
    w = module.weight
    if training and module.p > 0:
        torch.manual_seed(seed)
        mask = torch.empty_like(w).bernoulli_(1 - module.p)
        w = w * mask * (0.0 if module.p == 1 else 1.0 / (1 - module.p))
    return F.linear(x, w, module.bias)


_BAD_P = (({"p": -0.1}, ValueError), ({"p": 1.5}, ValueError))
_P = {"p": (0.0, 1.0)}
_CHANNEL_CASES = ({}, {"p": 0.2}, {"p": 0.3, "inplace": True})

CASES: dict[str, DropoutCases] = {
    "dropout": DropoutCases(
        (64, 6), kwargs=({}, {"p": 0.2}, {"p": 0.3, "inplace": True}, {"p": 0.0}, {"p": 1.0},
                         {"p": 0.3, "mode": "classic"}),
        hyper=_P, invalid=_BAD_P + (({"mode": "scaled"}, ValueError),), oracle=classic_oracle),
    "dropout1d": DropoutCases((16, 6, 10), kwargs=_CHANNEL_CASES, hyper=_P, invalid=_BAD_P,
                              unit="channel"),
    "dropout2d": DropoutCases((8, 6, 5, 5), kwargs=_CHANNEL_CASES, hyper=_P, invalid=_BAD_P,
                              unit="channel"),
    "alpha_dropout": DropoutCases(
        (64, 6), kwargs=({}, {"p": 0.2}, {"p": 0.1, "inplace": True}, {"p": 1.0}),
        hyper={"p": (0.0, 0.9)}, invalid=_BAD_P, saturation=-1.7580993408473766),
    "dropconnect": DropoutCases(
        (16, 6), kwargs=({"in_features": 6, "out_features": 4},
                         {"in_features": 6, "out_features": 4, "p": 0.2, "bias": False}),
        invalid=(({"in_features": 6, "out_features": 4, "p": 2.0}, ValueError),),
        unit="weight", oracle=dropconnect_oracle),
}
