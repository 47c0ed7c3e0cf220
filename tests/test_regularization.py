"""Regularization: penalties against independent formulas, gradient clipping against
torch.nn.utils, max-norm against torch.renorm, Gaussian noise against its definition."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from conftest import DEVICES
from torch import nn

from nnref import normalization
from nnref.regularization import (
    GaussianNoise,
    clip_grad_norm_,
    clip_grad_value_,
    decayed_parameters,
    l1_penalty,
    l2_penalty,
    max_norm_,
)


def _model():
    return nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Linear(8, 3),
                         nn.LayerNorm(3), nn.Linear(3, 2, bias=False))


def test_penalised_parameters_exclude_biases_and_normalization():
    m = _model()
    assert [p.shape for p in decayed_parameters(m)] == [(8, 5), (3, 8), (2, 3)]
    assert len(decayed_parameters(m, exclude_bias=False, exclude_norm=False)) == 9
    ref_bn = nn.Sequential(nn.Linear(2, 4), normalization.BatchNorm1d(4))
    assert [p.shape for p in decayed_parameters(ref_bn)] == [(4, 2)]


def test_l1_and_l2_penalties_equal_the_norms_of_the_weights():
    m = _model()
    flat = torch.cat([m[0].weight.reshape(-1), m[3].weight.reshape(-1), m[5].weight.reshape(-1)])
    torch.testing.assert_close(l1_penalty(m, 0.3), 0.3 * torch.linalg.vector_norm(flat, 1))
    torch.testing.assert_close(l2_penalty(m, 0.3), 0.3 * torch.linalg.vector_norm(flat) ** 2)
    torch.testing.assert_close(l2_penalty(m, 0.3, half=True),
                               0.15 * torch.linalg.vector_norm(flat) ** 2)
    every = torch.cat([p.reshape(-1) for p in m.parameters()])
    torch.testing.assert_close(l1_penalty(m.parameters()), every.abs().sum())


def test_penalty_gradients():
    w = torch.tensor([[-2.0, 0.0, 3.0]], requires_grad=True)
    (g1,) = torch.autograd.grad(l1_penalty(w, 0.5), w)
    assert torch.equal(g1, torch.tensor([[-0.5, 0.0, 0.5]]))
    (g2,) = torch.autograd.grad(l2_penalty(w, 0.5), w)
    torch.testing.assert_close(g2, 2 * 0.5 * w.detach())


def test_half_l2_penalty_under_sgd_is_weight_decay():
    torch.manual_seed(0)
    a = _model()
    b = copy.deepcopy(a)
    x, y = torch.randn(16, 5), torch.randn(16, 2)
    opt_a = torch.optim.SGD(a.parameters(), lr=0.1, weight_decay=0.01)
    opt_b = torch.optim.SGD(b.parameters(), lr=0.1)
    for _ in range(3):
        opt_a.zero_grad()
        nn.functional.mse_loss(a(x), y).backward()
        opt_a.step()
        opt_b.zero_grad()
        (nn.functional.mse_loss(b(x), y)
         + l2_penalty(b, 0.01, half=True, exclude_bias=False, exclude_norm=False)).backward()
        opt_b.step()
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb)


def test_penalties_refuse_negative_strength():
    with pytest.raises(ValueError, match="'strength'"):
        l1_penalty(_model(), -1.0)
    with pytest.raises(ValueError, match="'strength'"):
        l2_penalty(_model(), float("nan"))


def _params_with_grads(device, dtype=torch.float32, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    params = []
    for shape in [(4, 3), (7,), (2, 3, 5), (1,)]:
        p = torch.randn(shape, generator=g, dtype=dtype).to(device).requires_grad_(True)
        p.grad = (torch.randn(shape, generator=g, dtype=dtype) * scale).to(device)
        params.append(p)
    params.append(torch.zeros(3, device=device, requires_grad=True))  # no grad: skipped
    return params


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("foreach", [None, True, False])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.5, math.inf, "inf"])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(device, dtype, foreach, norm_type, max_norm):
    ours, theirs = _params_with_grads(device, dtype), _params_with_grads(device, dtype)
    got = clip_grad_norm_(ours, max_norm, norm_type, foreach=foreach)
    want = nn.utils.clip_grad_norm_(theirs, max_norm, norm_type, foreach=foreach)
    torch.testing.assert_close(got, want)
    for a, b in zip(ours, theirs, strict=True):
        if a.grad is None:
            assert b.grad is None
        else:
            torch.testing.assert_close(a.grad, b.grad)
    if max_norm < 1:
        norm = clip_grad_norm_(ours, 1e9, norm_type)
        assert math.isclose(norm.item(), max_norm, rel_tol=1e-4)


def test_clip_grad_norm_single_tensor_and_no_gradients():
    p = torch.zeros(3, requires_grad=True)
    p.grad = torch.tensor([3.0, 4.0, 0.0])
    assert clip_grad_norm_(p, 1.0).item() == 5.0
    torch.testing.assert_close(p.grad, torch.tensor([0.6, 0.8, 0.0]), rtol=1e-5, atol=1e-6)
    assert torch.equal(clip_grad_norm_([torch.zeros(2, requires_grad=True)], 1.0),
                       nn.utils.clip_grad_norm_([torch.zeros(2, requires_grad=True)], 1.0))


def test_clip_grad_norm_non_finite():
    ours, theirs = _params_with_grads("cpu"), _params_with_grads("cpu")
    ours[0].grad[0, 0] = theirs[0].grad[0, 0] = math.inf
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)
    got = clip_grad_norm_(ours, 1.0)
    want = nn.utils.clip_grad_norm_(theirs, 1.0)
    assert got.isinf() and want.isinf()
    for a, b in zip(ours[:4], theirs[:4], strict=True):
        torch.testing.assert_close(a.grad, b.grad, equal_nan=True)


def test_clip_grad_norm_refuses_bad_norm_type():
    with pytest.raises(ValueError, match="'norm_type'"):
        clip_grad_norm_(_params_with_grads("cpu"), 1.0, norm_type=0)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("foreach", [None, True, False])
def test_clip_grad_value_matches_torch(device, foreach):
    ours = _params_with_grads(device, scale=3.0)
    theirs = _params_with_grads(device, scale=3.0)
    assert clip_grad_value_(ours, 1.5, foreach=foreach) is None
    nn.utils.clip_grad_value_(theirs, 1.5, foreach=foreach)
    for a, b in zip(ours[:4], theirs[:4], strict=True):
        assert torch.equal(a.grad, b.grad)
        assert a.grad.abs().max() <= 1.5


@pytest.mark.parametrize("shape", [(6, 4), (5, 3, 2, 2)])
def test_max_norm_is_torch_renorm_per_output_unit(shape):
    w = torch.randn(shape, dtype=torch.float64) * 2
    w[0] *= 0.01  # one unit already inside the ball: untouched
    want = torch.renorm(w, p=2, dim=0, maxnorm=1.5)
    got = max_norm_(w.clone(), 1.5)
    torch.testing.assert_close(got, want)
    norms = got.reshape(shape[0], -1).norm(dim=1)
    assert bool((norms <= 1.5 + 1e-9).all())
    torch.testing.assert_close(got[0], w[0])


def test_max_norm_on_a_module_and_errors():
    m = _model()
    bn_weight = m[1].weight.detach().clone()
    with torch.no_grad():
        m[0].weight.mul_(100)
    max_norm_(m, 2.0)
    assert m[0].weight.norm(dim=1).max() <= 2.0 + 1e-5
    assert torch.equal(m[1].weight, bn_weight)
    with pytest.raises(ValueError, match="'max_norm'"):
        max_norm_(torch.randn(3, 3), 0.0)
    with pytest.raises(ValueError, match="'weight' must have at least 2 dimensions"):
        max_norm_(torch.randn(3), 1.0)


def test_gaussian_noise_training_eval_and_generator():
    x = torch.randn(200, 50, dtype=torch.float64, requires_grad=True)
    layer = GaussianNoise(0.3, generator=torch.Generator().manual_seed(5))
    y = layer(x)
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(5), dtype=x.dtype)
    torch.testing.assert_close(y, x + 0.3 * noise)
    (g,) = torch.autograd.grad(y.sum(), x)
    assert torch.equal(g, torch.ones_like(x))
    d = (y - x).detach()
    assert abs(d.std().item() - 0.3) < 5 * 0.3 / math.sqrt(2 * d.numel())
    assert layer.eval()(x) is x
    assert repr(GaussianNoise(0.2)) == "GaussianNoise(std=0.2)"
    with pytest.raises(ValueError, match="'std'"):
        GaussianNoise(-0.1)
