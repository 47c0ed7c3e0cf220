"""Helpers shared by the loss Functions: argument checks and the reduction."""

from __future__ import annotations

import torch

from nnref._tensor import check_input

REDUCTIONS = ("none", "mean", "sum")


def check_reduction(reduction: str, fn: str) -> str:
    """Refuse anything but torch's three reductions, naming the argument."""
    if reduction not in REDUCTIONS:
        raise ValueError(
            f"{fn}(): argument 'reduction' must be one of 'none', 'mean', 'sum', got {reduction!r}"
        )
    return reduction


def check_pair(input: object, target: object, fn: str) -> None:
    """Input and target must be floating tensors of the same shape.

    torch only warns on a shape mismatch and then broadcasts, which silently turns an (N, 1)
    prediction against an (N,) target into an (N, N) loss; the references raise instead.
    """
    check_input(input, fn)
    if not isinstance(target, torch.Tensor):
        raise TypeError(f"{fn}(): argument 'target' must be a Tensor, not {type(target).__name__}")
    if not target.is_floating_point():
        raise TypeError(
            f"{fn}(): argument 'target' must be a floating-point tensor, got dtype {target.dtype}"
        )
    if input.shape != target.shape:
        raise ValueError(
            f"{fn}(): argument 'target' must have the shape of 'input' {tuple(input.shape)}, "
            f"got {tuple(target.shape)} (torch would broadcast with a warning)"
        )


def violated(condition: torch.Tensor, message: str) -> bool:
    """``bool(condition)`` for a value check, or False where the value cannot be read here:
    inside ``torch.func.vmap`` (values are not concrete) the check is skipped rather than
    failing the transform; under ``torch.compile``, where reading it would break the graph,
    it becomes an assertion on the device (``torch._assert_async``: a RuntimeError carrying
    ``message`` when it fails, instead of the eager error's type)."""
    if torch.compiler.is_compiling():
        torch._assert_async(~condition, message)
        return False
    try:
        return bool(condition)
    except RuntimeError as exc:
        if "data-dependent" not in str(exc):
            raise
        return False


def check_unit_interval(t: torch.Tensor, name: str, fn: str) -> None:
    """Refuse values outside [0, 1], NaN included (torch's binary cross-entropy refuses NaN
    too: a NaN probability is never a valid one)."""
    if not t.numel():
        return
    low, high = torch.aminmax(t.detach())  # one read, no temporaries, nothing recorded
    # aminmax propagates NaN, and every comparison with NaN is False: test for inside
    message = f"{fn}(): all elements of '{name}' must be between 0 and 1"
    if violated(~((low >= 0) & (high <= 1)), message):
        raise ValueError(message)


def reduce(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    """Apply ``reduction`` to elementwise losses; the mean of an empty batch is NaN, as in torch."""
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.mean()


def grad_scale(grad: torch.Tensor, reduction: str, numel: int) -> torch.Tensor:
    """The incoming gradient spread back over the elements: d(mean)/dx_i = 1/n, d(sum)/dx_i = 1."""
    if reduction == "mean":
        return grad / numel
    return grad


def legacy_reduction(size_average: bool | None, reduce: bool | None, reduction: str) -> str:
    """torch's mapping of the deprecated ``size_average``/``reduce`` flags onto ``reduction``."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if not reduce:
        return "none"
    return "mean" if size_average else "sum"


def check_broadcast(t: torch.Tensor | None, shape: torch.Size, name: str, fn: str) -> None:
    """``t`` (a weight) must broadcast to ``shape`` without enlarging it."""
    if t is None:
        return
    if not isinstance(t, torch.Tensor) or not t.is_floating_point():
        raise TypeError(f"{fn}(): argument '{name}' must be a floating-point Tensor or None")
    try:
        ok = torch.broadcast_shapes(t.shape, shape) == shape
    except RuntimeError:
        ok = False
    if not ok:
        raise ValueError(
            f"{fn}(): argument '{name}' of shape {tuple(t.shape)} must broadcast to the input's "
            f"shape {tuple(shape)}"
        )
