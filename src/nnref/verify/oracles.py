"""Independent formulas for components torch does not have, written with torch built-ins.

Each oracle takes the reference module (for its hyper-parameters and parameters) and the input,
and computes the function a different way from the reference: through torch's own activations
and autograd rather than a hand-written backward. Agreement of value and gradient with the
reference is the evidence of correctness where no built-in exists.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


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
        return torch.expm1(a * x) / a + a
    if av < 0:
        return -torch.log1p(-a * (x + a)) / a
    # alpha = 0: the identity, with the alpha-derivative the two one-sided limits agree on
    # (1 + x^2 / 2), expressed as a term whose value is 0 and whose alpha-gradient is that.
    # (x detached there: that term's x-gradient, a x, is 0 at a = 0 but NaN for x = NaN.)
    return x + a * (1 + x.detach() ** 2 / 2)


def _soft_clipping(m, x):
    alpha = m.alpha
    return (F.softplus(alpha * x) - F.softplus(alpha * (x - 1))) / alpha


ORACLES = {
    "binary_step": _binary_step,
    "sqnl": _sqnl,
    "brelu": _brelu,
    "apl": _apl,
    "bent_identity": _bent_identity,
    "swish": _swish,
    "soft_exponential": _soft_exponential,
    "soft_clipping": _soft_clipping,
}

# Hand-worked values at -inf and +inf, as (f, f') for the default constructor arguments, for
# components torch lacks (the oracles above, like any naive formula, give inf - inf there) and
# for those where the reference deliberately returns the limit where torch returns NaN.
INF = math.inf
NAN = math.nan
LIMITS = {
    "binary_step": {-INF: (0.0, 0.0), INF: (1.0, 0.0)},
    "sqnl": {-INF: (-1.0, 0.0), INF: (1.0, 0.0)},
    "brelu": None,  # depends on the feature index; covered by the finite extremes
    "apl": None,    # 0 * inf in the hinge term at -inf: IEEE NaN, as the formula
    "bent_identity": {-INF: (-INF, 0.5), INF: (INF, 1.5)},
    # As torch's SiLU (beta = 1): inf * 0 terms give NaN for f(-inf) and f'(+-inf).
    "swish": {-INF: (NAN, NAN), INF: (INF, NAN)},
    "soft_exponential": {-INF: (-INF, 1.0), INF: (INF, 1.0)},  # alpha = 0: the identity
    "soft_clipping": {-INF: (0.0, 0.0), INF: (1.0, 0.0)},
    "softsign": {-INF: (-1.0, 0.0), INF: (1.0, 0.0)},  # torch: NaN (inf / inf)
}
