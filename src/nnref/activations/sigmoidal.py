r"""Identity, the binary step and the bounded, sigmoid-shaped activations.

Each activation is an ``autograd.Function`` (forward + ``setup_context`` + a backward written
from the derivative), a functional form with torch's name and signature, and a module with
torch's class name. Backwards use differentiable tensor ops, so double backward works.
"""

from __future__ import annotations

import torch
from torch import nn

from nnref._tensor import check_input, in_place, opmath, stable_sigmoid

__all__ = [
    "Identity", "identity", "BinaryStep", "binary_step", "Sigmoid", "sigmoid", "Tanh", "tanh",
    "Softsign", "softsign", "SQNL", "sqnl",
]


class _IdentityFn(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        return x.view_as(x)  # an alias, like nn.Identity: no copy, nothing saved

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, grad):
        return grad


def identity(input: torch.Tensor) -> torch.Tensor:
    r"""Linear activation, the identity; see :class:`Identity`.

    .. math:: f(x) = x, \qquad f'(x) = 1

    Args:
        input: floating-point tensor.

    Examples::

        >>> import nnref
        >>> nnref.activations.identity(torch.tensor([-1.0, 2.0]))
        tensor([-1.,  2.])
    """
    check_input(input, "identity")
    return _IdentityFn.apply(input)


class Identity(nn.Module):
    r"""Applies the linear (identity) activation: the output layer of a regression network.

    .. math:: f(x) = x, \qquad f'(x) = 1

    Returns an alias of the input (no copy, nothing saved for backward). Accepts and ignores
    any constructor arguments, like :class:`torch.nn.Identity`.

    Shape:
        - Input: :math:`(*)`, where :math:`*` means any number of dimensions.
        - Output: :math:`(*)`, same shape as the input.

    Examples::

        >>> import nnref
        >>> m = nnref.activations.Identity()
        >>> x = torch.tensor([-2.0, -0.5, 0.0, 1.5], requires_grad=True)
        >>> y = m(x)
        >>> y.detach()
        tensor([-2.0000, -0.5000,  0.0000,  1.5000])
        >>> y.sum().backward(); x.grad
        tensor([1., 1., 1., 1.])
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__()

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return identity(input)


class _BinaryStepFn(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        return (x >= 0).to(x.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass  # nothing to save: the derivative is 0

    @staticmethod
    def backward(ctx, grad):
        return torch.zeros_like(grad)


def binary_step(input: torch.Tensor) -> torch.Tensor:
    r"""Binary step, element-wise; see :class:`BinaryStep`.

    .. math:: f(x) = \begin{cases} 1 & x \ge 0 \\ 0 & x < 0 \end{cases}, \qquad f'(x) = 0

    Args:
        input: floating-point tensor.

    Examples::

        >>> import nnref
        >>> nnref.activations.binary_step(torch.tensor([-1.0, 0.0, 2.0]))
        tensor([0., 1., 1.])
    """
    check_input(input, "binary_step")
    return _BinaryStepFn.apply(input)


class BinaryStep(nn.Module):
    r"""Applies the binary step (the perceptron's activation), element-wise.

    .. math:: f(x) = \begin{cases} 1 & x \ge 0 \\ 0 & x < 0 \end{cases}, \qquad f'(x) = 0

    The derivative is 0 for :math:`x \ne 0` and undefined at 0; like every torch kink a value
    is picked, here 0, so a step network gets no gradient (the reason the perceptron is
    trained by its own rule, not by backpropagation). The forward equals
    ``torch.heaviside(x, 1)``, NaN giving 0. No torch module.

    Shape:
        - Input: :math:`(*)`, where :math:`*` means any number of dimensions.
        - Output: :math:`(*)`, same shape as the input.

    Examples::

        >>> import nnref
        >>> m = nnref.activations.BinaryStep()
        >>> x = torch.tensor([-2.0, -0.5, 0.0, 1.5], requires_grad=True)
        >>> y = m(x)
        >>> y.detach()
        tensor([0., 0., 1., 1.])
        >>> y.sum().backward(); x.grad
        tensor([0., 0., 0., 0.])
    """

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return binary_step(input)


class _SigmoidFn(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        return stable_sigmoid(opmath(x)).to(x.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)  # f' = f (1 - f) needs only the output

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        yf = opmath(y)
        return (opmath(grad) * yf * (1 - yf)).to(grad.dtype)


def sigmoid(input: torch.Tensor) -> torch.Tensor:
    r"""Logistic sigmoid, element-wise; see :class:`Sigmoid`.

    .. math:: \sigma(x) = \frac{1}{1 + e^{-x}}, \qquad \sigma'(x) = \sigma(x)(1 - \sigma(x))

    Args:
        input: floating-point tensor.

    Examples::

        >>> import nnref
        >>> nnref.activations.sigmoid(torch.tensor([-1.0, 0.0, 2.0]))
        tensor([0.2689, 0.5000, 0.8808])
    """
    check_input(input, "sigmoid")
    return _SigmoidFn.apply(input)


class Sigmoid(nn.Module):
    r"""Applies the logistic sigmoid, element-wise.

    .. math:: \sigma(x) = \frac{1}{1 + e^{-x}}, \qquad \sigma'(x) = \sigma(x)(1 - \sigma(x))
        \le \tfrac14

    The bound :math:`\sigma' \le 1/4` is why the gradients of a deep sigmoid network shrink
    layer by layer. Stable for any :math:`|x|`: :math:`e^{-x}` overflowing to ``inf`` gives
    0. Half precision is computed in float32 and rounded once, as torch.

    Shape:
        - Input: :math:`(*)`, where :math:`*` means any number of dimensions.
        - Output: :math:`(*)`, same shape as the input.

    Examples::

        >>> import nnref
        >>> m = nnref.activations.Sigmoid()
        >>> x = torch.tensor([-2.0, -0.5, 0.0, 1.5], requires_grad=True)
        >>> y = m(x)
        >>> y.detach()
        tensor([0.1192, 0.3775, 0.5000, 0.8176])
        >>> y.sum().backward(); x.grad
        tensor([0.1050, 0.2350, 0.2500, 0.1491])
    """

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return sigmoid(input)


class _TanhFn(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        xf = opmath(x)
        # tanh|x| = -t / (2 + t) with t = expm1(-2|x|): exact near 0 (no 1 - 1 cancellation,
        # as 2 sigma(2x) - 1 has) and t -> -1 gives 1 for large |x| without overflow.
        t = xf.abs().mul_(-2).expm1_()
        y = t.div_(t + 2)
        return y.copysign_(xf).to(x.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        yf = opmath(y)
        # (1 - y^2) g with torch's two roundings before the product, on one temporary
        # (addcmul would fuse 1 - y y into one rounding on some CPUs)
        d = in_place(in_place(yf * yf, "neg"), "add", 1)
        return in_place(d, "mul", opmath(grad)).to(grad.dtype)


def tanh(input: torch.Tensor) -> torch.Tensor:
    r"""Hyperbolic tangent, element-wise; see :class:`Tanh`.

    .. math:: \tanh x = \frac{e^x - e^{-x}}{e^x + e^{-x}}, \qquad \tanh' x = 1 - \tanh^2 x

    Args:
        input: floating-point tensor.

    Examples::

        >>> import nnref
        >>> nnref.activations.tanh(torch.tensor([-1.0, 0.0, 2.0]))
        tensor([-0.7616,  0.0000,  0.9640])
    """
    check_input(input, "tanh")
    return _TanhFn.apply(input)


class Tanh(nn.Module):
    r"""Applies the hyperbolic tangent, element-wise.

    .. math:: \tanh x = \frac{e^x - e^{-x}}{e^x + e^{-x}} = 2\sigma(2x) - 1, \qquad
        \tanh' x = 1 - \tanh^2 x

    The lecture notes write the derivative as :math:`1 - \tanh x` and call tanh not
    differentiable at 0; both are wrong: it is smooth, with :math:`\tanh'(0) = 1`.

    Shape:
        - Input: :math:`(*)`, where :math:`*` means any number of dimensions.
        - Output: :math:`(*)`, same shape as the input.

    Examples::

        >>> import nnref
        >>> m = nnref.activations.Tanh()
        >>> x = torch.tensor([-2.0, -0.5, 0.0, 1.5], requires_grad=True)
        >>> y = m(x)
        >>> y.detach()
        tensor([-0.9640, -0.4621,  0.0000,  0.9051])
        >>> y.sum().backward(); x.grad
        tensor([0.0707, 0.7864, 1.0000, 0.1807])
    """

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return tanh(input)


class _SoftsignFn(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        xf = opmath(x)
        y = xf / (xf.abs() + 1)
        # inf / inf is NaN; the limit at +-inf is +-1 (torch's composite returns NaN there).
        return torch.where(xf.isinf(), xf.sign(), y).to(x.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        d = opmath(x).abs() + 1
        return (opmath(grad) / (d * d)).to(grad.dtype)


def softsign(input: torch.Tensor) -> torch.Tensor:
    r"""Softsign, element-wise; see :class:`Softsign`.

    .. math:: f(x) = \frac{x}{1 + |x|}, \qquad f'(x) = \frac{1}{(1 + |x|)^2}

    Args:
        input: floating-point tensor.

    Examples::

        >>> import nnref
        >>> nnref.activations.softsign(torch.tensor([-1.0, 0.0, 2.0]))
        tensor([-0.5000,  0.0000,  0.6667])
    """
    check_input(input, "softsign")
    return _SoftsignFn.apply(input)


class Softsign(nn.Module):
    r"""Applies softsign (ElliotSig), element-wise.

    .. math:: \text{Softsign}(x) = \frac{x}{1 + |x|}, \qquad
        \text{Softsign}'(x) = \frac{1}{(1 + |x|)^2}

    At :math:`\pm\infty` the limit :math:`\pm 1` (derivative 0) is returned; torch's
    softsign computes ``inf / inf`` there and returns NaN.

    Shape:
        - Input: :math:`(*)`, where :math:`*` means any number of dimensions.
        - Output: :math:`(*)`, same shape as the input.

    Examples::

        >>> import nnref
        >>> m = nnref.activations.Softsign()
        >>> x = torch.tensor([-2.0, -0.5, 0.0, 1.5], requires_grad=True)
        >>> y = m(x)
        >>> y.detach()
        tensor([-0.6667, -0.3333,  0.0000,  0.6000])
        >>> y.sum().backward(); x.grad
        tensor([0.1111, 0.4444, 1.0000, 0.1600])
    """

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return softsign(input)


class _SQNLFn(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        c = x.clamp(-2, 2)
        return c - c * c.abs() / 4

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        # Outside [-2, 2] the clamp pins |c| = 2, so 1 - |c|/2 is the exact 0 there as well.
        return (opmath(grad) * (1 - opmath(x).clamp(-2, 2).abs() / 2)).to(grad.dtype)


def sqnl(input: torch.Tensor) -> torch.Tensor:
    r"""Square nonlinearity, element-wise; see :class:`SQNL`.

    .. math:: f(x) = c - \frac{c|c|}{4}, \qquad f'(x) = 1 - \frac{|c|}{2}, \qquad
        c = \operatorname{clamp}(x, -2, 2)

    Args:
        input: floating-point tensor.

    Examples::

        >>> import nnref
        >>> nnref.activations.sqnl(torch.tensor([-3.0, 1.0, 2.0]))
        tensor([-1.0000,  0.7500,  1.0000])
    """
    check_input(input, "sqnl")
    return _SQNLFn.apply(input)


class SQNL(nn.Module):
    r"""Applies the square nonlinearity (SQNL), element-wise.

    .. math:: \text{SQNL}(x) = \begin{cases} 1 & x > 2 \\ x - x^2/4 & 0 \le x \le 2 \\
        x + x^2/4 & -2 \le x < 0 \\ -1 & x < -2 \end{cases} \qquad
        \text{SQNL}'(x) = \begin{cases} 1 \mp x/2 & |x| \le 2 \\ 0 & |x| > 2 \end{cases}

    With :math:`c = \operatorname{clamp}(x, -2, 2)`: :math:`f = c - c|c|/4` and
    :math:`f' = 1 - |c|/2`, which is continuous, so the kinks :math:`\pm 2` need no
    convention (both sides give 0). No torch built-in.

    Shape:
        - Input: :math:`(*)`, where :math:`*` means any number of dimensions.
        - Output: :math:`(*)`, same shape as the input.

    Examples::

        >>> import nnref
        >>> m = nnref.activations.SQNL()
        >>> x = torch.tensor([-2.0, -0.5, 0.0, 1.5], requires_grad=True)
        >>> y = m(x)
        >>> y.detach()
        tensor([-1.0000, -0.4375,  0.0000,  0.9375])
        >>> y.sum().backward(); x.grad
        tensor([0.0000, 0.7500, 1.0000, 0.2500])
    """

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return sqnl(input)
