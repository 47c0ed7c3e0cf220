"""Verification cases of the normalization layers (compared with torch's BatchNorm)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Kwargs = Mapping[str, Any]


@dataclass(frozen=True)
class NormCases:
    """What the harness needs to test one normalization layer.

    Attributes:
        shapes: input shapes the harness runs (channels on dim 1).
        kwargs: constructor keyword sets, one run each.
        hyper: ``name -> (low, high)`` ranges property tests draw float hyper-parameters from.
        invalid: ``(kwargs, exception type)`` pairs construction must refuse, first key named.
    """

    shapes: tuple[tuple[int, ...], ...]
    kwargs: tuple[Kwargs, ...] = ({},)
    hyper: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    invalid: tuple[tuple[Kwargs, type[Exception]], ...] = ()


CASE_TYPE = NormCases

_BN_CASES = (
    {"num_features": 6}, {"num_features": 6, "momentum": None},
    {"num_features": 6, "affine": False}, {"num_features": 6, "bias": False},
    {"num_features": 6, "track_running_stats": False},
    {"num_features": 6, "eps": 1e-3, "momentum": 0.5},
)
_BN_INVALID = (
    ({"num_features": 0}, ValueError), ({"num_features": 6, "momentum": 1.5}, ValueError),
    ({"num_features": 6, "eps": 0.0}, ValueError),
)
_BN_HYPER = {"momentum": (0.0, 1.0), "eps": (1e-6, 1e-1)}

CASES: dict[str, NormCases] = {
    "batch_norm1d": NormCases(((16, 6), (8, 6, 5)), kwargs=_BN_CASES, hyper=_BN_HYPER,
                              invalid=_BN_INVALID),
    "batch_norm2d": NormCases(((4, 6, 5, 5),), kwargs=_BN_CASES, hyper=_BN_HYPER,
                              invalid=_BN_INVALID),
}
