"""Memory passes counted from the ops that run: why an eager composition is slower than a fused
kernel, as a count rather than a guess.

An elementwise op on a memory-bound machine costs about the bytes it reads and writes. Every
ATen op dispatched while a callable runs is seen by a ``TorchDispatchMode``; an op that reads
or writes a tensor as large as the activation's input is one *pass* over memory, and each
such tensor read or written is one unit of *traffic* (in tensors of the input's size). Views,
and allocations that touch no memory (``empty``), cost nothing and are not counted; factories
such as ``new_ones`` or ``ones_like`` read only their argument's metadata, not its data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

__all__ = ["Passes", "count_passes", "fwd_bwd_passes"]

_UNTOUCHED = {"empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided"}
# factories that read only their tensor argument's metadata (dtype, device, maybe shape)
_METADATA_ONLY = {"new_ones", "new_zeros", "new_full", "ones_like", "zeros_like", "full_like",
                  "rand_like", "randn_like"}


@dataclass
class Passes:
    """What one phase cost: ``kernels`` ops touching a full-size tensor, ``reads`` and
    ``writes`` full-size tensors read and written by them."""

    kernels: int = 0
    reads: int = 0
    writes: int = 0

    @property
    def traffic(self) -> int:
        return self.reads + self.writes


class _Counter(TorchDispatchMode):
    def __init__(self, numel: int):
        super().__init__()
        self.numel, self.passes = numel, Passes()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = func.overloadpacket.__name__
        if func.is_view or name in _UNTOUCHED:
            return out
        big = [] if name in _METADATA_ONLY else [
            t for t in tree_leaves((args, kwargs))
            if isinstance(t, torch.Tensor) and t.numel() >= self.numel]
        written = [t for t in tree_leaves(out)
                   if isinstance(t, torch.Tensor) and t.numel() >= self.numel]
        # an in-place op returns the tensor it read: that one is read and written
        reads = len(big)
        if big or written:
            self.passes.kernels += 1
            self.passes.reads += reads
            self.passes.writes += len(written)
        return out


def count_passes(fn: Callable[[], object], numel: int) -> Passes:
    """The passes over tensors of at least ``numel`` elements that one call of ``fn`` makes."""
    counter = _Counter(numel)
    with counter:
        fn()
    return counter.passes


def fwd_bwd_passes(fn: Callable[[torch.Tensor], torch.Tensor],
                   x: torch.Tensor) -> tuple[Passes, Passes]:
    """Forward and backward passes of ``fn`` at ``x`` (which requires grad), counted apart;
    the upstream gradient is made outside both windows."""
    out: list[torch.Tensor] = []
    forward = count_passes(lambda: out.append(fn(x)), x.numel())
    (y,) = out
    if not y.requires_grad:  # an oracle without a backward (torch.heaviside)
        return forward, Passes()
    g = torch.ones_like(y)
    backward = count_passes(lambda: torch.autograd.grad(y, x, g), x.numel())
    return forward, backward
