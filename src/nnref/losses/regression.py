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
    r"""Mean squared error between ``input`` and ``target``, element by element, then reduced.

    .. math::
        \ell_i = c\,(x_i - y_i)^2, \qquad
        \frac{\partial \ell_i}{\partial x_i} = 2c\,(x_i - y_i) =
        -\frac{\partial \ell_i}{\partial y_i}

    with :math:`c = 1` (torch's) or :math:`c = \tfrac12` (``half=True``), then the reduction
    (``'mean'`` divides the sum and every gradient by the number of elements :math:`n`).

    The lecture notes call :math:`\frac12 (y - \hat y)^2` of one sample the "loss" and its sum or
    mean over the data set the "cost"; that is ``half=True`` with ``reduction='none'`` and
    ``'sum'``/``'mean'``. The half makes the derivative the plain error :math:`x - y`.

    Args:
        input (Tensor): predictions, floating point.
        target (Tensor): targets, the input's shape; it receives a gradient too.
        size_average (bool, optional): deprecated (see ``reduction``). Default: ``None``
        reduce (bool, optional): deprecated (see ``reduction``). Default: ``None``
        reduction (str, optional): ``'none'`` | ``'mean'`` | ``'sum'``: the per-element losses,
            their mean or their sum. Default: ``'mean'``
        weight: accepted for torch's signature; anything but ``None`` raises ValueError.
        half (bool, keyword-only): multiply by :math:`\tfrac12` (not in torch). Default: ``False``

    Shape:
        - Input: :math:`(*)`, any number of dimensions.
        - Target: :math:`(*)`, the input's shape (a mismatch raises; torch broadcasts with a
          warning).
        - Output: scalar; with ``reduction='none'``, :math:`(*)`, the input's shape.

    Examples::

        >>> import torch
        >>> from nnref import losses
        >>> x, y = torch.tensor([0.5, 2.0, -1.0]), torch.ones(3)
        >>> losses.mse_loss(x, y)
        tensor(1.7500)
        >>> losses.mse_loss(x, y, reduction="none", half=True)
        tensor([0.1250, 0.5000, 2.0000])
    """
    if weight is not None:
        raise ValueError("mse_loss(): argument 'weight' is not supported; it must be None")
    reduction = _prepare(input, target, reduction, size_average, reduce, "mse_loss")
    return _MSEFn.apply(input, target, reduction, 1.0 if half else 2.0)


class MSELoss(nn.Module):
    r"""The mean squared error (squared L2 norm of the error) between each element of the input
    :math:`x` and the target :math:`y`.

    The unreduced (``reduction='none'``) loss and its derivative are

    .. math::
        \ell_i = c\,(x_i - y_i)^2, \qquad
        \frac{\partial \ell_i}{\partial x_i} = 2c\,(x_i - y_i), \qquad
        c = \begin{cases} 1 & \text{torch's convention} \\ \tfrac12 & \text{``half=True``}
        \end{cases}

    and ``'mean'`` / ``'sum'`` reduce over all :math:`n` elements (the mean also divides each
    gradient by :math:`n`).

    The lecture notes write the per-sample loss as :math:`\frac12 (y - \hat y)^2`, whose
    derivative is the plain error; ``half=True`` gives that, and ``reduction`` is the notes'
    distinction between one sample's "loss" and the data set's "cost".

    Args:
        size_average (bool, optional): deprecated (see ``reduction``). Default: ``None``
        reduce (bool, optional): deprecated (see ``reduction``). Default: ``None``
        reduction (str, optional): ``'none'`` | ``'mean'`` | ``'sum'``: the per-element losses,
            their mean or their sum. Default: ``'mean'``
        half (bool, keyword-only): the notes' :math:`\tfrac12` factor (not in torch).
            Default: ``False``

    Shape:
        - Input: :math:`(*)`, any number of dimensions.
        - Target: :math:`(*)`, the input's shape (a mismatch raises; torch broadcasts with a
          warning).
        - Output: scalar; with ``reduction='none'``, :math:`(*)`, the input's shape.

    Examples::

        >>> import torch
        >>> from nnref import losses
        >>> x = torch.tensor([0.5, 2.0, -1.0], requires_grad=True)
        >>> loss = losses.MSELoss()(x, torch.ones(3))
        >>> loss.backward()
        >>> loss.item(), x.grad
        (1.75, tensor([-0.3333,  0.6667, -1.3333]))
        >>> bool(loss == torch.nn.MSELoss()(x, torch.ones(3)))
        True
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
    r"""Mean absolute error between ``input`` and ``target``, element by element, then reduced.

    .. math::
        \ell_i = |x_i - y_i|, \qquad
        \frac{\partial \ell_i}{\partial x_i} = \operatorname{sign}(x_i - y_i) =
        -\frac{\partial \ell_i}{\partial y_i}

    The subgradient at :math:`x_i = y_i` is 0, as in torch (and as the notes choose for MAE).

    Args:
        input (Tensor): predictions, floating point.
        target (Tensor): targets, the input's shape.
        size_average (bool, optional): deprecated (see ``reduction``). Default: ``None``
        reduce (bool, optional): deprecated (see ``reduction``). Default: ``None``
        reduction (str, optional): ``'none'`` | ``'mean'`` | ``'sum'``: the per-element losses,
            their mean or their sum. Default: ``'mean'``
        weight: accepted for torch's signature; anything but ``None`` raises ValueError.

    Shape:
        - Input: :math:`(*)`, any number of dimensions.
        - Target: :math:`(*)`, the input's shape (a mismatch raises; torch broadcasts with a
          warning).
        - Output: scalar; with ``reduction='none'``, :math:`(*)`, the input's shape.

    Examples::

        >>> import torch
        >>> from nnref import losses
        >>> losses.l1_loss(torch.tensor([0.5, 2.0, -1.0]), torch.ones(3), reduction="sum")
        tensor(3.5000)
    """
    if weight is not None:
        raise ValueError("l1_loss(): argument 'weight' is not supported; it must be None")
    reduction = _prepare(input, target, reduction, size_average, reduce, "l1_loss")
    return _L1Fn.apply(input, target, reduction)[0]


class L1Loss(nn.Module):
    r"""The mean absolute error (the notes' MAE) between each element of the input :math:`x` and
    the target :math:`y`.

    The unreduced (``reduction='none'``) loss and its derivative are

    .. math::
        \ell_i = |x_i - y_i|, \qquad
        \frac{\partial \ell_i}{\partial x_i} = \operatorname{sign}(x_i - y_i)

    with the subgradient 0 at :math:`x_i = y_i`, as in torch. ``'mean'`` divides by the number of
    elements, and each gradient by it too.

    Args:
        size_average (bool, optional): deprecated (see ``reduction``). Default: ``None``
        reduce (bool, optional): deprecated (see ``reduction``). Default: ``None``
        reduction (str, optional): ``'none'`` | ``'mean'`` | ``'sum'``: the per-element losses,
            their mean or their sum. Default: ``'mean'``

    Shape:
        - Input: :math:`(*)`, any number of dimensions.
        - Target: :math:`(*)`, the input's shape (a mismatch raises; torch broadcasts with a
          warning).
        - Output: scalar; with ``reduction='none'``, :math:`(*)`, the input's shape.

    Examples::

        >>> import torch
        >>> from nnref import losses
        >>> x = torch.tensor([0.5, 2.0, -1.0], requires_grad=True)
        >>> loss = losses.L1Loss()(x, torch.ones(3))
        >>> loss.backward()
        >>> x.grad
        tensor([-0.3333,  0.3333, -0.3333])
    """

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
    r"""Huber loss: quadratic for errors below ``delta``, linear beyond.

    .. math::
        \ell_i = \begin{cases} \tfrac12 e_i^2 & |e_i| < \delta \\
        \delta\,(|e_i| - \tfrac12\delta) & \text{otherwise} \end{cases}, \qquad
        \frac{\partial \ell_i}{\partial x_i} = \operatorname{clamp}(e_i, -\delta, \delta),
        \qquad e = x - y

    Both branches are :math:`m\,(e - m/2)` with :math:`m = \operatorname{clamp}(e, -\delta,
    \delta)`, which is how it is evaluated: no branch is selected by a product that rounds.

    Args:
        input (Tensor): predictions, floating point.
        target (Tensor): targets, the input's shape.
        reduction (str, optional): ``'none'`` | ``'mean'`` | ``'sum'``: the per-element losses,
            their mean or their sum. Default: ``'mean'``
        delta (float, optional): where the loss turns linear, > 0 (otherwise ValueError).
            Default: 1.0
        weight: accepted for torch's signature; anything but ``None`` raises ValueError.

    Shape:
        - Input: :math:`(*)`, any number of dimensions.
        - Target: :math:`(*)`, the input's shape (a mismatch raises; torch broadcasts with a
          warning).
        - Output: scalar; with ``reduction='none'``, :math:`(*)`, the input's shape.

    Examples::

        >>> import torch
        >>> from nnref import losses
        >>> losses.huber_loss(torch.tensor([0.5, 2.0, -1.0]), torch.ones(3), reduction="none")
        tensor([0.1250, 0.5000, 1.5000])
    """
    if weight is not None:
        raise ValueError("huber_loss(): argument 'weight' is not supported; it must be None")
    reduction = _prepare(input, target, reduction, None, None, "huber_loss")
    if not delta > 0:
        raise ValueError(f"huber_loss(): argument 'delta' must be > 0, got {delta}")
    return _HuberFn.apply(input, target, reduction, float(delta))[0]


class HuberLoss(nn.Module):
    r"""The Huber loss: the squared error for small errors, the absolute error (scaled by
    ``delta``) for large ones, so outliers pull with a bounded gradient.

    The unreduced (``reduction='none'``) loss and its derivative, with :math:`e = x - y`:

    .. math::
        \ell_i = \begin{cases} \tfrac12 e_i^2 & |e_i| < \delta \\
        \delta\,(|e_i| - \tfrac12\delta) & \text{otherwise} \end{cases}, \qquad
        \frac{\partial \ell_i}{\partial x_i} = \operatorname{clamp}(e_i, -\delta, \delta)

    Args:
        reduction (str, optional): ``'none'`` | ``'mean'`` | ``'sum'``: the per-element losses,
            their mean or their sum. Default: ``'mean'``
        delta (float, optional): the switch point, > 0. Default: 1.0

    Shape:
        - Input: :math:`(*)`, any number of dimensions.
        - Target: :math:`(*)`, the input's shape (a mismatch raises; torch broadcasts with a
          warning).
        - Output: scalar; with ``reduction='none'``, :math:`(*)`, the input's shape.

    Examples::

        >>> import torch
        >>> from nnref import losses
        >>> x = torch.tensor([0.5, 2.0, -1.0], requires_grad=True)
        >>> loss = losses.HuberLoss(delta=1.0)(x, torch.ones(3))
        >>> loss.backward()
        >>> x.grad
        tensor([-0.1667,  0.3333, -0.3333])
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
    r"""Root mean squared error: the square root of the reduced squared error (no torch built-in).

    .. math::
        r = \sqrt{\operatorname{reduce}\big((x - y)^2\big)}, \qquad
        \frac{\partial r}{\partial x_i} = \frac{s\,(x_i - y_i)}{r} \quad (0 \text{ where } r = 0)

    with :math:`s = 1/n` for ``'mean'`` and 1 for ``'sum'``: ``'sum'`` gives the Euclidean norm of
    the error, ``'none'`` the elementwise :math:`|x_i - y_i|`.

    At zero error the square root's derivative is 0/0; the reference defines it as 0 (the
    subgradient at the minimum, as :func:`torch.linalg.vector_norm` does), so a perfect fit gives
    zero gradients instead of NaN.

    Args:
        input (Tensor): predictions, floating point.
        target (Tensor): targets, the input's shape.
        reduction (str, optional): ``'none'`` | ``'mean'`` | ``'sum'``: the per-element losses,
            their mean or their sum. Default: ``'mean'``

    Shape:
        - Input: :math:`(*)`, any number of dimensions.
        - Target: :math:`(*)`, the input's shape (a mismatch raises; torch broadcasts with a
          warning).
        - Output: scalar; with ``reduction='none'``, :math:`(*)`, the input's shape.

    Examples::

        >>> import torch
        >>> from nnref import losses
        >>> x, y = torch.tensor([0.5, 2.0, -1.0]), torch.ones(3)
        >>> losses.rmse_loss(x, y, reduction="sum")  # the error's Euclidean norm
        tensor(2.2913)
        >>> bool(losses.rmse_loss(x, y) == losses.mse_loss(x, y).sqrt())
        True
    """
    reduction = _prepare(input, target, reduction, None, None, "rmse_loss")
    return _RMSEFn.apply(input, target, reduction)


class RMSELoss(nn.Module):
    r"""The root mean squared error :math:`\sqrt{\mathrm{MSE}}` between the input and the target,
    in the target's units (no torch built-in; torch users write ``sqrt(mse_loss(x, y))``).

    .. math::
        r = \sqrt{\operatorname{reduce}\big((x - y)^2\big)}, \qquad
        \frac{\partial r}{\partial x_i} = \frac{s\,(x_i - y_i)}{r} \quad (0 \text{ where } r = 0)

    with :math:`s = 1/n` for ``'mean'`` and 1 for ``'sum'``.

    Args:
        reduction (str, optional): ``'none'`` | ``'mean'`` | ``'sum'``: the per-element losses,
            their mean or their sum. ``'sum'`` is the error's
            Euclidean norm. Default: ``'mean'``

    Shape:
        - Input: :math:`(*)`, any number of dimensions.
        - Target: :math:`(*)`, the input's shape (a mismatch raises; torch broadcasts with a
          warning).
        - Output: scalar; with ``reduction='none'``, :math:`(*)`, the input's shape.

    Examples::

        >>> import torch
        >>> from nnref import losses
        >>> x = torch.tensor([0.5, 2.0, -1.0], requires_grad=True)
        >>> loss = losses.RMSELoss()(x, torch.ones(3))
        >>> loss.backward()
        >>> f"{loss:.4f}", x.grad
        ('1.3229', tensor([-0.1260,  0.2520, -0.5040]))
        >>> x = torch.ones(3, requires_grad=True)
        >>> losses.RMSELoss()(x, torch.ones(3)).backward()  # a perfect fit
        >>> x.grad
        tensor([0., 0., 0.])
    """

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = check_reduction(reduction, "RMSELoss")

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return rmse_loss(input, target, reduction=self.reduction)
