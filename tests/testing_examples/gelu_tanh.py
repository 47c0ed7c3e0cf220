"""GELU's tanh approximation, ``0.5 x (1 + tanh(u))`` with ``u = sqrt(2/pi) (x + 0.044715 x^3)``,
written out forward and backward; float16/bfloat16 computed in float32 and rounded once, as
torch does. ``0.5 (1 + tanh(u))`` is evaluated as ``sigmoid(2u)``, which is the same function
without the cancellation of ``1 + tanh(u)`` for negative x (a float32 intermediate loses all
but a few bits there, more than a float16 ulp of the result)."""

import math

import torch

BETA = math.sqrt(2 / math.pi)
KAPPA = 0.044715


def _opmath(x):
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


class GeluTanh(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        xf = _opmath(x)
        return (xf * torch.sigmoid(2 * BETA * (xf + KAPPA * (xf * xf * xf)))).to(x.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return (_opmath(grad) * GeluTanh.derivative(_opmath(x))).to(grad.dtype)

    @staticmethod
    def derivative(x):
        # d/dx x s(2u) = s + 2 x s (1 - s) u', with u' = sqrt(2/pi) (1 + 3 * 0.044715 x^2)
        x_sq = x * x
        s = torch.sigmoid(2 * BETA * (x + KAPPA * (x_sq * x)))
        return s + 2 * x * s * (1 - s) * (BETA * (1 + 3 * KAPPA * x_sq))


class GeluTanhWrongDerivative(GeluTanh):
    """Broken: the cubic term's derivative lost its factor 3."""

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        xf = _opmath(x)
        x_sq = xf * xf
        s = torch.sigmoid(2 * BETA * (xf + KAPPA * (x_sq * xf)))
        d = s + 2 * xf * s * (1 - s) * (BETA * (1 + KAPPA * x_sq))
        return (_opmath(grad) * d).to(grad.dtype)


def reference(x):
    """torch's own tanh approximation (``--against testing_examples.gelu_tanh:reference``)."""
    return torch.nn.functional.gelu(x, approximate="tanh")
