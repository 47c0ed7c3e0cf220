"""Helpers shared by the activation Functions: input checks, precision, broadcasting."""

from __future__ import annotations

import torch

LOW_PRECISION = (torch.float16, torch.bfloat16)


def check_input(input: object, fn: str) -> None:
    """Reject what no activation can take: non-tensors and non-floating tensors.

    torch silently promotes integer input for some activations and rejects it for others; a
    reference refuses it everywhere, naming the argument, so an integer label tensor passed by
    mistake never trains silently.
    """
    if not isinstance(input, torch.Tensor):
        raise TypeError(f"{fn}(): argument 'input' must be a Tensor, not {type(input).__name__}")
    if not input.is_floating_point():
        raise TypeError(
            f"{fn}(): argument 'input' must be a floating-point tensor, got dtype {input.dtype}"
        )


def opmath(t: torch.Tensor) -> torch.Tensor:
    """``t`` in the precision torch computes it in: float32 for float16/bfloat16.

    torch's kernels evaluate transcendental functions of half-precision tensors in float32 and
    round once; doing the same keeps e.g. sigmoid(-11) in float16 at 1.7e-5 instead of 0.
    """
    return t.float() if t.dtype in LOW_PRECISION else t


def stable_sigmoid(z: torch.Tensor) -> torch.Tensor:
    """1 / (1 + e^{-z}): stable for every z.

    e^{-z} overflows to inf for z < -88 (float32) and 1 / (1 + inf) = 0, the correctly rounded
    value, so no max-subtraction is needed; NaN stays NaN. Temporaries are overwritten in place
    unless autograd is recording (double backward), which needs e^{-z} intact.
    """
    e = torch.exp(-z)
    return (e + 1 if torch.is_grad_enabled() else e.add_(1)).reciprocal_()


def step(t: torch.Tensor, at_nan: float) -> torch.Tensor:
    """Heaviside step H(t) = [t > 0] as a float tensor of t's dtype (0 at t = 0, ``at_nan``
    where t is NaN), detached: its derivative is 0 wherever it exists.

    Built from sign and clamp rather than a comparison: on CPU, kernels that read or write
    bool tensors (where, masked_fill, bool * float) run an order of magnitude slower than
    float elementwise ones.
    """
    # sign() is (0 < t) - (t < 0), which is 0 at NaN: NaN must be replaced before it.
    return torch.sign(torch.nan_to_num(t.detach(), nan=at_nan)).clamp_min(0)


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


def apply_maybe_inplace(fn, input: torch.Tensor, inplace: bool, saves_input: bool = False):
    """``fn(input)``, written back into ``input`` when ``inplace`` (autograd records the copy).

    A Function that saves its input for backward is given a private copy, since the write-back
    would otherwise change the saved tensor under it.
    """
    if not inplace:
        return fn(input)
    return input.copy_(fn(input.clone() if saves_input else input))
