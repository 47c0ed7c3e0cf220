r"""Two-dimensional test functions for optimizers, and a helper that records a trajectory.

Each function takes two tensors ``x`` and ``y`` (any matching shape, so a whole grid can be
evaluated for a contour plot) and returns :math:`f(x, y)` elementwise. :data:`SURFACES` lists
them with their minima and a plotting window.

Example:
    >>> from nnref import registry
    >>> from nnref.experiment import surfaces
    >>> path = surfaces.trajectory(surfaces.rosenbrock, registry.get("optim", "adam", lr=0.05),
    ...                            start=(-1.5, 2.0), steps=500)
    >>> path.shape
    torch.Size([501, 2])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = [
    "rosenbrock", "beale", "saddle", "ill_conditioned", "tilted_double_well", "Surface",
    "SURFACES", "trajectory",
]


def rosenbrock(x: Tensor, y: Tensor, a: float = 1.0, b: float = 100.0) -> Tensor:
    r"""Rosenbrock's banana valley :math:`f = (a - x)^2 + b (y - x^2)^2`.

    Global minimum 0 at :math:`(a, a^2)`, at the bottom of a long, curved, flat-floored valley:
    easy to reach, slow to follow.
    """
    return (a - x) ** 2 + b * (y - x * x) ** 2


def beale(x: Tensor, y: Tensor) -> Tensor:
    r"""Beale's function :math:`(1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2`.

    Global minimum 0 at :math:`(3, 0.5)`; sharp ridges and flat plateaus around it.
    """
    return ((1.5 - x + x * y) ** 2 + (2.25 - x + x * y * y) ** 2
            + (2.625 - x + x * y ** 3) ** 2)


def saddle(x: Tensor, y: Tensor) -> Tensor:
    r"""The saddle :math:`f = x^2 - y^2`: a stationary point at the origin that is no minimum.

    Started exactly on the ridge :math:`y = 0`, gradient descent converges to the saddle; any
    :math:`y \ne 0` grows like :math:`(1 + 2\gamma)^t` and escapes (unbounded below).
    """
    return x * x - y * y


def ill_conditioned(x: Tensor, y: Tensor) -> Tensor:
    r"""The quadratic :math:`f = 0.1 x^2 + 2 y^2`, Hessian condition number 20.

    Minimum 0 at the origin. Plain gradient descent is stable only for :math:`\gamma < 0.5`
    (set by the steep :math:`y`) and then crawls along :math:`x` at :math:`1 - 0.2\gamma` per
    step: the case momentum and per-coordinate scaling (AdaGrad, RMSProp, Adam) fix.
    """
    return 0.1 * x * x + 2.0 * y * y


def tilted_double_well(x: Tensor, y: Tensor) -> Tensor:
    r"""A local and a global minimum: :math:`f = x^4 - 2x^2 + 0.3x + y^2`.

    The tilt :math:`0.3x` makes the left well deeper: global minimum :math:`f \approx -1.305` at
    :math:`(-1.0356, 0)`, local minimum :math:`f \approx -0.706` at :math:`(0.9601, 0)`,
    separated by a barrier at :math:`x \approx 0.075` (roots of :math:`4x^3 - 4x + 0.3`).
    Descent started on the right stays in the local minimum unless it carries enough velocity
    over the barrier.
    """
    return x ** 4 - 2 * x * x + 0.3 * x + y * y


@dataclass(frozen=True)
class Surface:
    """A test function with its minima (global first) and a window for plots."""

    fn: Callable[[Tensor, Tensor], Tensor]
    minima: tuple[tuple[float, float], ...]
    window: tuple[float, float, float, float]  # x_min, x_max, y_min, y_max


SURFACES: dict[str, Surface] = {
    "rosenbrock": Surface(rosenbrock, ((1.0, 1.0),), (-2.0, 2.0, -1.0, 3.0)),
    "beale": Surface(beale, ((3.0, 0.5),), (-4.5, 4.5, -4.5, 4.5)),
    "saddle": Surface(saddle, (), (-2.0, 2.0, -2.0, 2.0)),
    "ill_conditioned": Surface(ill_conditioned, ((0.0, 0.0),), (-5.0, 5.0, -2.0, 2.0)),
    "tilted_double_well": Surface(tilted_double_well, ((-1.0356, 0.0), (0.9601, 0.0)),
                                  (-2.0, 2.0, -1.5, 1.5)),
}


def trajectory(
    fn: Callable[[Tensor, Tensor], Tensor],
    optimizer: Callable[[list[Tensor]], torch.optim.Optimizer],
    start: Sequence[float],
    steps: int,
    *,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> Tensor:
    """Run ``optimizer`` on ``fn`` from ``start`` for ``steps`` steps; return the visited points.

    Args:
        fn: a surface ``f(x, y)``.
        optimizer: builds the optimizer from a parameter list, e.g.
            ``registry.get("optim", "momentum", lr=1e-3)`` or
            ``lambda p: torch.optim.Adam(p, lr=0.01)``.
        start: the initial point ``(x, y)``.
        steps: number of optimizer steps.
        dtype, device: of the point being optimized.

    Returns:
        a ``(steps + 1, 2)`` tensor: the start, then the point after every step. Each step uses
        ``step(closure)``, so optimizers that re-evaluate the loss (``SGD(lookahead=True)``) work.
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    point = torch.tensor(list(start), dtype=dtype, device=device, requires_grad=True)
    if point.shape != (2,):
        raise ValueError(f"start must be a point (x, y), got {tuple(start)!r}")
    opt = optimizer([point])

    def closure() -> Tensor:
        opt.zero_grad()
        value = fn(point[0], point[1])
        value.backward()
        return value

    path = [point.detach().clone()]
    for _ in range(steps):
        opt.step(closure)
        path.append(point.detach().clone())
    return torch.stack(path)
