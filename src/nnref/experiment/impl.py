"""The ``impl`` switch, in one place.

Everything is built from the references. ``impl="torch"`` then swaps every module that has a
torch built-in for it (:func:`nnref.swap.to_builtin`: activations, losses, dropout, norms) and
picks the built-in for the components that are not modules (the optimizer, gradient clipping).
Components torch lacks stay the reference, and a log line says which.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from nnref import registry, regularization, swap
from nnref.experiment.errors import ArgumentError, choice

__all__ = ["IMPLS", "check_impl", "to_impl", "component", "clip_grad_norm_fn"]

log = logging.getLogger(__name__)

IMPLS = ("reference", "torch")


def check_impl(impl: str) -> None:
    choice("impl", impl, IMPLS)


def to_impl(module: nn.Module, impl: str) -> nn.Module:
    """``module`` (built from references) with its modules swapped to ``impl``, in place."""
    check_impl(impl)
    if impl == "reference":
        return module
    report = swap.to_builtin(module)
    for path, cls in report.no_counterpart:
        log.info("%s (%s) has no torch built-in: keeping the reference", path, cls)
    for path, cls, why in report.skipped:
        log.info("%s (%s) kept as the reference: %s", path, cls, why)
    return module


def component(kind: str, name: str, impl: str, **kwargs: Any) -> Any:
    """``registry.get(kind, name, impl, **kwargs)`` for a component that is not a module
    (optimizer), falling back to the reference, with a log line, where torch has none.

    Raises:
        ArgumentError: for a name that is not registered (choices: every name and alias).
    """
    check_impl(impl)
    try:
        spec = registry.spec(kind, name)
    except registry.UnknownNameError:
        raise ArgumentError(kind, name, choices=registry.names(kind, aliases=True)) from None
    if impl == "torch" and spec.builtin is None:
        log.info("%s '%s' has no torch built-in: using the reference", kind, spec.name)
        impl = "reference"
    return registry.get(kind, spec.name, impl=impl, **kwargs)


def clip_grad_norm_fn(impl: str) -> Callable[..., torch.Tensor]:
    """The global-norm gradient clipping of ``impl`` (not a registry kind: one pair)."""
    check_impl(impl)
    return torch.nn.utils.clip_grad_norm_ if impl == "torch" else regularization.clip_grad_norm_
