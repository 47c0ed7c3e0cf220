"""Test surfaces: values at known points, the trajectory helper, and the optimizer behaviour the
notes describe (convergence on Rosenbrock, momentum escaping a local minimum)."""

from __future__ import annotations

import pytest
import torch

from nnref import registry
from nnref.experiment import surfaces as S

# "sensible settings": the largest round learning rate each one is stable with from (1.5, 1.5)
ROSENBROCK_SETTINGS = {
    "sgd": {"lr": 1e-3},
    "momentum": {"lr": 1e-3},
    "nesterov": {"lr": 1e-3},
    "nesterov_lookahead": {"lr": 1e-3, "nesterov": False, "lookahead": True},
    "adagrad": {"lr": 0.1},
    "rmsprop": {"lr": 1e-3},
    "adam": {"lr": 1e-2},
    "adamw": {"lr": 1e-2, "weight_decay": 0.0},
    "lars": {"lr": 1.0, "trust_coefficient": 1e-3},
}


def test_settings_cover_every_registered_optimizer():
    assert set(registry.names("optim")) <= set(ROSENBROCK_SETTINGS)


@pytest.mark.parametrize("name", ROSENBROCK_SETTINGS)
def test_every_optimizer_approaches_the_rosenbrock_minimum(name):
    spec_name = name.split("_")[0]
    path = S.trajectory(S.rosenbrock, registry.get("optim", spec_name,
                                                   **ROSENBROCK_SETTINGS[name]),
                        start=(1.5, 1.5), steps=2000)
    assert torch.isfinite(path).all()
    dist = (path - torch.tensor([1.0, 1.0], dtype=path.dtype)).norm(dim=1)
    start_value = float(S.rosenbrock(path[0, 0], path[0, 1]))
    end_value = float(S.rosenbrock(path[-1, 0], path[-1, 1]))
    assert dist[-1] < dist[0], f"{name} ended farther from (1, 1) than it started"
    assert end_value < 1e-2 * start_value


def test_momentum_escapes_the_local_minimum_where_sgd_stays():
    # from (2, 0) with lr 0.01 plain SGD slides into the nearer, shallower well at x = 0.96;
    # momentum 0.9 arrives there with enough velocity to cross the barrier at x = 0.075 and
    # settles in the global minimum at x = -1.036
    local, best = S.SURFACES["tilted_double_well"].minima[1], S.SURFACES[
        "tilted_double_well"].minima[0]
    sgd = S.trajectory(S.tilted_double_well, registry.get("optim", "sgd", lr=0.01),
                       start=(2.0, 0.0), steps=2000)[-1]
    mom = S.trajectory(S.tilted_double_well, registry.get("optim", "momentum", lr=0.01),
                       start=(2.0, 0.0), steps=2000)[-1]
    torch.testing.assert_close(sgd, torch.tensor(local, dtype=sgd.dtype), atol=1e-4, rtol=0)
    torch.testing.assert_close(mom, torch.tensor(best, dtype=mom.dtype), atol=1e-4, rtol=0)


@pytest.mark.parametrize("name", list(S.SURFACES))
def test_listed_minima_are_stationary_and_ordered(name):
    surface = S.SURFACES[name]
    values = []
    for x0, y0 in surface.minima:
        p = torch.tensor([x0, y0], dtype=torch.float64, requires_grad=True)
        v = surface.fn(p[0], p[1])
        (g,) = torch.autograd.grad(v, p)
        assert g.abs().max() < 1e-3, f"{name}: gradient {g.tolist()} at listed minimum"
        values.append(float(v.detach()))
    assert values == sorted(values)  # global minimum first


def test_known_values():
    t = torch.tensor
    assert float(S.rosenbrock(t(1.0), t(1.0))) == 0.0
    assert float(S.rosenbrock(t(0.0), t(0.0))) == 1.0
    assert float(S.beale(t(3.0), t(0.5))) == 0.0
    assert float(S.beale(t(0.0), t(0.0))) == 1.5 ** 2 + 2.25 ** 2 + 2.625 ** 2
    assert float(S.saddle(t(1.0), t(2.0))) == -3.0
    assert float(S.ill_conditioned(t(1.0), t(1.0))) == pytest.approx(2.1)
    assert float(S.tilted_double_well(t(1.0), t(1.0))) == pytest.approx(1 - 2 + 0.3 + 1)


def test_surfaces_evaluate_a_grid_elementwise():
    xs, ys = torch.meshgrid(torch.linspace(-2, 2, 5), torch.linspace(-1, 3, 4), indexing="ij")
    for surface in S.SURFACES.values():
        grid = surface.fn(xs, ys)
        assert grid.shape == (5, 4)
        assert float(grid[1, 2]) == pytest.approx(float(surface.fn(xs[1, 2], ys[1, 2])))


def test_gradient_descent_on_the_quadratic_matches_the_closed_form():
    # x_t = (1 - 0.2 lr)^t x_0, y_t = (1 - 4 lr)^t y_0 for w <- w - lr grad
    lr, steps = 0.1, 30
    path = S.trajectory(S.ill_conditioned, registry.get("optim", "sgd", lr=lr), (3.0, 1.0), steps)
    t = torch.arange(steps + 1, dtype=torch.float64)
    expected = torch.stack([3.0 * (1 - 0.2 * lr) ** t, (1 - 4 * lr) ** t], dim=1)
    torch.testing.assert_close(path, expected)


def test_saddle_on_the_ridge_converges_to_the_saddle_point_off_it_escapes():
    opt = registry.get("optim", "sgd", lr=0.1)
    on = S.trajectory(S.saddle, opt, (1.0, 0.0), 100)[-1]
    off = S.trajectory(S.saddle, opt, (1.0, 1e-6), 100)[-1]
    assert on.abs().max() < 1e-8
    assert off[1].abs() > 1.0


def test_trajectory_shape_start_and_bad_input():
    path = S.trajectory(S.beale, registry.get("optim", "adam", lr=0.01), (1.0, 1.0), 7,
                        dtype=torch.float32)
    assert path.shape == (8, 2) and path.dtype == torch.float32
    assert path[0].tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="steps"):
        S.trajectory(S.beale, registry.get("optim", "adam"), (1.0, 1.0), -1)
    with pytest.raises(ValueError, match="start"):
        S.trajectory(S.beale, registry.get("optim", "adam"), (1.0, 1.0, 2.0), 1)
