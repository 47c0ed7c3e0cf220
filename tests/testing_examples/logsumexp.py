"""Log-sum-exp over a dim, ``m + log sum exp(x - m)`` with ``m`` the maximum, and its
gradient ``exp(x - out)`` (the softmax)."""

import torch


def _opmath(x):
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


class LogSumExp(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x, dim):
        xf = _opmath(x)
        if xf.dim() and xf.shape[dim] == 0:
            return torch.full_like(xf.sum(dim), -torch.inf).to(x.dtype)
        m = xf.amax(dim, keepdim=True)
        m = torch.where(m.isinf(), torch.zeros_like(m), m)  # all -inf (or an inf): no shift
        out = (xf - m).exp().sum(dim, keepdim=True).log() + m
        return (out.squeeze(dim) if xf.dim() else out).to(x.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0], output)
        ctx.dim = inputs[1]

    @staticmethod
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        keep = (lambda t: t.unsqueeze(ctx.dim)) if x.dim() else (lambda t: t)
        g = keep(_opmath(grad)) * (_opmath(x) - keep(_opmath(out))).exp()
        return g.to(x.dtype), None


class LogSumExpMutatesSaved(LogSumExp):
    """Broken: backward reuses the saved input as scratch space (the caller's tensor)."""

    @staticmethod
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        if x.dtype in (torch.float16, torch.bfloat16) or not x.dim():
            return LogSumExp.backward(ctx, grad)
        return grad.unsqueeze(ctx.dim) * x.sub_(out.unsqueeze(ctx.dim)).exp_(), None


class LogSumExpNaive(LogSumExp):
    """Broken: ``log sum exp(x)`` without the shift, which overflows for large x."""

    @staticmethod
    def forward(x, dim):
        xf = _opmath(x)
        return xf.exp().sum(dim).log().to(x.dtype)


def logsumexp(x, dim=-1):
    return LogSumExp.apply(x, dim)


def logsumexp_mutates_saved(x, dim=-1):
    return LogSumExpMutatesSaved.apply(x, dim)


def logsumexp_naive(x, dim=-1):
    return LogSumExpNaive.apply(x, dim)
