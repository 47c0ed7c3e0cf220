r"""Softmax and log-softmax over one dimension, max-subtracted."""

from __future__ import annotations

import warnings

import torch
from torch import nn

from nnref._tensor import check_input, opmath

__all__ = ["Softmax", "softmax", "LogSoftmax", "log_softmax", "normalize_dim"]


def normalize_dim(dim: int, ndim: int, fn: str) -> int:
    """``dim`` as a non-negative index, or torch's IndexError naming the allowed range."""
    n = max(ndim, 1)  # a 0-d tensor accepts dim 0 and -1, as in torch
    if not -n <= dim < n:
        raise IndexError(
            f"{fn}(): Dimension out of range (expected to be in range of [{-n}, {n - 1}], "
            f"but got {dim})"
        )
    return dim % n


def _implicit_dim(fn: str, ndim: int) -> int:
    # torch's legacy rule for dim=None, with its deprecation warning.
    warnings.warn(
        f"Implicit dimension choice for {fn} has been deprecated. "
        "Change the call to include dim=X as an argument.",
        stacklevel=3,
    )
    return 0 if ndim in (0, 1, 3) else 1


def _prepare(input, dim, dtype, fn):
    check_input(input, fn)
    if dtype is not None:
        input = input.to(dtype)
    if dim is None:
        dim = _implicit_dim(fn, input.dim())
    return input, normalize_dim(dim, input.dim(), fn)


class _SoftmaxFn(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x, dim):
        if x.numel() == 0:
            return x.clone()
        # torch's kernels return a contiguous result whatever the input's layout (channels-last
        # included); normalising the layout first keeps the output's strides equal to torch's.
        xf = opmath(x.contiguous())
        e = torch.exp(xf - xf.amax(dim, keepdim=True))
        return e.div_(e.sum(dim, keepdim=True)).to(x.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.dim = inputs[1]
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad):
        (s,) = ctx.saved_tensors
        sf, g = opmath(s), opmath(grad)
        return (sf * (g - (g * sf).sum(ctx.dim, keepdim=True))).to(grad.dtype), None


def softmax(input: torch.Tensor, dim: int | None = None, _stacklevel: int = 3,
            dtype: torch.dtype | None = None) -> torch.Tensor:
    r"""Softmax along ``dim``; see :class:`Softmax`.

    .. math:: s_i = \frac{e^{x_i - m}}{\sum_j e^{x_j - m}}, \quad m = \max_j x_j, \qquad
        \frac{\partial L}{\partial x} = s \odot \Big(g - \sum_j g_j s_j\Big)

    Args:
        input: floating-point tensor.
        dim: the dimension to normalise; ``None`` follows torch's deprecated implicit choice
            (with its warning). Default: ``None``
        dtype: cast the input to this dtype first. Default: ``None``

    Examples::

        >>> import nnref
        >>> nnref.activations.softmax(torch.tensor([[1.0, 2.0, 3.0]]), dim=1)
        tensor([[0.0900, 0.2447, 0.6652]])
    """
    input, dim = _prepare(input, dim, dtype, "softmax")
    return _SoftmaxFn.apply(input, dim)


class Softmax(nn.Module):
    r"""Applies softmax along ``dim``: the outputs are positive and sum to 1.

    .. math:: \text{Softmax}(x)_i = s_i = \frac{e^{x_i - m}}{\sum_j e^{x_j - m}}, \quad
        m = \max_j x_j, \qquad \frac{\partial s_i}{\partial x_j} = s_i(\delta_{ij} - s_j)

    Subtracting the max leaves the value unchanged and keeps every exponent :math:`\le 0`, so
    nothing overflows. The backward is the Jacobian-vector product
    :math:`s \odot (g - \sum_j g_j s_j)`; the Jacobian is never formed. For two classes,
    softmax of :math:`(a, b)` equals :math:`\sigma(a - b)` for the first.

    Args:
        dim: dimension along which the outputs sum to 1; ``None`` follows torch's deprecated
            implicit choice. Default: ``None``

    Shape:
        - Input: :math:`(*)`, where :math:`*` means any number of dimensions.
        - Output: :math:`(*)`, same shape as the input.

    Examples::

        >>> import nnref
        >>> m = nnref.activations.Softmax(dim=1)
        >>> x = torch.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
        >>> y = m(x)
        >>> y.detach()
        tensor([[0.0900, 0.2447, 0.6652]])
        >>> y[0, 2].backward(); x.grad
        tensor([[-0.0599, -0.1628,  0.2227]])
    """

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class _LogSoftmaxFn(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x, dim):
        if x.numel() == 0:
            return x.clone()
        xf = opmath(x.contiguous())  # a contiguous result, as torch's (see _SoftmaxFn)
        shifted = xf - xf.amax(dim, keepdim=True)
        return (shifted - shifted.exp().sum(dim, keepdim=True).log()).to(x.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.dim = inputs[1]
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        yf, g = opmath(y), opmath(grad)
        return (g - yf.exp() * g.sum(ctx.dim, keepdim=True)).to(grad.dtype), None


def log_softmax(input: torch.Tensor, dim: int | None = None, _stacklevel: int = 3,
                dtype: torch.dtype | None = None) -> torch.Tensor:
    r"""Log-softmax along ``dim``; see :class:`LogSoftmax`.

    .. math:: y_i = x_i - m - \log\sum_j e^{x_j - m}, \qquad
        \frac{\partial L}{\partial x} = g - e^{y} \sum_j g_j

    Args:
        input: floating-point tensor.
        dim: the dimension to normalise; ``None`` follows torch's deprecated implicit choice
            (with its warning). Default: ``None``
        dtype: cast the input to this dtype first. Default: ``None``

    Examples::

        >>> import nnref
        >>> nnref.activations.log_softmax(torch.tensor([[1.0, 2.0, 3.0]]), dim=1)
        tensor([[-2.4076, -1.4076, -0.4076]])
    """
    input, dim = _prepare(input, dim, dtype, "log_softmax")
    return _LogSoftmaxFn.apply(input, dim)


class LogSoftmax(nn.Module):
    r"""Applies log-softmax along ``dim``: the log of softmax, formed without it.

    .. math:: \text{LogSoftmax}(x)_i = y_i = (x_i - m) - \log\sum_j e^{x_j - m}, \quad
        m = \max_j x_j, \qquad \frac{\partial y_i}{\partial x_j} = \delta_{ij} - e^{y_j}

    Computed as a log-sum-exp, never as ``log(softmax(x))`` (which underflows to
    :math:`-\infty` for very negative logits).

    Args:
        dim: dimension along which to normalise; ``None`` follows torch's deprecated implicit
            choice. Default: ``None``

    Shape:
        - Input: :math:`(*)`, where :math:`*` means any number of dimensions.
        - Output: :math:`(*)`, same shape as the input.

    Examples::

        >>> import nnref
        >>> m = nnref.activations.LogSoftmax(dim=1)
        >>> x = torch.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
        >>> y = m(x)
        >>> y.detach()
        tensor([[-2.4076, -1.4076, -0.4076]])
        >>> y[0, 2].backward(); x.grad
        tensor([[-0.0900, -0.2447,  0.3348]])
    """

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return log_softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
