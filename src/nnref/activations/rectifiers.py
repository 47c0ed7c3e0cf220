r"""The rectifier family: ReLU and its variants, ELU/SELU and the adaptive piecewise linear unit.

Kinks follow torch: the derivative at 0 is 0 for ReLU (and BReLU, APL), the negative slope for
Leaky/PReLU/RReLU, and the negative branch for ELU/SELU; so does the gradient at NaN. Branches
are selected arithmetically with the float step H(x) of :func:`~nnref.activations._common.step`
(see there why not with bool masks); backward keeps what torch keeps, never more.
"""

from __future__ import annotations

import torch
from torch import nn

from nnref._tensor import apply_maybe_inplace, check_input, opmath
from nnref.activations._common import channel_reduce, channel_view, check_channels, step

__all__ = [
    "ReLU", "relu", "BReLU", "brelu", "LeakyReLU", "leaky_relu", "PReLU", "prelu", "RReLU",
    "rrelu", "ELU", "elu", "SELU", "selu", "APL", "apl",
]


def _inplace_repr(inplace: bool, first: bool = False) -> str:
    if not inplace:
        return ""
    return "inplace=True" if first else ", inplace=True"


# ----------------------------------------------------------------------------------- ReLU
class _ReLUFn(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        return x.clamp_min(0)  # max(0, x); NaN stays NaN

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)  # y > 0 iff x > 0: the output tells the side, as in torch

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * step(y, at_nan=1.0)


def relu(input: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    r"""Rectified linear unit.

    .. math:: f(x) = \max(0, x), \qquad f'(x) = \begin{cases} 1 & x > 0 \\ 0 & x \le 0
        \end{cases}

    At the kink :math:`f'(0) = 0`, as torch. NaN passes through with gradient 1 (torch's
    ``x <= 0`` test is false for NaN).
    """
    check_input(input, "relu")
    return apply_maybe_inplace(_ReLUFn.apply, input, inplace)


class ReLU(nn.Module):
    r"""Rectified linear unit :math:`\max(0, x)`; see :func:`relu`.

    Args:
        inplace: overwrite the input (default ``False``).
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return relu(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        return _inplace_repr(self.inplace, first=True)


def _parity_sign(input: torch.Tensor, dim: int) -> torch.Tensor:
    """+1 on even, -1 on odd indices of ``dim``, shaped to broadcast over ``input``."""
    n = input.shape[dim] if input.dim() else 1
    sign = 1 - 2 * (torch.arange(n, device=input.device) % 2).to(input.dtype)
    if input.dim() == 0:
        return sign.reshape(())
    shape = [1] * input.dim()
    shape[dim] = n
    return sign.reshape(shape)


def brelu(input: torch.Tensor, dim: int = 1) -> torch.Tensor:
    r"""Bipolar ReLU: ReLU on even features, its mirror on odd ones.

    .. math:: f(x_i) = \begin{cases} \max(0, x_i) & i \text{ even} \\ -\max(0, -x_i) = \min(0,
        x_i) & i \text{ odd} \end{cases}, \qquad f'(x_i) = [s_i x_i > 0], \; s_i = (-1)^i

    ``i`` indexes ``dim`` (the feature/channel dim, 1 by default; 0 for 1-d input). Half the
    units pass positive values and half negative ones, so the layer's mean output stays near 0.
    Derivative 0 at the kink, as ReLU. No torch built-in.
    """
    check_input(input, "brelu")
    if input.dim() < 2:
        dim = 0
    elif not -input.dim() <= dim < input.dim():
        raise IndexError(
            f"brelu(): dim={dim} out of range for a {input.dim()}-d input "
            f"(expected in [{-input.dim()}, {input.dim() - 1}])"
        )
    return _BReLUFn.apply(input, _parity_sign(input, dim))


class _BReLUFn(torch.autograd.Function):
    """y = s relu(s x) for a +-1 sign pattern s; f' = H(s x)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x, sign):
        return (x * sign).clamp_min_(0).mul_(sign)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output, inputs[1])  # s y = relu(s x) tells the side

    @staticmethod
    def backward(ctx, grad):
        y, sign = ctx.saved_tensors
        return grad * step(y * sign, at_nan=1.0), None


class BReLU(nn.Module):
    r"""Bipolar ReLU; see :func:`brelu`.

    Args:
        dim: the feature dim whose index parity picks the branch (default 1).
    """

    def __init__(self, dim: int = 1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return brelu(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


# ---------------------------------------------------------------------- Leaky ReLU / RReLU
class _LeakyFn(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x, slope):
        # max(x, a x) for a <= 1, min(x, a x) for a > 1: the branch without a comparison.
        return torch.maximum(x, x * slope) if slope <= 1 else torch.minimum(x, x * slope)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.slope = inputs[1]
        ctx.save_for_backward(inputs[0])  # as torch (the output's sign is ambiguous if a < 0)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        a = ctx.slope
        # f' = a + (1 - a) H(x); torch's "x > 0" test gives the slope at NaN.
        return grad * step(x, at_nan=0.0).mul_(1 - a).add_(a), None


def leaky_relu(
    input: torch.Tensor, negative_slope: float = 0.01, inplace: bool = False
) -> torch.Tensor:
    r"""Leaky ReLU.

    .. math:: f(x) = \begin{cases} x & x > 0 \\ a x & x \le 0 \end{cases}, \qquad
        f'(x) = \begin{cases} 1 & x > 0 \\ a & x \le 0 \end{cases}

    with :math:`a` = ``negative_slope``; :math:`f'(0) = a` as torch. (The notes write the
    negative branch as ``0.01``; it is :math:`0.01 x`.)
    """
    check_input(input, "leaky_relu")
    return apply_maybe_inplace(lambda x: _LeakyFn.apply(x, negative_slope), input, inplace,
                               saves_input=True)


class LeakyReLU(nn.Module):
    r"""Leaky ReLU; see :func:`leaky_relu`.

    Args:
        negative_slope: slope for :math:`x \le 0` (default 0.01).
        inplace: overwrite the input (default ``False``).
    """

    def __init__(self, negative_slope: float = 1e-2, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}{_inplace_repr(self.inplace)}"


class _ScaleFn(torch.autograd.Function):
    """y = x * noise for a fixed (non-differentiable) noise tensor: RReLU in training."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x, noise):
        return x * noise

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[1])  # the noise alone: torch also keeps the input

    @staticmethod
    def backward(ctx, grad):
        (noise,) = ctx.saved_tensors
        return grad * noise, None


def _check_rrelu_bounds(lower: float, upper: float) -> None:
    if lower > upper:
        raise ValueError(
            f"rrelu(): lower={lower} must be less than or equal to upper={upper}"
        )


def rrelu(
    input: torch.Tensor,
    lower: float = 1.0 / 8,
    upper: float = 1.0 / 3,
    training: bool = False,
    inplace: bool = False,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""Randomized leaky ReLU.

    .. math:: f(x) = \begin{cases} x & x > 0 \\ a x & x \le 0 \end{cases}, \quad
        a \sim U(\text{lower}, \text{upper}) \text{ per element in training}, \quad
        a = \tfrac{\text{lower} + \text{upper}}{2} \text{ in eval}

    The derivative is the slope used. In training the slopes are drawn from ``generator``
    (or the global RNG), so seeding either makes a run repeatable.
    """
    check_input(input, "rrelu")
    _check_rrelu_bounds(lower, upper)
    if not training:
        return leaky_relu(input, (lower + upper) / 2, inplace)
    slopes = torch.empty_like(input).uniform_(lower, upper, generator=generator)
    # noise = slope where x <= 0, 1 elsewhere (NaN included), as torch's rrelu_with_noise.
    noise = (1 - slopes).mul_(step(input, at_nan=1.0)).add_(slopes)
    return apply_maybe_inplace(lambda x: _ScaleFn.apply(x, noise), input, inplace)


class RReLU(nn.Module):
    r"""Randomized leaky ReLU; see :func:`rrelu`.

    Args:
        lower: lower bound of the slope distribution (default 1/8).
        upper: upper bound (default 1/3); ``lower <= upper``.
        inplace: overwrite the input (default ``False``).
    """

    def __init__(self, lower: float = 1.0 / 8, upper: float = 1.0 / 3,
                 inplace: bool = False) -> None:
        super().__init__()
        _check_rrelu_bounds(lower, upper)
        self.lower = lower
        self.upper = upper
        self.inplace = inplace

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return rrelu(input, self.lower, self.upper, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"lower={self.lower}, upper={self.upper}{_inplace_repr(self.inplace)}"


# ------------------------------------------------------------------------------------ PReLU
class _PReLUFn(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x, weight):
        return x * _prelu_coefficient(x, weight)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)  # dL/da needs x; same bytes as torch

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        h = step(x, at_nan=0.0)
        w = channel_view(weight, x)
        grad_x = grad * torch.addcmul(w, h, 1 - w)
        grad_w = channel_reduce(grad * x * (1 - h), weight)
        return grad_x, grad_w


def _prelu_coefficient(x, weight):
    """f(x) / x = a + (1 - a) H(x): 1 for x > 0, a otherwise (a multiplier, not a select, so
    +-inf map to +-inf and -inf * a as torch)."""
    w = channel_view(weight, x)
    return torch.addcmul(w, step(x, at_nan=0.0), 1 - w)


def prelu(input: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    r"""Parametric ReLU with learnable slope(s) ``weight``.

    .. math:: f(x) = \begin{cases} x & x > 0 \\ a_c x & x \le 0 \end{cases}, \qquad
        \frac{\partial f}{\partial x} = \begin{cases} 1 \\ a_c \end{cases}, \qquad
        \frac{\partial f}{\partial a_c} = \begin{cases} 0 & x > 0 \\ x & x \le 0 \end{cases}

    ``weight`` has one value or one per channel (dim 1). The notes' "αx for x > 0, αx + β
    otherwise" is a garbling: the positive side is the identity.
    """
    check_input(input, "prelu")
    if not isinstance(weight, torch.Tensor) or weight.dim() > 1:
        raise ValueError("prelu(): argument 'weight' must be a 0-d or 1-d tensor")
    check_channels(input, weight.numel(), "weight.numel()", "prelu")
    return _PReLUFn.apply(input, weight)


class PReLU(nn.Module):
    r"""Parametric ReLU; see :func:`prelu`.

    Args:
        num_parameters: 1 (one slope shared by all channels) or the number of channels.
        init: initial slope (default 0.25).

    Attributes:
        weight: the learnable slopes, shape ``(num_parameters,)``.
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device=None,
                 dtype=None) -> None:
        super().__init__()
        if not isinstance(num_parameters, int) or num_parameters < 1:
            raise ValueError(
                f"PReLU: num_parameters must be a positive integer, got {num_parameters!r}"
            )
        self.num_parameters = num_parameters
        self.init = init
        self.weight = nn.Parameter(torch.empty(num_parameters, device=device, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.weight.fill_(self.init)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


# -------------------------------------------------------------------------------- ELU / SELU
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


class _ELUFn(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x, alpha, scale, from_output):
        xf = opmath(x)
        # scale max(x, 0) + scale alpha (e^{min(x, 0)} - 1): each branch only sees its own side,
        # so e^x never overflows and no select is needed.
        pos = xf.clamp_min(0)
        if scale != 1:
            pos = pos.mul_(scale)
        return torch.add(pos, xf.clamp_max(0).expm1_(), alpha=scale * alpha).to(x.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, alpha, scale, from_output = inputs
        ctx.alpha, ctx.scale, ctx.from_output = alpha, scale, from_output
        # As torch: the input, unless the call is in place (the input is then overwritten) and
        # the output suffices: for alpha >= 0, y <= 0 iff x <= 0 and f' = y + scale alpha there.
        ctx.save_for_backward(output if from_output else x)

    @staticmethod
    def backward(ctx, grad):
        (t,) = ctx.saved_tensors
        g, tf = opmath(grad), opmath(t)
        sa, s = ctx.scale * ctx.alpha, ctx.scale
        h = step(tf, at_nan=1.0)  # torch's "x <= 0" test is false for NaN: the positive side
        # The negative-side value at NaN is never selected but must be finite: NaN * 0 is NaN.
        tn = torch.nan_to_num(tf, nan=0.0).clamp_max_(0)
        neg = tn + sa if ctx.from_output else torch.exp(tn) * sa
        # f' = s on the positive side, neg on the other: neg + H (s - neg)
        d = torch.addcmul(neg, h, s - neg)
        return (g * d).to(grad.dtype), None, None, None


def _elu(input, alpha, scale, inplace):
    # In place with alpha < 0 the output cannot tell the branch: keep a copy of the input.
    from_output = inplace and alpha >= 0
    return apply_maybe_inplace(lambda x: _ELUFn.apply(x, alpha, scale, from_output), input,
                               inplace, saves_input=not from_output)


def elu(input: torch.Tensor, alpha: float = 1.0, inplace: bool = False) -> torch.Tensor:
    r"""Exponential linear unit.

    .. math:: f(x) = \begin{cases} x & x > 0 \\ \alpha (e^x - 1) & x \le 0 \end{cases},
        \qquad f'(x) = \begin{cases} 1 & x > 0 \\ f(x) + \alpha & x \le 0 \end{cases}

    :math:`e^x - 1` is computed with ``expm1`` (exact near 0).
    """
    check_input(input, "elu")
    return _elu(input, alpha, 1.0, inplace)


class ELU(nn.Module):
    r"""Exponential linear unit; see :func:`elu`.

    Args:
        alpha: the negative saturation value is :math:`-\alpha` (default 1.0).
        inplace: overwrite the input (default ``False``).
    """

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return elu(input, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}{_inplace_repr(self.inplace)}"


def selu(input: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    r"""Scaled ELU, self-normalising with LeCun-normal weights.

    .. math:: f(x) = \lambda \begin{cases} x & x > 0 \\ \alpha(e^x - 1) & x \le 0 \end{cases},
        \quad f'(x) = \begin{cases} \lambda & x > 0 \\ f(x) + \lambda\alpha & x \le 0
        \end{cases}

    with :math:`\alpha \approx 1.6733`, :math:`\lambda \approx 1.0507` (Klambauer et al., 2017).
    """
    check_input(input, "selu")
    return _elu(input, SELU_ALPHA, SELU_SCALE, inplace)


class SELU(nn.Module):
    r"""Scaled exponential linear unit; see :func:`selu`."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return selu(input, self.inplace)

    def extra_repr(self) -> str:
        return _inplace_repr(self.inplace, first=True)


# -------------------------------------------------------------------------------------- APL
class _APLFn(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x, a, b):
        # Hinges are stacked on a new leading dim: h[s] = b_s - x, shape (S, *x.shape).
        av, bv = _hinge_view(a, x), _hinge_view(b, x)
        h = bv - x
        return x.clamp_min(0) + (av * h.clamp_min(0)).sum(0)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, grad):
        x, a, b = ctx.saved_tensors
        av, bv = _hinge_view(a, x), _hinge_view(b, x)
        h = bv - x
        # Derivative of max(0, h) taken as 0 at h = 0 and 1 at NaN: torch's ReLU convention.
        on = ~(h <= 0)
        grad_x = grad * ~(x <= 0) - (grad * (av * on)).sum(0)
        ga = grad * h.clamp_min(0)
        gb = grad * av * on
        return grad_x, _hinge_reduce(ga, a), _hinge_reduce(gb, b)


def _hinge_view(p: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(S, C) hinge parameters -> broadcastable against (S, *x.shape), C on x's channel dim."""
    s = p.shape[0]
    if x.dim() >= 2:
        return p.reshape((s, 1, -1) + (1,) * (x.dim() - 2))
    if x.dim() == 1:
        return p.reshape(s, -1)
    return p.reshape(s)


def _hinge_reduce(g: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """Sum a (S, *x.shape) gradient back to the (S, C) parameter shape."""
    if g.dim() >= 3:
        return g.sum([1] + list(range(3, g.dim()))).reshape(p.shape)
    return g.reshape(p.shape)


def apl(input: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    r"""Adaptive piecewise linear unit (Agostinelli et al., 2015).

    .. math:: f(x) = \max(0, x) + \sum_{s=1}^{S} a_s \max(0, -x + b_s), \qquad
        f'(x) = H(x) - \sum_s a_s H(-x + b_s)

    .. math:: \frac{\partial f}{\partial a_s} = \max(0, -x + b_s), \qquad
        \frac{\partial f}{\partial b_s} = a_s H(-x + b_s)

    with :math:`H(z) = [z > 0]` (0 at the hinge, the ReLU convention). ``a`` and ``b`` have
    shape ``(S, C)``: S hinges for each of the C channels (dim 1). No torch built-in.
    """
    check_input(input, "apl")
    if a.dim() != 2 or a.shape != b.shape:
        raise ValueError(
            f"apl(): 'a' and 'b' must both have shape (hinges, num_features), got "
            f"{tuple(a.shape)} and {tuple(b.shape)}"
        )
    check_channels(input, a.shape[1], "num_features", "apl")
    return _APLFn.apply(input, a, b)


class APL(nn.Module):
    r"""Adaptive piecewise linear unit; see :func:`apl`.

    Args:
        num_features: channels C (dim 1 of the input); each has its own hinges.
        hinges: S, the number of hinges per unit (default 1).

    Attributes:
        a: hinge slopes, shape ``(S, C)``, initialised to 0 (the unit starts as a ReLU).
        b: hinge positions, shape ``(S, C)``, initialised evenly spaced in [-1, 1].
    """

    def __init__(self, num_features: int, hinges: int = 1, device=None, dtype=None) -> None:
        super().__init__()
        for arg, v in (("num_features", num_features), ("hinges", hinges)):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"APL: {arg} must be a positive integer, got {v!r}")
        self.num_features = num_features
        self.hinges = hinges
        kw = {"device": device, "dtype": dtype}
        self.a = nn.Parameter(torch.empty(hinges, num_features, **kw))
        self.b = nn.Parameter(torch.empty(hinges, num_features, **kw))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # a = 0 makes the unit a ReLU at start; spread hinge positions so they learn apart.
        with torch.no_grad():
            self.a.zero_()
            pos = torch.linspace(-1, 1, self.hinges) if self.hinges > 1 else torch.zeros(1)
            self.b.copy_(pos.reshape(-1, 1).expand_as(self.b))

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return apl(input, self.a, self.b)

    def extra_repr(self) -> str:
        return f"num_features={self.num_features}, hinges={self.hinges}"
