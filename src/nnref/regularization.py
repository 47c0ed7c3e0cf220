r"""Regularization beyond dropout: L1/L2 penalties, gradient clipping, max-norm, noise injection.

``clip_grad_norm_`` and ``clip_grad_value_`` have ``torch.nn.utils``' signatures and return
values; the penalties, ``max_norm_`` and :class:`GaussianNoise` have no torch counterpart.
Weight decay inside an optimizer is the other form of the L2 penalty (see
:class:`nnref.optim.SGD`); dropout lives in :mod:`nnref.dropout`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn

__all__ = [
    "decayed_parameters", "l1_penalty", "l2_penalty", "clip_grad_norm_", "clip_grad_value_",
    "max_norm_", "GaussianNoise",
]

_Params = torch.Tensor | Iterable[torch.Tensor]


def _is_norm_layer(module: nn.Module) -> bool:
    # Covers torch's BatchNorm/InstanceNorm (_NormBase), LayerNorm, GroupNorm, RMSNorm and any
    # reference class named like them (nnref.normalization.BatchNorm1d).
    return isinstance(module, (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)) \
        or "Norm" in type(module).__name__


def decayed_parameters(model: nn.Module, exclude_bias: bool = True,
                       exclude_norm: bool = True) -> list[nn.Parameter]:
    """The parameters a weight penalty applies to: all, minus biases and the scales and shifts
    of normalization layers (penalising those only fights the normalization).

    Args:
        model (nn.Module): the model to read.
        exclude_bias (bool, optional): leave out parameters named ``bias*`` (default: True).
        exclude_norm (bool, optional): leave out the parameters of BatchNorm, LayerNorm,
            GroupNorm and any module whose class name contains ``Norm`` (default: True).

    Examples::

        >>> model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
        >>> [tuple(p.shape) for p in decayed_parameters(model)]  # the Linear weight only
        [(2, 2)]
    """
    out = []
    for module in model.modules():
        if exclude_norm and _is_norm_layer(module):
            continue
        for name, p in module.named_parameters(recurse=False):
            if not (exclude_bias and name.startswith("bias")):
                out.append(p)
    return out


def _penalised(params: nn.Module | _Params, exclude_bias: bool, exclude_norm: bool, fn: str):
    if isinstance(params, nn.Module):
        return decayed_parameters(params, exclude_bias, exclude_norm)
    if isinstance(params, torch.Tensor):
        return [params]
    params = list(params)
    if not all(isinstance(p, torch.Tensor) for p in params):
        raise TypeError(f"{fn}(): argument 'params' must be a Module, a Tensor or Tensors")
    return params


def _check_strength(strength: float, fn: str) -> None:
    if not strength >= 0:
        raise ValueError(f"{fn}(): argument 'strength' must be >= 0, got {strength}")


def l1_penalty(params: nn.Module | _Params, strength: float = 1.0, *, exclude_bias: bool = True,
               exclude_norm: bool = True) -> torch.Tensor:
    r"""L1 penalty :math:`\lambda \sum_i |w_i|` over the parameters, to add to the loss.

    .. math:: \frac{\partial}{\partial w_i} = \lambda \operatorname{sign}(w_i)
        \quad (0 \text{ at } w_i = 0)

    A constant pull towards zero whatever the weight's size: it drives weights to exactly zero
    (sparsity), where L2 only shrinks them.

    Args:
        params (nn.Module, Tensor or iterable of Tensors): a model (biases and normalization
            parameters excluded unless told otherwise) or tensors (all used).
        strength (float, optional): :math:`\lambda \ge 0` (default: 1.0).
        exclude_bias (bool, optional): see :func:`decayed_parameters` (default: True).
        exclude_norm (bool, optional): see :func:`decayed_parameters` (default: True).

    Examples::

        >>> w = torch.tensor([[1.0, -2.0], [0.0, 3.0]], requires_grad=True)
        >>> l1_penalty(w, strength=0.1)
        tensor(0.6000, grad_fn=<MulBackward0>)
    """
    _check_strength(strength, "l1_penalty")
    ps = _penalised(params, exclude_bias, exclude_norm, "l1_penalty")
    if not ps:
        return torch.zeros(())
    return strength * sum(p.abs().sum() for p in ps)


def l2_penalty(params: nn.Module | _Params, strength: float = 1.0, *, exclude_bias: bool = True,
               exclude_norm: bool = True, half: bool = False) -> torch.Tensor:
    r"""L2 penalty :math:`\lambda \sum_i w_i^2` (or :math:`\frac\lambda2\sum_i w_i^2`), to add
    to the loss.

    .. math:: \frac{\partial}{\partial w_i} = 2\lambda w_i \quad (\lambda w_i \text{ with }
        \texttt{half=True})

    With ``half=True`` the gradient is :math:`\lambda w`, the same update as an optimizer's
    ``weight_decay=λ`` under plain SGD. The lecture notes write :math:`\lambda(\sum_i w_i)^2`,
    the square of the sum, which is not a weight penalty (its gradient is the same for every
    weight): the sum of squares is meant.

    Args:
        params (nn.Module, Tensor or iterable of Tensors): a model (biases and normalization
            parameters excluded unless told otherwise) or tensors (all used).
        strength (float, optional): :math:`\lambda \ge 0` (default: 1.0).
        exclude_bias (bool, optional): see :func:`decayed_parameters` (default: True).
        exclude_norm (bool, optional): see :func:`decayed_parameters` (default: True).
        half (bool, optional): use :math:`\frac\lambda2\sum w^2` (default: False).

    Examples::

        >>> w = torch.tensor([[1.0, -2.0], [0.0, 3.0]], requires_grad=True)
        >>> l2_penalty(w, strength=0.1), l2_penalty(w, strength=0.1, half=True)
        (tensor(1.4000, grad_fn=<MulBackward0>), tensor(0.7000, grad_fn=<MulBackward0>))
    """
    _check_strength(strength, "l2_penalty")
    ps = _penalised(params, exclude_bias, exclude_norm, "l2_penalty")
    if not ps:
        return torch.zeros(())
    return (strength / 2 if half else strength) * sum((p * p).sum() for p in ps)


def _grads(parameters: _Params) -> list[torch.Tensor]:
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def _groups(grads: list[torch.Tensor]) -> dict[tuple, list[torch.Tensor]]:
    # foreach kernels take lists of one device and dtype.
    groups: dict[tuple, list[torch.Tensor]] = {}
    for g in grads:
        groups.setdefault((g.device, g.dtype), []).append(g)
    return groups


def _use_foreach(foreach: bool | None, grads: list[torch.Tensor], fn: str) -> bool:
    supported = all(not g.is_sparse and g.device.type in ("cpu", "cuda") for g in grads)
    if foreach and not supported:
        raise RuntimeError(f"{fn}(): foreach=True was passed, but can't use the foreach API on "
                           "these gradients (sparse or unsupported device)")
    return supported if foreach is None else foreach


def _p_norm(t: torch.Tensor, p: float) -> torch.Tensor:
    r""":math:`(\sum_i |t_i|^p)^{1/p}`, or :math:`\max_i |t_i|` for :math:`p = \infty`."""
    a = t.abs()
    return a.amax() if math.isinf(p) else a.pow(p).sum().pow(1.0 / p)


def clip_grad_norm_(parameters: _Params, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach: bool | None = None
                    ) -> torch.Tensor:
    r"""Rescale all gradients together so that their joint norm is at most ``max_norm``.

    .. math:: \|g\|_p = \Big(\sum_{\text{params}}\sum_i |g_i|^p\Big)^{1/p}
        \;(\max_i |g_i| \text{ for } p = \infty), \qquad
        g \leftarrow g\cdot\min\Big(1, \frac{\text{max\_norm}}{\|g\|_p + 10^{-6}}\Big)

    The fix for exploding gradients that keeps the update's direction. Like torch it always
    multiplies (by 1 when under the limit), so no device synchronisation is needed. Stricter
    than torch: a negative ``max_norm``, which would turn every gradient around, is refused.

    Args:
        parameters (Tensor or iterable of Tensors): tensors whose ``.grad`` is clipped in
            place.
        max_norm (float): the largest allowed norm, :math:`\ge 0`.
        norm_type (float, optional): :math:`p > 0`, or ``inf`` (default: 2.0).
        error_if_nonfinite (bool, optional): raise RuntimeError if the total norm is NaN or
            infinite (default: False).
        foreach (bool, optional): use the multi-tensor (``torch._foreach_*``) path; ``None``
            picks it when every gradient supports it (default: None).

    Returns:
        The total norm before clipping (a 0-d tensor), as torch.

    Examples::

        >>> w = nn.Parameter(torch.zeros(2))
        >>> w.grad = torch.tensor([3.0, 4.0])
        >>> clip_grad_norm_([w], max_norm=1.0)
        tensor(5.)
        >>> w.grad  # the same direction, norm 1
        tensor([0.6000, 0.8000])
    """
    # torch multiplies by the negative ratio and silently turns the gradient around
    if not max_norm >= 0:
        raise ValueError(f"clip_grad_norm_(): argument 'max_norm' must be >= 0, got {max_norm}")
    norm_type = float(norm_type)
    if not (norm_type > 0):
        raise ValueError(f"clip_grad_norm_(): argument 'norm_type' must be > 0 or inf, "
                         f"got {norm_type}")
    grads = _grads(parameters)
    if not grads:
        return torch.tensor(0.0)
    first = grads[0].device
    norms: list[torch.Tensor] = []  # one per gradient, in its own dtype, then the norm of those
    with torch.no_grad():
        for group in _groups(grads).values():
            if _use_foreach(foreach, group, "clip_grad_norm_"):
                absolute = torch._foreach_abs(group)
                if math.isinf(norm_type):
                    norms += [a.amax() for a in absolute]
                else:
                    powered = torch._foreach_pow(absolute, norm_type)
                    norms += torch._foreach_pow([a.sum() for a in powered], 1.0 / norm_type)
            else:
                norms += [_p_norm(g, norm_type) for g in group]
        total = _p_norm(torch.stack([n.to(first) for n in norms]), norm_type)
        if error_if_nonfinite and bool(total.isnan() | total.isinf()):
            raise RuntimeError(
                f"The total norm of order {norm_type} for gradients from `parameters` is "
                "non-finite, so it cannot be clipped. To disable this error and scale the "
                "gradients by the non-finite norm anyway, set `error_if_nonfinite=False`"
            )
        coef = (float(max_norm) / (total + 1e-6)).clamp(max=1.0)
        for (device, _), group in _groups(grads).items():
            if _use_foreach(foreach, group, "clip_grad_norm_"):
                torch._foreach_mul_(group, coef.to(device))
            else:
                for g in group:
                    g.mul_(coef.to(device))
    return total


def clip_grad_value_(parameters: _Params, clip_value: float, foreach: bool | None = None) -> None:
    r"""Clamp every gradient element to :math:`[-c, c]`.

    .. math:: g_i \leftarrow \max(-c, \min(c, g_i))

    Unlike norm clipping this changes the update's direction.

    Args:
        parameters (Tensor or iterable of Tensors): tensors whose ``.grad`` is clipped in
            place.
        clip_value (float): :math:`c`.
        foreach (bool, optional): use the multi-tensor path; ``None`` picks it when every
            gradient supports it (default: None).

    Examples::

        >>> w = nn.Parameter(torch.zeros(2))
        >>> w.grad = torch.tensor([3.0, -4.0])
        >>> clip_grad_value_([w], clip_value=2.0)
        >>> w.grad
        tensor([ 2., -2.])
    """
    clip_value = float(clip_value)
    with torch.no_grad():
        for group in _groups(_grads(parameters)).values():
            if _use_foreach(foreach, group, "clip_grad_value_"):
                torch._foreach_clamp_min_(group, -clip_value)
                torch._foreach_clamp_max_(group, clip_value)
            else:
                for g in group:
                    g.clamp_(min=-clip_value, max=clip_value)


@torch.no_grad()
def max_norm_(weight: torch.Tensor | nn.Module, max_norm: float, eps: float = 1e-7
              ) -> torch.Tensor | nn.Module:
    r"""Max-norm constraint (Srivastava et al., the dropout paper), applied in place.

    Each output unit's incoming weight vector :math:`w_j` (row ``j`` of a Linear weight, or
    filter ``j`` of a Conv weight, flattened) is projected back onto the ball of radius
    :math:`c`:

    .. math:: w_j \leftarrow w_j \cdot \min\Big(1, \frac{c}{\|w_j\|_2 + \epsilon}\Big)

    Call it after each optimizer step. Given a module, it constrains every parameter with 2 or
    more dimensions.

    Args:
        weight (Tensor or nn.Module): a weight (out, in, \*kernel), or a module.
        max_norm (float): :math:`c > 0`.
        eps (float, optional): keeps the division finite for a zero row (default: 1e-7).

    Examples::

        >>> w = torch.tensor([[3.0, 4.0], [0.3, 0.4]])
        >>> max_norm_(w, max_norm=1.0)  # the first row had norm 5, the second 0.5
        tensor([[0.6000, 0.8000],
                [0.3000, 0.4000]])
    """
    if not max_norm > 0:
        raise ValueError(f"max_norm_(): argument 'max_norm' must be > 0, got {max_norm}")
    if isinstance(weight, nn.Module):
        for p in weight.parameters():
            if p.dim() >= 2:
                max_norm_(p, max_norm, eps)
        return weight
    if weight.dim() < 2:
        raise ValueError("max_norm_(): argument 'weight' must have at least 2 dimensions "
                         f"(out, in, ...), got shape {tuple(weight.shape)}")
    rows = weight.reshape(weight.shape[0], -1)
    norms = rows.pow(2).sum(1, keepdim=True).sqrt()
    scale = (max_norm / (norms + eps)).clamp(max=1.0)
    return weight.mul_(scale.reshape((-1,) + (1,) * (weight.dim() - 1)))


class GaussianNoise(nn.Module):
    r"""Additive Gaussian noise injection, in training only.

    .. math:: y = x + \sigma\,\varepsilon, \quad \varepsilon \sim N(0, 1) \text{ (training)};
        \qquad y = x \text{ (evaluation)}; \qquad \frac{\partial y}{\partial x} = 1

    A regularizer on inputs or hidden units (no torch built-in): the network must be robust to
    small perturbations, which smooths the learned function.

    Args:
        std (float, optional): :math:`\sigma \ge 0` (default: 0.1).
        generator (torch.Generator, optional): draw the noise from this generator
            (reproducible runs); the global generator when ``None`` (default: None).

    Shape:
        - Input: :math:`(*)`, any shape.
        - Output: :math:`(*)`, same shape as the input.

    Examples::

        >>> noise = GaussianNoise(0.1, generator=torch.Generator().manual_seed(0))
        >>> noise(torch.zeros(3))
        tensor([ 0.1541, -0.0293, -0.2179])
        >>> noise.eval()(torch.zeros(3))
        tensor([0., 0., 0.])
    """

    def __init__(self, std: float = 0.1, generator: torch.Generator | None = None) -> None:
        super().__init__()
        if not std >= 0:
            raise ValueError(f"GaussianNoise(): argument 'std' must be >= 0, got {std}")
        self.std = std
        self.generator = generator

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not self.training or self.std == 0:
            return input
        noise = torch.randn(input.shape, generator=self.generator, dtype=input.dtype,
                            device=input.device)
        return input + self.std * noise

    def extra_repr(self) -> str:
        return f"std={self.std}"
