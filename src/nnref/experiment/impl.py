"""The ``impl`` switch, in one place.

Everything is built from the references. ``impl="torch"`` then swaps every module that has a
torch built-in for it (:func:`nnref.swap.to_builtin`: activations, losses, dropout, norms) and
picks the built-in for the components that are not modules (the optimizer, gradient clipping).
Components torch lacks stay the reference, and a log line says which.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from nnref import registry, regularization, swap
from nnref.experiment.errors import ArgumentError, choice, did_you_mean, options

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


def component(kind: str, name: str | type, impl: str = "reference",
              offer: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
    """The one factory of the experiment stack: component ``name`` of ``kind`` (a registry
    name or alias, or a class, which is built as it is) from ``impl``, with ``kwargs``.

    The Spec is resolved once. Where torch has no built-in, ``impl="torch"`` falls back to the
    reference with a log line. ``offer`` holds keyword arguments passed only if the
    constructor names them, so one call site can offer ``num_features`` to every activation
    and only the per-unit ones (``apl``) take it.

    Raises:
        ArgumentError: naming ``kind`` for a name that is not registered (choices: every name
            and alias); naming ``kwargs`` for an argument the component does not take (its
            arguments, with a did-you-mean).
    """
    check_impl(impl)
    if isinstance(name, type):
        target, spec = name, None
    else:
        try:
            spec = registry.spec(kind, name)
        except registry.UnknownNameError:
            raise ArgumentError(kind, name, choices=registry.names(kind, aliases=True)) from None
        if impl == "torch" and spec.builtin is None:
            log.info("%s '%s' has no torch built-in: using the reference", kind, spec.name)
            impl = "reference"
        target = spec.target(impl)
    own = options(target)
    for key in kwargs:
        if key not in own:
            label = getattr(spec, "name", getattr(target, "__name__", target))
            raise ArgumentError("kwargs", kwargs, reason=(
                f"{key!r} is not an argument of {label}; its arguments: "
                f"{', '.join(own) or '(none)'}{did_you_mean(key, own)}"))
    if offer:
        kwargs = {**{k: v for k, v in offer.items() if k in own}, **kwargs}
    return target(**kwargs) if spec is None else spec.build(impl, **kwargs)


def clip_grad_norm_fn(impl: str) -> Callable[..., torch.Tensor]:
    """The global-norm gradient clipping of ``impl`` (not a registry kind: one pair)."""
    check_impl(impl)
    return torch.nn.utils.clip_grad_norm_ if impl == "torch" else regularization.clip_grad_norm_
