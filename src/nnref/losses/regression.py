r"""Regression losses: MSE (optionally the notes' half-MSE), MAE, Huber and RMSE.

Each loss is an ``autograd.Function`` whose forward applies the reduction itself (one pass
fewer than a separate ``mean``), saves only ``input`` and ``target`` and recomputes the error
``e = input - target`` in a backward made of differentiable tensor ops, so double backward
works. Both ``input`` and ``target`` receive gradients, as in torch.

"Loss" (one sample) versus "cost" (the sum or mean over the data set) in the notes is the
``reduction`` argument: ``'none'`` gives the per-element losses, ``'sum'`` and ``'mean'`` the cost.
"""

from __future__ import annotations

import torch
from torch import nn

from nnref._tensor import opmath
from nnref.losses._common import check_pair, check_reduction, grad_scale, legacy_reduction, reduce

__all__ = [
    "MSELoss", "mse_loss", "L1Loss", "l1_loss", "HuberLoss", "huber_loss", "RMSELoss",
    "rmse_loss",
]


def _prepare(input, target, reduction, size_average, reduce_, fn):
    check_pair(input, target, fn)
    return check_reduction(legacy_reduction(size_average, reduce_, reduction), fn)


def _error(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return opmath(x) - opmath(y)


def _times(fresh: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """``fresh * factor``, in place unless backward is itself being differentiated
    (create_graph), where the product's own backward needs ``fresh`` intact."""
    return fresh * factor if torch.is_grad_enabled() else fresh.mul_(factor)


def _input_and_target_grads(ctx, gx: torch.Tensor, x: torch.Tensor, y: torch.Tensor):
    # d(loss)/d(target) = -d(loss)/d(input) for every loss of the error input - target.
    return (gx.to(x.dtype) if ctx.needs_input_grad[0] else None,
            (-gx).to(y.dtype) if ctx.needs_input_grad[1] else None)


class _MSEFn(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x, y, reduction, factor):
        e = _error(x, y)
        loss = reduce(e.mul_(e), reduction)
        return (loss if factor == 2.0 else loss * (factor / 2)).to(x.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, y, ctx.reduction, ctx.factor = inputs
        ctx.save_for_backward(x, y)

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        gx = _times(_error(x, y), grad_scale(opmath(grad), ctx.reduction, x.numel()) * ctx.factor)
        return *_input_and_target_grads(ctx, gx, x, y), None, None


def mse_loss(input: torch.Tensor, target: torch.Tensor, size_average=None, reduce=None,
             reduction: str = "mean", weight=None, *, half: bool = False) -> torch.Tensor:
    r"""Mean squared error.

    .. math:: \ell_i = c\,(x_i - y_i)^2, \qquad \frac{\partial \ell_i}{\partial x_i} =
        2c\,(x_i - y_i), \qquad c = 1 \text{ (torch) or } \tfrac12 \text{ (``half=True``)}

    then reduced by ``reduction`` (``'mean'``: divide by the number of elements). The notes'
    per-sample "loss" :math:`\frac12 (y - \hat y)^2` is ``half=True``: its derivative is the
    plain error :math:`x - y`.

    Args:
        input, target: tensors of the same shape (a mismatch raises, where torch broadcasts).
        reduction: ``'mean'`` | ``'sum'`` | ``'none'``.
        weight: accepted for torch's signature; must be ``None``.
        half: multiply by 1/2 (keyword-only, not in torch).
    """
    if weight is not None:
        raise ValueError("mse_loss(): argument 'weight' is not supported; it must be None")
    reduction = _prepare(input, target, reduction, size_average, reduce, "mse_loss")
    return _MSEFn.apply(input, target, reduction, 1.0 if half else 2.0)


class MSELoss(nn.Module):
    r"""Mean squared error :math:`\ell_i = (x_i - y_i)^2` (or half of it); see :func:`mse_loss`.

    Args:
        reduction: ``'mean'`` (default) | ``'sum'`` | ``'none'``.
        half: the notes' :math:`\frac12 (y - \hat y)^2` convention (not in torch).

    Shape: input and target any shape, the same; output scalar, or the input's shape for
    ``'none'``.
    """

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean", *,
                 half: bool = False) -> None:
        super().__init__()
        self.reduction = check_reduction(legacy_reduction(size_average, reduce, reduction),
                                         "MSELoss")
        self.half = half

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return mse_loss(input, target, reduction=self.reduction, half=self.half)


class _L1Fn(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x, y, reduction):
        e = _error(x, y)
        # The derivative is sign(e) (NaN for NaN) and its own derivative is 0, so backward
        # needs only the sign, kept in the input's dtype: no more than torch keeps.
        return reduce(e.abs(), reduction).to(x.dtype), torch.sign(e).to(x.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        _, _, ctx.reduction = inputs
        ctx.mark_non_differentiable(output[1])
        ctx.save_for_backward(output[1])
        ctx.dtypes = (inputs[0].dtype, inputs[1].dtype)

    @staticmethod
    def backward(ctx, grad, _):
        (sign,) = ctx.saved_tensors
        gx = opmath(sign) * grad_scale(opmath(grad), ctx.reduction, sign.numel())
        return (gx.to(ctx.dtypes[0]) if ctx.needs_input_grad[0] else None,
                (-gx).to(ctx.dtypes[1]) if ctx.needs_input_grad[1] else None, None)


def l1_loss(input: torch.Tensor, target: torch.Tensor, size_average=None, reduce=None,
            reduction: str = "mean", weight=None) -> torch.Tensor:
    r"""Mean absolute error.

    .. math:: \ell_i = |x_i - y_i|, \qquad \frac{\partial \ell_i}{\partial x_i} =
        \operatorname{sign}(x_i - y_i)

    The subgradient at :math:`x_i = y_i` is 0, as in torch.
    """
    if weight is not None:
        raise ValueError("l1_loss(): argument 'weight' is not supported; it must be None")
    reduction = _prepare(input, target, reduction, size_average, reduce, "l1_loss")
    return _L1Fn.apply(input, target, reduction)[0]


class L1Loss(nn.Module):
    r"""Mean absolute error :math:`\ell_i = |x_i - y_i|` (the notes' MAE); see :func:`l1_loss`."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = check_reduction(legacy_reduction(size_average, reduce, reduction),
                                         "L1Loss")

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return l1_loss(input, target, reduction=self.reduction)


class _HuberFn(torch.autograd.Function):
    # The clamped error m = clamp(e, -delta, delta) is the gradient up to the upstream scale, so
    # it is returned as a second output and saved (one tensor, where torch keeps input and
    # target). Being an output on the graph, m also carries double backward: its own
    # derivative, 1 where |e| < delta, is applied in this backward when m receives a gradient.
    generate_vmap_rule = True

    @staticmethod
    def forward(x, y, reduction, delta):
        e = _error(x, y)
        m = e.clamp(-delta, delta)
        # both branches are m (e - m / 2): 1/2 e^2 inside, delta (|e| - delta / 2) outside
        return reduce(e.sub_(m, alpha=0.5).mul_(m), reduction).to(x.dtype), m

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, y, ctx.reduction, ctx.delta = inputs
        ctx.set_materialize_grads(False)
        ctx.dtypes = (x.dtype, y.dtype)
        ctx.save_for_backward(output[1])

    @staticmethod
    def backward(ctx, grad, grad_m):
        (m,) = ctx.saved_tensors
        gx = None if grad is None else m * grad_scale(opmath(grad), ctx.reduction, m.numel())
        if grad_m is not None:
            through_m = grad_m * (m.abs() < ctx.delta)
            gx = through_m if gx is None else gx + through_m
        if gx is None:
            return None, None, None, None
        return (gx.to(ctx.dtypes[0]) if ctx.needs_input_grad[0] else None,
                (-gx).to(ctx.dtypes[1]) if ctx.needs_input_grad[1] else None, None, None)


def huber_loss(input: torch.Tensor, target: torch.Tensor, reduction: str = "mean",
               delta: float = 1.0, weight=None) -> torch.Tensor:
    r"""Huber loss: quadratic near zero, linear beyond ``delta``.

    .. math:: \ell_i = \begin{cases} \tfrac12 e_i^2 & |e_i| < \delta \\
        \delta\,(|e_i| - \tfrac12\delta) & \text{otherwise} \end{cases}, \qquad
        \frac{\partial \ell_i}{\partial x_i} = \operatorname{clamp}(e_i, -\delta, \delta),
        \qquad e = x - y

    Args:
        delta: the switch point, > 0 (a non-positive value raises ValueError).
    """
    if weight is not None:
        raise ValueError("huber_loss(): argument 'weight' is not supported; it must be None")
    reduction = _prepare(input, target, reduction, None, None, "huber_loss")
    if not delta > 0:
        raise ValueError(f"huber_loss(): argument 'delta' must be > 0, got {delta}")
    return _HuberFn.apply(input, target, reduction, float(delta))[0]


class HuberLoss(nn.Module):
    r"""Huber loss with threshold ``delta``; see :func:`huber_loss`.

    Args:
        reduction: ``'mean'`` (default) | ``'sum'`` | ``'none'``.
        delta: switch from quadratic to linear, > 0. Default: 1.0.
    """

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__()
        if not delta > 0:
            raise ValueError(f"HuberLoss(): argument 'delta' must be > 0, got {delta}")
        self.reduction = check_reduction(reduction, "HuberLoss")
        self.delta = delta

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class _RMSEFn(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x, y, reduction):
        e = _error(x, y)
        return reduce(e.mul_(e), reduction).sqrt_().to(x.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, y, ctx.reduction = inputs
        ctx.save_for_backward(x, y, output)

    @staticmethod
    def backward(ctx, grad):
        x, y, r = ctx.saved_tensors
        rf = opmath(r)
        # d sqrt(m) = dm / (2 sqrt(m)) is 0/0 at zero error; take 0 there (the minimum), with a
        # safe denominator so the unused branch of `where` cannot put NaN into double backward.
        positive = rf > 0
        inv = torch.where(positive, 1 / torch.where(positive, rf, torch.ones_like(rf)), 0.0)
        gx = _times(_error(x, y), grad_scale(opmath(grad), ctx.reduction, x.numel()) * inv)
        return *_input_and_target_grads(ctx, gx, x, y), None


def rmse_loss(input: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    r"""Root mean squared error, the square root of :func:`mse_loss` (no torch built-in).

    .. math:: r = \sqrt{\operatorname{reduce}\big((x - y)^2\big)}, \qquad
        \frac{\partial r}{\partial x_i} = \frac{s\,(x_i - y_i)}{r}
        \quad (0 \text{ where } r = 0)

    with :math:`s = 1/n` for ``'mean'`` and 1 for ``'sum'``. ``'sum'`` therefore gives the
    Euclidean norm of the error and ``'none'`` the elementwise :math:`|x_i - y_i|`.

    At zero error the derivative of the square root is 0/0; the reference defines it as 0
    (the value of the subgradient at the minimum, as :func:`torch.linalg.vector_norm` does), so
    a perfect fit gives zero gradients instead of NaN.
    """
    reduction = _prepare(input, target, reduction, None, None, "rmse_loss")
    return _RMSEFn.apply(input, target, reduction)


class RMSELoss(nn.Module):
    r"""Root mean squared error :math:`\sqrt{\mathrm{MSE}}`; see :func:`rmse_loss`.

    Args:
        reduction: ``'mean'`` (default) | ``'sum'`` (the error's Euclidean norm) | ``'none'``.
    """

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = check_reduction(reduction, "RMSELoss")

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return rmse_loss(input, target, reduction=self.reduction)
