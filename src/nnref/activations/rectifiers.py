r"""The rectifier family: ReLU and its variants, ELU/SELU and the adaptive piecewise linear unit.

Kinks follow torch: the derivative at 0 is 0 for ReLU (and BReLU, APL), the negative slope for
Leaky/PReLU/RReLU, and the negative branch for ELU/SELU; so does the gradient at NaN. Branches
are selected arithmetically with the float step H(x) of :func:`~nnref.activations._common.step`
(see there why not with bool masks) or by splitting x = max(x, 0) + min(x, 0): each branch is
multiplied by an exact 0/1 and the two are added, never folded into one product
(x (a + (1 - a) H) rounds 1 - a for a large slope), so the identity side is x bit for bit.
Backward keeps what torch keeps, never more.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from nnref._tensor import apply_maybe_inplace, check_input, in_place, opmath
from nnref.activations._common import (
    channel_reduce,
    channel_view,
    check_channels,
    nonnegative_step,
    select,
    step,
)

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
        return grad * nonnegative_step(y)


def relu(input: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    r"""Rectified linear unit, element-wise; see :class:`ReLU`.

    .. math:: \text{ReLU}(x) = \max(0, x), \qquad
        \text{ReLU}'(x) = \begin{cases} 1 & x > 0 \\ 0 & x \le 0 \end{cases}

    Args:
        input: floating-point tensor.
        inplace: overwrite ``input``. Default: ``False``

    Examples::

        >>> import nnref
        >>> nnref.activations.relu(torch.tensor([-1.0, 0.0, 2.0]))
        tensor([0., 0., 2.])
    """
    check_input(input, "relu")
    return apply_maybe_inplace(_ReLUFn.apply, input, inplace)


class ReLU(nn.Module):
    r"""Applies the rectified linear unit, element-wise.

    .. math:: \text{ReLU}(x) = \max(0, x), \qquad
        \text{ReLU}'(x) = \begin{cases} 1 & x > 0 \\ 0 & x \le 0 \end{cases}

    At the kink :math:`\text{ReLU}'(0) = 0`, as torch. NaN passes through with gradient 1
    (torch's ``x <= 0`` test is false for NaN). A unit whose input stays negative gets no
    gradient: it is dead.

    Args:
        inplace: overwrite the input. Default: ``False``

    Shape:
        - Input: :math:`(*)`, where :math:`*` means any number of dimensions.
        - Output: :math:`(*)`, same shape as the input.

    Examples::

        >>> import nnref
        >>> m = nnref.activations.ReLU()
        >>> x = torch.tensor([-2.0, -0.5, 0.0, 1.5], requires_grad=True)
        >>> y = m(x)
        >>> y.detach()
        tensor([0.0000, 0.0000, 0.0000, 1.5000])
        >>> y.sum().backward(); x.grad
        tensor([0., 0., 0., 1.])
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
    r"""Bipolar ReLU: ReLU on even features, its mirror on odd ones; see :class:`BReLU`.

    .. math:: f(x_i) = \begin{cases} \max(0, x_i) & i \text{ even} \\ \min(0, x_i) & i
        \text{ odd} \end{cases}, \qquad f'(x_i) = [s_i x_i > 0], \; s_i = (-1)^i

    Args:
        input: floating-point tensor.
        dim: the feature dim whose index parity picks the branch (0 for inputs with fewer
            than 2 dims). Default: 1

    Examples::

        >>> import nnref
        >>> nnref.activations.brelu(torch.tensor([[1.5, 1.5], [-2.0, -2.0]]))
        tensor([[ 1.5000, -0.0000],
                [ 0.0000, -2.0000]])
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
    r"""Applies the bipolar ReLU: ReLU on even features, its mirror on odd ones.

    .. math:: f(x_i) = \begin{cases} \max(0, x_i) & i \text{ even} \\ -\max(0, -x_i) =
        \min(0, x_i) & i \text{ odd} \end{cases}, \qquad f'(x_i) = [s_i x_i > 0], \;
        s_i = (-1)^i

    ``i`` indexes ``dim`` (the feature/channel dim). Half the units pass positive values and
    half negative ones, so the layer's mean output stays near 0. Derivative 0 at the kink, as
    ReLU. No torch built-in.

    Args:
        dim: the feature dim whose index parity picks the branch; inputs with fewer than 2
            dims use dim 0. Default: 1

    Shape:
        - Input: :math:`(*)`, where :math:`*` means any number of dimensions.
        - Output: :math:`(*)`, same shape as the input.

    Examples::

        >>> import nnref
        >>> m = nnref.activations.BReLU()
        >>> x = torch.tensor([[1.5, 1.5], [-2.0, -2.0]], requires_grad=True)
        >>> y = m(x)
        >>> y.detach()
        tensor([[ 1.5000, -0.0000],
                [ 0.0000, -2.0000]])
        >>> y.sum().backward(); x.grad
        tensor([[1., 0.],
                [0., 1.]])
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
        # f' = H(x) + a (1 - H(x)); torch's "x > 0" test gives the slope at NaN. Computed in
        # torch's precision so that grad * a rounds once, as torch's grad * negative_slope.
        return (opmath(grad) * select(opmath(x), 1.0, ctx.slope)).to(grad.dtype), None


def leaky_relu(
    input: torch.Tensor, negative_slope: float = 0.01, inplace: bool = False
) -> torch.Tensor:
    r"""Leaky ReLU, element-wise; see :class:`LeakyReLU`.

    .. math:: f(x) = \begin{cases} x & x > 0 \\ a x & x \le 0 \end{cases}, \qquad
        f'(x) = \begin{cases} 1 & x > 0 \\ a & x \le 0 \end{cases}

    Args:
        input: floating-point tensor.
        negative_slope: :math:`a`. Default: 0.01
        inplace: overwrite ``input``. Default: ``False``

    Examples::

        >>> import nnref
        >>> nnref.activations.leaky_relu(torch.tensor([-1.0, 0.0, 2.0]), 0.1)
        tensor([-0.1000,  0.0000,  2.0000])
    """
    check_input(input, "leaky_relu")
    return apply_maybe_inplace(lambda x: _LeakyFn.apply(x, negative_slope), input, inplace,
                               saves_input=True)


class LeakyReLU(nn.Module):
    r"""Applies the leaky ReLU, element-wise.

    .. math:: \text{LeakyReLU}(x) = \begin{cases} x & x > 0 \\ a x & x \le 0 \end{cases},
        \qquad \text{LeakyReLU}'(x) = \begin{cases} 1 & x > 0 \\ a & x \le 0 \end{cases}

    with :math:`a` = ``negative_slope``; :math:`f'(0) = a`, as torch. The positive side is
    ``x`` bit for bit for any finite slope. The lecture notes write the negative branch as
    ``0.01``; it is :math:`0.01 x`.

    Args:
        negative_slope: slope :math:`a` for :math:`x \le 0`. Default: 0.01
        inplace: overwrite the input. Default: ``False``

    Shape:
        - Input: :math:`(*)`, where :math:`*` means any number of dimensions.
        - Output: :math:`(*)`, same shape as the input.

    Examples::

        >>> import nnref
        >>> m = nnref.activations.LeakyReLU(negative_slope=0.1)
        >>> x = torch.tensor([-2.0, -0.5, 0.0, 1.5], requires_grad=True)
        >>> y = m(x)
        >>> y.detach()
        tensor([-0.2000, -0.0500,  0.0000,  1.5000])
        >>> y.sum().backward(); x.grad
        tensor([0.1000, 0.1000, 0.1000, 1.0000])
    """

    def __init__(self, negative_slope: float = 1e-2, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}{_inplace_repr(self.inplace)}"


class _NoiseFn(torch.autograd.Function):
    """y = x * noise for a fixed (non-differentiable) noise: RReLU in training.

    ``noise`` is in the compute precision (the product is rounded once, as torch's), ``saved``
    is the same noise rounded to x's dtype: what torch keeps and multiplies the gradient by.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(x, noise, saved):
        return (opmath(x) * noise).to(x.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[2])  # the noise alone: torch also keeps the input

    @staticmethod
    def backward(ctx, grad):
        (noise,) = ctx.saved_tensors
        return grad * noise, None, None


def _check_rrelu_bounds(lower: float, upper: float) -> None:
    # torch's error type and wording; a NaN bound would otherwise fail deep in the sampler.
    for name, value in (("lower", lower), ("upper", upper)):
        if not math.isfinite(value):
            raise RuntimeError(f"rrelu(): {name} bound must be finite, got {value}")
    if lower > upper:
        raise ValueError(
            f"rrelu(): lower={lower} must be less than or equal to upper={upper}"
        )


def _rrelu_noise(x: torch.Tensor, lower: float, upper: float, generator):
    """The slope per element, drawn as torch's CPU kernel draws it: walking x in row-major
    order, one float64 uniform u for each x <= 0 and none elsewhere (NaN included), mapped to
    lower + u (upper - lower) with the bounds first rounded to the compute precision.

    One ``uniform_`` call of that many float64 values reads the same 64-bit words of the
    generator in the same order, so a seed gives torch's slopes and leaves the generator where
    torch leaves it. The map to [lower, upper) is a separate multiply and add: ``uniform_``'s
    own map may fuse them and round differently from torch's kernel. Returns the noise in the
    compute precision and in x's dtype (1 where x > 0).
    """
    comp = opmath(x).dtype
    lo, hi = (torch.tensor(v, dtype=comp).item() for v in (lower, upper))
    # The count is read on the host: drawing exactly that many is what keeps the stream.
    negative = x.detach().reshape(-1) <= 0
    u = torch.empty(int(negative.sum()), dtype=torch.float64, device=x.device)
    slopes = u.uniform_(0, 1, generator=generator).mul_(hi - lo).add_(lo)
    noise = torch.ones(negative.shape, dtype=comp, device=x.device)
    noise = noise.masked_scatter_(negative, slopes.to(comp)).reshape(x.shape)
    return noise, noise.to(x.dtype)


def rrelu(
    input: torch.Tensor,
    lower: float = 1.0 / 8,
    upper: float = 1.0 / 3,
    training: bool = False,
    inplace: bool = False,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""Randomized leaky ReLU, element-wise; see :class:`RReLU`.

    .. math:: f(x) = \begin{cases} x & x > 0 \\ a x & x \le 0 \end{cases}, \qquad
        f'(x) = \begin{cases} 1 & x > 0 \\ a & x \le 0 \end{cases}

    with :math:`a \sim U(\text{lower}, \text{upper})` drawn per element in training and
    :math:`a = (\text{lower} + \text{upper}) / 2` otherwise.

    Args:
        input: floating-point tensor.
        lower: lower bound of the slope distribution, finite. Default: 1/8
        upper: upper bound, finite and ``>= lower``. Default: 1/3
        training: draw the slopes (``True``) or use their mean. Default: ``False``
        inplace: overwrite ``input``. Default: ``False``
        generator: the generator to draw from; the global RNG if ``None``. Default: ``None``

    Examples::

        >>> import nnref
        >>> x = torch.tensor([-2.0, -0.5, 0.0, 1.5])
        >>> nnref.activations.rrelu(x, 0.1, 0.3)
        tensor([-0.4000, -0.1000,  0.0000,  1.5000])
        >>> g = torch.Generator().manual_seed(0)
        >>> nnref.activations.rrelu(x, 0.1, 0.3, training=True, generator=g)
        tensor([-0.5880, -0.1208,  0.0000,  1.5000])
    """
    check_input(input, "rrelu")
    _check_rrelu_bounds(lower, upper)
    if not training:
        # Halves first: (lower + upper) / 2 rounded alike, but finite for bounds near the
        # largest float, where the sum overflows.
        return leaky_relu(input, lower / 2 + upper / 2, inplace)
    noise, saved = _rrelu_noise(input, lower, upper, generator)
    return apply_maybe_inplace(lambda x: _NoiseFn.apply(x, noise, saved), input, inplace)


class RReLU(nn.Module):
    r"""Applies the randomized leaky ReLU, element-wise.

    .. math:: \text{RReLU}(x) = \begin{cases} x & x > 0 \\ a x & x \le 0 \end{cases},
        \qquad \text{RReLU}'(x) = \begin{cases} 1 & x > 0 \\ a & x \le 0 \end{cases}

    In training :math:`a \sim U(\text{lower}, \text{upper})` is drawn for every element with
    :math:`x \le 0` (the kink included, so :math:`f'(0)` is that element's slope); in eval
    :math:`a = (\text{lower} + \text{upper}) / 2`. On CPU the slopes are drawn as torch draws
    them: one number of the generator per element with :math:`x \le 0`, in row-major order,
    so the same seed gives torch's output, gradient and generator state. On other devices
    torch draws with its own kernel, and the two differ.

    Args:
        lower: lower bound of the slope distribution, finite. Default: 1/8
        upper: upper bound, finite and ``>= lower``. Default: 1/3
        inplace: overwrite the input. Default: ``False``

    Shape:
        - Input: :math:`(*)`, where :math:`*` means any number of dimensions.
        - Output: :math:`(*)`, same shape as the input.

    Examples::

        >>> import nnref
        >>> m = nnref.activations.RReLU(0.1, 0.3).eval()
        >>> x = torch.tensor([-2.0, -0.5, 0.0, 1.5], requires_grad=True)
        >>> y = m(x)
        >>> y.detach()
        tensor([-0.4000, -0.1000,  0.0000,  1.5000])
        >>> y.sum().backward(); x.grad
        tensor([0.2000, 0.2000, 0.2000, 1.0000])
        >>> _ = torch.manual_seed(0)
        >>> m.train()(x).detach()
        tensor([-0.5880, -0.1208,  0.0000,  1.5000])
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
        # max(x, 0) + a min(x, 0): x = max + min exactly, and each side is multiplied by its own
        # factor only, so x > 0 gives x + a 0 = x (and +inf gives +inf, not inf * 0 = NaN).
        return torch.addcmul(x.clamp_min(0), channel_view(weight, x), x.clamp_max(0))

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)  # dL/da needs x; same bytes as torch

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        h = step(x, at_nan=0.0)
        w = channel_view(weight, x)
        # H + a (1 - H) is exactly 1 or a: the fold a + (1 - a) H rounds 1 - a for large |a|.
        grad_x = grad * torch.addcmul(h, w, 1 - h)
        # min(x, 0) is x where torch's "x > 0" test fails (NaN included) and 0 elsewhere.
        grad_w = channel_reduce(grad * x.clamp_max(0), weight)
        return grad_x, grad_w


def prelu(input: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    r"""Parametric ReLU with learnable slope(s) ``weight``; see :class:`PReLU`.

    .. math:: f(x) = \max(0, x) + a_c \min(0, x), \qquad
        \frac{\partial f}{\partial x} = \begin{cases} 1 & x > 0 \\ a_c & x \le 0 \end{cases},
        \qquad \frac{\partial f}{\partial a_c} = \min(0, x)

    Args:
        input: floating-point tensor.
        weight: the slopes :math:`a`, one value or one per channel (dim 1), a 0-d or 1-d
            tensor.

    Examples::

        >>> import nnref
        >>> nnref.activations.prelu(torch.tensor([-1.0, 0.0, 2.0]), torch.tensor([0.25]))
        tensor([-0.2500,  0.0000,  2.0000])
    """
    check_input(input, "prelu")
    if not isinstance(weight, torch.Tensor) or weight.dim() > 1:
        raise ValueError("prelu(): argument 'weight' must be a 0-d or 1-d tensor")
    check_channels(input, weight.numel(), "weight.numel()", "prelu")
    return _PReLUFn.apply(input, weight)


class PReLU(nn.Module):
    r"""Applies the parametric ReLU, element-wise, with learnable slopes.

    .. math:: \text{PReLU}(x) = \max(0, x) + a_c \min(0, x) = \begin{cases} x & x > 0 \\
        a_c x & x \le 0 \end{cases}

    .. math:: \frac{\partial f}{\partial x} = \begin{cases} 1 & x > 0 \\ a_c & x \le 0
        \end{cases}, \qquad \frac{\partial f}{\partial a_c} = \begin{cases} 0 & x > 0 \\ x &
        x \le 0 \end{cases}

    :math:`a_c` is shared by all channels (``num_parameters=1``) or one per channel (dim 1 of
    the input; inputs with fewer than 2 dims have one channel). The positive side is ``x`` bit
    for bit for any finite slope. The lecture notes' "αx for x > 0, αx + β otherwise" is
    garbled: the positive side is the identity and there is no β.

    Args:
        num_parameters: number of slopes :math:`a` to learn: 1, or the number of channels.
            Default: 1
        init: the initial value of :math:`a`. Default: 0.25

    Shape:
        - Input: :math:`(*)`, where :math:`*` means any number of dimensions.
        - Output: :math:`(*)`, same shape as the input.

    Attributes:
        weight: the learnable slopes, shape ``(num_parameters,)``.

    Examples::

        >>> import nnref
        >>> m = nnref.activations.PReLU()
        >>> x = torch.tensor([-2.0, -0.5, 0.0, 1.5], requires_grad=True)
        >>> y = m(x)
        >>> y.detach()
        tensor([-0.5000, -0.1250,  0.0000,  1.5000])
        >>> y.sum().backward(); x.grad, m.weight.grad
        (tensor([0.2500, 0.2500, 0.2500, 1.0000]), tensor([-2.5000]))
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
        return pos.add_(xf.clamp_max(0).expm1_(), alpha=scale * alpha).to(x.dtype)

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
        if ctx.from_output:
            # torch's "x <= 0" test is false for NaN: NaN is on the positive side
            tn = torch.nan_to_num(tf, nan=1.0)
            # f' = s H + (y + s alpha)(1 - H): each side times an exact 0/1
            h = select(tn, 1.0, 0.0)
            d = torch.addcmul(h * s, tn.clamp_max(0) + sa, 1 - h)
        else:
            # f' = s for x > 0 and s alpha e^x elsewhere: e^{min(x, 0)} is exactly 1 on the
            # positive side, times the exact choice of s or s alpha (nothing for ELU's 1, 1).
            # fmin, unlike clamp, takes NaN to 0, the positive side, as torch's "x <= 0" test
            d = in_place(torch.fmin(tf, tf.new_zeros(())), "exp")
            if s != 1 or sa != 1:
                d = in_place(d, "mul", select(torch.nan_to_num(tf, nan=1.0), s, sa))
        return in_place(d, "mul", g).to(grad.dtype), None, None, None


def _elu(input, alpha, scale, inplace):
    # In place with alpha < 0 the output cannot tell the branch: keep a copy of the input.
    from_output = inplace and alpha >= 0
    return apply_maybe_inplace(lambda x: _ELUFn.apply(x, alpha, scale, from_output), input,
                               inplace, saves_input=not from_output)


def elu(input: torch.Tensor, alpha: float = 1.0, inplace: bool = False) -> torch.Tensor:
    r"""Exponential linear unit, element-wise; see :class:`ELU`.

    .. math:: f(x) = \begin{cases} x & x > 0 \\ \alpha (e^x - 1) & x \le 0 \end{cases},
        \qquad f'(x) = \begin{cases} 1 & x > 0 \\ f(x) + \alpha & x \le 0 \end{cases}

    Args:
        input: floating-point tensor.
        alpha: :math:`\alpha`. Default: 1.0
        inplace: overwrite ``input``. Default: ``False``

    Examples::

        >>> import nnref
        >>> nnref.activations.elu(torch.tensor([-1.0, 0.0, 2.0]))
        tensor([-0.6321,  0.0000,  2.0000])
    """
    check_input(input, "elu")
    return _elu(input, alpha, 1.0, inplace)


class ELU(nn.Module):
    r"""Applies the exponential linear unit, element-wise.

    .. math:: \text{ELU}(x) = \begin{cases} x & x > 0 \\ \alpha (e^x - 1) & x \le 0
        \end{cases}, \qquad \text{ELU}'(x) = \begin{cases} 1 & x > 0 \\ \text{ELU}(x) + \alpha
        & x \le 0 \end{cases}

    :math:`e^x - 1` is computed with ``expm1`` (exact near 0); :math:`f'(0) = \alpha`, as
    torch. The positive side is ``x`` bit for bit for any finite :math:`\alpha`.

    Args:
        alpha: the negative saturation value is :math:`-\alpha`. Default: 1.0
        inplace: overwrite the input. Default: ``False``

    Shape:
        - Input: :math:`(*)`, where :math:`*` means any number of dimensions.
        - Output: :math:`(*)`, same shape as the input.

    Examples::

        >>> import nnref
        >>> m = nnref.activations.ELU(alpha=0.5)
        >>> x = torch.tensor([-2.0, -0.5, 0.0, 1.5], requires_grad=True)
        >>> y = m(x)
        >>> y.detach()
        tensor([-0.4323, -0.1967,  0.0000,  1.5000])
        >>> y.sum().backward(); x.grad
        tensor([0.0677, 0.3033, 0.5000, 1.0000])
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
    r"""Scaled exponential linear unit, element-wise; see :class:`SELU`.

    .. math:: f(x) = \lambda \begin{cases} x & x > 0 \\ \alpha(e^x - 1) & x \le 0
        \end{cases}, \qquad f'(x) = \begin{cases} \lambda & x > 0 \\ f(x) + \lambda\alpha &
        x \le 0 \end{cases}

    Args:
        input: floating-point tensor.
        inplace: overwrite ``input``. Default: ``False``

    Examples::

        >>> import nnref
        >>> nnref.activations.selu(torch.tensor([-1.0, 0.0, 2.0]))
        tensor([-1.1113,  0.0000,  2.1014])
    """
    check_input(input, "selu")
    return _elu(input, SELU_ALPHA, SELU_SCALE, inplace)


class SELU(nn.Module):
    r"""Applies the scaled exponential linear unit, element-wise.

    .. math:: \text{SELU}(x) = \lambda \begin{cases} x & x > 0 \\ \alpha(e^x - 1) & x \le 0
        \end{cases}, \qquad \text{SELU}'(x) = \begin{cases} \lambda & x > 0 \\
        \text{SELU}(x) + \lambda\alpha & x \le 0 \end{cases}

    with :math:`\alpha \approx 1.6733`, :math:`\lambda \approx 1.0507` (Klambauer et al., 2017):
    with LeCun-normal weights the activations keep zero mean and unit variance layer after
    layer. The positive side is :math:`\lambda x` rounded once, as torch.

    Args:
        inplace: overwrite the input. Default: ``False``

    Shape:
        - Input: :math:`(*)`, where :math:`*` means any number of dimensions.
        - Output: :math:`(*)`, same shape as the input.

    Examples::

        >>> import nnref
        >>> m = nnref.activations.SELU()
        >>> x = torch.tensor([-2.0, -0.5, 0.0, 1.5], requires_grad=True)
        >>> y = m(x)
        >>> y.detach()
        tensor([-1.5202, -0.6918,  0.0000,  1.5761])
        >>> y.sum().backward(); x.grad
        tensor([0.2379, 1.0663, 1.7581, 1.0507])
    """

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
    """Sum a (S, *x.shape) gradient back to the (S, C) parameter shape; C = 1 is one set of
    hinges shared by every channel (any input length), so everything but S is summed."""
    if g.dim() >= 3:
        g = g.sum([1] + list(range(3, g.dim())))
    if p.shape[1] == 1:
        return g.reshape(p.shape[0], -1).sum(1, keepdim=True)
    return g.reshape(p.shape)


def apl(input: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    r"""Adaptive piecewise linear unit with hinge slopes ``a`` and positions ``b``; see
    :class:`APL`.

    .. math:: f(x) = \max(0, x) + \sum_{s=1}^{S} a_s \max(0, -x + b_s), \qquad
        f'(x) = H(x) - \sum_s a_s H(-x + b_s)

    Args:
        input: floating-point tensor.
        a: hinge slopes, shape ``(S, C)``.
        b: hinge positions, shape ``(S, C)``.

    Examples::

        >>> import nnref
        >>> a, b = torch.tensor([[0.5]]), torch.tensor([[1.0]])
        >>> nnref.activations.apl(torch.tensor([-1.0, 0.0, 2.0]), a, b)
        tensor([1.0000, 0.5000, 2.0000])
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
    r"""Applies the adaptive piecewise linear unit (Agostinelli et al., 2015), element-wise.

    .. math:: \text{APL}(x) = \max(0, x) + \sum_{s=1}^{S} a_s \max(0, -x + b_s), \qquad
        \text{APL}'(x) = H(x) - \sum_s a_s H(-x + b_s)

    .. math:: \frac{\partial f}{\partial a_s} = \max(0, -x + b_s), \qquad
        \frac{\partial f}{\partial b_s} = a_s H(-x + b_s)

    with :math:`H(z) = [z > 0]` (0 at each hinge, the ReLU convention). Each of the C channels
    (dim 1) has its own S hinges; ``num_features=1`` shares one set across all channels. Above
    every hinge the unit is ``x`` bit for bit. No torch built-in.

    Args:
        num_features: channels C (dim 1 of the input), or 1 to share the hinges.
        hinges: S, the number of hinges per unit. Default: 1

    Shape:
        - Input: :math:`(N, C, *)` or :math:`(C)`, or any shape when ``num_features=1``.
        - Output: same shape as the input.

    Attributes:
        a: hinge slopes, shape ``(S, C)``, initialised to 0 (the unit starts as a ReLU).
        b: hinge positions, shape ``(S, C)``, initialised evenly spaced in [-1, 1] (0 for one
            hinge).

    Examples::

        >>> import nnref
        >>> m = nnref.activations.APL(num_features=1, hinges=2)
        >>> with torch.no_grad():
        ...     _ = m.a.fill_(0.5)
        >>> x = torch.tensor([-2.0, -0.5, 0.0, 1.5], requires_grad=True)
        >>> y = m(x)
        >>> y.detach()
        tensor([2.0000, 0.7500, 0.5000, 1.5000])
        >>> y.sum().backward(); x.grad
        tensor([-1.0000, -0.5000, -0.5000,  1.0000])
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
