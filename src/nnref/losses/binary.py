r"""Binary cross-entropy, from probabilities (log clamped at -100 like torch) and from logits.

Both Functions save only their inputs and recompute in backward with differentiable tensor
ops, so double backward works. ``weight`` and ``pos_weight`` are treated as constants (no
gradient flows to them).
"""

from __future__ import annotations

import torch
from torch import nn

from nnref import activations as A
from nnref._tensor import opmath, stable_sigmoid
from nnref.losses._common import (
    check_broadcast,
    check_pair,
    check_reduction,
    check_unit_interval,
    grad_scale,
    legacy_reduction,
    reduce,
)

__all__ = ["BCELoss", "binary_cross_entropy", "BCEWithLogitsLoss",
           "binary_cross_entropy_with_logits"]

# torch clamps each log term at -100 so that p = 0 or 1 gives a finite loss of at most 100,
# and keeps the derivative's denominator p (1 - p) at least 1e-12.
LOG_FLOOR = -100.0
EPSILON = 1e-12


def _weighted(t: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
    return t if w is None else t * opmath(w)


class _BCEFn(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(p, y, w, reduction):
        pf, yf = opmath(p), opmath(y)
        log_p = torch.log(pf).clamp_min_(LOG_FLOOR)
        log_q = torch.log1p(-pf).clamp_min_(LOG_FLOOR)
        # Out of place wherever p and y meet: under vmap with only one of them batched, an
        # in-place write into the unbatched side's temporary cannot hold the batched result.
        loss = (yf - 1) * log_q - yf * log_p
        return reduce(_weighted(loss, w), reduction).to(p.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        p, y, w, ctx.reduction = inputs
        ctx.save_for_backward(p, y, w)

    @staticmethod
    def backward(ctx, grad):
        p, y, w = ctx.saved_tensors
        pf, yf = opmath(p), opmath(y)
        g = _weighted(grad_scale(opmath(grad), ctx.reduction, p.numel()), w)
        gp = gy = None
        if ctx.needs_input_grad[0]:
            gp = (g * (pf - yf) / ((1 - pf) * pf).clamp_min(EPSILON)).to(p.dtype)
        if ctx.needs_input_grad[1]:
            diff = torch.log1p(-pf).clamp_min(LOG_FLOOR) - torch.log(pf).clamp_min(LOG_FLOOR)
            gy = (g * diff).to(y.dtype)
        return gp, gy, None, None


def binary_cross_entropy(input: torch.Tensor, target: torch.Tensor,
                         weight: torch.Tensor | None = None, size_average=None, reduce=None,
                         reduction: str = "mean") -> torch.Tensor:
    r"""Binary cross-entropy between predicted probabilities ``input`` and targets in [0, 1].

    .. math::
        \ell_i = -w_i\big[y_i \max(\log p_i, -100) + (1 - y_i)\max(\log(1 - p_i), -100)\big],
        \qquad
        \frac{\partial \ell_i}{\partial p_i} = w_i\,
        \frac{p_i - y_i}{\max\big(p_i (1 - p_i), 10^{-12}\big)}, \qquad
        \frac{\partial \ell_i}{\partial y_i} = w_i\big[\max(\log(1 - p_i), -100) -
        \max(\log p_i, -100)\big]

    The clamps are torch's: a saturated sigmoid (:math:`p` exactly 0 or 1) costs at most 100 per
    element instead of inf. The notes' formula has no clamp; prefer
    :func:`binary_cross_entropy_with_logits`, which never needs one.

    Args:
        input (Tensor): probabilities in [0, 1]; values outside, NaN included, raise ValueError
            (torch: RuntimeError).
        target (Tensor): the input's shape, values in [0, 1] (checked, NaN refused, as torch).
        weight (Tensor, optional): rescaling weight :math:`w` broadcastable to the input's shape
            (a constant: it receives no gradient). Default: ``None``
        size_average (bool, optional): deprecated (see ``reduction``). Default: ``None``
        reduce (bool, optional): deprecated (see ``reduction``). Default: ``None``
        reduction (str, optional): ``'none'`` | ``'mean'`` | ``'sum'``: the per-element losses,
            their mean or their sum. Default: ``'mean'``

    Shape:
        - Input: :math:`(*)`, any number of dimensions.
        - Target: :math:`(*)`, the input's shape (a mismatch raises; torch broadcasts).
        - Output: scalar; with ``reduction='none'``, :math:`(*)`, the input's shape.

    Examples::

        >>> import torch
        >>> from nnref import losses
        >>> p, y = torch.tensor([0.9, 0.2, 0.6]), torch.tensor([1.0, 0.0, 1.0])
        >>> losses.binary_cross_entropy(p, y, reduction="none")
        tensor([0.1054, 0.2231, 0.5108])
        >>> losses.binary_cross_entropy(torch.tensor([0.0]), torch.tensor([1.0]))  # log 0 clamped
        tensor(100.)
    """
    fn = "binary_cross_entropy"
    check_pair(input, target, fn)
    reduction = check_reduction(legacy_reduction(size_average, reduce, reduction), fn)
    check_broadcast(weight, input.shape, "weight", fn)
    check_unit_interval(input, "input", fn)
    check_unit_interval(target, "target", fn)
    return _BCEFn.apply(input, target, weight, reduction)


class BCELoss(nn.Module):
    r"""The binary cross-entropy between predicted probabilities :math:`p` (the input, e.g. a
    sigmoid's output) and targets :math:`y \in [0, 1]`.

    The unreduced (``reduction='none'``) loss and its derivatives are

    .. math::
        \ell_i = -w_i\big[y_i \max(\log p_i, -100) + (1 - y_i)\max(\log(1 - p_i), -100)\big],
        \qquad
        \frac{\partial \ell_i}{\partial p_i} = w_i\,
        \frac{p_i - y_i}{\max\big(p_i (1 - p_i), 10^{-12}\big)}, \qquad
        \frac{\partial \ell_i}{\partial y_i} = w_i\big[\max(\log(1 - p_i), -100) -
        \max(\log p_i, -100)\big]

    The notes' :math:`-[y \log p + (1 - y)\log(1 - p)]` has no clamp; torch's clamp at
    :math:`-100` keeps a saturated :math:`p` of exactly 0 or 1 finite, and the reference keeps it.

    Args:
        weight (Tensor, optional): rescaling weight broadcastable to the input (buffer
            ``weight``, as in torch). Default: ``None``
        size_average (bool, optional): deprecated (see ``reduction``). Default: ``None``
        reduce (bool, optional): deprecated (see ``reduction``). Default: ``None``
        reduction (str, optional): ``'none'`` | ``'mean'`` | ``'sum'``: the per-element losses,
            their mean or their sum. Default: ``'mean'``

    Shape:
        - Input: :math:`(*)`, any number of dimensions.
        - Target: :math:`(*)`, the input's shape (a mismatch raises; torch broadcasts).
        - Output: scalar; with ``reduction='none'``, :math:`(*)`, the input's shape.

    Examples::

        >>> import torch
        >>> from nnref import losses
        >>> p = torch.tensor([0.9, 0.2, 0.6], requires_grad=True)
        >>> loss = losses.BCELoss()(p, torch.tensor([1.0, 0.0, 1.0]))
        >>> loss.backward()
        >>> f"{loss:.4f}", p.grad
        ('0.2798', tensor([-0.3704,  0.4167, -0.5556]))
    """

    def __init__(self, weight: torch.Tensor | None = None, size_average=None, reduce=None,
                 reduction: str = "mean") -> None:
        super().__init__()
        self.register_buffer("weight", weight)
        self.reduction = check_reduction(legacy_reduction(size_average, reduce, reduction),
                                         "BCELoss")

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return binary_cross_entropy(input, target, weight=self.weight, reduction=self.reduction)


class _BCEWithLogitsFn(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x, y, w, pw, reduction):
        xf, yf = opmath(x), opmath(y)
        # softplus(x) = log(e^0 + e^x), one stable fused op; (1 - y) x + softplus(-x) equals
        # softplus(x) - x y.
        sp = torch.logaddexp(xf, torch.zeros((), dtype=xf.dtype, device=xf.device))
        # Out of place wherever x and y meet, so that vmap may batch either one alone.
        if pw is None:
            loss = sp - xf * yf
        else:
            loss = (sp - xf) * ((opmath(pw) - 1) * yf + 1) + (1 - yf) * xf
        return reduce(_weighted(loss, w), reduction).to(x.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, y, w, pw, ctx.reduction = inputs
        ctx.save_for_backward(x, y, w, pw)

    @staticmethod
    def backward(ctx, grad):
        x, y, w, pw = ctx.saved_tensors
        xf, yf = opmath(x), opmath(y)
        g = _weighted(grad_scale(opmath(grad), ctx.reduction, x.numel()), w)
        gx = gy = None
        if ctx.needs_input_grad[0]:
            s = stable_sigmoid(xf)
            d = s - yf if pw is None else s * ((opmath(pw) - 1) * yf + 1) - opmath(pw) * yf
            gx = (d * g).to(x.dtype)
        if ctx.needs_input_grad[1]:
            d = -xf if pw is None else (opmath(pw) - 1) * A.softplus(-xf) - xf
            gy = (g * d).to(y.dtype)
        return gx, gy, None, None, None


def binary_cross_entropy_with_logits(input: torch.Tensor, target: torch.Tensor,
                                     weight: torch.Tensor | None = None, size_average=None,
                                     reduce=None, reduction: str = "mean",
                                     pos_weight: torch.Tensor | None = None) -> torch.Tensor:
    r"""Binary cross-entropy of :math:`\sigma(\text{input})`, computed stably from the logits.

    .. math::
        \ell_i = w_i\big[(1 - y_i)\,x_i + (1 + (q_i - 1)\,y_i)\,
        \operatorname{softplus}(-x_i)\big], \qquad
        \frac{\partial \ell_i}{\partial x_i} = w_i\big[(1 + (q_i - 1)\,y_i)\,\sigma(x_i) -
        q_i\,y_i\big]

    which is :math:`-w\,[q\,y \log\sigma(x) + (1 - y)\log(1 - \sigma(x))]` rewritten with
    :math:`\log\sigma(x) = -\operatorname{softplus}(-x)`: no log of 0 ever happens, so no clamp is
    needed. Without ``pos_weight`` (:math:`q = 1`) the derivative is :math:`w\,(\sigma(x) - y)`,
    and the target's derivative is :math:`w\,[(q - 1)\operatorname{softplus}(-x) - x]`.

    Args:
        input (Tensor): logits :math:`x`.
        target (Tensor): the input's shape, values in [0, 1] (checked, NaN refused; torch does not
            check).
        weight (Tensor, optional): rescaling weight :math:`w` broadcastable to the input.
            Default: ``None``
        size_average (bool, optional): deprecated (see ``reduction``). Default: ``None``
        reduce (bool, optional): deprecated (see ``reduction``). Default: ``None``
        reduction (str, optional): ``'none'`` | ``'mean'`` | ``'sum'``: the per-element losses,
            their mean or their sum. Default: ``'mean'``
        pos_weight (Tensor, optional): weight :math:`q` of the positive term, broadcastable to the
            input (one per class along the last dimension for multi-label problems).
            Default: ``None``

    Shape:
        - Input: :math:`(*)`, any number of dimensions.
        - Target: :math:`(*)`, the input's shape (a mismatch raises; torch broadcasts).
        - Output: scalar; with ``reduction='none'``, :math:`(*)`, the input's shape.

    Examples::

        >>> import torch
        >>> from nnref import losses
        >>> x, y = torch.tensor([2.0, -1.0, 0.0]), torch.tensor([1.0, 0.0, 1.0])
        >>> losses.binary_cross_entropy_with_logits(x, y, reduction="none")
        tensor([0.1269, 0.3133, 0.6931])
        >>> losses.binary_cross_entropy_with_logits(torch.tensor([-200.0]), torch.tensor([1.0]))
        tensor(200.)
    """
    fn = "binary_cross_entropy_with_logits"
    check_pair(input, target, fn)
    reduction = check_reduction(legacy_reduction(size_average, reduce, reduction), fn)
    check_broadcast(weight, input.shape, "weight", fn)
    check_broadcast(pos_weight, input.shape, "pos_weight", fn)
    check_unit_interval(target, "target", fn)
    return _BCEWithLogitsFn.apply(input, target, weight, pos_weight, reduction)


class BCEWithLogitsLoss(nn.Module):
    r"""The binary cross-entropy of a sigmoid, taken from the logits in one stable step (where
    :class:`BCELoss` after a sigmoid would need clamps).

    The unreduced (``reduction='none'``) loss and its derivative are

    .. math::
        \ell_i = w_i\big[(1 - y_i)\,x_i + (1 + (q_i - 1)\,y_i)\,
        \operatorname{softplus}(-x_i)\big], \qquad
        \frac{\partial \ell_i}{\partial x_i} = w_i\big[(1 + (q_i - 1)\,y_i)\,\sigma(x_i) -
        q_i\,y_i\big]

    which is :math:`-w\,[q\,y \log\sigma(x) + (1 - y)\log(1 - \sigma(x))]` rewritten with
    :math:`\log\sigma(x) = -\operatorname{softplus}(-x)`: no log of 0 ever happens, so no clamp is
    needed. Without ``pos_weight`` (:math:`q = 1`) the derivative is :math:`w\,(\sigma(x) - y)`,
    and the target's derivative is :math:`w\,[(q - 1)\operatorname{softplus}(-x) - x]`.

    Args:
        weight (Tensor, optional): rescaling weight broadcastable to the input (buffer
            ``weight``). Default: ``None``
        size_average (bool, optional): deprecated (see ``reduction``). Default: ``None``
        reduce (bool, optional): deprecated (see ``reduction``). Default: ``None``
        reduction (str, optional): ``'none'`` | ``'mean'`` | ``'sum'``: the per-element losses,
            their mean or their sum. Default: ``'mean'``
        pos_weight (Tensor, optional): weight :math:`q` of the positive examples, broadcastable to
            the input (buffer ``pos_weight``). Default: ``None``

    Shape:
        - Input: :math:`(*)`, any number of dimensions.
        - Target: :math:`(*)`, the input's shape (a mismatch raises; torch broadcasts).
        - Output: scalar; with ``reduction='none'``, :math:`(*)`, the input's shape.

    Examples::

        >>> import torch
        >>> from nnref import losses
        >>> x = torch.tensor([2.0, -1.0, 0.0], requires_grad=True)
        >>> loss = losses.BCEWithLogitsLoss()(x, torch.tensor([1.0, 0.0, 1.0]))
        >>> loss.backward()
        >>> x.grad  # (sigmoid(x) - y) / 3
        tensor([-0.0397,  0.0896, -0.1667])
    """

    def __init__(self, weight: torch.Tensor | None = None, size_average=None, reduce=None,
                 reduction: str = "mean", pos_weight: torch.Tensor | None = None) -> None:
        super().__init__()
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)
        self.reduction = check_reduction(legacy_reduction(size_average, reduce, reduction),
                                         "BCEWithLogitsLoss")

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return binary_cross_entropy_with_logits(input, target, self.weight,
                                                reduction=self.reduction,
                                                pos_weight=self.pos_weight)
