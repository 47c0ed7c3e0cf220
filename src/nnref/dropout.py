r"""The dropout family: inverted and classic dropout, channel dropout, alpha dropout, DropConnect.

Every variant multiplies its input by a random keep-mask :math:`m \sim \text{Bernoulli}(1-p)`
and by a constant; the backward multiplies the incoming gradient by the same two factors. The
mask is drawn from ``generator`` (or the global RNG) as a ``bool`` tensor — 1 byte per element,
``(N, C, 1, ...)`` for channel dropout — and that is all backward keeps (torch keeps a float
copy of the scaled mask on CPU). A ``bool`` tensor can never require grad, so the mask is
non-differentiable by construction.

On CPU the masks are drawn exactly as torch draws them (``bernoulli_(1 - p)`` on a tensor of the
input's shape, or ``(N, C, 1, ...)``), so with the same seed ``nnref`` and ``torch.nn`` drop the
same units. On CUDA torch uses a fused kernel with its own random stream.
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import nn

from nnref._tensor import apply_maybe_inplace, check_input
from nnref.activations.rectifiers import SELU_ALPHA, SELU_SCALE

__all__ = [
    "Dropout", "Dropout1d", "Dropout2d", "AlphaDropout", "DropConnectLinear",
    "dropout", "dropout1d", "dropout2d", "alpha_dropout", "bernoulli_mask",
]

MODES = ("inverted", "classic")

# SELU's negative saturation value is -lambda * alpha: alpha dropout sets dropped units to it.
_ALPHA_PRIME = -SELU_ALPHA * SELU_SCALE


def _factor(keep: torch.Tensor, scale: float, dtype: torch.dtype) -> torch.Tensor:
    """keep * scale as a (temporary) tensor of ``dtype``.

    Multiplying by it (rather than torch.where) keeps NaN * 0 = NaN, as torch's x * noise
    does; converting the mask first avoids the slow mixed float-by-bool multiply kernel.
    """
    factor = keep.to(dtype)
    return factor if scale == 1.0 else factor.mul_(scale)


class _MaskScaleFn(torch.autograd.Function):
    """y = x * keep * scale for a fixed bool ``keep`` (broadcast over x) and a float ``scale``."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x, keep, scale):
        return x * _factor(keep, scale, x.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.scale = inputs[2]
        ctx.save_for_backward(inputs[1])  # the bool mask only: 1 byte per (masked) element

    @staticmethod
    def backward(ctx, grad):
        (keep,) = ctx.saved_tensors
        return grad * _factor(keep, ctx.scale, grad.dtype), None, None


class _AlphaFn(torch.autograd.Function):
    """y = a (m x + alpha' (1 - m)) + b, b = -a alpha' p, for a fixed bool mask m."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x, keep, a, p):
        # = (m a) (x - alpha') + a alpha' (1 - p): three fast passes, no torch.where
        # (slow on CPU); dropped NaN stays NaN as in torch's x * noise + b.
        return (x - _ALPHA_PRIME).mul_(_factor(keep, a, x.dtype)).add_(a * _ALPHA_PRIME * (1 - p))

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.a = inputs[2]
        ctx.save_for_backward(inputs[1])  # the bool mask only

    @staticmethod
    def backward(ctx, grad):
        (keep,) = ctx.saved_tensors
        return grad * _factor(keep, ctx.a, grad.dtype), None, None, None


def _check_p(p: float, fn: str) -> None:
    if not 0.0 <= p <= 1.0:  # also rejects NaN
        raise ValueError(f"{fn}(): dropout probability p has to be between 0 and 1, but got {p}")


def _check_mode(mode: str, fn: str) -> None:
    if mode not in MODES:
        raise ValueError(f"{fn}(): mode must be one of {MODES}, got {mode!r}")


def bernoulli_mask(
    like: torch.Tensor,
    shape: torch.Size | tuple[int, ...],
    keep_prob: float,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""A ``bool`` tensor of ``shape`` on ``like``'s device, each element ``True`` independently
    with probability ``keep_prob``.

    .. math:: m_i \sim \text{Bernoulli}(q), \qquad P(m_i = 1) = q

    Drawn with ``bernoulli_``, which on CPU consumes the generator exactly as torch's dropout
    does for a float tensor of the same shape, so seeded runs drop the same units. Allocated
    with ``like.new_empty`` so that under ``torch.func.vmap`` the mask is batched too. It is
    not differentiable (a ``bool`` tensor cannot require grad).

    Args:
        like (Tensor): gives the device (and, under vmap, the batching).
        shape (tuple of int): the mask's shape.
        keep_prob (float): :math:`q`, the probability of ``True``.
        generator (torch.Generator, optional): the random stream. Default: ``None`` (global)

    Shape:
        - Output: ``shape``, dtype ``torch.bool``.

    Examples::

        >>> import torch
        >>> from nnref.dropout import bernoulli_mask
        >>> m = bernoulli_mask(torch.empty(0), (2, 4), 0.5, torch.Generator().manual_seed(0))
        >>> m
        tensor([[False, False,  True, False],
                [False, False,  True,  True]])
        >>> bool(bernoulli_mask(torch.empty(0), (5,), 1.0).all())
        True
    """
    return like.new_empty(shape, dtype=torch.bool).bernoulli_(keep_prob, generator=generator)


def _feature_shape(input: torch.Tensor) -> tuple[int, ...]:
    return tuple(input.shape[:2]) + (1,) * (input.dim() - 2)


def _zeros_like_torch(input: torch.Tensor, inplace: bool) -> torch.Tensor:
    """p = 1 drops everything: ``input * 0`` like torch (NaN stays NaN, no mask, no 1/0)."""
    return input.mul_(0) if inplace else input * 0


def _drop(
    input: torch.Tensor,
    p: float,
    training: bool,
    inplace: bool,
    mode: str,
    generator: torch.Generator | None,
    mask_shape: tuple[int, ...],
) -> torch.Tensor:
    """Inverted or classic dropout with a mask of ``mask_shape`` (broadcast over ``input``)."""
    q = 1.0 - p
    if not training:
        if mode == "inverted" or p == 0.0:
            return input
        # classic: units were kept with probability q in training, so scale to match at test.
        return input.mul_(q) if inplace else input * q
    if p == 0.0 or input.numel() == 0:
        return input
    if p == 1.0:
        return _zeros_like_torch(input, inplace)
    keep = bernoulli_mask(input, mask_shape, q, generator)
    scale = 1.0 if mode == "classic" else 1.0 / q
    return apply_maybe_inplace(lambda x: _MaskScaleFn.apply(x, keep, scale), input, inplace)


def dropout(
    input: torch.Tensor,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    generator: torch.Generator | None = None,
    mode: str = "inverted",
) -> torch.Tensor:
    r"""Dropout: zero each element of ``input`` with probability ``p`` during training.

    Inverted (``mode="inverted"``, torch's) in training, the identity in eval:

    .. math::
        y = \frac{m \odot x}{1 - p}, \qquad \frac{\partial y_i}{\partial x_i} = \frac{m_i}{1 - p},
        \qquad m_i \sim \text{Bernoulli}(1 - p)

    so :math:`E[y] = x` and inference needs no change. ``mode="classic"`` is the original
    formulation the lecture notes also describe: :math:`y = m \odot x` in training (derivative
    :math:`m`) and :math:`y = (1 - p)\,x` at inference (derivative :math:`1 - p`). The notes say
    "scale by p" at inference; the factor is the *keep* probability :math:`1 - p`. ``p = 1``
    gives ``input * 0``: zeros with zero gradient, NaN kept, as torch.

    Args:
        input (Tensor): floating point.
        p (float, optional): probability of zeroing an element, in :math:`[0, 1]` (otherwise
            ValueError). Default: 0.5
        training (bool, optional): apply the training-time transform; ``False`` is eval.
            Default: ``True``
        inplace (bool, optional): overwrite ``input``. Default: ``False``
        generator (torch.Generator, optional, keyword-only): draw the mask from it instead of the
            global RNG (not in torch). Default: ``None``
        mode (str, optional, keyword-only): ``"inverted"`` or ``"classic"`` (not in torch).
            Default: ``"inverted"``

    Shape:
        - Input: :math:`(*)`, any shape. Output: the input's shape.

    Examples::

        >>> import torch
        >>> from nnref.dropout import dropout
        >>> _ = torch.manual_seed(0)
        >>> y = dropout(torch.ones(100), p=0.5)
        >>> sorted(set(y.tolist()))  # dropped, or kept and scaled by 1 / (1 - p)
        [0.0, 2.0]
        >>> _ = torch.manual_seed(0)
        >>> a = torch.nn.functional.dropout(torch.ones(100))
        >>> _ = torch.manual_seed(0)
        >>> torch.equal(a, dropout(torch.ones(100)))  # torch's mask for the same seed (CPU)
        True
        >>> dropout(torch.ones(4), p=0.25, training=False, mode="classic")
        tensor([0.7500, 0.7500, 0.7500, 0.7500])
    """
    check_input(input, "dropout")
    _check_p(p, "dropout")
    _check_mode(mode, "dropout")
    return _drop(input, p, training, inplace, mode, generator, tuple(input.shape))


def _feature_dropout(input, p, training, inplace, generator, fn):
    if input.dim() < 2:
        raise RuntimeError(f"{fn}(): feature dropout needs an input with a channel dim 1, got "
                           f"a {input.dim()}-D input")
    return _drop(input, p, training, inplace, "inverted", generator, _feature_shape(input))


def dropout1d(
    input: torch.Tensor,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""Channel dropout for (N, C, L) or unbatched (C, L) input: zero whole channels.

    .. math::
        y_{n,c,\dots} = \frac{m_{n,c}}{1 - p}\, x_{n,c,\dots}, \qquad
        \frac{\partial y_{n,c,\dots}}{\partial x_{n,c,\dots}} = \frac{m_{n,c}}{1 - p}, \qquad
        m_{n,c} \sim \text{Bernoulli}(1 - p)

    Neighbouring positions of a channel are strongly correlated, so dropping single elements
    barely regularises; dropping the channel does. The identity in eval.

    Args:
        input (Tensor): floating point.
        p (float, optional): probability of zeroing an element, in :math:`[0, 1]` (otherwise
            ValueError). Default: 0.5
        training (bool, optional): apply the training-time transform; ``False`` is eval.
            Default: ``True``
        inplace (bool, optional): overwrite ``input``. Default: ``False``
        generator (torch.Generator, optional, keyword-only): draw the mask from it instead of the
            global RNG (not in torch). Default: ``None``

    Shape:
        - Input: :math:`(N, C, L)` or :math:`(C, L)` (any other rank raises RuntimeError, as
          torch). Output: the input's shape.

    Examples::

        >>> import torch
        >>> from nnref.dropout import dropout1d
        >>> _ = torch.manual_seed(0)
        >>> y = dropout1d(torch.ones(8, 16, 5))
        >>> bool((y.amin(-1) == y.amax(-1)).all())  # each channel all 0 or all 2
        True
    """
    check_input(input, "dropout1d")
    _check_p(p, "dropout1d")
    if input.dim() not in (2, 3):
        raise RuntimeError(
            f"dropout1d(): Expected 2D or 3D input, but received a {input.dim()}D input. "
            "Note that dropout1d exists to provide channel-wise dropout on inputs with 1 "
            "spatial dimension, a channel dimension, and an optional batch dimension "
            "(i.e. 2D or 3D inputs)."
        )
    if input.dim() == 3:
        return _feature_dropout(input, p, training, inplace, generator, "dropout1d")
    out = _feature_dropout(input.unsqueeze(0), p, training, inplace, generator, "dropout1d")
    return out.squeeze(0)


def dropout2d(
    input: torch.Tensor,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""Channel dropout for (N, C, H, W) input: zero whole feature maps.

    .. math::
        y_{n,c,\dots} = \frac{m_{n,c}}{1 - p}\, x_{n,c,\dots}, \qquad
        \frac{\partial y_{n,c,\dots}}{\partial x_{n,c,\dots}} = \frac{m_{n,c}}{1 - p}, \qquad
        m_{n,c} \sim \text{Bernoulli}(1 - p)

    A 3-D input is treated as (N, C, L) with a warning, as torch does (it does *not* mean an
    unbatched (C, H, W)). The identity in eval.

    Args:
        input (Tensor): floating point.
        p (float, optional): probability of zeroing an element, in :math:`[0, 1]` (otherwise
            ValueError). Default: 0.5
        training (bool, optional): apply the training-time transform; ``False`` is eval.
            Default: ``True``
        inplace (bool, optional): overwrite ``input``. Default: ``False``
        generator (torch.Generator, optional, keyword-only): draw the mask from it instead of the
            global RNG (not in torch). Default: ``None``

    Shape:
        - Input: :math:`(N, C, H, W)` or :math:`(N, C, L)`. Output: the input's shape.

    Raises:
        RuntimeError: for inputs that are not 3-D or 4-D (torch only warns and then drops along
            dim 1 whatever it is; a wrong rank is almost always a bug).

    Examples::

        >>> import torch
        >>> from nnref.dropout import dropout2d
        >>> _ = torch.manual_seed(0)
        >>> y = dropout2d(torch.ones(8, 16, 3, 3))
        >>> bool((y.amin((-2, -1)) == y.amax((-2, -1))).all())  # whole maps dropped or kept
        True
    """
    check_input(input, "dropout2d")
    _check_p(p, "dropout2d")
    if input.dim() not in (3, 4):
        raise RuntimeError(
            f"dropout2d(): Expected 3D (N, C, L) or 4D (N, C, H, W) input, but received a "
            f"{input.dim()}D input"
        )
    if input.dim() == 3:
        warnings.warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D "
            "dropout behavior is desired - input is interpreted as shape (N, C, L), where C "
            "is the channel dim. Use dropout1d for that.",
            stacklevel=2,
        )
    return _feature_dropout(input, p, training, inplace, generator, "dropout2d")


def alpha_dropout(
    input: torch.Tensor,
    p: float = 0.5,
    training: bool = False,
    inplace: bool = False,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""Alpha dropout: dropout that keeps a SELU network's activations at mean 0, variance 1.

    Dropped units are set to SELU's saturation value :math:`\alpha'` instead of 0, then an affine
    map restores the moments of a standard-normal input:

    .. math::
        y = a\,\big(m \odot x + \alpha'(1 - m)\big) + b, \qquad
        \frac{\partial y_i}{\partial x_i} = a\, m_i, \qquad m_i \sim \text{Bernoulli}(1 - p)

        a = \big((1 - p)(1 + p\,\alpha'^2)\big)^{-1/2}, \qquad b = -a\,\alpha' p, \qquad
        \alpha' = -\lambda\alpha \approx -1.7581

    The identity in eval. As torch, ``p = 1`` returns ``input * 0`` (zeros with zero gradient)
    rather than the constant the formula would give. Note torch's default ``training=False`` for
    the functional form.

    Args:
        input (Tensor): floating point.
        p (float, optional): probability of dropping an element, in :math:`[0, 1]`. Default: 0.5
        training (bool, optional): apply the training-time transform. Default: ``False``
        inplace (bool, optional): overwrite ``input``. Default: ``False``
        generator (torch.Generator, optional, keyword-only): the random stream (not in torch).
            Default: ``None``

    Shape:
        - Input: :math:`(*)`, any shape. Output: the input's shape.

    Examples::

        >>> import torch
        >>> from nnref.dropout import alpha_dropout
        >>> _ = torch.manual_seed(0)
        >>> y = alpha_dropout(torch.zeros(100), p=0.5, training=True)
        >>> sorted({round(v, 4) for v in y.tolist()})  # dropped: a alpha' + b; kept: b
        [-0.7792, 0.7792]
    """
    check_input(input, "alpha_dropout")
    _check_p(p, "alpha_dropout")
    if not training or p == 0.0 or input.numel() == 0:
        return input
    if p == 1.0:
        return _zeros_like_torch(input, inplace)
    q = 1.0 - p
    keep = bernoulli_mask(input, input.shape, q, generator)
    a = 1.0 / math.sqrt(q * (1.0 + p * _ALPHA_PRIME**2))
    return apply_maybe_inplace(lambda x: _AlphaFn.apply(x, keep, a, p), input, inplace)


class _DropoutBase(nn.Module):
    __constants__ = ["p", "inplace"]

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        _check_p(p, type(self).__name__)
        self.p = p
        self.inplace = inplace

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutBase):
    r"""During training, zeroes each element of the input with probability :math:`p`, drawing a
    new mask on every call, and scales the kept elements by :math:`1/(1 - p)`; in eval it is the
    identity. A regulariser: no unit can rely on a particular other unit being present.

    .. math::
        y = \frac{m \odot x}{1 - p}, \qquad \frac{\partial y_i}{\partial x_i} = \frac{m_i}{1 - p},
        \qquad m_i \sim \text{Bernoulli}(1 - p)

    ``mode="classic"`` is the notes' original variant: no scaling in training (:math:`y = m
    \odot x`, derivative :math:`m`) and :math:`y = (1 - p)\,x` in eval. The notes write "scale
    by p" there; the factor is the keep probability :math:`1 - p`. The notes' typical ``p``:
    0.1–0.2 on inputs, 0.3–0.5 on hidden units.

    Args:
        p (float, optional): probability of zeroing an element, in :math:`[0, 1]` (otherwise
            ValueError). Default: 0.5
        inplace (bool, optional): overwrite the input. Default: ``False``
        mode (str, optional, keyword-only): ``"inverted"`` or ``"classic"`` (not in torch).
            Default: ``"inverted"``

    Shape:
        - Input: :math:`(*)`, any shape. Output: the input's shape.

    Examples::

        >>> import torch
        >>> from nnref.dropout import Dropout
        >>> _ = torch.manual_seed(0)
        >>> m = Dropout(p=0.2)
        >>> x = torch.ones(100, requires_grad=True)
        >>> y = m(x)
        >>> y.sum().backward()
        >>> torch.equal(x.grad, y.detach())  # the gradient is the same mask and scale
        True
        >>> m.eval()
        Dropout(p=0.2, inplace=False)
        >>> torch.equal(m(x), x)
        True
    """

    __constants__ = ["p", "inplace", "mode"]

    def __init__(self, p: float = 0.5, inplace: bool = False, *, mode: str = "inverted") -> None:
        super().__init__(p, inplace)
        _check_mode(mode, "Dropout")
        self.mode = mode

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return dropout(input, self.p, self.training, self.inplace, mode=self.mode)

    def extra_repr(self) -> str:
        extra = "" if self.mode == "inverted" else f", mode={self.mode!r}"
        return super().extra_repr() + extra


class Dropout1d(_DropoutBase):
    r"""Zeroes whole channels of a (N, C, L) or (C, L) input with probability :math:`p` in
    training, scaling the rest by :math:`1/(1 - p)`; the identity in eval.

    .. math::
        y_{n,c,\dots} = \frac{m_{n,c}}{1 - p}\, x_{n,c,\dots}, \qquad
        \frac{\partial y_{n,c,\dots}}{\partial x_{n,c,\dots}} = \frac{m_{n,c}}{1 - p}, \qquad
        m_{n,c} \sim \text{Bernoulli}(1 - p)

    Args:
        p (float, optional): probability of zeroing a channel, in :math:`[0, 1]` (otherwise
            ValueError). Default: 0.5
        inplace (bool, optional): overwrite the input. Default: ``False``

    Shape:
        - Input: :math:`(N, C, L)` or :math:`(C, L)`. Output: the input's shape.

    Examples::

        >>> import torch
        >>> from nnref.dropout import Dropout1d
        >>> _ = torch.manual_seed(0)
        >>> y = Dropout1d(p=0.5)(torch.ones(8, 16, 5))
        >>> y[0, :4]  # whole channels dropped or kept and scaled by 1 / (1 - p)
        tensor([[0., 0., 0., 0., 0.],
                [0., 0., 0., 0., 0.],
                [2., 2., 2., 2., 2.],
                [0., 0., 0., 0., 0.]])
    """

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return dropout1d(input, self.p, self.training, self.inplace)


class Dropout2d(_DropoutBase):
    r"""Zeroes whole feature maps of a (N, C, H, W) input with probability :math:`p` in training,
    scaling the rest by :math:`1/(1 - p)`; the identity in eval.

    .. math::
        y_{n,c,\dots} = \frac{m_{n,c}}{1 - p}\, x_{n,c,\dots}, \qquad
        \frac{\partial y_{n,c,\dots}}{\partial x_{n,c,\dots}} = \frac{m_{n,c}}{1 - p}, \qquad
        m_{n,c} \sim \text{Bernoulli}(1 - p)

    Args:
        p (float, optional): probability of zeroing a channel, in :math:`[0, 1]` (otherwise
            ValueError). Default: 0.5
        inplace (bool, optional): overwrite the input. Default: ``False``

    Shape:
        - Input: :math:`(N, C, H, W)` (or :math:`(N, C, L)`, with a warning). Output: the
          input's shape.

    Examples::

        >>> import torch
        >>> from nnref.dropout import Dropout2d
        >>> m = Dropout2d(p=0.5).eval()
        >>> x = torch.randn(2, 3, 4, 4)
        >>> torch.equal(m(x), x)
        True
    """

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return dropout2d(input, self.p, self.training, self.inplace)


class AlphaDropout(_DropoutBase):
    r"""Dropout for self-normalising (SELU) networks: dropped units take SELU's negative saturation
    value :math:`\alpha'` and an affine map keeps a standard-normal input at mean 0, variance 1;
    the identity in eval.

    .. math::
        y = a\,\big(m \odot x + \alpha'(1 - m)\big) + b, \qquad
        \frac{\partial y_i}{\partial x_i} = a\, m_i, \qquad m_i \sim \text{Bernoulli}(1 - p)

        a = \big((1 - p)(1 + p\,\alpha'^2)\big)^{-1/2}, \qquad b = -a\,\alpha' p, \qquad
        \alpha' = -\lambda\alpha \approx -1.7581

    Args:
        p (float, optional): probability of zeroing an element, in :math:`[0, 1]` (otherwise
            ValueError). Default: 0.5
        inplace (bool, optional): overwrite the input. Default: ``False``

    Shape:
        - Input: :math:`(*)`, any shape. Output: the input's shape.

    Examples::

        >>> import torch
        >>> from nnref.dropout import AlphaDropout
        >>> _ = torch.manual_seed(0)
        >>> y = AlphaDropout(p=0.2)(torch.randn(100_000))
        >>> abs(y.mean().item()) < 0.02, abs(y.var().item() - 1) < 0.02
        (True, True)
    """

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return alpha_dropout(input, self.p, self.training, self.inplace)


class DropConnectLinear(nn.Module):
    r"""A linear layer whose *weights* are dropped in training (DropConnect, Wan et al. 2013), where
    dropout drops activations. No torch built-in.

    .. math::
        y = x \Big(\frac{M \odot W}{1 - p}\Big)^{\!\top} + b \text{ (training)}, \qquad
        y = x W^\top + b \text{ (eval)}

        \frac{\partial L}{\partial W} = \frac{M}{1 - p} \odot \big(g^\top x\big), \qquad
        \frac{\partial L}{\partial x} = g\,\frac{M \odot W}{1 - p}, \qquad
        M_{ij} \sim \text{Bernoulli}(1 - p)

    with :math:`g = \partial L / \partial y` and one mask per forward call, shared by the
    mini-batch as common implementations do (the paper draws one per sample). Scaling by
    :math:`1/(1-p)` makes :math:`E[y]` equal the plain linear layer's, so eval is exactly
    ``nn.Linear``. The bias is not dropped. Parameters are named and initialised as
    ``nn.Linear``'s: :math:`U(-1/\sqrt{\text{in}}, 1/\sqrt{\text{in}})`.

    Args:
        in_features (int): size of each input sample.
        out_features (int): size of each output sample.
        bias (bool, optional): learn an additive bias. Default: ``True``
        p (float, optional): probability of dropping a weight, in :math:`[0, 1]`. Default: 0.5
        device, dtype: of the parameters. Default: ``None``

    Shape:
        - Input: :math:`(*, H_{in})`. Output: :math:`(*, H_{out})`.

    Examples::

        >>> import torch
        >>> from nnref.dropout import DropConnectLinear
        >>> layer = DropConnectLinear(4, 2, p=0.5)
        >>> x = torch.randn(3, 4)
        >>> layer(x, generator=torch.Generator().manual_seed(0)).shape
        torch.Size([3, 2])
        >>> _ = layer.eval()
        >>> torch.equal(layer(x), torch.nn.functional.linear(x, layer.weight, layer.bias))
        True
    """

    __constants__ = ["in_features", "out_features", "p"]

    def __init__(self, in_features: int, out_features: int, bias: bool = True, p: float = 0.5,
                 device=None, dtype=None) -> None:
        super().__init__()
        _check_p(p, "DropConnectLinear")
        for name, v in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(v, int) or v < 0:
                raise ValueError(f"DropConnectLinear: {name} must be an integer >= 0, got {v!r}")
        self.in_features = in_features
        self.out_features = out_features
        self.p = p
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.empty(out_features, in_features, **factory))
        if bias:
            self.bias = nn.Parameter(torch.empty(out_features, **factory))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """nn.Linear's initialisation: kaiming_uniform(a=sqrt(5)) is U(+-1/sqrt(fan_in))."""
        bound = 1.0 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
        with torch.no_grad():
            self.weight.uniform_(-bound, bound)
            if self.bias is not None:
                self.bias.uniform_(-bound, bound)

    def forward(self, input: torch.Tensor, generator: torch.Generator | None = None
                ) -> torch.Tensor:
        weight = self.weight
        if self.training and self.p > 0.0:
            weight = _drop(weight, self.p, True, False, "inverted", generator, weight.shape)
        out = input @ weight.mT
        return out if self.bias is None else out + self.bias

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}, p={self.p}")
