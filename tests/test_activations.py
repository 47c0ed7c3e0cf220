"""Activations, tested from the registry and their cases (nnref.verify.cases.activation):
every entry runs every check, so a new entry is verified the moment it is registered. The checks
live in nnref.verify.activations (shared with ``python -m nnref verify``); the parity tests are
generated through nnref.testing.registry_checks, one per property, dtype and case, and this file
adds the activation-specific tests.
"""

from __future__ import annotations

import inspect
import re

import pytest
import torch
from conftest import case_params, device_marks, invalid_params, specs_of
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from nnref import activations as A
from nnref import registry, testing
from nnref.verify import activations as V
from nnref.verify import cases

SPECS = specs_of("activation")
CASES = case_params("activation")


def test_every_activation_has_cases_and_every_cases_entry_is_registered():
    assert set(cases.table("activation")) == set(registry.names("activation"))


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_every_activation_has_something_to_be_checked_against(spec):
    assert (spec.builtin is None) == (cases.of(spec).oracle is not None), (
        "an activation needs exactly one of: a torch built-in, an oracle formula")


# Parity, generated through nnref.testing from the registry and the cases: one test per
# property, dtype and case (forward_backward, layouts, extremes, gradcheck, saved_bytes, vmap,
# compile), each run by nnref.verify.activations.
@testing.parametrize(testing.registry_checks("activation", devices=["cpu", "cuda"]),
                     marks=device_marks)
def test_parity(check):
    check()


@pytest.mark.parametrize(("spec", "kwargs"), [c for c in CASES if c.values[0].builtin])
def test_module_api_matches_torch(spec, kwargs):
    ref, base = spec.reference(**kwargs), spec.builtin(**kwargs)
    assert type(ref).__name__ == type(base).__name__
    assert repr(ref) == repr(base)
    assert [n for n, _ in ref.named_parameters()] == [n for n, _ in base.named_parameters()]
    ref.load_state_dict(base.state_dict())  # and the other way round in build_pair


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_integer_input_is_refused_naming_the_argument(spec):
    module = spec.reference(**V.scalar_case(spec, cases.of(spec).kwargs[0]))
    with pytest.raises(TypeError, match="'input' must be a floating-point tensor"):
        module(torch.arange(6))


INVALID = invalid_params("activation")


@pytest.mark.parametrize(("spec", "kwargs", "exc"), INVALID)
def test_invalid_hyper_parameters_are_refused(spec, kwargs, exc):
    arg = next(iter(kwargs))
    with pytest.raises(exc, match=arg):
        spec.reference(**kwargs)


# --- properties over shapes and hyper-parameters ------------------------------------------------
HYPER_SPECS = [s for s in SPECS if cases.of(s).hyper]


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_property_random_shapes_and_hyper_parameters(data):
    spec = data.draw(st.sampled_from(SPECS), label="spec")
    c = cases.of(spec)
    kwargs = dict(data.draw(st.sampled_from(c.kwargs), label="case"))
    # In-place is covered by the fixed cases; torch refuses some drawn values in place
    # (ELU with alpha < 0), which would make the comparison meaningless.
    kwargs.pop("inplace", None)
    tiny = c.hyper_min_abs
    for name, (lo, hi) in c.hyper.items():
        values = st.floats(lo, hi, allow_nan=False).filter(lambda v: v == 0 or abs(v) >= tiny)
        kwargs[name] = data.draw(values, label=name)
    channels = kwargs.get("num_parameters", kwargs.get("num_features"))
    batch = data.draw(st.integers(0, 4), label="batch")
    rest = data.draw(st.lists(st.integers(1, 4), max_size=2), label="rest")
    shape = (batch, channels or data.draw(st.integers(1, 5), label="channels"), *rest)
    dtype = data.draw(st.sampled_from([torch.float32, torch.float64]), label="dtype")
    x = V.make_input(spec, shape, dtype, seed=data.draw(st.integers(0, 2**16), label="seed"))
    V.compare(spec, kwargs, x)


def test_property_specs_exist():
    assert HYPER_SPECS, "the property test draws hyper-parameters from the cases' hyper"


@pytest.mark.parametrize("alpha", [1e-30, -1e-30, 1e-6, -1e-6, 3e-3, -3e-3])
def test_soft_exponential_alpha_gradient_is_exact_for_small_alpha(alpha):
    """Central finite differences of the float64 forward (expm1/log1p: accurate at any alpha)
    against the float32 reference's cancellation-free alpha-gradient."""
    x = torch.linspace(-0.9, 3, 41)
    m = A.SoftExponential(alpha)
    m(x).sum().backward()
    h = max(abs(alpha) * 1e-3, 1e-9)
    f = lambda a: A.soft_exponential(x.double(), torch.tensor(a, dtype=torch.float64)).sum()  # noqa: E731
    want = (f(alpha + h) - f(alpha - h)) / (2 * h)
    torch.testing.assert_close(m.alpha.grad.double(), want, rtol=1.3e-6, atol=1e-5)


# --- RReLU: randomness --------------------------------------------------------------------------
def test_rrelu_training_slopes_are_uniform_between_bounds():
    lower, upper = 0.1, 0.3
    x = -torch.rand(20000, dtype=torch.float64) - 0.5
    y = A.rrelu(x, lower, upper, training=True, generator=torch.Generator().manual_seed(1))
    slopes = (y / x).numpy()
    assert slopes.min() >= lower and slopes.max() <= upper
    assert stats.kstest(slopes, "uniform", args=(lower, upper - lower)).pvalue > 1e-3


def test_rrelu_training_keeps_positive_inputs_and_uses_mean_in_eval():
    m = A.RReLU(0.1, 0.3)
    x = torch.linspace(-2, 2, 101)
    y = m.train()(x)
    assert torch.equal(y[x > 0], x[x > 0])
    torch.testing.assert_close(m.eval()(x), torch.nn.RReLU(0.1, 0.3).eval()(x))


def test_rrelu_generator_and_global_seed_make_it_repeatable():
    x = torch.randn(1000)
    a = A.rrelu(x, training=True, generator=torch.Generator().manual_seed(5))
    b = A.rrelu(x, training=True, generator=torch.Generator().manual_seed(5))
    c = A.rrelu(x, training=True, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    torch.manual_seed(3)
    d = A.RReLU().train()(x)
    torch.manual_seed(3)
    assert torch.equal(d, A.RReLU().train()(x))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_rrelu_training_output_and_gradient_equal_torchs_with_the_same_seed(dtype):
    """torch's training RReLU, not the reference's own output, is the yardstick: on CPU the same
    seed draws the same slopes, the kink x = 0 included (its derivative is its drawn slope)."""
    x = torch.randn(500, dtype=dtype)
    x[::7] = 0.0
    up = torch.randn(500, dtype=dtype)
    results = []
    for fn in (A.rrelu, torch.nn.functional.rrelu):
        leaf = x.clone().requires_grad_(True)
        torch.manual_seed(2)
        y = fn(leaf, 0.1, 0.3, training=True)
        results.append((y.detach(), *torch.autograd.grad(y, leaf, up)))
    (y, g), (y_t, g_t) = results
    assert torch.equal(y, y_t)
    assert torch.equal(g, g_t)
    slope_at_kink = g[x == 0] / up[x == 0]
    assert ((slope_at_kink >= 0.1) & (slope_at_kink <= 0.3)).all()


# --- softmax ------------------------------------------------------------------------------------
def test_two_class_softmax_is_sigmoid_of_logit_difference():
    z = torch.randn(64, 2, dtype=torch.float64) * 5
    torch.testing.assert_close(A.softmax(z, dim=1)[:, 0], torch.sigmoid(z[:, 0] - z[:, 1]))
    torch.testing.assert_close(A.softmax(z, dim=1)[:, 0], A.sigmoid(z[:, 0] - z[:, 1]))


def test_tanh_is_a_rescaled_sigmoid():
    x = torch.linspace(-8, 8, 1001, dtype=torch.float64)
    torch.testing.assert_close(A.tanh(x), 2 * torch.sigmoid(2 * x) - 1)


@pytest.mark.parametrize("fn", [A.softmax, A.log_softmax])
def test_softmax_dim_out_of_range(fn):
    with pytest.raises(IndexError, match=r"Dimension out of range .*\[-2, 1\].* 2"):
        fn(torch.randn(3, 4), dim=2)


@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
def test_softmax_implicit_dim_and_dtype_follow_torch(fn):
    x = torch.randn(2, 3, 4)
    with pytest.warns(UserWarning, match="Implicit dimension"):
        got = getattr(A, fn)(x)
    with pytest.warns(UserWarning):
        want = getattr(torch.nn.functional, fn)(x)
    torch.testing.assert_close(got, want)
    out = getattr(A, fn)(x, dim=-1, dtype=torch.float64)
    assert out.dtype == torch.float64


def test_softmax_of_huge_logits_does_not_overflow():
    x = torch.tensor([[1e4, 1e4 - 1, -1e4]])
    torch.testing.assert_close(A.softmax(x, 1), torch.softmax(x, 1))
    assert torch.isfinite(A.log_softmax(x, 1)).all()


# --- per-channel parameters ---------------------------------------------------------------------
def test_prelu_channel_mismatch_is_refused():
    with pytest.raises(ValueError, match="num"):
        A.PReLU(num_parameters=4)(torch.randn(2, 6))


def test_apl_channel_mismatch_is_refused():
    with pytest.raises(ValueError, match="num_features"):
        A.APL(num_features=4)(torch.randn(2, 6))


def test_brelu_dim_out_of_range():
    with pytest.raises(IndexError, match="dim"):
        A.brelu(torch.randn(2, 3), dim=4)


@pytest.mark.parametrize(("cls", "kwargs", "frozen"), [
    (A.PReLU, {}, set()),
    (A.SoftExponential, {}, set()),
    (A.Swish, {"learnable": True}, set()),
    # APL starts with a = 0: the hinge positions b get exactly zero gradient until a moves.
    (A.APL, {"num_features": 4}, {"b"}),
], ids=lambda v: getattr(v, "__name__", ""))
def test_learnable_parameters_train(cls, kwargs, frozen):
    """One SGD step moves every learnable parameter whose gradient is live."""
    m = cls(**kwargs)
    before = {n: p.detach().clone() for n, p in m.named_parameters()}
    x, target = torch.randn(16, 4) * 2, torch.randn(16, 4)
    ((m(x) - target) ** 2).mean().backward()
    with torch.no_grad():
        for p in m.parameters():
            p -= 0.5 * p.grad
    moved = {n for n, p in m.named_parameters() if not torch.equal(before[n], p)}
    assert moved == set(before) - frozen


# --- registry -----------------------------------------------------------------------------------
def test_get_builds_reference_and_builtin():
    ref = registry.get("activation", "leaky_relu", negative_slope=0.2)
    assert isinstance(ref, A.LeakyReLU) and ref.negative_slope == 0.2
    assert isinstance(registry.get("activation", "elu", impl="torch"), torch.nn.ELU)
    assert isinstance(registry.get("activation", "swish1"), A.SiLU)  # alias
    assert isinstance(registry.get("activation", "Leaky-ReLU"), A.LeakyReLU)


def test_get_unknown_name_lists_the_valid_ones():
    with pytest.raises(KeyError, match="valid names: identity, binary_step, sigmoid"):
        registry.get("activation", "relu6")
    with pytest.raises(KeyError, match="valid kinds: activation, loss"):
        registry.get("activations", "relu")


def test_get_torch_impl_of_component_without_builtin_says_so():
    with pytest.raises(LookupError, match="'sqnl' has no torch built-in"):
        registry.get("activation", "sqnl", impl="torch")
    with pytest.raises(ValueError, match="impl must be"):
        registry.get("activation", "relu", impl="jax")


# --- signatures ---------------------------------------------------------------------------------
def _documented(fn):
    """``fn`` itself, or for a C builtin without a signature, a function with the signature its
    docstring's first line documents (``softplus(input, beta=1, threshold=20) -> Tensor``)."""
    try:
        inspect.signature(fn)
        return fn
    except ValueError:
        head = fn.__doc__.strip().splitlines()[0]
        params = re.fullmatch(rf"{fn.__name__}\((.*)\) -> Tensor", head).group(1)
        return eval(f"lambda {params}: None")  # noqa: S307 - torch's own docstring


SIGNATURE_PAIRS = [
    pytest.param(getattr(A, n), _documented(getattr(torch.nn.functional, n, None)
                                            or getattr(torch.nn, n)), id=n)
    for n in A.__all__ if hasattr(torch.nn.functional, n) or hasattr(torch.nn, n)]


def test_every_activation_with_a_counterpart_has_its_signature_compared():
    # the comparison below would pass vacuously if a rename hid a counterpart
    assert {"leaky_relu", "LeakyReLU", "elu", "ELU", "softplus", "prelu", "Softmax"} <= \
        {p.id for p in SIGNATURE_PAIRS}


@pytest.mark.parametrize(("ours", "theirs"), SIGNATURE_PAIRS)
def test_signature_keeps_torchs_parameters_order_and_defaults(ours, theirs):
    """Functional forms and module constructors: torch's parameters first, in its order, with
    its names, kinds and defaults (``leaky_relu``'s ``negative_slope=0.01``), extras
    keyword-only."""
    assert testing.signature_differs(ours, theirs) == ""
