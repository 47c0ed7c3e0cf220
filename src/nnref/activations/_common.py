"""Helpers shared by the activation Functions only: the step factor and per-channel
parameters."""

from __future__ import annotations

import math

import torch


def step(t: torch.Tensor, at_nan: float) -> torch.Tensor:
    """Heaviside step H(t) = [t > 0] as a float tensor of t's dtype (0 at t = 0, ``at_nan``
    where t is NaN), detached: its derivative is 0 wherever it exists."""
    t = t.detach()
    # sign() is (0 < t) - (t < 0), 0 at NaN: NaN is replaced first unless 0 is wanted there.
    return select(t if at_nan == 0 else torch.nan_to_num(t, nan=at_nan), 1.0, 0.0)


def nonnegative_step(t: torch.Tensor) -> torch.Tensor:
    """H(t) = [t > 0] for a ``t`` that is >= 0 or NaN (an output of ``clamp_min(x, 0)``): 1
    where t > 0 or NaN, 0 at +-0, detached, of t's dtype; equal to ``step(t, at_nan=1.0)``.

    Two multiplications by c lift the smallest positive subnormal to at least 1 (c^2 times it
    is >= 1), and fmin(., 1) takes every positive value, inf and NaN (fmin ignores NaN) to
    exactly 1 and leaves 0 at 0. Unlike ``nan_to_num``, every op vectorizes under
    ``torch.compile`` on CPU, where inductor computes ``isnan`` lane by lane.
    """
    info = torch.finfo(t.dtype)
    c = 2.0 ** math.ceil(-math.log2(info.tiny * info.eps) / 2)
    h = t.detach().mul(c).mul_(c)
    return torch.fmin(h, h.new_ones(()))


def select(t: torch.Tensor, positive: float, other: float) -> torch.Tensor:
    """``positive`` where t > 0 and ``other`` elsewhere (NaN included), each value exactly
    (never a rounded mix of the two), as a detached float tensor of t's dtype.

    Built from sign and clamp rather than a comparison: on CPU, kernels that read or write
    bool tensors (where, masked_fill, bool * float) run several times slower than float
    elementwise ones, and each pass counts.
    """
    s = torch.sign(t.detach())
    if positive == 1 and 0 <= other <= 1:
        # sign is -1, 0 or 1: clamping from below at ``other`` maps -1 and 0 to it, keeps 1
        return s.clamp_min_(other)
    h = s.clamp_min_(0)
    # lerp is exact at its end points (torch forms a + w (b - a) for w < 1/2 and
    # b - (b - a)(1 - w) otherwise, in float32 at least): one pass, each value exactly
    return torch.lerp(h.new_full((), other), h.new_full((), positive), h)


def channel_view(param: torch.Tensor, input: torch.Tensor) -> torch.Tensor:
    """Reshape a per-channel parameter (C,) so it broadcasts over ``input``'s dim 1.

    Inputs with fewer than 2 dims have no channel dim: the parameter then applies along dim 0
    (1-d input) or must be a single value (0-d input), as for torch's PReLU.
    """
    if param.numel() == 1:
        return param.reshape(())
    if input.dim() >= 2:
        return param.reshape((-1,) + (1,) * (input.dim() - 2))
    return param


def channel_reduce(grad: torch.Tensor, param: torch.Tensor) -> torch.Tensor:
    """Sum an elementwise gradient back to the shape of a per-channel parameter."""
    if param.numel() == 1:
        return grad.sum().reshape(param.shape)
    if grad.dim() >= 2:
        dims = [0] + list(range(2, grad.dim()))
        return grad.sum(dims).reshape(param.shape)
    return grad.reshape(param.shape)


def check_channels(input: torch.Tensor, count: int, what: str, fn: str) -> None:
    """Refuse an input whose channel count does not match ``count`` per-channel parameters."""
    if count == 1:
        return
    channels = input.shape[1] if input.dim() >= 2 else (input.shape[0] if input.dim() else 1)
    if channels != count:
        raise ValueError(
            f"{fn}(): {what}={count} does not match the input's channel dimension "
            f"(dim 1 for inputs with 2 or more dims) of size {channels}"
        )
