"""Verification cases of the initializers, and the torch-side formulas for those torch lacks.

``spread(fan_in, fan_out, **case)`` is written from the lecture notes' formulas, not from
:mod:`nnref.init`, for the harness's exact bound/std and Kolmogorov-Smirnov checks. An oracle is
the initializer composed from ``torch.nn.init`` (LeCun is Kaiming with gain 1): with the same
seeded generator it must fill the very same tensor as the reference.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

Kwargs = Mapping[str, Any]


@dataclass(frozen=True)
class InitCases:
    """What the harness needs to test one initializer.

    Attributes:
        law: the target distribution: ``"constant"``, ``"uniform"`` or ``"normal"``.
        spread: ``(fan_in, fan_out, **case) -> value``: the constant, the uniform bound or the
            normal standard deviation.
        fans: the initializer needs fans (and so refuses tensors with < 2 dims).
        kwargs: keyword sets, one bit-identity and one statistics run each.
        invalid: ``(kwargs, exception type)`` pairs that must be refused, first key named.
        oracle: the same initializer composed from ``torch.nn.init``, for one torch lacks.
    """

    law: str
    spread: Callable[..., float]
    fans: bool = True
    kwargs: tuple[Kwargs, ...] = ({},)
    invalid: tuple[tuple[Kwargs, type[Exception]], ...] = ()
    oracle: Callable[..., torch.Tensor] | None = None


CASE_TYPE = InitCases


def uniform_fan_in_oracle(tensor: torch.Tensor, generator: torch.Generator | None = None):
    """``uniform_`` with bound 1 / sqrt(fan_in)."""
    bound = 1 / math.sqrt(nn.init._calculate_fan_in_and_fan_out(tensor)[0])
    return nn.init.uniform_(tensor, -bound, bound, generator=generator)


def lecun_normal_oracle(tensor: torch.Tensor, mode: str = "fan_in",
                        generator: torch.Generator | None = None):
    """Kaiming normal with gain 1."""
    return nn.init.kaiming_normal_(tensor, mode=mode, nonlinearity="linear", generator=generator)


def lecun_uniform_oracle(tensor: torch.Tensor, mode: str = "fan_in",
                         generator: torch.Generator | None = None):
    """Kaiming uniform with gain 1."""
    return nn.init.kaiming_uniform_(tensor, mode=mode, nonlinearity="linear",
                                    generator=generator)


def _gain(kw: Kwargs) -> float:
    return nn.init.calculate_gain(kw.get("nonlinearity", "leaky_relu"), kw.get("a", 0))


def _mode_fan(fan_in: int, fan_out: int, kw: Kwargs) -> int:
    return fan_out if kw.get("mode") == "fan_out" else fan_in


_BAD_MODE = (({"mode": "fan_avg"}, ValueError),)
_BAD_KAIMING = _BAD_MODE + (({"nonlinearity": "swish"}, ValueError),)
_KAIMING_CASES = ({}, {"nonlinearity": "relu"}, {"mode": "fan_out", "nonlinearity": "relu"},
                  {"a": 0.2}, {"nonlinearity": "tanh"}, {"nonlinearity": "selu"})

CASES: dict[str, InitCases] = {
    "zeros": InitCases("constant", lambda fi, fo, **kw: 0.0, fans=False),
    "constant": InitCases("constant", lambda fi, fo, **kw: kw["val"], fans=False,
                          kwargs=({"val": 10.0}, {"val": -10.0}, {"val": 0.01})),
    "uniform_fan_in": InitCases("uniform", lambda fi, fo, **kw: 1 / math.sqrt(fi),
                                oracle=uniform_fan_in_oracle),
    "xavier_normal": InitCases(
        "normal", lambda fi, fo, **kw: kw.get("gain", 1.0) * math.sqrt(2 / (fi + fo)),
        kwargs=({}, {"gain": 5 / 3})),
    "xavier_uniform": InitCases(
        "uniform", lambda fi, fo, **kw: kw.get("gain", 1.0) * math.sqrt(6 / (fi + fo)),
        kwargs=({}, {"gain": 5 / 3})),
    "he_normal": InitCases(
        "normal", lambda fi, fo, **kw: _gain(kw) / math.sqrt(_mode_fan(fi, fo, kw)),
        kwargs=_KAIMING_CASES, invalid=_BAD_KAIMING),
    "he_uniform": InitCases(
        "uniform", lambda fi, fo, **kw: _gain(kw) * math.sqrt(3 / _mode_fan(fi, fo, kw)),
        kwargs=_KAIMING_CASES, invalid=_BAD_KAIMING),
    "lecun_normal": InitCases(
        "normal", lambda fi, fo, **kw: 1 / math.sqrt(_mode_fan(fi, fo, kw)),
        kwargs=({}, {"mode": "fan_out"}), invalid=_BAD_MODE, oracle=lecun_normal_oracle),
    "lecun_uniform": InitCases(
        "uniform", lambda fi, fo, **kw: math.sqrt(3 / _mode_fan(fi, fo, kw)),
        kwargs=({}, {"mode": "fan_out"}), invalid=_BAD_MODE, oracle=lecun_uniform_oracle),
}
