"""Helpers every component shares: input checks, the precision torch computes in, a stable
sigmoid, in-place temporaries and write-back."""

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
    return in_place(in_place(-z, "exp"), "add", 1).reciprocal_()


def in_place(t: torch.Tensor, op: str, *args, **kwargs) -> torch.Tensor:
    """``t.<op>_(*args)`` on a temporary ``t`` the caller made, or the out-of-place
    ``t.<op>(*args)`` while autograd records (a backward run with create_graph), since double
    backward may need the value an in-place op would overwrite. A full-size temporary fewer
    is a memory pass fewer: on CPU, elementwise ops cost about one pass each."""
    return getattr(t, op if torch.is_grad_enabled() else op + "_")(*args, **kwargs)


def apply_maybe_inplace(fn, input: torch.Tensor, inplace: bool, saves_input: bool = False):
    """``fn(input)``, written back into ``input`` when ``inplace`` (autograd records the copy).

    A Function that saves its input for backward is given a private copy, since the write-back
    would otherwise change the saved tensor under it.
    """
    if not inplace:
        return fn(input)
    return input.copy_(fn(input.clone() if saves_input else input))
