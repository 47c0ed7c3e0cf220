r"""Smooth activations: softplus, soft clipping, bent identity, soft exponential, SiLU, Swish."""

from __future__ import annotations

import math

import torch
from torch import nn

from nnref._tensor import apply_maybe_inplace, check_input, in_place, opmath, stable_sigmoid

__all__ = [
    "Softplus", "softplus", "SoftClipping", "soft_clipping", "BentIdentity", "bent_identity",
    "SoftExponential", "soft_exponential", "SiLU", "silu", "Swish", "swish",
]


def _log1p_exp_neg_abs(z: torch.Tensor) -> torch.Tensor:
    """log(1 + e^{-|z|}) in (0, log 2]: the bounded part of a stable softplus."""
    return in_place(in_place(in_place(z.abs(), "neg"), "exp"), "log1p")


# --------------------------------------------------------------------------------- Softplus
class _SoftplusFn(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x, beta, threshold):
        xf = opmath(x)
        z = _scaled(xf, beta)
        # Above the threshold torch returns x itself; below, log(1 + e^z) is written as
        # max(z, 0) + log(1 + e^{-|z|}), which cannot overflow.
        soft = z.clamp_min(0).add_(_log1p_exp_neg_abs(z))
        if beta != 1:
            soft = soft.div_(beta)
        return torch.where(z > threshold, xf, soft).to(x.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.beta, ctx.threshold = inputs[1], inputs[2]
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        z = _scaled(opmath(x), ctx.beta)
        g = opmath(grad)
        return torch.where(z > ctx.threshold, g, in_place(stable_sigmoid(z), "mul", g)).to(
            grad.dtype), None, None


def _check_positive(fn: str, name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{fn}(): {name} must be > 0, got {value}")


def softplus(input: torch.Tensor, beta: float = 1.0, threshold: float = 20.0) -> torch.Tensor:
    r"""Softplus, a smooth ReLU, element-wise; see :class:`Softplus`.

    .. math:: f(x) = \frac{1}{\beta}\log(1 + e^{\beta x}), \qquad f'(x) = \sigma(\beta x)

    Args:
        input: floating-point tensor.
        beta: sharpness :math:`\beta > 0`. Default: 1.0
        threshold: above :math:`\beta x >` ``threshold`` the output is x. Default: 20.0

    Examples::

        >>> import nnref
        >>> nnref.activations.softplus(torch.tensor([-1.0, 0.0, 2.0]))
        tensor([0.3133, 0.6931, 2.1269])
    """
    check_input(input, "softplus")
    _check_positive("softplus", "beta", beta)
    return _SoftplusFn.apply(input, beta, threshold)


class Softplus(nn.Module):
    r"""Applies softplus, a smooth approximation of ReLU, element-wise.

    .. math:: \text{Softplus}(x) = \frac{1}{\beta}\log(1 + e^{\beta x}), \qquad
        \text{Softplus}'(x) = \sigma(\beta x)

    Where :math:`\beta x >` ``threshold`` the output is ``x`` itself, bit for bit (torch's
    linear tail), with derivative 1. ``beta`` must be positive: torch accepts any value and
    returns garbage for :math:`\beta \le 0`.

    Args:
        beta: sharpness :math:`\beta > 0`. Default: 1.0
        threshold: above :math:`\beta x >` threshold the output is x. Default: 20.0

    Shape:
        - Input: :math:`(*)`, where :math:`*` means any number of dimensions.
        - Output: :math:`(*)`, same shape as the input.

    Examples::

        >>> import nnref
        >>> m = nnref.activations.Softplus(beta=2.0)
        >>> x = torch.tensor([-2.0, -0.5, 0.0, 1.5], requires_grad=True)
        >>> y = m(x)
        >>> y.detach()
        tensor([0.0091, 0.1566, 0.3466, 1.5243])
        >>> y.sum().backward(); x.grad
        tensor([0.0180, 0.2689, 0.5000, 0.9526])
    """

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        _check_positive("Softplus", "beta", beta)
        self.beta = beta
        self.threshold = threshold

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


# ---------------------------------------------------------------------------- Soft clipping
class _SoftClippingFn(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x, alpha):
        xf = opmath(x)
        z = xf * alpha
        # softplus(z) - softplus(z - alpha) with softplus(u) = max(u, 0) + log(1 + e^{-|u|}):
        # the max parts combine to clamp(z, 0, alpha), finite even at z = +-inf.
        y = z.clamp(0, alpha) + _log1p_exp_neg_abs(z) - _log1p_exp_neg_abs(z - alpha)
        return (y / alpha).to(x.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.alpha = inputs[1]
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        # sigma(z) - sigma(z - alpha) is symmetric about z = alpha / 2: folded onto the lower
        # side, neither sigmoid nears 1, where their difference would cancel to 0 (losing the
        # tail e^{-z}, hundreds of ulps of a half-precision gradient)
        v = (opmath(x) * ctx.alpha - ctx.alpha / 2).abs().neg()
        d = stable_sigmoid(v + ctx.alpha / 2) - stable_sigmoid(v - ctx.alpha / 2)
        return (opmath(grad) * d).to(grad.dtype), None


def soft_clipping(input: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    r"""Soft clipping of x to (0, 1), element-wise; see :class:`SoftClipping`.

    .. math:: f(x) = \frac{1}{\alpha}\log\frac{1 + e^{\alpha x}}{1 + e^{\alpha(x - 1)}},
        \qquad f'(x) = \sigma(\alpha x) - \sigma(\alpha(x - 1))

    Args:
        input: floating-point tensor.
        alpha: sharpness :math:`\alpha > 0`. Default: 1.0

    Examples::

        >>> import nnref
        >>> nnref.activations.soft_clipping(torch.tensor([-1.0, 0.5, 2.0]), alpha=10.0)
        tensor([4.5397e-06, 5.0000e-01, 1.0000e+00])
    """
    check_input(input, "soft_clipping")
    _check_positive("soft_clipping", "alpha", alpha)
    return _SoftClippingFn.apply(input, alpha)


class SoftClipping(nn.Module):
    r"""Applies soft clipping (Klimek & Perelstein, 2018): a smooth clip of x to (0, 1).

    .. math:: f(x) = \frac{1}{\alpha}\log\frac{1 + e^{\alpha x}}{1 + e^{\alpha(x - 1)}},
        \qquad f'(x) = \sigma(\alpha x) - \sigma(\alpha(x - 1))

    Larger :math:`\alpha` is closer to the hard clip. The lecture notes' derivative (a
    product of sinh and sech terms) is garbled; the expression above is the derivative of f.
    No torch built-in.

    Args:
        alpha: sharpness :math:`\alpha > 0`. Default: 1.0

    Shape:
        - Input: :math:`(*)`, where :math:`*` means any number of dimensions.
        - Output: :math:`(*)`, same shape as the input.

    Examples::

        >>> import nnref
        >>> m = nnref.activations.SoftClipping(alpha=5.0)
        >>> x = torch.tensor([-2.0, -0.5, 0.0, 1.5], requires_grad=True)
        >>> y = m(x)
        >>> y.detach()
        tensor([9.0186e-06, 1.5667e-02, 1.3729e-01, 9.8433e-01])
        >>> y.sum().backward(); x.grad
        tensor([4.5092e-05, 7.5305e-02, 4.9331e-01, 7.5305e-02])
    """

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        _check_positive("SoftClipping", "alpha", alpha)
        self.alpha = alpha

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return soft_clipping(input, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


# ---------------------------------------------------------------------------- Bent identity
class _BentIdentityFn(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        xf = opmath(x)
        # hypot(x, 1) = sqrt(x^2 + 1) without overflow of x^2; at x = -inf the formula is
        # inf - inf, so the limit (-inf) is put back explicitly.
        y = (torch.hypot(xf, torch.ones_like(xf)) - 1) / 2 + xf
        return torch.where(xf == -torch.inf, xf, y).to(x.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        xf = opmath(x)
        # x / sqrt(x^2 + 1) = sign(x) / sqrt(1 + 1/x^2): finite (+-1) at x = +-inf.
        ratio = torch.hypot(torch.ones_like(xf), xf.reciprocal()).reciprocal().copysign(xf)
        return (opmath(grad) * (ratio / 2 + 1)).to(grad.dtype)


def bent_identity(input: torch.Tensor) -> torch.Tensor:
    r"""Bent identity, element-wise; see :class:`BentIdentity`.

    .. math:: f(x) = \frac{\sqrt{x^2 + 1} - 1}{2} + x, \qquad
        f'(x) = \frac{x}{2\sqrt{x^2 + 1}} + 1

    Args:
        input: floating-point tensor.

    Examples::

        >>> import nnref
        >>> nnref.activations.bent_identity(torch.tensor([-1.0, 0.0, 2.0]))
        tensor([-0.7929,  0.0000,  2.6180])
    """
    check_input(input, "bent_identity")
    return _BentIdentityFn.apply(input)


class BentIdentity(nn.Module):
    r"""Applies the bent identity, element-wise.

    .. math:: f(x) = \frac{\sqrt{x^2 + 1} - 1}{2} + x, \qquad
        f'(x) = \frac{x}{2\sqrt{x^2 + 1}} + 1

    The square root is ``hypot(x, 1)``, so :math:`x^2` never overflows; :math:`f(-\infty) =
    -\infty` and :math:`f'(\pm\infty) = 1 \pm 1/2`. No torch built-in.

    Shape:
        - Input: :math:`(*)`, where :math:`*` means any number of dimensions.
        - Output: :math:`(*)`, same shape as the input.

    Examples::

        >>> import nnref
        >>> m = nnref.activations.BentIdentity()
        >>> x = torch.tensor([-2.0, -0.5, 0.0, 1.5], requires_grad=True)
        >>> y = m(x)
        >>> y.detach()
        tensor([-1.3820, -0.4410,  0.0000,  1.9014])
        >>> y.sum().backward(); x.grad
        tensor([0.5528, 0.7764, 1.0000, 1.4160])
    """

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return bent_identity(input)


# ------------------------------------------------------------------------- Soft exponential
# chi(r) = (e^r - 1 - r) / r^2 = sum_k r^k / (k + 2)!: its closed form loses eps / |r| of
# its relative accuracy to cancellation, so below |r| = 1/4 (where that is 4 ulps) the series
# is used, with as many terms as the dtype needs there (the next one under half an ulp).
_CHI_SMALL = 0.25
_CHI_TERMS = {torch.float32: 6, torch.float64: 12}


def _chi(r: torch.Tensor) -> torch.Tensor:
    small = r.abs() < _CHI_SMALL
    rs = torch.where(small, 1.0, r)  # the closed form never sees 0, nor its gradient 0/0
    closed = (torch.expm1(rs) - rs) / rs / rs
    n = _CHI_TERMS[r.dtype]
    series = torch.full_like(r, 1 / math.factorial(n + 1))
    for k in range(n - 2, -1, -1):
        series = torch.addcmul(torch.tensor(1 / math.factorial(k + 2), dtype=r.dtype,
                                            device=r.device), series, r)
    return torch.where(small, series, closed)


class _SoftExponentialFn(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x, alpha):
        xf, a = opmath(x), opmath(alpha)
        # Every branch is evaluated (alpha is never read on the host) and the one alpha's sign
        # picks is selected whole by a 0-d condition: the others' NaN or inf never leaks in.
        exp_branch = (xf * a).expm1_().div_(a).add_(a)
        log_branch = (xf + a).mul_(-a).log1p_().div_(-a)
        return torch.where(a > 0, exp_branch, torch.where(a < 0, log_branch, xf)).to(x.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, grad):
        x, alpha = ctx.saved_tensors
        xf, a, g = opmath(x), opmath(alpha), opmath(grad)
        pos, neg = a > 0, a < 0
        # df/dx = e^{ax} for a > 0, 1 / (1 - v) with v = a(x + a) for a < 0, 1 at a = 0
        u = xf * a
        # the log branch sees a = 0 unless chosen: -v = 0 and log(1 - v) = 0, finite
        # wherever the exp branch is defined (a NaN there would reach double backward as
        # 0 * NaN through the unchosen side of a where)
        a_n = torch.where(neg, a, 0.0)
        minus_v = (xf + a_n).mul(-a_n)
        dx_log = in_place(minus_v + 1, "reciprocal")
        # At a = 0, df/dx = 1 is a constant unless autograd records (double backward): then
        # e^{ax} with x clamped to finite values, 1 even at x = +-inf, with d/da = x.
        at_zero = 1.0
        if torch.is_grad_enabled():
            big = torch.finfo(xf.dtype).max
            at_zero = torch.exp(xf.clamp(-big, big) * a)
        dx = torch.where(pos, torch.exp(u), torch.where(neg, dx_log, at_zero))
        grad_x = g * dx
        if not ctx.needs_input_grad[1]:
            return grad_x.to(grad.dtype), None
        # df/da without cancellation, both branches through chi (see _chi), with y = f(x):
        #   a > 0: 1 + e^{ax} x^2 chi(-ax)       a < 0: 1 / (1 - v) + y^2 chi(a y)
        # (a y = -log(1 - v)); both are 1 + x^2 / 2 at a = 0. Summed against g, the terms
        # that are g or g df/dx are reductions of g and grad_x.
        log_1mv = torch.log1p(minus_v)
        q = torch.where(neg, log_1mv / torch.where(neg, -a, 1.0), xf)
        t = q * q * _chi(-torch.where(neg, log_1mv, u))
        flat_g, flat_gx, flat_t = g.reshape(-1), grad_x.reshape(-1), t.reshape(-1)
        # (a = 0 takes the a > 0 form, whose derivative in a is the one both sides agree on)
        grad_a = torch.where(neg, flat_gx.sum() + torch.dot(flat_g, flat_t),
                             flat_g.sum() + torch.dot(flat_gx, flat_t))
        return grad_x.to(grad.dtype), grad_a.reshape(alpha.shape).to(alpha.dtype)


def soft_exponential(input: torch.Tensor, alpha: torch.Tensor | float) -> torch.Tensor:
    r"""Soft exponential, element-wise; see :class:`SoftExponential`.

    .. math:: f(\alpha, x) = \begin{cases} -\frac{\ln(1 - \alpha(x + \alpha))}{\alpha} &
        \alpha < 0 \\ x & \alpha = 0 \\ \frac{e^{\alpha x} - 1}{\alpha} + \alpha & \alpha > 0
        \end{cases} \qquad \frac{\partial f}{\partial x} = \begin{cases}
        \frac{1}{1 - \alpha(\alpha + x)} & \alpha < 0 \\ e^{\alpha x} & \alpha \ge 0 \end{cases}

    Args:
        input: floating-point tensor.
        alpha: :math:`\alpha`, a scalar (float or tensor).

    Examples::

        >>> import nnref
        >>> nnref.activations.soft_exponential(torch.tensor([-1.0, 0.0, 2.0]), 0.5)
        tensor([-0.2869,  0.5000,  3.9366])
    """
    check_input(input, "soft_exponential")
    if not isinstance(alpha, torch.Tensor):
        alpha = torch.tensor(float(alpha), dtype=input.dtype, device=input.device)
    if alpha.numel() != 1:
        raise ValueError(f"soft_exponential(): alpha must be a scalar, got shape "
                         f"{tuple(alpha.shape)}")
    return _SoftExponentialFn.apply(input, alpha)


class SoftExponential(nn.Module):
    r"""Applies the soft exponential (Godfrey & Gashler, 2015), with a learnable :math:`\alpha`:
    interpolates log (:math:`\alpha = -1`), identity (0) and exp (1).

    .. math:: f(\alpha, x) = \begin{cases} -\frac{\ln(1 - \alpha(x + \alpha))}{\alpha} &
        \alpha < 0 \\ x & \alpha = 0 \\ \frac{e^{\alpha x} - 1}{\alpha} + \alpha & \alpha > 0
        \end{cases} \qquad \frac{\partial f}{\partial x} = \begin{cases}
        \frac{1}{1 - \alpha(\alpha + x)} & \alpha < 0 \\ e^{\alpha x} & \alpha \ge 0 \end{cases}

    .. math:: \frac{\partial f}{\partial \alpha} = \begin{cases}
        \frac{\ln u}{\alpha^2} + \frac{x + 2\alpha}{\alpha u},\ u = 1 - \alpha(x + \alpha)
        & \alpha < 0 \\ 1 + x^2/2 & \alpha = 0 \\
        \frac{x e^{\alpha x}}{\alpha} - \frac{e^{\alpha x} - 1}{\alpha^2} + 1 & \alpha > 0
        \end{cases}

    Both non-zero branches of :math:`\partial f / \partial \alpha` are differences of nearly
    equal terms when :math:`|\alpha x|` is small; the backward evaluates them in a
    cancellation-free form (a series near 0). For :math:`\alpha < 0` the function is
    defined only for :math:`x > 1/\alpha - \alpha`; outside, the log argument is negative
    and the result NaN, as the formula says. The lecture notes' table drops the
    :math:`+\alpha` of the :math:`\alpha > 0` branch and writes :math:`\varepsilon` for
    :math:`\alpha` when :math:`\alpha < 0`. No torch built-in.

    Args:
        alpha: initial value of the learnable :math:`\alpha` (0 is the identity).
            Default: 0.0

    Attributes:
        alpha: the learnable scalar parameter.

    Shape:
        - Input: :math:`(*)`, where :math:`*` means any number of dimensions.
        - Output: :math:`(*)`, same shape as the input.

    Examples::

        >>> import nnref
        >>> m = nnref.activations.SoftExponential(alpha=0.5)
        >>> x = torch.tensor([-2.0, -0.5, 0.0, 1.5], requires_grad=True)
        >>> y = m(x)
        >>> y.detach()
        tensor([-0.7642,  0.0576,  0.5000,  2.7340])
        >>> y.sum().backward(); x.grad
        tensor([0.3679, 0.7788, 1.0000, 2.1170])
    """

    def __init__(self, alpha: float = 0.0, device=None, dtype=None) -> None:
        super().__init__()
        self.init = alpha
        self.alpha = nn.Parameter(torch.empty((), device=device, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.alpha.fill_(self.init)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return soft_exponential(input, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.init}"


# ------------------------------------------------------------------------------ SiLU, Swish
class _SwishFn(torch.autograd.Function):
    """x sigma(beta x) for beta a float (fixed) or a scalar tensor (learnable)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x, beta):
        xf = opmath(x)
        # x / (1 + e^{-bx}), as torch's SiLU kernel: one rounding fewer than x sigma(bx)
        return (xf / (-_scaled(xf, beta)).exp_().add_(1)).to(x.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, beta = inputs
        # x alone, as torch's SiLU; a tensor beta (4 bytes) only when it is a parameter.
        ctx.beta_is_tensor = isinstance(beta, torch.Tensor)
        if ctx.beta_is_tensor:
            ctx.save_for_backward(x, beta)
        else:
            ctx.beta = beta
            ctx.save_for_backward(x)

    @staticmethod
    def backward(ctx, grad):
        if ctx.beta_is_tensor:
            x, beta = ctx.saved_tensors
        else:
            (x,) = ctx.saved_tensors
            beta = ctx.beta
        xf, g = opmath(x), opmath(grad)
        # sigma(bx) = 1 / r with r = 1 + e^{-bx}, never formed: g / r is g sigma(bx) in one
        # rounding, and x - x / r = x (1 - sigma(bx)) (x itself wherever r = inf)
        r = in_place(in_place(-_scaled(xf, beta), "exp"), "add", 1)
        gs = g / r
        xs1 = torch.addcdiv(xf, xf, r, value=-1)  # shared by both derivatives
        # g df/dx = g sigma(bx) (1 + b x (1 - sigma(bx)))
        grad_b = None
        if ctx.beta_is_tensor and ctx.needs_input_grad[1]:
            # g df/db = g x^2 sigma(bx) (1 - sigma(bx)), before gs turns into grad_x below
            grad_b = (gs * xf * xs1).sum().reshape(beta.shape).to(beta.dtype)
        if ctx.beta_is_tensor:
            grad_x = in_place(gs, "addcmul", gs, xs1 * opmath(beta))
        else:
            grad_x = in_place(gs, "addcmul", gs, xs1, value=beta)
        return grad_x.to(grad.dtype), grad_b


def _scaled(x: torch.Tensor, beta: torch.Tensor | float) -> torch.Tensor:
    """b x; x itself when b is the float 1 (SiLU), so the result is read, never written."""
    if isinstance(beta, torch.Tensor):
        return x * opmath(beta)
    return x if beta == 1 else x * beta


def silu(input: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    r"""Sigmoid linear unit (Swish-1), element-wise; see :class:`SiLU`.

    .. math:: f(x) = x\sigma(x), \qquad f'(x) = \sigma(x)\,(1 + x(1 - \sigma(x)))

    Args:
        input: floating-point tensor.
        inplace: overwrite ``input``. Default: ``False``

    Examples::

        >>> import nnref
        >>> nnref.activations.silu(torch.tensor([-1.0, 0.0, 2.0]))
        tensor([-0.2689,  0.0000,  1.7616])
    """
    check_input(input, "silu")
    return apply_maybe_inplace(lambda x: _SwishFn.apply(x, 1.0), input, inplace,
                               saves_input=True)


class SiLU(nn.Module):
    r"""Applies the sigmoid linear unit (SiLU, Swish-1), element-wise.

    .. math:: \text{SiLU}(x) = x\sigma(x), \qquad \text{SiLU}'(x) = f(x) + \sigma(x)(1 -
        f(x)) = \sigma(x)\,(1 + x(1 - \sigma(x)))

    The lecture notes garble this derivative.

    Args:
        inplace: overwrite the input. Default: ``False``

    Shape:
        - Input: :math:`(*)`, where :math:`*` means any number of dimensions.
        - Output: :math:`(*)`, same shape as the input.

    Examples::

        >>> import nnref
        >>> m = nnref.activations.SiLU()
        >>> x = torch.tensor([-2.0, -0.5, 0.0, 1.5], requires_grad=True)
        >>> y = m(x)
        >>> y.detach()
        tensor([-0.2384, -0.1888,  0.0000,  1.2264])
        >>> y.sum().backward(); x.grad
        tensor([-0.0908,  0.2600,  0.5000,  1.0413])
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return silu(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


def swish(input: torch.Tensor, beta: torch.Tensor | float = 1.0) -> torch.Tensor:
    r"""Swish-β, element-wise; see :class:`Swish`.

    .. math:: f(x) = x\sigma(\beta x), \qquad
        \frac{\partial f}{\partial x} = \sigma(\beta x) + \beta x \sigma(\beta x)(1 -
        \sigma(\beta x))

    Args:
        input: floating-point tensor.
        beta: :math:`\beta`, a float or a scalar tensor. Default: 1.0

    Examples::

        >>> import nnref
        >>> nnref.activations.swish(torch.tensor([-1.0, 0.0, 2.0]), beta=2.0)
        tensor([-0.1192,  0.0000,  1.9640])
    """
    check_input(input, "swish")
    if isinstance(beta, torch.Tensor) and beta.numel() != 1:
        raise ValueError(f"swish(): beta must be a scalar, got shape {tuple(beta.shape)}")
    return _SwishFn.apply(input, beta)


class Swish(nn.Module):
    r"""Applies Swish-β (Ramachandran et al., 2017), element-wise, with β fixed or learnable.

    .. math:: \text{Swish}(x) = x\sigma(\beta x), \qquad
        \frac{\partial f}{\partial x} = \sigma(\beta x) + \beta x \sigma(\beta x)(1 -
        \sigma(\beta x)), \qquad \frac{\partial f}{\partial \beta} = x^2 \sigma(\beta x)(1 -
        \sigma(\beta x))

    β = 1 is SiLU; as β → ∞ it tends to ReLU. The lecture notes garble the derivative. No
    torch built-in for β ≠ 1.

    Args:
        beta: the (initial) value of β. Default: 1.0
        learnable: make β a trained scalar parameter. Default: ``False``

    Shape:
        - Input: :math:`(*)`, where :math:`*` means any number of dimensions.
        - Output: :math:`(*)`, same shape as the input.

    Examples::

        >>> import nnref
        >>> m = nnref.activations.Swish(beta=2.0)
        >>> x = torch.tensor([-2.0, -0.5, 0.0, 1.5], requires_grad=True)
        >>> y = m(x)
        >>> y.detach()
        tensor([-0.0360, -0.1345,  0.0000,  1.4289])
        >>> y.sum().backward(); x.grad
        tensor([-0.0527,  0.0723,  0.5000,  1.0881])
    """

    def __init__(self, beta: float = 1.0, learnable: bool = False, device=None,
                 dtype=None) -> None:
        super().__init__()
        self.learnable = learnable
        if learnable:
            self.beta = nn.Parameter(torch.tensor(float(beta), device=device, dtype=dtype))
        else:
            self.beta = float(beta)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return swish(input, self.beta)

    def extra_repr(self) -> str:
        if self.learnable:
            return f"beta={float(self.beta.detach())}, learnable=True"
        return f"beta={self.beta}"
