r"""Identity, the binary step and the bounded, sigmoid-shaped activations.

Each activation is an ``autograd.Function`` (forward + ``setup_context`` + a backward written
from the derivative), a functional form with torch's name and signature, and a module with
torch's class name. Backwards use differentiable tensor ops, so double backward works.
"""

from __future__ import annotations

import torch
from torch import nn

from nnref._tensor import check_input, opmath, stable_sigmoid

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
    r"""Linear activation :math:`f(x) = x`, :math:`f'(x) = 1`."""
    check_input(input, "identity")
    return _IdentityFn.apply(input)


class Identity(nn.Module):
    r"""Linear (identity) activation, the output layer of a regression network.

    .. math:: f(x) = x, \qquad f'(x) = 1

    Accepts and ignores any constructor arguments, like :class:`torch.nn.Identity`.
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
    r"""Binary step (the perceptron's activation).

    .. math:: f(x) = \begin{cases} 1 & x \ge 0 \\ 0 & x < 0 \end{cases}, \qquad f'(x) = 0

    The derivative is 0 for :math:`x \ne 0` and undefined at 0; like every torch kink the
    reference picks a value, here 0, so a step network gets no gradient (the reason the
    perceptron is trained by its own rule, not backpropagation). The forward equals
    ``torch.heaviside(x, 1)``, including NaN -> 0.
    """
    check_input(input, "binary_step")
    return _BinaryStepFn.apply(input)


class BinaryStep(nn.Module):
    r"""Binary step :math:`f(x) = [x \ge 0]`; see :func:`binary_step`."""

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
    r"""Logistic sigmoid.

    .. math:: \sigma(x) = \frac{1}{1 + e^{-x}}, \qquad \sigma'(x) = \sigma(x)(1 - \sigma(x))
        \le \tfrac14

    The bound :math:`\sigma' \le 1/4` is why deep sigmoid networks' gradients shrink layer by
    layer. Stable for any :math:`|x|`: :math:`e^{-x}` overflowing to ``inf`` yields 0.
    """
    check_input(input, "sigmoid")
    return _SigmoidFn.apply(input)


class Sigmoid(nn.Module):
    r"""Logistic sigmoid :math:`\sigma(x) = 1/(1 + e^{-x})`; see :func:`sigmoid`.

    Shape: any; output has the input's shape.
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
        t = torch.expm1(xf.abs().mul_(-2))
        y = t.div_(t + 2)
        return y.copysign_(xf).to(x.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        yf = opmath(y)
        return (opmath(grad) * (1 - yf * yf)).to(grad.dtype)


def tanh(input: torch.Tensor) -> torch.Tensor:
    r"""Hyperbolic tangent.

    .. math:: \tanh x = \frac{e^x - e^{-x}}{e^x + e^{-x}} = 2\sigma(2x) - 1, \qquad
        \tanh' x = 1 - \tanh^2 x

    The notes write the derivative as :math:`1 - \tanh x` and call tanh not differentiable at
    0; both are wrong: it is smooth, with :math:`\tanh'(0) = 1`.
    """
    check_input(input, "tanh")
    return _TanhFn.apply(input)


class Tanh(nn.Module):
    r"""Hyperbolic tangent :math:`\tanh x`; see :func:`tanh`."""

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
    r"""Softsign (ElliotSig).

    .. math:: f(x) = \frac{x}{1 + |x|}, \qquad f'(x) = \frac{1}{(1 + |x|)^2}

    At :math:`\pm\infty` the limit :math:`\pm 1` (derivative 0) is returned; torch's softsign
    computes ``inf / inf`` there and returns NaN.
    """
    check_input(input, "softsign")
    return _SoftsignFn.apply(input)


class Softsign(nn.Module):
    r"""Softsign :math:`x / (1 + |x|)`; see :func:`softsign`."""

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
        return grad * (1 - x.clamp(-2, 2).abs() / 2)


def sqnl(input: torch.Tensor) -> torch.Tensor:
    r"""Square nonlinearity (SQNL).

    .. math:: f(x) = \begin{cases} 1 & x > 2 \\ x - x^2/4 & 0 \le x \le 2 \\
        x + x^2/4 & -2 \le x < 0 \\ -1 & x < -2 \end{cases} \qquad
        f'(x) = \begin{cases} 1 \mp x/2 & |x| \le 2 \\ 0 & |x| > 2 \end{cases}

    With :math:`c = \mathrm{clamp}(x, -2, 2)`: :math:`f = c - c|c|/4`, :math:`f' = 1 - |c|/2`,
    which is continuous, so the kinks :math:`\pm 2` need no convention (both sides give 0).
    No torch built-in.
    """
    check_input(input, "sqnl")
    return _SQNLFn.apply(input)


class SQNL(nn.Module):
    r"""Square nonlinearity; see :func:`sqnl`."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return sqnl(input)
