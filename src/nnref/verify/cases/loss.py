"""Verification cases of the losses, and the oracle for the one torch lacks (RMSE).

The harness uses C = 5 classes on dim 1. Case keys starting with ``_`` are harness options,
not constructor arguments: ``_target`` overrides :attr:`LossCases.target` and ``_shape`` the
input shape. Tensor-valued constructor arguments (``weight``, ``pos_weight``) are written as
tuples and become tensors of the test's dtype and device.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

Kwargs = Mapping[str, Any]


@dataclass(frozen=True)
class LossCases:
    """What the harness needs to test one loss.

    Attributes:
        kwargs: keyword sets (constructor arguments and ``_`` harness options), one run each.
        input: how the input is drawn: ``"logits"``, ``"probability"`` in (0, 1) or
            ``"log_probability"`` rows.
        target: ``"real"``, ``"binary"`` (soft labels in [0, 1]), ``"index"`` (class indices,
            ``ignore_index`` sprinkled in when the case sets it) or ``"probability"`` rows.
        scale_if: ``{kwarg: factor}`` for reference-only options the built-in lacks: the
            built-in's value and gradients times ``factor`` are the expected result.
        hyper: ``name -> (low, high)`` ranges property tests draw float hyper-parameters from.
        invalid: ``(kwargs, exception type)`` pairs construction must refuse, first key named.
        oracle: ``(**constructor kwargs) -> ((input, target) -> loss)`` where torch has no
            built-in.
    """

    kwargs: tuple[Kwargs, ...] = ({},)
    input: str = "logits"
    target: str = "real"
    scale_if: Mapping[str, float] = field(default_factory=dict)
    hyper: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    invalid: tuple[tuple[Kwargs, type[Exception]], ...] = ()
    oracle: Callable[..., Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] | None = None


CASE_TYPE = LossCases


def rmse_oracle(reduction: str = "mean"):
    """sqrt of torch's MSE with the same reduction."""
    return lambda x, t: torch.sqrt(F.mse_loss(x, t, reduction=reduction))


_REDUCTIONS = ({}, {"reduction": "sum"}, {"reduction": "none"})
_BAD_REDUCTION = (({"reduction": "avg"}, ValueError),)
_CLASS_WEIGHT = (0.5, 1.0, 2.0, 0.1, 1.5)
_WEIGHT = (0.2, 1.0, 3.0, 0.5, 1.0)
_POS_WEIGHT = (2.0, 0.5, 1.0, 4.0, 1.5)
_IMAGE = (4, 5, 3, 2)  # (N, C, H, W)

CASES: dict[str, LossCases] = {
    "mse": LossCases(
        kwargs=_REDUCTIONS + ({"half": True}, {"half": True, "reduction": "sum"}),
        invalid=_BAD_REDUCTION, scale_if={"half": 0.5}),
    "mae": LossCases(kwargs=_REDUCTIONS, invalid=_BAD_REDUCTION),
    "huber": LossCases(
        kwargs=_REDUCTIONS + ({"delta": 0.5}, {"delta": 2.0, "reduction": "none"}),
        hyper={"delta": (0.05, 3.0)},
        invalid=_BAD_REDUCTION + (({"delta": 0.0}, ValueError), ({"delta": -1.0}, ValueError))),
    "rmse": LossCases(kwargs=_REDUCTIONS, invalid=_BAD_REDUCTION, oracle=rmse_oracle),
    "bce": LossCases(kwargs=_REDUCTIONS + ({"weight": _WEIGHT},), invalid=_BAD_REDUCTION,
                     input="probability", target="binary"),
    "bce_with_logits": LossCases(
        kwargs=_REDUCTIONS + ({"weight": _WEIGHT}, {"pos_weight": _POS_WEIGHT},
                              {"weight": _WEIGHT, "pos_weight": _POS_WEIGHT,
                               "reduction": "sum"}),
        invalid=_BAD_REDUCTION, target="binary"),
    "cross_entropy": LossCases(
        kwargs=_REDUCTIONS + (
            {"weight": _CLASS_WEIGHT}, {"ignore_index": 2}, {"ignore_index": -100},
            {"weight": _CLASS_WEIGHT, "ignore_index": 1, "reduction": "none"},
            {"label_smoothing": 0.1}, {"label_smoothing": 0.3, "weight": _CLASS_WEIGHT},
            {"label_smoothing": 0.2, "ignore_index": 0, "reduction": "sum"},
            {"_shape": _IMAGE}, {"_shape": _IMAGE, "weight": _CLASS_WEIGHT,
                                 "label_smoothing": 0.1, "ignore_index": 3},
            {"_shape": (5,)},
            {"_target": "probability"}, {"_target": "probability", "reduction": "none"},
            {"_target": "probability", "weight": _CLASS_WEIGHT, "label_smoothing": 0.2},
            {"_target": "probability", "_shape": _IMAGE, "reduction": "sum"},
        ),
        hyper={"label_smoothing": (0.0, 1.0)},
        invalid=_BAD_REDUCTION + (({"label_smoothing": 1.5}, ValueError),
                                  ({"label_smoothing": -0.1}, ValueError)),
        target="index"),
    "nll": LossCases(
        kwargs=_REDUCTIONS + ({"weight": _CLASS_WEIGHT}, {"ignore_index": 2},
                              {"weight": _CLASS_WEIGHT, "ignore_index": 4, "reduction": "none"},
                              {"_shape": _IMAGE, "weight": _CLASS_WEIGHT}, {"_shape": (5,)}),
        invalid=_BAD_REDUCTION, input="log_probability", target="index"),
}
