r"""Batch normalization with a hand-written, closed-form backward.

For each channel :math:`c` (dim 1), over the :math:`M = N \cdot \prod(\text{spatial})` values of
the mini-batch:

.. math::
    \mu = \frac{1}{M}\sum x, \quad \sigma^2 = \frac{1}{M}\sum (x - \mu)^2, \quad
    \hat x = \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}}, \quad y = \gamma \hat x + \beta

and the gradient of a loss :math:`L` with :math:`g = \partial L / \partial y`:

.. math::
    \frac{\partial L}{\partial \beta} = \sum g, \quad
    \frac{\partial L}{\partial \gamma} = \sum g \hat x, \quad
    \frac{\partial L}{\partial x} = \frac{\gamma}{\sqrt{\sigma^2 + \epsilon}}
    \Big(g - \frac{1}{M}\sum g - \hat x \,\frac{1}{M}\sum g \hat x\Big)

(the last two terms are what :math:`\mu` and :math:`\sigma^2` contribute, since they depend on
every :math:`x` of the channel). In eval the running statistics are constants and
:math:`\partial L/\partial x = \gamma g / \sqrt{\hat\sigma^2 + \epsilon}`. Running statistics
follow torch: :math:`\hat\mu \leftarrow (1 - m)\hat\mu + m\mu`, :math:`\hat\sigma^2 \leftarrow
(1 - m)\hat\sigma^2 + m \frac{M}{M - 1}\sigma^2` (unbiased), with ``momentum=None`` meaning the
cumulative average :math:`m = 1/t` at step :math:`t`.

Backward keeps the input and two per-channel vectors (:math:`\mu`, :math:`1/\sqrt{\sigma^2 +
\epsilon}`), plus :math:`\gamma` — never :math:`\hat x` or the output.
"""

from __future__ import annotations

import torch
from torch import nn

from nnref._tensor import check_input, opmath

__all__ = ["BatchNorm1d", "BatchNorm2d", "batch_norm"]


def _reduce_dims(x: torch.Tensor) -> list[int]:
    return [0] + list(range(2, x.dim()))


def _per_channel(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A (C,) vector shaped (1, C, 1, ...) to broadcast over ``x``."""
    return v.reshape((1, -1) + (1,) * (x.dim() - 2))


# CPU reductions of at most _DIRECT elements cast to float64 outright (a small copy); larger
# ones run over chunks of about _CHUNK elements, so temporaries stay bounded (full-size ones
# cost a page fault per 4 KiB) while the chunk count, hence the per-op overhead, stays small.
_DIRECT, _CHUNK = 1 << 16, 1 << 20


def _channel_sum(fn, *tensors: torch.Tensor) -> torch.Tensor:
    """Per-channel (dim 1) sum of ``fn(*tensors)``, accumulated as torch's batch norm does.

    On CPU torch accumulates in float64 (its ``acc_type``); here too: directly for small
    inputs, and for large ones over chunks of the batch, so that neither a float64 copy nor
    ``fn``'s temporary (``(x - mean)^2``, ``g (x - mean)``) is ever materialised at full
    size. Under ``torch.compile`` the compiler fuses ``fn`` and the cast into the reduction
    itself, so there is no chunk loop. On other devices torch accumulates in float32, and so
    does this.
    """
    t = tensors[0]
    dims = _reduce_dims(t)
    if t.device.type != "cpu":
        return fn(*tensors).sum(dims)
    per_row = t.numel() // max(t.shape[0], 1)
    if torch.compiler.is_compiling() or t.numel() <= _DIRECT:
        return fn(*tensors).sum(dims, dtype=torch.float64)
    rows = max(1, _CHUNK // max(per_row, 1))
    parts = zip(*(u.split(rows) for u in tensors), strict=True)
    # spatial dims are summed in the input's precision (a contiguous inner reduction: fast,
    # vectorised cascade summation), the (rows, C) partial sums in float64
    return sum(_spatial_sum(fn(*chunk)).sum(0, dtype=torch.float64) for chunk in parts)


def _spatial_sum(t: torch.Tensor) -> torch.Tensor:
    return t.sum(list(range(2, t.dim()))) if t.dim() > 2 else t


def _identity(t: torch.Tensor) -> torch.Tensor:
    return t


def _batch_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and biased variance of ``x``, never by E[x^2] - E[x]^2 (which cancels
    when mean >> std). Off the CPU: ``var_mean``, one Welford pass. On CPU ``var_mean`` over
    dims (0, 2, 3) is ~30x slower than sums, so there: two passes, centred before squaring."""
    if x.device.type != "cpu":
        var, mean = torch.var_mean(x, _reduce_dims(x), correction=0)
        return mean, var
    m = x.numel() // max(x.shape[1], 1)
    mean = (_channel_sum(_identity, x) / m).to(x.dtype)
    mean_v = _per_channel(mean, x)
    var = _channel_sum(lambda c: (c - mean_v).square(), x) / m
    return mean, var.to(x.dtype)


class _BatchNormFn(torch.autograd.Function):
    """y = (x - mean) * invstd * weight + bias with per-channel mean/invstd.

    ``batch_stats=True``: mean/invstd are the batch's own statistics (training), so backward
    includes their dependence on x; otherwise they are constants (running statistics).
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(x, weight, bias, mean, invstd, eps, batch_stats):
        xf = opmath(x)
        scale = invstd if weight is None else invstd * weight
        shift = -mean * scale if bias is None else bias - mean * scale
        # one fused pass over the input: y = shift + x * scale
        return torch.addcmul(_per_channel(shift, xf), xf, _per_channel(scale, xf)).to(x.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, weight, bias, mean, invstd, eps, batch_stats = inputs
        ctx.eps, ctx.batch_stats = eps, batch_stats
        ctx.save_for_backward(x, weight, mean, invstd)  # input + per-channel vectors only

    @staticmethod
    def backward(ctx, grad):
        x, weight, mean, invstd = ctx.saved_tensors
        xf, g = opmath(x), opmath(grad)
        if ctx.batch_stats and torch.is_grad_enabled():
            # Double backward: the statistics are functions of x, so rebuild them inside the
            # graph (the saved copies are constants to autograd).
            mean, var = _batch_stats(xf)
            invstd = (var + ctx.eps).rsqrt()
        mean_v = _per_channel(mean, xf)
        gamma = invstd if weight is None else invstd * weight  # gamma / sqrt(var + eps)
        need_x, need_w, need_b = ctx.needs_input_grad[:3]

        sum_g = None
        if need_b or (need_x and ctx.batch_stats):
            sum_g = _channel_sum(_identity, g).to(g.dtype)
        sum_gxhat = None
        if need_w or (need_x and ctx.batch_stats):
            # sum g (x - mu) rather than sum g x - mu sum g: no cancellation when |mu| >> sigma
            sum_gxhat = _channel_sum(lambda g, x: g * (x - mean_v), g, xf).to(g.dtype) * invstd

        grad_x = None
        if need_x:
            if ctx.batch_stats:
                m = xf.numel() // max(xf.shape[1], 1)
                # dx = A g + B x + D, per channel: two fused passes over the big tensors
                a = gamma
                b = -gamma * invstd * sum_gxhat / m
                d = -a * sum_g / m - b * mean
                grad_x = torch.addcmul(_per_channel(d, xf), xf, _per_channel(b, xf))
                grad_x = grad_x.addcmul_(g, _per_channel(a, xf))
            else:
                grad_x = g * _per_channel(gamma, xf)
            grad_x = grad_x.to(x.dtype)
        grad_w = sum_gxhat.to(weight.dtype) if need_w else None
        grad_b = sum_g.to(weight.dtype if weight is not None else grad.dtype) if need_b else None
        return grad_x, grad_w, grad_b, None, None, None, None


def _check_batch_size(input: torch.Tensor) -> None:
    values = input.numel() // max(input.shape[1], 1) if input.shape[1] else 0
    if input.shape[0] == 0 or values == 0:
        raise ValueError(
            f"batch_norm(): zero-size batch in training (input size {tuple(input.shape)}): "
            "batch statistics are undefined; skip the step or use eval mode"
        )
    if values == 1:
        raise ValueError(
            f"Expected more than 1 value per channel when training, got input size {input.size()}"
        )


def _check_channels(input: torch.Tensor, tensors: dict[str, torch.Tensor | None]) -> None:
    channels = input.shape[1]
    for name, t in tensors.items():
        if t is not None and t.numel() != channels:
            raise RuntimeError(
                f"batch_norm(): {name} has {t.numel()} elements but the input has {channels} "
                f"channels (dim 1 of input size {tuple(input.shape)})"
            )


def batch_norm(
    input: torch.Tensor,
    running_mean: torch.Tensor | None,
    running_var: torch.Tensor | None,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> torch.Tensor:
    r"""Batch normalization over dim 1 of a (N, C, ...) input.

    .. math::
        y = \gamma\,\hat x + \beta, \qquad \hat x = \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}},
        \qquad \frac{\partial L}{\partial x} = \frac{\gamma}{\sqrt{\sigma^2 + \epsilon}}
        \Big(g - \overline{g} - \hat x\,\overline{g \hat x}\Big) \text{ (training)}, \qquad
        \frac{\partial L}{\partial x} = \frac{\gamma\, g}{\sqrt{\hat\sigma^2 + \epsilon}}
        \text{ (eval)}

        \frac{\partial L}{\partial \gamma} = \sum g\,\hat x, \qquad
        \frac{\partial L}{\partial \beta} = \sum g

    per channel, with :math:`g = \partial L/\partial y`, bars and sums over the :math:`M` values
    of the channel in the mini-batch, :math:`\mu, \sigma^2` the batch mean and biased variance in
    training and the running :math:`\hat\mu, \hat\sigma^2` in eval. The two subtracted terms are
    what :math:`\mu` and :math:`\sigma^2` pass back, since they depend on every :math:`x` of the
    channel.

    In training (:math:`\mu, \sigma^2` from the batch) ``running_mean``/``running_var``, when
    given, are updated in place with ``momentum`` (the variance unbiased, as torch). In eval they
    are used instead of the batch statistics and must be given.

    Args:
        input (Tensor): :math:`(N, C, *)`, floating point.
        running_mean (Tensor or None): :math:`(C)`, updated in place in training.
        running_var (Tensor or None): :math:`(C)`, updated in place in training (unbiased).
        weight (Tensor, optional): :math:`\gamma`, :math:`(C)`. Default: ``None`` (1)
        bias (Tensor, optional): :math:`\beta`, :math:`(C)`. Default: ``None`` (0)
        training (bool, optional): use the batch statistics. Default: ``False``
        momentum (float, optional): weight of the batch in the running statistics. Default: 0.1
        eps (float, optional): added to the variance. Default: 1e-5

    Shape:
        - Input: :math:`(N, C, *)`. Output: the input's shape.

    Raises:
        ValueError: one value per channel or a zero-size batch in training; ``eps`` not
            positive in training or negative in eval.
        RuntimeError: fewer than 2 dims; parameter/statistic sizes not matching the channels;
            missing running statistics in eval.

    Examples::

        >>> import torch
        >>> from nnref.normalization import batch_norm
        >>> x = torch.tensor([[1.0, -2.0], [3.0, 0.0], [5.0, 2.0]])
        >>> mean, var = torch.zeros(2), torch.ones(2)
        >>> batch_norm(x, mean, var, training=True)
        tensor([[-1.2247, -1.2247],
                [ 0.0000,  0.0000],
                [ 1.2247,  1.2247]])
        >>> mean, var  # updated in place: 0.9 * old + 0.1 * batch (variance unbiased)
        (tensor([0.3000, 0.0000]), tensor([1.3000, 1.3000]))
    """
    check_input(input, "batch_norm")
    if input.dim() < 2:
        raise RuntimeError(
            f"batch_norm(): input must have at least 2 dims (N, C, ...), got {input.dim()}"
        )
    _check_channels(input, {"running_mean": running_mean, "running_var": running_var,
                            "weight": weight, "bias": bias})
    if training:
        _check_batch_size(input)
        if eps <= 0.0:
            raise ValueError(f"batch_norm(): eps must be positive during training, got {eps}")
    elif eps < 0.0:
        raise ValueError(f"batch_norm(): eps must be non-negative, got {eps}")

    if training:
        with torch.no_grad():
            mean, var = _batch_stats(opmath(input.detach()))
            invstd = (var + eps).rsqrt()
        _update_running(input, mean, var, running_mean, running_var, momentum)
    else:
        if running_mean is None or running_var is None:
            raise RuntimeError("batch_norm(): running_mean and running_var must be given in "
                               "evaluation mode (training=False)")
        mean = opmath(running_mean)
        invstd = (opmath(running_var) + eps).rsqrt()
    return _BatchNormFn.apply(input, weight, bias, mean, invstd, eps, training)


@torch.no_grad()
def _update_running(input, mean, var, running_mean, running_var, momentum) -> None:
    m = input.numel() // input.shape[1]
    if running_mean is not None:
        running_mean.mul_(1 - momentum).add_(mean.to(running_mean.dtype), alpha=momentum)
    if running_var is not None:
        unbiased = var * (m / (m - 1))  # M > 1 is checked before
        running_var.mul_(1 - momentum).add_(unbiased.to(running_var.dtype), alpha=momentum)


class _BatchNorm(nn.Module):
    """State and bookkeeping shared by BatchNorm1d/2d, mirroring torch's ``_BatchNorm``."""

    _version = 2  # torch's: state dicts carry num_batches_tracked
    __constants__ = ["track_running_stats", "momentum", "eps", "num_features", "affine"]

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device=None,
                 dtype=None, *, bias: bool = True) -> None:
        super().__init__()
        name = type(self).__name__
        if not isinstance(num_features, int) or num_features < 1:
            raise ValueError(f"{name}: num_features must be a positive integer, "
                             f"got {num_features!r}")
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ValueError(f"{name}: momentum must be in [0, 1] or None, got {momentum}")
        if not eps > 0.0:
            raise ValueError(f"{name}: eps must be positive, got {eps}")
        factory = {"device": device, "dtype": dtype}
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = nn.Parameter(torch.empty(num_features, **factory))
            if bias:
                self.bias = nn.Parameter(torch.empty(num_features, **factory))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features, **factory))
            self.register_buffer("running_var", torch.ones(num_features, **factory))
            self.register_buffer(
                "num_batches_tracked",
                torch.tensor(0, dtype=torch.long,
                             **{k: v for k, v in factory.items() if k != "dtype"}),
            )
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        """Mean 0, variance 1, zero batches seen."""
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        """Running statistics reset; gamma = 1, beta = 0."""
        self.reset_running_stats()
        if self.affine:
            with torch.no_grad():
                self.weight.fill_(1)
                if self.bias is not None:
                    self.bias.zero_()

    def _check_input_dim(self, input: torch.Tensor) -> None:
        raise NotImplementedError

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(input)
        if input.shape[1] != self.num_features:
            raise RuntimeError(
                f"{type(self).__name__}: expected {self.num_features} channels (dim 1), "
                f"got input size {tuple(input.shape)}"
            )
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            if input.shape[0] > 0:  # an empty batch raises below and must not count
                self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / max(float(self.num_batches_tracked), 1.0)
        # batch statistics in training, and in eval when there are no running statistics
        use_batch = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats
        return batch_norm(
            input,
            self.running_mean if track else None,
            self.running_var if track else None,
            self.weight, self.bias, use_batch, factor, self.eps,
        )

    def extra_repr(self) -> str:
        return ("{num_features}, eps={eps}, momentum={momentum}, affine={affine}, "
                "bias={use_bias}, track_running_stats={track_running_stats}".format(
                    **self.__dict__, use_bias=self.bias is not None))

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs) -> None:
        # State dicts saved before num_batches_tracked existed (version < 2) load with 0, as
        # torch's BatchNorm does.
        version = local_metadata.get("version", None)
        key = prefix + "num_batches_tracked"
        if ((version is None or version < 2) and self.track_running_stats
                and key not in state_dict):
            state_dict[key] = torch.tensor(0, dtype=torch.long,
                                           device=self.num_batches_tracked.device)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)


class BatchNorm1d(_BatchNorm):
    r"""Batch normalization over a (N, C) or (N, C, L) input: each channel is normalised with the
    mean and variance of the mini-batch, then scaled and shifted by learned :math:`\gamma,
    \beta`.

    .. math::
        y = \gamma\,\hat x + \beta, \qquad \hat x = \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}},
        \qquad \frac{\partial L}{\partial x} = \frac{\gamma}{\sqrt{\sigma^2 + \epsilon}}
        \Big(g - \overline{g} - \hat x\,\overline{g \hat x}\Big) \text{ (training)}, \qquad
        \frac{\partial L}{\partial x} = \frac{\gamma\, g}{\sqrt{\hat\sigma^2 + \epsilon}}
        \text{ (eval)}

        \frac{\partial L}{\partial \gamma} = \sum g\,\hat x, \qquad
        \frac{\partial L}{\partial \beta} = \sum g

    per channel, with :math:`g = \partial L/\partial y`, bars and sums over the :math:`M` values
    of the channel in the mini-batch, :math:`\mu, \sigma^2` the batch mean and biased variance in
    training and the running :math:`\hat\mu, \hat\sigma^2` in eval. The two subtracted terms are
    what :math:`\mu` and :math:`\sigma^2` pass back, since they depend on every :math:`x` of the
    channel.

    Statistics are per channel over N (and L).

    Running statistics follow torch: :math:`\hat\mu \leftarrow (1 - m)\hat\mu + m\mu` and
    :math:`\hat\sigma^2 \leftarrow (1 - m)\hat\sigma^2 + m\frac{M}{M - 1}\sigma^2` (unbiased),
    ``momentum=None`` meaning the cumulative average :math:`m = 1/t` at step :math:`t`. The
    lecture notes give the normalisation and the affine map; which variance the running average
    keeps is torch's choice.

    Args:
        num_features (int): :math:`C`, the number of channels (dim 1).
        eps (float, optional): added to the variance, > 0. Default: 1e-5
        momentum (float, optional): weight :math:`m` of the new batch in the running statistics,
            in [0, 1]; ``None`` for the cumulative average. Default: 0.1
        affine (bool, optional): learn :math:`\gamma` (``weight``, initially 1) and
            :math:`\beta` (``bias``, initially 0). Default: ``True``
        track_running_stats (bool, optional): keep ``running_mean``, ``running_var`` and
            ``num_batches_tracked`` and use them in eval; ``False`` uses the batch statistics
            always. Default: ``True``
        device, dtype: of the parameters and buffers. Default: ``None``
        bias (bool, optional, keyword-only): with ``affine``, also learn :math:`\beta`;
            ``False`` keeps :math:`\beta = 0` and ``bias`` is ``None``. Default: ``True``

    Shape:
        - Input: :math:`(N, C)` or :math:`(N, C, L)`. Output: the input's shape.

    Examples::

        >>> import torch
        >>> from nnref.normalization import BatchNorm1d
        >>> bn = BatchNorm1d(2)
        >>> x = torch.tensor([[1.0, -2.0], [3.0, 0.0], [5.0, 2.0]], requires_grad=True)
        >>> y = bn(x)
        >>> y.detach()
        tensor([[-1.2247, -1.2247],
                [ 0.0000,  0.0000],
                [ 1.2247,  1.2247]])
        >>> torch.autograd.grad(y[:, 0].sum(), x)[0]  # shifting a whole channel changes nothing
        tensor([[0., 0.],
                [0., 0.],
                [0., 0.]])
        >>> bn.running_mean, bn.running_var, bn.num_batches_tracked
        (tensor([0.3000, 0.0000]), tensor([1.3000, 1.3000]), tensor(1))
    """

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() not in (2, 3):
            raise ValueError(f"BatchNorm1d: expected 2D or 3D input (got {input.dim()}D input)")


class BatchNorm2d(_BatchNorm):
    r"""Batch normalization over a (N, C, H, W) input: each channel (feature map) is normalised
    with the mean and variance over N, H and W, then scaled and shifted by learned
    :math:`\gamma, \beta`.

    .. math::
        y = \gamma\,\hat x + \beta, \qquad \hat x = \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}},
        \qquad \frac{\partial L}{\partial x} = \frac{\gamma}{\sqrt{\sigma^2 + \epsilon}}
        \Big(g - \overline{g} - \hat x\,\overline{g \hat x}\Big) \text{ (training)}, \qquad
        \frac{\partial L}{\partial x} = \frac{\gamma\, g}{\sqrt{\hat\sigma^2 + \epsilon}}
        \text{ (eval)}

        \frac{\partial L}{\partial \gamma} = \sum g\,\hat x, \qquad
        \frac{\partial L}{\partial \beta} = \sum g

    per channel, with :math:`g = \partial L/\partial y`, bars and sums over the :math:`M` values
    of the channel in the mini-batch, :math:`\mu, \sigma^2` the batch mean and biased variance in
    training and the running :math:`\hat\mu, \hat\sigma^2` in eval. The two subtracted terms are
    what :math:`\mu` and :math:`\sigma^2` pass back, since they depend on every :math:`x` of the
    channel.

    Running statistics follow torch: :math:`\hat\mu \leftarrow (1 - m)\hat\mu + m\mu` and
    :math:`\hat\sigma^2 \leftarrow (1 - m)\hat\sigma^2 + m\frac{M}{M - 1}\sigma^2` (unbiased),
    ``momentum=None`` meaning the cumulative average :math:`m = 1/t` at step :math:`t`. The
    lecture notes give the normalisation and the affine map; which variance the running average
    keeps is torch's choice.

    Args:
        num_features (int): :math:`C`, the number of channels (dim 1).
        eps (float, optional): added to the variance, > 0. Default: 1e-5
        momentum (float, optional): weight :math:`m` of the new batch in the running statistics,
            in [0, 1]; ``None`` for the cumulative average. Default: 0.1
        affine (bool, optional): learn :math:`\gamma` (``weight``, initially 1) and
            :math:`\beta` (``bias``, initially 0). Default: ``True``
        track_running_stats (bool, optional): keep ``running_mean``, ``running_var`` and
            ``num_batches_tracked`` and use them in eval; ``False`` uses the batch statistics
            always. Default: ``True``
        device, dtype: of the parameters and buffers. Default: ``None``
        bias (bool, optional, keyword-only): with ``affine``, also learn :math:`\beta`;
            ``False`` keeps :math:`\beta = 0` and ``bias`` is ``None``. Default: ``True``

    Shape:
        - Input: :math:`(N, C, H, W)`. Output: the input's shape (memory format kept,
          channels-last included).

    Examples::

        >>> import torch
        >>> from nnref.normalization import BatchNorm2d
        >>> bn = BatchNorm2d(2)
        >>> x = torch.arange(16.0).reshape(2, 2, 2, 2)
        >>> y = bn(x)
        >>> torch.allclose(y, torch.nn.BatchNorm2d(2)(x))
        True
        >>> y.mean((0, 2, 3)).abs().max() < 1e-6, bn.eval().training
        (tensor(True), False)
    """

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() != 4:
            raise ValueError(f"BatchNorm2d: expected 4D input (got {input.dim()}D input)")
