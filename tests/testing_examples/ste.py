"""A straight-through sign estimator: ``sign(x)`` forward, the clipped identity backward
(the gradient passes where ``|x| < 1``). It also returns the pass-through mask, a second
output that has no derivative."""

import torch
import torch.nn.functional as F


class SignSTE(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        return torch.sign(x), (x.abs() < 1).to(x.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output[1])
        ctx.mark_non_differentiable(output[1])

    @staticmethod
    def backward(ctx, grad, _):
        (mask,) = ctx.saved_tensors
        return grad * mask


class SignSTENotMarked(SignSTE):
    """Broken: the mask output is not marked non-differentiable, so it requires grad."""

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output[1])


def sign_ste(x):
    return SignSTE.apply(x)


def sign_ste_not_marked(x):
    return SignSTENotMarked.apply(x)


def reference(x):
    """The same estimator composed from torch: sign's value, hardtanh's derivative."""
    h = F.hardtanh(x)
    # h - h is NaN at a NaN input, where torch.sign gives 0
    return torch.sign(x).detach() + (h - h.detach()).nan_to_num(0.0), (x.abs() < 1).to(x.dtype)


KINKS = (-1.0, 0.0, 1.0)
