"""Activations: bit-exactness where torch is exact, and RReLU's training mode against torch.

Branches must be selected by multiplying each one by an exact 0/1 and adding them; folding them
into one product (``x (w + (1 - w) H)``) rounds once the hyper-parameter is large for the
precision. These tests compare with ``torch.equal``: no tolerance.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnref import activations as A

DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]
BF16 = torch.bfloat16


def _grad(fn, x, *params, grad=None):
    """(y, dL/dx, dL/dparams...) for L = sum(grad * fn(x, *params))."""
    x = x.detach().clone().requires_grad_(True)
    params = [p.detach().clone().requires_grad_(True) for p in params]
    y = fn(x, *params)
    g = torch.ones_like(y) if grad is None else grad
    return (y.detach(), *torch.autograd.grad(y, [x, *params], g))


def _equal(a, b):
    return torch.equal(a, b) or (a.dtype == b.dtype and a.shape == b.shape
                                 and torch.equal(a.isnan(), b.isnan())
                                 and torch.equal(a.nan_to_num(), b.nan_to_num()))


# --- large hyper-parameters: the defects the fold produced -------------------------------------
def test_prelu_positive_side_is_exact_for_a_huge_weight():
    x, w = torch.tensor([1.0, 3.0]), torch.tensor([-(2.0**25)])
    assert torch.equal(A.prelu(x, w), torch.tensor([1.0, 3.0]))
    _, gx, _ = _grad(A.prelu, x, w)
    assert torch.equal(gx, torch.ones(2))


def test_prelu_in_bfloat16_keeps_the_positive_value():
    x, w = torch.tensor([0.74609375], dtype=BF16), torch.tensor([-7.53125], dtype=BF16)
    assert torch.equal(A.prelu(x, w), x)
    assert torch.equal(A.prelu(x, w), F.prelu(x, w))


def _representable(values, dtypes=DTYPES):
    """(value, dtype) pairs where the value is finite in that dtype: the slopes are finite
    numbers (an infinite one makes the other branch inf * 0 = NaN)."""
    return [pytest.param(v, d, id=f"{v}-{d}") for v in values for d in dtypes
            if math.isfinite(float(torch.tensor(v, dtype=d)))]


@pytest.mark.parametrize(("weight", "dtype"),
                         _representable([-(2.0**25), 2.0**20, -7.53125, 1e4, -3e4]))
def test_prelu_value_and_gradients_equal_torch_for_large_weights(weight, dtype):
    x = torch.tensor([-3.0, -0.5, -0.0, 0.0, 0.74609375, 1.0, 3.0, 100.0], dtype=dtype)
    w = torch.tensor([weight], dtype=dtype)
    g = torch.linspace(-2, 2, x.numel(), dtype=dtype)
    ours, theirs = _grad(A.prelu, x, w, grad=g), _grad(F.prelu, x, w, grad=g)
    for a, b, what in zip(ours, theirs, ("value", "d/dx", "d/dweight"), strict=True):
        if what == "d/dweight" and dtype in (torch.float16, torch.bfloat16):
            # torch sums the weight gradient in its own order; only the terms must be exact.
            torch.testing.assert_close(a, b)
        else:
            assert _equal(a, b), f"{what}: {a} != {b}"


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("slope", [-(2.0**25), 2.0**20, -7.53125, 1e4])
def test_leaky_relu_value_and_gradient_equal_torch_for_large_slopes(slope, dtype):
    x = torch.tensor([-3.0, -0.5, 0.0, 0.74609375, 1.0, 3.0], dtype=dtype)
    g = torch.linspace(-2, 2, x.numel(), dtype=dtype)
    ours = _grad(lambda t: A.leaky_relu(t, slope), x, grad=g)
    theirs = _grad(lambda t: F.leaky_relu(t, slope), x, grad=g)
    for a, b in zip(ours, theirs, strict=True):
        assert _equal(a, b), f"{a} != {b}"


# torch refuses in-place ELU with a negative alpha: those cases are not generated.
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize(("alpha", "inplace"), [
    (a, inplace) for a in (2.0**25, -(2.0**25), 7.53125, 1e4) for inplace in (False, True)
    if not (inplace and a < 0)])
def test_elu_gradient_equals_torch_for_large_alpha(alpha, inplace, dtype):
    x = torch.tensor([-3.0, -0.5, -1e-3, 0.74609375, 1.0, 3.0], dtype=dtype)
    g = torch.linspace(-2, 2, x.numel(), dtype=dtype)

    def run(fn):
        return _grad(lambda t: fn(t.clone(), alpha, inplace=inplace), x, grad=g)

    ours, theirs = run(A.elu), run(F.elu)
    torch.testing.assert_close(ours[0], theirs[0])
    positive = x > 0
    assert torch.equal(ours[0][positive], x[positive])
    assert torch.equal(ours[1][positive], g[positive])


# --- the identity branch is x, bit for bit, for any hyper-parameter -----------------------------
def _finite(dtype: torch.dtype, limit: float | None = None):
    """Floats that stay finite once rounded to ``dtype`` (and within +-limit, if given)."""
    big = torch.finfo(dtype).max
    bound = big if limit is None else min(big, limit)
    return st.floats(-bound, bound, allow_nan=False, allow_infinity=False).filter(
        lambda v: math.isfinite(float(torch.tensor(v, dtype=dtype))))


def _compute_dtype(dtype):
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def _positive_inputs(data, dtype):
    """Positive finite values of ``dtype``, from the smallest subnormal to the largest."""
    tiny = float(torch.finfo(dtype).smallest_normal) / 2**5
    values = data.draw(st.lists(st.floats(tiny, float(torch.finfo(dtype).max)), min_size=1,
                                max_size=8), label="x")
    x = torch.tensor(values, dtype=torch.float64).to(dtype)
    return x[(x > 0) & x.isfinite()]


@st.composite
def _identity_case(draw):
    """(name, f(x), x > 0 where f is the identity, dtype): one activation, drawn parameters."""
    dtype = draw(st.sampled_from(DTYPES), label="dtype")
    comp = _compute_dtype(dtype)
    name = draw(st.sampled_from(["relu", "leaky_relu", "prelu", "rrelu-eval", "rrelu-train",
                                 "elu", "softplus", "apl"]), label="activation")
    hyper = _finite(comp)
    if name == "relu":
        fn = A.relu
    elif name == "leaky_relu":
        slope = draw(hyper, label="negative_slope")
        fn = lambda x: A.leaky_relu(x, slope)  # noqa: E731
    elif name == "prelu":
        w = torch.tensor([draw(_finite(dtype), label="weight")], dtype=dtype)
        fn = lambda x: A.prelu(x, w)  # noqa: E731
    elif name.startswith("rrelu"):
        lower, upper = sorted(draw(st.lists(hyper, min_size=2, max_size=2), label="bounds"))
        training = name.endswith("train")
        fn = lambda x: A.rrelu(x, lower, upper, training=training)  # noqa: E731
    elif name == "elu":
        alpha = draw(hyper, label="alpha")
        fn = lambda x: A.elu(x, alpha)  # noqa: E731
    elif name == "softplus":
        beta = draw(st.floats(1e-3, 1e3), label="beta")
        threshold = draw(st.floats(-50, 50), label="threshold")
        fn = lambda x: A.softplus(x, beta, threshold)  # noqa: E731
        # torch's test for the linear tail is beta x > threshold in the compute precision
        return name, fn, dtype, lambda x: x.to(comp) * beta > threshold
    else:
        hinges = draw(st.integers(1, 3), label="hinges")
        a = torch.tensor(draw(st.lists(_finite(dtype), min_size=hinges, max_size=hinges),
                              label="a"), dtype=dtype).reshape(hinges, 1)
        b = torch.tensor(draw(st.lists(_finite(dtype, 1e3), min_size=hinges, max_size=hinges),
                              label="b"), dtype=dtype).reshape(hinges, 1)
        fn = lambda x: A.apl(x, a, b)  # noqa: E731
        return name, fn, dtype, lambda x: x > b.max()
    return name, fn, dtype, lambda x: x > 0


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=_identity_case(), data=st.data())
def test_identity_branch_returns_x_bit_for_bit(case, data):
    name, fn, dtype, on_identity = case
    x = _positive_inputs(data, dtype)
    x = x[on_identity(x)]
    if x.numel() == 0:
        return
    y, gx = _grad(fn, x)
    assert torch.equal(y, x), f"{name}: f(x) = {y} for x = {x}"
    assert torch.equal(gx, torch.ones_like(x)), f"{name}: f'(x) = {gx} for x = {x}"


@settings(max_examples=100, deadline=None)
@given(dtype=st.sampled_from(DTYPES), data=st.data())
def test_selu_positive_branch_is_x_times_scale_rounded_once(dtype, data):
    """SELU's positive branch is lambda x, not x: it must equal x * lambda computed in the
    compute precision and rounded once to the dtype, as torch computes it."""
    x = _positive_inputs(data, dtype)
    comp = _compute_dtype(dtype)
    y, gx = _grad(A.selu, x)
    assert torch.equal(y, (x.to(comp) * A.rectifiers.SELU_SCALE).to(dtype))
    want_y, want_gx = _grad(F.selu, x)
    assert torch.equal(y, want_y)
    assert torch.equal(gx, want_gx)


# --- RReLU: the bounds -------------------------------------------------------------------------
@pytest.mark.parametrize("make", [A.rrelu, lambda x, lo, up: A.RReLU(lo, up)(x)],
                         ids=["rrelu", "RReLU"])
@pytest.mark.parametrize(("lower", "upper", "bad"), [
    (math.nan, 0.3, "lower"), (0.1, math.nan, "upper"), (0.1, math.inf, "upper"),
    (-math.inf, 0.3, "lower"), (math.nan, math.nan, "lower"),
])
def test_rrelu_non_finite_bounds_raise_torch_error_naming_the_bound(make, lower, upper, bad):
    x = -torch.ones(3)
    with pytest.raises(RuntimeError, match=f"{bad} bound must be finite") as torch_error:
        F.rrelu(x, lower, upper, training=True)
    with pytest.raises(RuntimeError, match=f"{bad} bound must be finite"):
        make(x, lower, upper)
    assert type(torch_error.value) is RuntimeError


# --- RReLU in training: the same slopes as torch from the same seed -----------------------------
def _rrelu_input(shape, dtype, seed):
    """Values of both signs with the kink (+-0), NaN and +-inf mixed in."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=gen, dtype=torch.float64) * 3
    flat = x.view(-1)
    specials = torch.tensor([0.0, -0.0, math.nan, math.inf, -math.inf, 0.0], dtype=torch.float64)
    n = min(flat.numel(), specials.numel())
    flat[torch.randperm(flat.numel(), generator=gen)[:n]] = specials[:n]
    return x.to(dtype)


def _rrelu_train(fn, x, g, lower, upper, seed, use_generator):
    """(y, dL/dx, next draw) for a training-mode rrelu called with the given seed."""
    x = x.detach().clone().requires_grad_(True)
    if use_generator:
        gen = torch.Generator().manual_seed(seed)
        y = fn(x, lower, upper, gen)
        after = torch.rand(3, generator=gen)
    else:
        torch.manual_seed(seed)
        y = fn(x, lower, upper, None)
        after = torch.rand(3)
    (gx,) = torch.autograd.grad(y, x, g)
    return y.detach(), gx, after


def _torch_rrelu(x, lower, upper, gen):
    # F.rrelu takes no generator; the aten op it calls does. Its kernel writes the noise in
    # memory order, so the buffer must be contiguous, as the one torch.rrelu allocates.
    noise = torch.empty_like(x, memory_format=torch.contiguous_format)
    return torch.ops.aten.rrelu_with_noise(x, noise, lower, upper, True, generator=gen)


def _our_rrelu(x, lower, upper, gen):
    return A.rrelu(x, lower, upper, training=True, generator=gen)


RRELU_CASES = [(1 / 8, 1 / 3), (0.05, 0.4), (-(2.0**25), 2.0**24), (0.2, 0.2), (-3.0, -1.0),
               (0.1, 0.1 + 1e-9)]


@pytest.mark.parametrize("use_generator", [False, True], ids=["global-rng", "generator"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, BF16], ids=str)
@pytest.mark.parametrize(("lower", "upper"), RRELU_CASES)
@pytest.mark.parametrize("shape", [(0,), (7,), (3, 6, 5), (64, 33)], ids=str)
def test_rrelu_training_equals_torch_with_the_same_seed(shape, lower, upper, dtype,
                                                        use_generator):
    x = _rrelu_input(shape, dtype, seed=sum(shape))
    g = torch.randn(shape, dtype=torch.float64).to(dtype)
    ours = _rrelu_train(_our_rrelu, x, g, lower, upper, 11, use_generator)
    theirs = _rrelu_train(_torch_rrelu, x, g, lower, upper, 11, use_generator)
    for a, b, what in zip(ours, theirs, ("value", "gradient", "generator state after"),
                          strict=True):
        assert _equal(a, b), f"{what}: {a} != {b}"


def test_rrelu_training_gradient_at_the_kink_is_the_drawn_slope():
    x = torch.tensor([0.0, -0.0, 0.0, 2.0, -1.0])
    _, gx, _ = _rrelu_train(_our_rrelu, x, torch.ones(5), 0.1, 0.3, 5, True)
    _, want, _ = _rrelu_train(_torch_rrelu, x, torch.ones(5), 0.1, 0.3, 5, True)
    assert torch.equal(gx, want)
    assert ((gx[:3] >= 0.1) & (gx[:3] <= 0.3)).all() and gx[3] == 1


def test_rrelu_training_non_contiguous_and_in_place_follow_torch():
    x = _rrelu_input((6, 8), torch.float32, seed=3).t()  # row-major order differs from memory's
    g = torch.randn(8, 6)
    ours = _rrelu_train(_our_rrelu, x, g, 0.1, 0.3, 4, True)
    theirs = _rrelu_train(_torch_rrelu, x, g, 0.1, 0.3, 4, True)
    for a, b in zip(ours, theirs, strict=True):
        assert _equal(a, b)
    y = x.clone()
    torch.manual_seed(9)
    A.rrelu(y, 0.1, 0.3, training=True, inplace=True)
    torch.manual_seed(9)
    want = F.rrelu(x.clone(), 0.1, 0.3, training=True)
    assert _equal(y, want)


def test_rrelu_module_in_training_equals_torch_module():
    x = _rrelu_input((4, 5, 3), torch.float32, seed=1)
    ours, theirs = A.RReLU(0.05, 0.5).train(), torch.nn.RReLU(0.05, 0.5).train()
    torch.manual_seed(2)
    a = ours(x)
    torch.manual_seed(2)
    assert _equal(a, theirs(x))


@pytest.mark.parametrize(("dtype", "slope"), [(torch.float16, -65504.0), (torch.float16, -6e4),
                                              (torch.float32, -3.4e38), (torch.float32, 7.5),
                                              (torch.bfloat16, -3.3e38)])
def test_leaky_relu_slope_is_chosen_exactly_at_the_ends_of_the_range(dtype, slope):
    # the derivative picks 1 or the slope exactly (a lerp with weight 0 or 1), even where the
    # slope is the largest the dtype holds and 1 - slope does not fit it
    x = torch.tensor([-1.0, 0.0, 2.0, -3.0], dtype=dtype)
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    A.leaky_relu(a, slope).sum().backward()
    F.leaky_relu(b, slope).sum().backward()
    assert torch.equal(a.grad, b.grad), (a.grad, b.grad)
