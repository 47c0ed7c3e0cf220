"""The dropout family, tested from the registry (checks shared with ``python -m nnref verify``
live in nnref.verify.dropout) plus the statistical and edge-case tests of the issue."""

from __future__ import annotations

import inspect
import math

import pytest
import torch
import torch.nn.functional as F
from conftest import DEVICES, case_params, specs_of
from hypothesis import given, settings
from hypothesis import strategies as st

from nnref import dropout as D
from nnref import registry
from nnref.verify import cases
from nnref.verify import dropout as V

SPECS = specs_of("dropout")
CASES = case_params("dropout")
STOCHASTIC = [s for s in SPECS if cases.of(s).unit != "weight"]  # masks on activations
MASK_CASES = [c for c in CASES if c.values[0] in STOCHASTIC]
BUILTIN = [s for s in SPECS if s.builtin is not None]
FUNCTIONALS = [(D.dropout, F.dropout), (D.dropout1d, F.dropout1d), (D.dropout2d, F.dropout2d),
               (D.alpha_dropout, F.alpha_dropout)]


def test_every_dropout_has_cases_and_every_cases_entry_is_registered():
    assert set(cases.table("dropout")) == set(registry.names("dropout"))
    assert registry.spec("dropout", "drop_connect").name == "dropconnect"


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize(("spec", "kwargs"), CASES)
def test_eval_and_seeded_training_match_torch_or_oracle(spec, kwargs, dtype, device):
    V.check_parity(spec, kwargs, dtype, device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("spec", "kwargs"), MASK_CASES)
def test_training_output_and_gradient_follow_the_formula(spec, kwargs, device):
    V.check_training_formula(spec, kwargs, torch.float32, device)


@pytest.mark.parametrize(("spec", "kwargs"), MASK_CASES)
def test_fraction_kept_is_within_binomial_bound(spec, kwargs):
    V.check_keep_fraction(spec, kwargs)


@pytest.mark.parametrize(("spec", "kwargs"), CASES)
def test_gradcheck_and_gradgradcheck(spec, kwargs):
    assert V.check_gradcheck(spec, kwargs)


@pytest.mark.parametrize(("spec", "kwargs"), CASES)
def test_saves_a_bool_mask_not_a_float_copy(spec, kwargs):
    V.check_saved_bytes(spec, kwargs)


@pytest.mark.parametrize("device", DEVICES)
def test_mask_is_bool_and_not_differentiable(device):
    x = torch.randn(50, 4, device=device, requires_grad=True)
    y = D.dropout(x, 0.5)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        D.dropout(x, 0.5)
    assert [t.dtype for t in saved] == [torch.bool]
    assert not saved[0].requires_grad
    assert y.requires_grad


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_inverted_dropout_is_unbiased(p):
    # E[y] = x: the mean over many draws of a fixed input is x within a CLT bound.
    x = torch.linspace(-2, 2, 50, dtype=torch.float64)
    draws = 4000
    y = D.dropout(x.expand(draws, -1), p)
    se = x.abs() * math.sqrt(p / (1 - p)) / math.sqrt(draws)  # std of y is |x| sqrt(p/(1-p))
    assert ((y.mean(0) - x).abs() <= 5 * se + 1e-12).all()


def test_classic_dropout_scales_at_inference_and_is_unbiased_across_modes():
    x = torch.linspace(-2, 2, 50, dtype=torch.float64)
    p = 0.3
    m = D.Dropout(p, mode="classic")
    y_train = m(x.expand(4000, -1)).mean(0)
    m.eval()
    # training keeps units unscaled, so its mean is (1 - p) x: what inference outputs
    torch.testing.assert_close(m(x), x * (1 - p))
    se = x.abs() * math.sqrt(p * (1 - p)) / math.sqrt(4000)
    assert ((y_train - x * (1 - p)).abs() <= 5 * se + 1e-12).all()


@pytest.mark.parametrize("ref_fn,torch_fn", FUNCTIONALS, ids=lambda f: f.__name__)
def test_functional_signature_is_torch_plus_keyword_generator(ref_fn, torch_fn):
    ref, base = inspect.signature(ref_fn).parameters, inspect.signature(torch_fn).parameters
    assert [(n, p.default) for n, p in base.items()] == [
        (n, p.default) for n, p in ref.items() if p.kind != p.KEYWORD_ONLY]
    assert ref["generator"].kind == inspect.Parameter.KEYWORD_ONLY


@pytest.mark.parametrize("ref_fn,torch_fn", FUNCTIONALS, ids=lambda f: f.__name__)
def test_generator_makes_masks_repeatable_and_independent_of_global_rng(ref_fn, torch_fn):
    x = torch.randn(8, 6, 5) if ref_fn is D.dropout1d else torch.randn(8, 6, 5, 5)
    runs = []
    for seed in (0, 99):
        torch.manual_seed(seed)
        runs.append(ref_fn(x, 0.5, True, generator=torch.Generator().manual_seed(7)))
    torch.testing.assert_close(runs[0], runs[1])
    other = ref_fn(x, 0.5, True, generator=torch.Generator().manual_seed(8))
    assert not torch.equal(runs[0], other)


@pytest.mark.parametrize("spec", STOCHASTIC, ids=lambda s: s.name)
def test_eval_is_the_identity(spec):
    m = spec.reference().eval()
    x = V.make_input(spec)
    assert m(x) is x or torch.equal(m(x), x)


@pytest.mark.parametrize("spec", STOCHASTIC, ids=lambda s: s.name)
def test_p_one_gives_zeros_with_zero_gradient_and_p_zero_the_identity(spec):
    x = V.make_input(spec).requires_grad_(True)
    y = spec.reference(p=1.0).train()(x)
    torch.testing.assert_close(y, torch.zeros_like(x))
    (gx,) = torch.autograd.grad(y.sum(), x)
    torch.testing.assert_close(gx, torch.zeros_like(x))
    y = spec.reference(p=0.0).train()(x)
    torch.testing.assert_close(y, x)


def test_nan_stays_nan_in_training():
    x = torch.full((1000,), float("nan"))
    assert D.dropout(x, 0.5).isnan().all()


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_invalid_p_is_refused_naming_it(spec):
    for kwargs, exc in cases.of(spec).invalid:
        with pytest.raises(exc, match="p|mode"):
            spec.reference(**kwargs)


@pytest.mark.parametrize("fn", [f for f, _ in FUNCTIONALS], ids=lambda f: f.__name__)
@pytest.mark.parametrize("p", [-0.01, 1.01, float("nan")])
def test_functional_p_outside_unit_interval_raises(fn, p):
    with pytest.raises(ValueError, match=r"between 0 and 1"):
        fn(torch.randn(4, 3, 5, 5), p, True)


@pytest.mark.parametrize(("fn", "bad_shapes"), [
    (D.dropout1d, [(5,), (2, 3, 4, 5)]),
    (D.dropout2d, [(5,), (3, 4), (2, 3, 4, 5, 6)]),
])
def test_channel_dropout_wrong_rank_raises(fn, bad_shapes):
    for shape in bad_shapes:
        with pytest.raises(RuntimeError, match=r"\dD"):
            fn(torch.randn(shape), 0.5, True)


def test_dropout2d_on_3d_input_drops_channels_of_n_c_l_with_torchs_warning():
    x = torch.randn(4, 6, 10)
    with pytest.warns(UserWarning, match="dropout1d"):
        torch.manual_seed(3)
        y = D.dropout2d(x, 0.5, True)
    torch.manual_seed(3)
    with pytest.warns(UserWarning):
        torch.testing.assert_close(y, F.dropout2d(x, 0.5, True))


def test_integer_input_is_refused():
    with pytest.raises(TypeError, match="input"):
        D.dropout(torch.arange(6), 0.5)


def test_alpha_dropout_keeps_mean_and_variance_like_torch():
    x = torch.randn(400_000, dtype=torch.float64)
    for p in (0.1, 0.3, 0.5):
        y, z = D.alpha_dropout(x, p, True), F.alpha_dropout(x, p, True)
        # sampling error of the mean / variance of 4e5 samples is ~2e-3; 0.02 is ~10 sigma
        for out in (y, z):
            assert abs(out.mean().item()) < 0.02
            assert abs(out.var().item() - 1) < 0.02
        assert abs(y.mean().item() - z.mean().item()) < 0.02


def test_alpha_dropout_dropped_units_take_one_value_and_gradient_is_a_on_kept():
    x = torch.randn(10_000, requires_grad=True)
    p = 0.2
    y = D.alpha_dropout(x, p, True, generator=torch.Generator().manual_seed(4))
    # the mask drawn here from the same generator state, not read off the output
    dropped = ~torch.empty(10_000).bernoulli_(1 - p, generator=torch.Generator().manual_seed(4)
                                              ).bool()
    assert dropped.any() and not dropped.all()
    alpha = -1.6732632423543772 * 1.0507009873554805
    a = ((1 - p) * (1 + p * alpha**2)) ** -0.5
    dropped_value = a * alpha * (1 - p)
    torch.testing.assert_close(y[dropped].detach(), torch.full((int(dropped.sum()),),
                                                               dropped_value))
    (gx,) = torch.autograd.grad(y.sum(), x)
    torch.testing.assert_close(gx, (~dropped).float() * a)


def test_dropout_inplace_overwrites_input():
    x = torch.randn(100, 10)
    leaf = x.clone().requires_grad_(True)
    t = leaf.clone()
    torch.manual_seed(0)
    y = D.dropout(t, 0.5, True, inplace=True)
    assert y.data_ptr() == t.data_ptr()
    y.sum().backward()
    torch.manual_seed(0)
    torch.testing.assert_close(leaf.grad, F.dropout(torch.ones_like(x), 0.5, True))


def test_module_api_and_repr_match_torch():
    for spec in BUILTIN:
        assert spec.reference.__name__ == spec.builtin.__name__
        assert repr(spec.reference(p=0.2)) == repr(spec.builtin(p=0.2))
    assert repr(D.Dropout(0.2, mode="classic")) == "Dropout(p=0.2, inplace=False, mode='classic')"


@pytest.mark.parametrize("device", DEVICES)
def test_vmap_of_dropout_with_different_randomness(device):
    x = torch.randn(3, 20, 5, device=device)
    y = torch.func.vmap(lambda t: D.dropout(t, 0.5, True), randomness="different")(x)
    assert y.shape == x.shape
    kept = y != 0
    assert (~kept | torch.isclose(y, 2 * x)).all()
    # p = 0.5 over 300 units: an all-zero (or all-kept) output is a broken draw, not luck
    assert kept.any() and not kept.all()
    assert not torch.equal(kept[0], kept[1]), "randomness='different' drew one mask for all"


def test_torch_compile_matches_eager_with_the_same_seed():
    x = torch.randn(64, 6)
    m = D.Dropout(0.3)
    compiled = torch.compile(m, backend="aot_eager", fullgraph=False)
    torch.manual_seed(0)
    want = m(x)
    torch.manual_seed(0)
    torch.testing.assert_close(compiled(x), want)


def test_dropconnect_expected_output_equals_plain_linear():
    torch.manual_seed(0)
    lin = torch.nn.Linear(6, 4).double()
    dc = D.DropConnectLinear(6, 4, p=0.4, dtype=torch.float64)
    dc.load_state_dict(lin.state_dict())
    x = torch.randn(3, 6, dtype=torch.float64)
    draws = 4000
    mean = sum(dc(x) for _ in range(draws)) / draws
    # per-output std of one draw: sqrt(p / (1 - p) * sum_j (W_ij x_j)^2)
    std = ((lin.weight * x[:, None, :]) ** 2).sum(-1).mul(0.4 / 0.6).sqrt()
    assert ((mean - lin(x)).abs() <= 5 * std / math.sqrt(draws)).all()
    dc.eval()
    torch.testing.assert_close(dc(x), lin(x))


def test_dropconnect_initialisation_and_state_dict_match_linear():
    torch.manual_seed(5)
    lin = torch.nn.Linear(7, 3)
    torch.manual_seed(5)
    dc = D.DropConnectLinear(7, 3)
    torch.testing.assert_close(dc.weight, lin.weight)
    torch.testing.assert_close(dc.bias, lin.bias)
    assert dc.state_dict().keys() == lin.state_dict().keys()
    assert D.DropConnectLinear(7, 3, bias=False).bias is None


def test_dropconnect_drops_weights_shared_across_the_batch():
    dc = D.DropConnectLinear(5, 3, bias=False, p=0.5)
    x = torch.eye(5).repeat(4, 1)  # rows of the identity read the masked weight columns
    y = dc(x, generator=torch.Generator().manual_seed(0)).reshape(4, 5, 3)
    g = torch.Generator().manual_seed(0)
    keep = torch.empty(3, 5).bernoulli_(0.5, generator=g).bool().T  # drawn as the layer draws
    assert keep.any() and not keep.all()
    torch.testing.assert_close(y[0], torch.where(keep, 2 * dc.weight.detach().T, 0.0))
    torch.testing.assert_close(y, y[:1].expand_as(y))


@settings(max_examples=25, deadline=None)
@given(p=st.floats(0.0, 0.95), n=st.integers(1, 40), c=st.integers(1, 6),
       spec=st.sampled_from(BUILTIN))
def test_property_matches_torch_with_the_same_seed(p, n, c, spec):
    x = torch.randn((n, c) + cases.of(spec).shape[2:])
    torch.manual_seed(11)
    y = spec.reference(p=p).train()(x)
    torch.manual_seed(11)
    torch.testing.assert_close(y, spec.builtin(p=p).train()(x))
