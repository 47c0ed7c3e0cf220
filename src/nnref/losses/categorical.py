r"""Categorical cross-entropy (from logits, through a log-sum-exp) and the negative log-likelihood.

Both accept torch's shapes: input (C,), (N, C) or (N, C, d1, ...) with the classes on dim 1,
and targets of class indices (shape (), (N,) or (N, d1, ...)) or, for cross-entropy, of class
probabilities (the input's shape). The public functions move the class dimension last and
flatten to (M, C); the Functions work on that 2-d layout.

Every cross-entropy term is formed as :math:`L_n - (x_{nj} - m_n)` with the row maximum
:math:`m_n` and :math:`L_n = \log\sum_j e^{x_{nj} - m_n}`: the logits' magnitude cancels in
the shift before anything is rounded, so logits of 1e6 or 1e30 give the loss and gradient
that torch's log-softmax gives. Writing the (smoothed, weighted) target of row
:math:`n` as the coefficients :math:`q_{nj}` and :math:`Q_n = \sum_j q_{nj}`, the loss and its
gradient are

.. math:: \ell_n = \sum_j q_{nj}\big(L_n - (x_{nj} - m_n)\big), \qquad
    \frac{\partial \ell_n}{\partial x_{nj}} = Q_n\,\operatorname{softmax}(x_n)_j - q_{nj}

For index targets :math:`q_n` is a one-hot row plus a constant smoothing row and is never
materialised.
"""

from __future__ import annotations

import torch
from torch import nn

from nnref._tensor import LOW_PRECISION, check_input, in_place, opmath
from nnref.losses._common import (
    check_reduction,
    check_unit_interval,
    legacy_reduction,
    violated,
)

__all__ = ["CrossEntropyLoss", "cross_entropy", "NLLLoss", "nll_loss"]


def _reduce_rows(loss, reduction, denominator):
    if reduction == "none":
        return loss
    total = loss.sum()
    return total / denominator if reduction == "mean" else total


def _row_scale(grad, reduction, wy, valid):
    """The incoming gradient per row: grad itself ('none', 'sum') or grad / sum(w_y) ('mean').

    When every row is ignored the forward's mean is 0/0 = NaN, as torch's, but no row has a
    gradient: the denominator is then taken as 1 so that the zero row weights give exact
    zeros (grad / 0 * 0 would be NaN, in double backward too). Rows that are kept with a zero
    total weight still divide by 0, as torch does.
    """
    if reduction != "mean":
        return grad
    return grad / (wy.sum() + (valid.sum() == 0).to(wy.dtype))


def _index_weights(y, weight, ignore_index, dtype):
    """Per-row weight w[y_n], 0 on ignored rows, and the targets with ignored rows set to 0."""
    valid = y != ignore_index
    y_safe = y.masked_fill(~valid, 0)
    valid = valid.to(dtype)
    return valid if weight is None else opmath(weight)[y_safe] * valid, valid, y_safe


def _exp_times(log_p, coef):
    """exp(log_p) * coef[:, None], in place when nothing will differentiate it (no
    create_graph), since the exponential's own backward would need its output intact."""
    if torch.is_grad_enabled():
        return torch.exp(log_p) * coef[:, None]
    return torch.exp(log_p).mul_(coef[:, None])


def _others_mass(e):
    """Per row, the sum of ``e = exp(x - max)`` over all classes but one largest, without
    rounding the largest terms into it: they are exactly 1, the only terms that ``frac`` takes
    to 0, so the row sum before ``frac`` less the sum after counts them (to within the sums'
    rounding, below 1/2 while the row sums stay far under 2^22 / log2(classes): any vocabulary
    of up to ~10^5 classes; then rounded to the integer it is), and all but one of them is
    added back. 1 + this mass is the row's sum of exponentials, but log1p of it keeps the low
    bits a rounded 1 + r would lose (a relative error of 1e-3 in float32 at r = 1e-4, a whole
    ulp after rounding to half). ``e`` is overwritten unless autograd records."""
    with_ones = e.sum(1)
    fractions = in_place(e, "frac").sum(1)
    return fractions + ((with_ones - fractions).round() - 1)


def _log_softmax(xf):
    """(x - max) - log1p(the other classes' mass) per row: the largest shifted term is exactly
    0, so the logits' magnitude never rounds, and a confident class's log-probability keeps its
    last bits (see :func:`_others_mass`)."""
    xs = xf - xf.amax(1, keepdim=True).detach()
    return xs - torch.log1p(_others_mass(xs.exp()))[:, None]


def _softmax_times(xf, top, total, coef):
    """softmax(x) * coef[:, None] for backward, as e^(x - max) * (coef / sum e^(x - max)).

    Without create_graph the forward's saved row maximum and sum of exponentials are reused
    (dividing the per-row coefficient rather than subtracting a rounded log-sum-exp keeps tied
    logits of 1e30 at 1/2 each); with create_graph the log-softmax is recomputed from x so
    that double backward sees its dependence on x.
    """
    if torch.is_grad_enabled():
        return _exp_times(_log_softmax(xf), coef)
    return (xf - top[:, None]).exp_().mul_((coef / total)[:, None])


class _CrossEntropyIndexFn(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x, y, weight, ignore_index, smoothing, reduction):
        xf = opmath(x)
        classes = x.shape[1]
        wy, valid, y_safe = _index_weights(y, weight, ignore_index, xf.dtype)
        # Every term is log sum e^(x - max) - (x_j - max): the logits' magnitude cancels in
        # the shift, before anything is rounded, so logits of 1e6 or 1e30 lose nothing.
        top = xf.amax(1)
        x_y = xf.gather(1, y_safe[:, None]).squeeze(1) - top
        xs = xf - top[:, None]
        if smoothing:
            w_sum = classes if weight is None else opmath(weight).sum()
            w_dot_x = xs.sum(1) if weight is None else xs @ opmath(weight)
        rest = _others_mass(xs.exp_())  # xs is not needed after this: exponentiate in place
        lse, total = torch.log1p(rest), rest + 1
        loss = (lse - x_y).mul_(wy * (1 - smoothing))
        if smoothing:
            # out of place: the smoothing row comes from x, `valid` from y, and under vmap
            # either may be the only batched one
            loss = loss + (lse * w_sum - w_dot_x) * (valid * (smoothing / classes))
        # torch divides the mean by the summed target weights, the smoothing term included.
        return _reduce_rows(loss, reduction, wy.sum()).to(x.dtype), top, total

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, y, weight, ctx.ignore_index, ctx.smoothing, ctx.reduction = inputs
        ctx.mark_non_differentiable(*output[1:])
        ctx.save_for_backward(x, y, weight, *output[1:])

    @staticmethod
    def backward(ctx, grad, *_):
        x, y, weight, top, total = ctx.saved_tensors
        xf = opmath(x)
        classes, eps = x.shape[1], ctx.smoothing
        wy, valid, y_safe = _index_weights(y, weight, ctx.ignore_index, xf.dtype)
        s = _row_scale(opmath(grad), ctx.reduction, wy, valid)
        a = s * wy * (1 - eps)  # coefficient of the one-hot part of q, times the row scale
        b = s * valid * (eps / classes)  # coefficient of the smoothing row
        w_sum = classes if weight is None else opmath(weight).sum()
        smooth_row = None
        if eps:
            smooth_row = b[:, None] if weight is None else b[:, None] * opmath(weight)
        if x.dtype in LOW_PRECISION:
            # The target's a (p_t - 1) cancels where p_t is near 1, and the float32 residue
            # survives the rounding to half: form it as -a times the other classes' mass.
            p = _softmax_times(xf, top, total, torch.ones_like(a))
            index = y_safe[:, None]
            rest = p.scatter(1, index, 0.0).sum(1)  # 1 - p_t, without the cancellation
            target = p.gather(1, index).squeeze(1) * (b * w_sum) - a * rest
            gx = (p * (a + b * w_sum)[:, None]).scatter(1, index, target[:, None])
            if smooth_row is not None:
                gx = gx - smooth_row
            return gx.to(x.dtype), None, None, None, None, None
        gx = _softmax_times(xf, top, total, a + b * w_sum)
        # In place below: gx is a fresh product, which its own backward does not need.
        if smooth_row is not None:
            gx.sub_(smooth_row)
        gx.scatter_add_(1, y_safe[:, None], -a[:, None])
        return gx.to(x.dtype), None, None, None, None, None


class _CrossEntropyProbFn(torch.autograd.Function):
    # Returns log-softmax(x) as a second output and saves it (as torch saves its log_softmax):
    # backward then needs neither x nor a second log-sum-exp, and because a saved output is on
    # the graph, double backward flows through this Function's own backward for that output.
    generate_vmap_rule = True

    @staticmethod
    def forward(x, t, weight, smoothing, reduction):
        xf = opmath(x)
        log_p = _log_softmax(xf)
        q = _soft_coefficients(t, weight, smoothing, x.shape[1])
        loss = -torch.einsum("ij,ij->i", q, log_p)  # row dot, no (M, C) temporary
        return _reduce_rows(loss, reduction, x.shape[0]).to(x.dtype), log_p

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, t, weight, ctx.smoothing, ctx.reduction = inputs
        ctx.set_materialize_grads(False)
        ctx.x_dtype = x.dtype
        ctx.save_for_backward(t, weight, output[1])

    @staticmethod
    def backward(ctx, grad, grad_log_p):
        t, weight, log_p = ctx.saved_tensors
        gx = gt = None
        if grad is not None:
            s = opmath(grad) / log_p.shape[0] if ctx.reduction == "mean" else opmath(grad)
            if ctx.needs_input_grad[0]:
                q = _soft_coefficients(t, weight, ctx.smoothing, log_p.shape[1])
                if ctx.x_dtype in LOW_PRECISION:
                    # p_j sum(q) - q_j cancels wherever q_j is near p_j sum(q), and the float32
                    # residue survives the rounding to half: the same value as
                    # p_j (sum of the other q) - q_j (sum of the other p), whose sums of the
                    # others never hold (so never cancel) the class's own term.
                    p = torch.exp(log_p)
                    gx = (p * _others(q) - q * _others(p)) * s[..., None]
                else:
                    gx = _exp_times(log_p, s * q.sum(1)).addcmul_(q, s[..., None], value=-1)
            if ctx.needs_input_grad[1]:
                g = log_p * (-s[..., None] * (1 - ctx.smoothing))
                gt = (g if weight is None else g * opmath(weight)).to(t.dtype)
        if grad_log_p is not None and ctx.needs_input_grad[0]:
            # the log-softmax Jacobian-vector product, for the log_p output
            jvp = grad_log_p - torch.exp(log_p) * grad_log_p.sum(1, keepdim=True)
            gx = jvp if gx is None else gx + jvp
        return None if gx is None else gx.to(ctx.x_dtype), gt, None, None, None


def _others(v):
    """Per row and class j, the sum of v over the other classes, as an exclusive prefix sum
    plus an exclusive suffix sum: v_j itself is never added, so it is never subtracted."""
    before = torch.nn.functional.pad(v[:, :-1].cumsum(1), (1, 0))
    after = torch.nn.functional.pad(v[:, 1:].flip(1).cumsum(1).flip(1), (0, 1))
    return before + after


def _soft_coefficients(t, weight, smoothing, classes):
    q = opmath(t)
    if smoothing:
        q = q * (1 - smoothing) + smoothing / classes
    return q if weight is None else q * opmath(weight)


def _flatten(input, target, weight, fn, probability_ok):
    """(M, C) input and (M,) or (M, C) target, the 'none' output shape, and whether the
    target holds probabilities; raises for anything torch would reject or broadcast."""
    check_input(input, fn)
    if not isinstance(target, torch.Tensor):
        raise TypeError(f"{fn}(): argument 'target' must be a Tensor, not {type(target).__name__}")
    if input.dim() == 0:
        raise ValueError(f"{fn}(): argument 'input' must have a class dimension, got a 0-d tensor")
    batched = input.dim() > 1
    x = input if batched else input[None]
    classes = x.shape[1]
    if weight is not None and (not isinstance(weight, torch.Tensor)
                               or not weight.is_floating_point()
                               or weight.shape != (classes,)):
        raise ValueError(
            f"{fn}(): argument 'weight' must be a floating-point tensor of shape ({classes},) "
            "(one weight per class)"
        )
    x2 = x.movedim(1, -1).reshape(-1, classes)
    if target.is_floating_point():
        if not probability_ok:
            raise TypeError(f"{fn}(): argument 'target' must hold class indices (an integer "
                            f"tensor), got dtype {target.dtype}")
        if target.shape != input.shape:
            raise ValueError(
                f"{fn}(): probability 'target' must have the input's shape "
                f"{tuple(input.shape)}, got {tuple(target.shape)}"
            )
        check_unit_interval(target, "target", fn)
        t = (target if batched else target[None]).movedim(1, -1).reshape(-1, classes)
        return x2, t, input.shape[:1] + input.shape[2:] if batched else (), True
    if target.dtype == torch.bool or target.is_complex():
        raise TypeError(f"{fn}(): argument 'target' must hold class indices (an integer "
                        f"tensor), got dtype {target.dtype}")
    expected = x.shape[:1] + x.shape[2:]
    if (target.shape if batched else (1,) + target.shape) != expected:
        raise ValueError(
            f"{fn}(): class-index 'target' must have shape {tuple(expected if batched else ())} "
            f"for input of shape {tuple(input.shape)}, got {tuple(target.shape)}"
        )
    return x2, target.reshape(-1).long(), target.shape, False


def _check_indices(y, classes, ignore_index, fn):
    if not y.numel():
        return
    outside = f"outside the range [0, {classes - 1}] (and not ignore_index={ignore_index})"
    if not torch.compiler.is_compiling():  # compiled, only the exact check below is asserted
        low, high = torch.aminmax(y)
        if not violated((low < 0) | (high >= classes), ""):  # the common case in one pass
            return
    bad = (y != ignore_index) & ((y < 0) | (y >= classes))
    if violated(bad.any(), f"{fn}(): argument 'target' has a class index {outside}"):
        raise IndexError(
            f"{fn}(): argument 'target' has class index {int(y[bad][0])} {outside}"
        )


def cross_entropy(input: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
                  size_average=None, ignore_index: int = -100, reduce=None,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> torch.Tensor:
    r"""Cross-entropy between the softmax of the ``input`` logits and the target.

    .. math::
        \ell_n = -\sum_j q_{nj}\log\operatorname{softmax}(x_n)_j =
        \sum_j q_{nj}\big(L_n - (x_{nj} - m_n)\big), \qquad
        \frac{\partial \ell_n}{\partial x_{nj}} = \Big(\sum_k q_{nk}\Big)
        \operatorname{softmax}(x_n)_j - q_{nj}

    with :math:`m_n = \max_j x_{nj}`, :math:`L_n = \log\sum_j e^{x_{nj} - m_n}` and
    :math:`q_{nj} = w_j\big((1-\varepsilon)\,t_{nj} + \varepsilon/C\big)`: :math:`t` the one-hot
    (index target) or probability target, :math:`w` the class weights, :math:`\varepsilon` the
    label smoothing. The row maximum is subtracted before anything is rounded, so a constant
    added to every logit, even 1e30, cancels exactly (:math:`\log\sum_j e^{x_{nj}} - x_{ny}`
    would lose the digits to the rounding of the large log-sum-exp).

    The ``'mean'`` of index targets divides by :math:`\sum_n w_{y_n}` over the rows not equal to
    ``ignore_index``, as torch: NaN (0/0) when every row is ignored, with zero gradients. The
    mean of probability targets divides by the number of rows.

    The notes write categorical cross-entropy as :math:`-\sum_j y_j \log \hat y_j` with
    :math:`\hat y = \operatorname{softmax}(x)` and a one-hot :math:`y`; that is ``target`` of
    probabilities, or of class indices (the same loss, the one-hot never formed).

    Args:
        input (Tensor): logits.
        target (Tensor): class indices (an integer tensor) or class probabilities.
        weight (Tensor, optional): per-class weights :math:`w`, shape :math:`(C)`.
            Default: ``None``
        size_average (bool, optional): deprecated (see ``reduction``). Default: ``None``
        ignore_index (int, optional): an index target equal to it contributes neither loss nor
            gradient, nor weight to the mean. Only for index targets: with probability targets
            anything but -100 raises RuntimeError, as torch. Default: -100
        reduce (bool, optional): deprecated (see ``reduction``). Default: ``None``
        reduction (str, optional): ``'none'`` | ``'mean'`` | ``'sum'``. Default: ``'mean'``
        label_smoothing (float, optional): :math:`\varepsilon` in [0, 1]. Default: 0.0

    Shape:
        - Input: :math:`(C)`, :math:`(N, C)` or :math:`(N, C, d_1, \dots, d_K)`: logits, classes
          on dim 1.
        - Target: class indices :math:`()`, :math:`(N)` or :math:`(N, d_1, \dots, d_K)` in
          :math:`[0, C)` or ``ignore_index`` (an index out of range raises IndexError); or
          probabilities in [0, 1] of the input's shape.
        - Output: scalar; with ``reduction='none'``, the target's shape for index targets
          (the input's without dim 1 for probabilities).

    Examples::

        >>> import torch
        >>> from nnref import losses
        >>> x = torch.tensor([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]])
        >>> losses.cross_entropy(x, torch.tensor([0, 1]))
        tensor(0.3185)
        >>> losses.cross_entropy(x, torch.tensor([0, -100]))  # the second row ignored
        tensor(0.4170)
        >>> losses.cross_entropy(x, torch.tensor([[0.7, 0.2, 0.1], [0.0, 1.0, 0.0]]))
        tensor(0.5135)
        >>> losses.cross_entropy(torch.tensor([[1e6, 1e6 + 1, 1e6 - 1]]), torch.tensor([0]))
        tensor(1.4076)
    """
    fn = "cross_entropy"
    reduction = check_reduction(legacy_reduction(size_average, reduce, reduction), fn)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{fn}(): argument 'label_smoothing' must be in [0, 1], "
                         f"got {label_smoothing}")
    x, y, out_shape, probabilities = _flatten(input, target, weight, fn, True)
    if probabilities:
        if ignore_index != -100:
            # torch refuses it rather than guess which probability rows to skip
            raise RuntimeError(f"{fn}(): ignore_index is not supported for floating point "
                               f"target, got ignore_index={ignore_index}")
        loss, _ = _CrossEntropyProbFn.apply(x, y, weight, float(label_smoothing), reduction)
    else:
        _check_indices(y, x.shape[1], ignore_index, fn)
        loss, *_ = _CrossEntropyIndexFn.apply(x, y, weight, ignore_index, float(label_smoothing),
                                             reduction)
    return loss.reshape(out_shape) if reduction == "none" else loss


class CrossEntropyLoss(nn.Module):
    r"""The cross-entropy between the softmax of the input logits and a target of class indices or
    class probabilities: softmax and negative log-likelihood in one stable step.

    The unreduced (``reduction='none'``) loss of row :math:`n` and its derivative are

    .. math::
        \ell_n = -\sum_j q_{nj}\log\operatorname{softmax}(x_n)_j =
        \sum_j q_{nj}\big(L_n - (x_{nj} - m_n)\big), \qquad
        \frac{\partial \ell_n}{\partial x_{nj}} = \Big(\sum_k q_{nk}\Big)
        \operatorname{softmax}(x_n)_j - q_{nj}

    with :math:`m_n = \max_j x_{nj}`, :math:`L_n = \log\sum_j e^{x_{nj} - m_n}` and
    :math:`q_{nj} = w_j\big((1-\varepsilon)\,t_{nj} + \varepsilon/C\big)`: :math:`t` the one-hot
    (index target) or probability target, :math:`w` the class weights, :math:`\varepsilon` the
    label smoothing. The row maximum is subtracted before anything is rounded, so a constant
    added to every logit, even 1e30, cancels exactly (:math:`\log\sum_j e^{x_{nj}} - x_{ny}`
    would lose the digits to the rounding of the large log-sum-exp).

    The ``'mean'`` of index targets divides by :math:`\sum_n w_{y_n}` over the rows not equal to
    ``ignore_index``, as torch: NaN (0/0) when every row is ignored, with zero gradients. The
    mean of probability targets divides by the number of rows.

    Args:
        weight (Tensor, optional): per-class weights :math:`(C)` (buffer ``weight``).
            Default: ``None``
        size_average (bool, optional): deprecated (see ``reduction``). Default: ``None``
        ignore_index (int, optional): an index target equal to it contributes neither loss nor
            gradient, nor weight to the mean. Only for index targets: with probability targets
            anything but -100 raises RuntimeError, as torch. Default: -100
        reduce (bool, optional): deprecated (see ``reduction``). Default: ``None``
        reduction (str, optional): ``'none'`` | ``'mean'`` | ``'sum'``. Default: ``'mean'``
        label_smoothing (float, optional): :math:`\varepsilon` in [0, 1]: the target is mixed
            with the uniform distribution. Default: 0.0

    Shape:
        - Input: :math:`(C)`, :math:`(N, C)` or :math:`(N, C, d_1, \dots, d_K)`: logits, classes
          on dim 1.
        - Target: class indices :math:`()`, :math:`(N)` or :math:`(N, d_1, \dots, d_K)` in
          :math:`[0, C)` or ``ignore_index`` (an index out of range raises IndexError); or
          probabilities in [0, 1] of the input's shape.
        - Output: scalar; with ``reduction='none'``, the target's shape for index targets
          (the input's without dim 1 for probabilities).

    Examples::

        >>> import torch
        >>> from nnref import losses
        >>> x = torch.tensor([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]], requires_grad=True)
        >>> loss = losses.CrossEntropyLoss()(x, torch.tensor([0, 1]))
        >>> loss.backward()
        >>> x.grad  # (softmax(x) - onehot(y)) / 2
        tensor([[-0.1705,  0.1212,  0.0493],
                [ 0.0543, -0.0988,  0.0445]])
        >>> f"{losses.CrossEntropyLoss(label_smoothing=0.1)(x, torch.tensor([0, 1])):.4f}"
        '0.4369'
    """

    def __init__(self, weight: torch.Tensor | None = None, size_average=None,
                 ignore_index: int = -100, reduce=None, reduction: str = "mean",
                 label_smoothing: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError("CrossEntropyLoss(): argument 'label_smoothing' must be in [0, 1], "
                             f"got {label_smoothing}")
        self.register_buffer("weight", weight)
        self.ignore_index = ignore_index
        self.reduction = check_reduction(legacy_reduction(size_average, reduce, reduction),
                                         "CrossEntropyLoss")
        self.label_smoothing = label_smoothing

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                             reduction=self.reduction, label_smoothing=self.label_smoothing)


class _NLLFn(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x, y, weight, ignore_index, reduction):
        xf = opmath(x)
        wy, _, y_safe = _index_weights(y, weight, ignore_index, xf.dtype)
        loss = xf.gather(1, y_safe[:, None]).squeeze(1).mul_(-wy)
        return _reduce_rows(loss, reduction, wy.sum()).to(x.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, y, weight, ctx.ignore_index, ctx.reduction = inputs
        ctx.save_for_backward(y, weight)
        ctx.x_meta = (x.shape, x.dtype)

    @staticmethod
    def backward(ctx, grad):
        y, weight = ctx.saved_tensors
        shape, dtype = ctx.x_meta
        wy, valid, y_safe = _index_weights(y, weight, ctx.ignore_index, opmath(grad).dtype)
        s = _row_scale(opmath(grad), ctx.reduction, wy, valid) * wy
        # new_zeros from s (not torch.zeros) so that under vmap the buffer is batched like s
        gx = s.new_zeros(shape).scatter_(1, y_safe[:, None], -s[:, None])
        return gx.to(dtype), None, None, None, None


def nll_loss(input: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
             size_average=None, ignore_index: int = -100, reduce=None,
             reduction: str = "mean") -> torch.Tensor:
    r"""Negative log-likelihood of class-index targets, given log-probabilities.

    .. math::
        \ell_n = -w_{y_n}\, x_{n, y_n}, \qquad
        \frac{\partial \ell_n}{\partial x_{nj}} = -w_{y_n}\,[j = y_n]

    ``nll_loss(log_softmax(x, 1), y)`` equals ``cross_entropy(x, y)``. The ``'mean'`` divides by
    :math:`\sum_n w_{y_n}` over the rows not equal to ``ignore_index``, as torch: NaN (0/0) when
    every row is ignored, with zero gradients.

    Args:
        input (Tensor): log-probabilities.
        target (Tensor): class indices (an integer tensor).
        weight (Tensor, optional): per-class weights :math:`w`, shape :math:`(C)`.
            Default: ``None``
        size_average (bool, optional): deprecated (see ``reduction``). Default: ``None``
        ignore_index (int, optional): an index target equal to it contributes neither loss nor
            gradient, nor weight to the mean. Default: -100
        reduce (bool, optional): deprecated (see ``reduction``). Default: ``None``
        reduction (str, optional): ``'none'`` | ``'mean'`` | ``'sum'``. Default: ``'mean'``

    Shape:
        - Input: :math:`(C)`, :math:`(N, C)` or :math:`(N, C, d_1, \dots, d_K)`:
          log-probabilities, classes on dim 1.
        - Target: :math:`()`, :math:`(N)` or :math:`(N, d_1, \dots, d_K)`, class indices in
          :math:`[0, C)` or ``ignore_index`` (an index out of range raises IndexError).
        - Output: scalar; with ``reduction='none'``, the target's shape.

    Examples::

        >>> import torch
        >>> from nnref import losses
        >>> log_p = torch.log(torch.tensor([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1]]))
        >>> losses.nll_loss(log_p, torch.tensor([0, 1]), reduction="none")
        tensor([0.6931, 0.2231])
    """
    fn = "nll_loss"
    reduction = check_reduction(legacy_reduction(size_average, reduce, reduction), fn)
    x, y, out_shape, _ = _flatten(input, target, weight, fn, False)
    _check_indices(y, x.shape[1], ignore_index, fn)
    loss = _NLLFn.apply(x, y, weight, ignore_index, reduction)
    return loss.reshape(out_shape) if reduction == "none" else loss


class NLLLoss(nn.Module):
    r"""The negative log-likelihood of class-index targets, for an input of log-probabilities (a
    ``log_softmax`` output): pick each row's target entry and negate it.

    The unreduced (``reduction='none'``) loss of row :math:`n` and its derivative are

    .. math::
        \ell_n = -w_{y_n}\, x_{n, y_n}, \qquad
        \frac{\partial \ell_n}{\partial x_{nj}} = -w_{y_n}\,[j = y_n]

    and the ``'mean'`` divides by :math:`\sum_n w_{y_n}` over the rows that are not ignored.

    Args:
        weight (Tensor, optional): per-class weights :math:`(C)` (buffer ``weight``).
            Default: ``None``
        size_average (bool, optional): deprecated (see ``reduction``). Default: ``None``
        ignore_index (int, optional): an index target equal to it contributes neither loss nor
            gradient, nor weight to the mean. Default: -100
        reduce (bool, optional): deprecated (see ``reduction``). Default: ``None``
        reduction (str, optional): ``'none'`` | ``'mean'`` | ``'sum'``. Default: ``'mean'``

    Shape:
        - Input: :math:`(C)`, :math:`(N, C)` or :math:`(N, C, d_1, \dots, d_K)`:
          log-probabilities, classes on dim 1.
        - Target: :math:`()`, :math:`(N)` or :math:`(N, d_1, \dots, d_K)`, class indices in
          :math:`[0, C)` or ``ignore_index`` (an index out of range raises IndexError).
        - Output: scalar; with ``reduction='none'``, the target's shape.

    Examples::

        >>> import torch
        >>> from nnref import losses
        >>> log_p = torch.log(torch.tensor([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1]]))
        >>> log_p.requires_grad_()
        tensor([[-0.6931, -1.3863, -1.3863],
                [-2.3026, -0.2231, -2.3026]], requires_grad=True)
        >>> loss = losses.NLLLoss(weight=torch.tensor([2.0, 1.0, 1.0]))(log_p, torch.tensor([0, 1]))
        >>> loss.backward()
        >>> log_p.grad  # -w_y / (w_0 + w_1) at each target entry
        tensor([[-0.6667,  0.0000,  0.0000],
                [ 0.0000, -0.3333,  0.0000]])
    """

    def __init__(self, weight: torch.Tensor | None = None, size_average=None,
                 ignore_index: int = -100, reduce=None, reduction: str = "mean") -> None:
        super().__init__()
        self.register_buffer("weight", weight)
        self.ignore_index = ignore_index
        self.reduction = check_reduction(legacy_reduction(size_average, reduce, reduction),
                                         "NLLLoss")

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index,
                        reduction=self.reduction)
