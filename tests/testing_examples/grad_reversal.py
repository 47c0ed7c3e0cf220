"""A gradient-reversal layer (Ganin & Lempitsky, 2015): the identity forward, the gradient
times ``-lambd`` backward."""

import torch


class GradReverse(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x, lambd):
        return x.clone()

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.lambd = inputs[1]

    @staticmethod
    def backward(ctx, grad):
        return -ctx.lambd * grad, None


class GradReverseInPlace(GradReverse):
    """Broken: scales the incoming gradient in place, a tensor it did not create (another
    branch of the graph may hold the same gradient)."""

    @staticmethod
    def backward(ctx, grad):
        return grad.mul_(-ctx.lambd), None


def grad_reverse(x, lambd=0.5):
    return GradReverse.apply(x, lambd)


def grad_reverse_in_place(x, lambd=0.5):
    return GradReverseInPlace.apply(x, lambd)


def reference(x, lambd=0.5):
    """The identity with a hook scaling its gradient."""
    y = x.clone()
    if y.requires_grad:
        y.register_hook(lambda g: -lambd * g)
    return y
