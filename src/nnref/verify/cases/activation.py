"""Verification cases of the activations, and the oracles for those torch lacks.

Inputs are (3, 6, 5) with the channels (6) on dim 1, so per-channel cases use 6 parameters.

An oracle takes the reference module (for its hyper-parameters and parameters) and the input,
and computes the function a different way from the reference: through torch's own activations
and autograd rather than a hand-written backward. Agreement of value and gradient with the
reference is the evidence of correctness where no built-in exists.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

Kwargs = Mapping[str, Any]


@dataclass(frozen=True)
class ActivationCases:
    """What the harness needs to test one activation.

    Attributes:
        kwargs: constructor keyword sets, one parity run each (the first is the default one).
        domain: interval test inputs are drawn from.
        kinks: points where the derivative is a convention (tested exactly).
        hyper: ``name -> (low, high)`` ranges property tests draw float hyper-parameters from.
        hyper_min_abs: drawn hyper-parameters closer to 0 than this (and not 0) are skipped.
        invalid: ``(kwargs, exception type)`` pairs construction must refuse; the first key is
            the invalid argument, which the message must name.
        scalar_case: keyword set for 0-d input, where ``kwargs`` need a channel or a dim a
            scalar lacks; ``None``: the case itself.
        oracle: ``(module, x) -> f(x)`` for an activation without a torch built-in.
        limits: hand-worked ``{x: (f(x), f'(x))}`` at -inf and +inf, where the comparison
            cannot give them (an oracle's naive formula gives inf - inf; a deliberate deviation
            where torch returns NaN): one mapping for every case, or ``kwargs -> mapping``
            where they depend on the hyper-parameters.
    """

    kwargs: tuple[Kwargs, ...] = ({},)
    domain: tuple[float, float] = (-4.0, 4.0)
    kinks: tuple[float, ...] = ()
    hyper: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    hyper_min_abs: float = 0.0
    invalid: tuple[tuple[Kwargs, type[Exception]], ...] = ()
    scalar_case: Kwargs | None = None
    oracle: Callable[[torch.nn.Module, torch.Tensor], torch.Tensor] | None = None
    limits: (Mapping[float, tuple[float, float]]
             | Callable[[Kwargs], Mapping[float, tuple[float, float]]]) = field(
        default_factory=dict)


CASE_TYPE = ActivationCases


def _binary_step(m, x):
    # Forward as torch.heaviside; no path to x, so its gradient is the zero the reference claims.
    return torch.heaviside(x.detach(), torch.ones((), dtype=x.dtype, device=x.device))


def _sqnl(m, x):
    # "+ 0 * x" lets NaN through the comparisons below, as every torch activation does.
    return 0 * x + torch.where(
        x > 2, torch.ones_like(x),
        torch.where(x >= 0, x - x * x / 4,
                    torch.where(x >= -2, x + x * x / 4, -torch.ones_like(x))))


def _brelu(m, x):
    dim = m.dim if x.dim() >= 2 else 0
    n = x.shape[dim] if x.dim() else 1
    even = (torch.arange(n, device=x.device) % 2 == 0)
    if x.dim():
        shape = [1] * x.dim()
        shape[dim] = n
        even = even.reshape(shape)
    else:
        even = even.reshape(())
    return torch.where(even, F.relu(x), -F.relu(-x))


def _apl(m, x):
    a, b = m.a, m.b
    out = F.relu(x)
    for s in range(a.shape[0]):
        shape = (-1,) + (1,) * (x.dim() - 2) if x.dim() >= 2 else (-1,)
        ab = (a[s].reshape(shape), b[s].reshape(shape)) if x.dim() else (a[s, 0], b[s, 0])
        out = out + ab[0] * F.relu(-x + ab[1])
    return out


def _bent_identity(m, x):
    return (torch.sqrt(x * x + 1) - 1) / 2 + x


def _swish(m, x):
    beta = m.beta if isinstance(m.beta, torch.Tensor) else torch.tensor(m.beta, dtype=x.dtype)
    return x * torch.sigmoid(beta * x)


def _soft_exponential(m, x):
    a = m.alpha
    av = float(a.detach())
    if av > 0:
        return _compensated(x, a, torch.expm1(a * x) / a + a, a * x, 1.0, _alpha_grad_positive)
    if av < 0:
        return _compensated(x, a, -torch.log1p(-a * (x + a)) / a, -a * (x + a), 0.75,
                            _alpha_grad_negative)
    # alpha = 0: the identity, with the alpha-derivative the two one-sided limits agree on
    # (1 + x^2 / 2), expressed as a term whose value is 0 and whose alpha-gradient is that.
    # (x detached there: that term's x-gradient, a x, is 0 at a = 0 but NaN for x = NaN.)
    return x + a * (1 + x.detach() ** 2 / 2)


def _compensated(x, a, plain, z, radius, alpha_grad):
    """``plain`` (the formula, differentiated by autograd) where ``|z| >= radius``; within it,
    the same value and x-gradient with the alpha-gradient from ``alpha_grad``, a series free of
    the cancellation autograd's chain rule suffers there (x e^{ax}/a - (e^{ax} - 1)/a^2 for
    a > 0: terms of size x/a leave x^2/2, 16 float64 ulps lost at a = 2^-5). The gradient of
    the branch not taken is masked by torch.where, and its inputs are kept finite."""
    small = z.detach().abs() < radius
    ad = a.detach()
    xs = torch.where(small, x, torch.zeros_like(x))
    value = (torch.expm1(ad * xs) / ad + ad if float(ad) > 0
             else -torch.log1p(-ad * (xs + ad)) / ad)
    # (a - ad) is 0: the value is unchanged, the alpha-gradient is alpha_grad
    series = value + (a - ad) * alpha_grad(xs.detach(), ad)
    return torch.where(small, series, plain)


def _alpha_grad_positive(x, a):
    """d/da (e^{ax} - 1)/a + a = x^2 phi'(ax) + 1, phi(z) = (e^z - 1)/z, |ax| < 1:
    phi'(z) = sum_{n>=1} n z^{n-1} / (n+1)!."""
    z = a * x
    power, total = torch.full_like(z, 0.5), torch.zeros_like(z)  # z^{n-1} / (n+1)!
    for n in range(1, 30):
        total = total + n * power
        power = power * z / (n + 2)
    return x * x * total + 1


def _alpha_grad_negative(x, a):
    """d/da -ln(1 + w)/a with w = -a (x + a), |w| < 3/4: f = (x + a) h(w), h = ln(1 + w)/w,
    f_a = h(w) - (x + a)(x + 2a) h'(w), h'(w) = -sum_{n>=1} n/(n+1) (-w)^{n-1}."""
    w = -a * (x + a)
    h = torch.where(w == 0, torch.ones_like(w), torch.log1p(w) / w)
    power, dh = torch.ones_like(w), torch.zeros_like(w)
    for n in range(1, 150):
        dh = dh - n / (n + 1) * power
        power = power * -w
    return h - (x + a) * (x + 2 * a) * dh


def _soft_exponential_limits(kwargs):
    a = kwargs.get("alpha", 0.0)
    if a > 0:  # (e^{a x} - 1) / a + a and its derivative e^{a x}
        return {-INF: (a - 1 / a, 0.0), INF: (INF, INF)}
    if a < 0:  # -ln(1 - a (x + a)) / a: undefined below x = -a + 1/a; f' = 1 / (1 - a (x + a))
        return {-INF: (NAN, 0.0), INF: (INF, 0.0)}
    return {-INF: (-INF, 1.0), INF: (INF, 1.0)}  # the identity


def _soft_clipping(m, x):
    # softplus as logaddexp(0, z): F.softplus returns z itself above its threshold of 20, an
    # error of log1p(e^-20) = 2e-9, millions of float64 ulps.
    alpha = m.alpha
    zero = torch.zeros((), dtype=x.dtype, device=x.device)
    return (torch.logaddexp(zero, alpha * x) - torch.logaddexp(zero, alpha * (x - 1))) / alpha


INF = math.inf
NAN = math.nan
_RELU_KINK = (0.0,)
_SATURATES = {-INF: (-1.0, 0.0), INF: (1.0, 0.0)}

CASES: dict[str, ActivationCases] = {
    "identity": ActivationCases(),
    "binary_step": ActivationCases(kinks=(0.0,), oracle=_binary_step,
                                   limits={-INF: (0.0, 0.0), INF: (1.0, 0.0)}),
    "sigmoid": ActivationCases(),
    "tanh": ActivationCases(),
    "softsign": ActivationCases(limits=_SATURATES),  # torch: NaN (inf / inf)
    "sqnl": ActivationCases(kinks=(-2.0, 2.0), domain=(-3.0, 3.0), oracle=_sqnl,
                            limits=_SATURATES),
    "relu": ActivationCases(kwargs=({}, {"inplace": True}), kinks=_RELU_KINK),
    # brelu's limits depend on the feature index: covered by the finite extremes.
    "brelu": ActivationCases(kinks=_RELU_KINK, oracle=_brelu),
    "leaky_relu": ActivationCases(
        kwargs=({}, {"negative_slope": 0.2}, {"negative_slope": 0.1, "inplace": True}),
        kinks=_RELU_KINK, hyper={"negative_slope": (0.0, 0.5)}),
    "prelu": ActivationCases(
        kwargs=({}, {"num_parameters": 6}, {"num_parameters": 6, "init": -0.3}),
        kinks=_RELU_KINK, hyper={"init": (-1.0, 1.0)},
        invalid=(({"num_parameters": 0}, ValueError), ({"num_parameters": -1}, ValueError)),
        scalar_case={}),
    "rrelu": ActivationCases(
        kwargs=({}, {"lower": 0.05, "upper": 0.4}), kinks=_RELU_KINK,
        invalid=(({"lower": 0.5, "upper": 0.1}, ValueError),)),
    "elu": ActivationCases(
        kwargs=({}, {"alpha": 0.5}, {"alpha": -0.5}, {"alpha": 1.0, "inplace": True}),
        kinks=_RELU_KINK, hyper={"alpha": (-2.0, 3.0)}),
    "selu": ActivationCases(kwargs=({}, {"inplace": True}), kinks=_RELU_KINK),
    # apl has no limits at -inf: 0 * inf in the hinge term is IEEE NaN, as the formula.
    "apl": ActivationCases(
        kwargs=({"num_features": 6}, {"num_features": 6, "hinges": 3}), kinks=_RELU_KINK,
        invalid=(({"num_features": 0}, ValueError),
                 ({"hinges": 0, "num_features": 6}, ValueError)),
        scalar_case={"num_features": 1}, oracle=_apl),
    "bent_identity": ActivationCases(oracle=_bent_identity,
                                     limits={-INF: (-INF, 0.5), INF: (INF, 1.5)}),
    "silu": ActivationCases(kwargs=({}, {"inplace": True})),
    "swish": ActivationCases(
        kwargs=({}, {"beta": 1.7}, {"beta": 0.5, "learnable": True}),
        hyper={"beta": (0.05, 4.0)}, oracle=_swish,
        # As torch's SiLU (beta = 1): inf * 0 terms give NaN for f(-inf) and f'(+-inf).
        limits={-INF: (NAN, NAN), INF: (INF, NAN)}),
    "softplus": ActivationCases(
        kwargs=({}, {"beta": 2.0, "threshold": 5.0}), domain=(-12.0, 12.0),
        hyper={"beta": (0.1, 5.0), "threshold": (1.0, 30.0)},
        invalid=(({"beta": 0.0}, ValueError), ({"beta": -1.0}, ValueError))),
    "soft_exponential": ActivationCases(
        kwargs=({}, {"alpha": 0.5}, {"alpha": -0.5}), domain=(-1.0, 3.0),
        hyper={"alpha": (-0.2, 0.9)},
        # Below this |alpha| the oracle's autograd alpha-gradient cancels (x/a - x a/a^2);
        # small alpha is tested against float64 finite differences instead.
        hyper_min_abs=1e-3, oracle=_soft_exponential,
        limits=_soft_exponential_limits),
    "soft_clipping": ActivationCases(
        kwargs=({}, {"alpha": 5.0}), domain=(-6.0, 6.0), hyper={"alpha": (0.2, 20.0)},
        invalid=(({"alpha": 0.0}, ValueError),), oracle=_soft_clipping,
        limits={-INF: (0.0, 0.0), INF: (1.0, 0.0)}),
    "softmax": ActivationCases(kwargs=({"dim": 1}, {"dim": -1}, {"dim": 0}),
                               scalar_case={"dim": 0}),
    "log_softmax": ActivationCases(kwargs=({"dim": 1}, {"dim": -1}), scalar_case={"dim": -1}),
}
