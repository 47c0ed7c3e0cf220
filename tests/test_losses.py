"""Losses, tested from the registry: every case of every entry runs every check (the checks
live in nnref.verify.losses, shared with ``python -m nnref verify``; the parity tests are
generated through nnref.testing.registry_checks); below them, the loss-specific properties and
the errors for bad input.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from conftest import device_marks, specs_of
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from nnref import losses as L
from nnref import registry, testing
from nnref.verify import cases
from nnref.verify import losses as V
from nnref.verify.cases.loss import rmse_oracle

SPECS = specs_of("loss")


def test_every_loss_has_cases_and_every_cases_entry_is_registered():
    assert set(cases.table("loss")) == set(registry.names("loss"))


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_every_loss_has_something_to_be_checked_against(spec):
    assert (spec.builtin is None) == (cases.of(spec).oracle is not None), (
        "a loss needs exactly one of: a torch built-in, an oracle formula")


# Parity, generated through nnref.testing from the registry and the cases: one test per
# property, dtype and case (forward_backward, empty, gradcheck, saved_bytes, compile), each run
# by nnref.verify.losses.
@testing.parametrize(testing.registry_checks("loss", devices=["cpu", "cuda"]),
                     marks=device_marks)
def test_parity(check):
    check()


def test_torch_compile_inductor_cross_entropy():
    torch._dynamo.reset()
    spec = registry.LOSSES["cross_entropy"]
    V.check_compile(spec, {"label_smoothing": 0.1}, backend="inductor")


@pytest.mark.parametrize("spec", [s for s in SPECS if cases.of(s).invalid], ids=lambda s: s.name)
def test_invalid_constructor_arguments_are_refused_naming_the_argument(spec):
    V.check_invalid(spec)
    for kwargs, exc in cases.of(spec).invalid:
        with pytest.raises(exc, match=next(iter(kwargs))):
            spec.reference(**kwargs)


def test_registry_builds_reference_and_builtin():
    assert isinstance(registry.get("loss", "ce", label_smoothing=0.1), L.CrossEntropyLoss)
    assert isinstance(registry.get("loss", "l1"), L.L1Loss)
    assert type(registry.get("loss", "bce_with_logits", impl="torch")) is nn.BCEWithLogitsLoss
    with pytest.raises(LookupError):
        registry.get("loss", "rmse", impl="torch")


def test_the_harness_catches_a_wrong_loss():
    # A loss that is off by a factor must fail the parity check: the checks can fail.
    import dataclasses

    class Wrong(L.MSELoss):
        def forward(self, input, target):
            return 1.01 * super().forward(input, target)

    spec = dataclasses.replace(registry.LOSSES["mse"], reference=Wrong)
    with pytest.raises(AssertionError):
        V.check_parity(spec, {}, torch.float64)


# --- properties from the notes --------------------------------------------------------------

def test_two_class_cross_entropy_is_bce_with_logits_of_the_logit_difference():
    x = torch.randn(32, 2, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 2, (32,))
    ce = L.cross_entropy(x, y)
    (g_ce,) = torch.autograd.grad(ce, x)
    bce = L.binary_cross_entropy_with_logits(x[:, 1] - x[:, 0], y.double())
    (g_bce,) = torch.autograd.grad(bce, x)
    torch.testing.assert_close(ce, bce)
    torch.testing.assert_close(g_ce, g_bce)


def test_nll_of_log_softmax_is_cross_entropy():
    from nnref.activations import log_softmax

    x = torch.randn(16, 7, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 7, (16,))
    w = torch.rand(7, dtype=torch.float64)
    a = L.cross_entropy(x, y, weight=w)
    b = L.nll_loss(log_softmax(x, 1), y, weight=w)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(torch.autograd.grad(a, x)[0], torch.autograd.grad(b, x)[0])


@pytest.mark.parametrize("scale", [1e4, -1e4, 1e30])
def test_cross_entropy_goes_through_log_sum_exp(scale):
    # log(softmax(x)) would give -inf for the losing classes here; log-sum-exp stays finite.
    x = torch.tensor([[1.0, 0.0, -1.0], [0.5, 2.0, 0.0]]) * scale
    y = torch.tensor([2, 0])
    got, want = L.cross_entropy(x, y, reduction="none"), F.cross_entropy(x, y, reduction="none")
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got, want)


def test_bce_clamps_the_log_at_minus_100_like_torch():
    p = torch.tensor([0.0, 1.0, 0.0, 1.0], requires_grad=True)
    y = torch.tensor([1.0, 0.0, 0.0, 1.0])
    loss = L.binary_cross_entropy(p, y, reduction="none")
    torch.testing.assert_close(loss, torch.tensor([100.0, 100.0, 0.0, 0.0]))
    (g,) = torch.autograd.grad(loss.sum(), p)
    pt = p.detach().clone().requires_grad_(True)
    (gt,) = torch.autograd.grad(F.binary_cross_entropy(pt, y, reduction="none").sum(), pt)
    torch.testing.assert_close(g, gt)
    assert torch.isfinite(g).all()


@pytest.mark.parametrize("x", [1e4, -1e4, 88.0, -104.0])
def test_bce_with_logits_is_stable_for_large_logits(x):
    xs = torch.tensor([x, x], requires_grad=True)
    y = torch.tensor([0.0, 1.0])
    got = L.binary_cross_entropy_with_logits(xs, y, reduction="none")
    want = F.binary_cross_entropy_with_logits(xs, y, reduction="none")
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(torch.autograd.grad(got.sum(), xs)[0],
                               torch.autograd.grad(want.sum(), xs)[0])


def test_nan_in_nan_out_and_gradients_like_torch():
    y = torch.tensor([0.0, 0.5])
    pairs = [(L.mse_loss, F.mse_loss), (L.l1_loss, F.l1_loss), (L.huber_loss, F.huber_loss),
             (L.rmse_loss, lambda x, t, reduction: rmse_oracle(reduction)(x, t)),
             (L.binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits)]
    for fn, base in pairs:
        x = torch.tensor([float("nan"), 1.0], requires_grad=True)
        out, want = fn(x, y, reduction="none"), base(x, y, reduction="none")
        assert out[0].isnan() and not out[1].isnan(), fn.__name__
        torch.testing.assert_close(out, want, equal_nan=True)
        # torch's convention for the gradient at NaN: NaN, except l1's sign(NaN) = 0
        torch.testing.assert_close(torch.autograd.grad(out.sum(), x)[0],
                                   torch.autograd.grad(want.sum(), x)[0], equal_nan=True)


def test_half_mse_is_the_notes_loss_whose_gradient_is_the_error():
    x = torch.tensor([3.0, -1.0], requires_grad=True)
    y = torch.tensor([1.0, 1.0])
    loss = L.mse_loss(x, y, reduction="sum", half=True)
    assert loss.item() == 0.5 * (4 + 4)
    (g,) = torch.autograd.grad(loss, x)
    torch.testing.assert_close(g, x.detach() - y)


def test_rmse_by_hand_and_at_zero_error():
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = torch.tensor([1.0, 1.0, 1.0])
    r = L.rmse_loss(x, y)
    assert math.isclose(r.item(), math.sqrt(5 / 3), rel_tol=1e-6)
    (g,) = torch.autograd.grad(r, x)
    torch.testing.assert_close(g, (x.detach() - y) / (3 * math.sqrt(5 / 3)))
    # a perfect fit: zero loss and zero (not NaN) gradient, also for 'none' and double backward
    for reduction in ("mean", "sum", "none"):
        z = y.clone().requires_grad_(True)
        r = L.rmse_loss(z, y, reduction=reduction)
        (g,) = torch.autograd.grad(r.sum(), z, create_graph=True)
        assert torch.equal(g, torch.zeros_like(z))
        (gg,) = torch.autograd.grad(g.sum(), z)
        assert torch.isfinite(gg).all()


def test_empty_batch_values():
    e = torch.empty(0, 3)
    assert L.mse_loss(e, e).isnan()
    assert L.mse_loss(e, e, reduction="sum").item() == 0
    assert L.mse_loss(e, e, reduction="none").shape == (0, 3)
    assert L.cross_entropy(e, torch.empty(0, dtype=torch.long)).isnan()


def test_cross_entropy_with_every_row_ignored_is_nan_like_torch():
    x = torch.randn(4, 3)
    y = torch.full((4,), -100)
    assert L.cross_entropy(x, y).isnan() and F.cross_entropy(x, y).isnan()


def test_probability_targets_can_be_one_hot():
    x = torch.randn(10, 4, dtype=torch.float64)
    y = torch.randint(0, 4, (10,))
    one_hot = torch.eye(4, dtype=torch.float64)[y]
    torch.testing.assert_close(L.cross_entropy(x, one_hot), L.cross_entropy(x, y))


def test_legacy_size_average_and_reduce_flags_match_torch():
    x, y = torch.randn(5, 3), torch.randn(5, 3)
    for size_average, reduce in [(False, None), (None, False), (True, True)]:
        with pytest.warns(UserWarning):  # torch warns about the deprecated flags
            want = F.mse_loss(x, y, size_average=size_average, reduce=reduce)
        torch.testing.assert_close(L.mse_loss(x, y, size_average=size_average, reduce=reduce),
                                   want)


def test_weighted_losses_share_state_dicts_with_torch():
    w, pw = torch.rand(5), torch.rand(5) + 0.5
    pairs = [(L.CrossEntropyLoss(weight=w), nn.CrossEntropyLoss(weight=torch.zeros(5))),
             (L.BCEWithLogitsLoss(weight=w, pos_weight=pw),
              nn.BCEWithLogitsLoss(weight=torch.zeros(5), pos_weight=torch.zeros(5))),
             (L.NLLLoss(weight=w), nn.NLLLoss(weight=torch.zeros(5)))]
    for ref, base in pairs:
        base.load_state_dict(ref.state_dict())
        ref.load_state_dict(base.state_dict())
        assert list(ref.state_dict()) == list(base.state_dict())


def test_per_sample_gradients_with_vmap():
    x = torch.randn(6, 4, dtype=torch.float64)
    y = torch.randn(6, 4, dtype=torch.float64)
    for fn in (L.mse_loss, L.huber_loss, L.l1_loss, L.rmse_loss):
        per_sample = torch.func.vmap(torch.func.grad(fn))(x, y)
        loop = torch.stack([torch.func.grad(fn)(xi, yi) for xi, yi in zip(x, y, strict=True)])
        torch.testing.assert_close(per_sample, loop)


@pytest.mark.filterwarnings("ignore:There is a performance drop")  # vmap's in-place fallback
def test_per_sample_gradients_with_vmap_for_classification_losses():
    x = torch.randn(6, 3, 5, dtype=torch.float64)
    y = torch.randint(0, 5, (6, 3))
    t = torch.rand(6, 3, 5, dtype=torch.float64)
    cases = [(L.cross_entropy, y), (L.cross_entropy, t.softmax(-1)),
             (lambda a, b: L.nll_loss(torch.log_softmax(a, -1), b), y),
             (L.binary_cross_entropy_with_logits, t)]
    for fn, target in cases:
        per_sample = torch.func.vmap(torch.func.grad(fn))(x, target)
        loop = torch.stack([torch.func.grad(fn)(xi, ti) for xi, ti in zip(x, target, strict=True)])
        torch.testing.assert_close(per_sample, loop)


@settings(max_examples=30, deadline=None)
@given(delta=st.floats(0.05, 5.0), scale=st.floats(0.1, 10.0), seed=st.integers(0, 1000))
def test_huber_matches_torch_for_any_delta(delta, scale, seed):
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(40, generator=g, dtype=torch.float64) * scale).requires_grad_(True)
    y = torch.randn(40, generator=g, dtype=torch.float64)
    got = L.huber_loss(x, y, delta=delta)
    want = F.huber_loss(x, y, delta=delta)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(torch.autograd.grad(got, x)[0], torch.autograd.grad(want, x)[0])


@settings(max_examples=30, deadline=None)
@given(eps=st.floats(0.0, 1.0), seed=st.integers(0, 1000), ignore=st.booleans())
def test_cross_entropy_matches_torch_for_any_label_smoothing(eps, seed, ignore):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(12, 6, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 6, (12,), generator=g)
    if ignore:
        y[::4] = -100
    w = torch.rand(6, generator=g, dtype=torch.float64)
    got = L.cross_entropy(x, y, weight=w, label_smoothing=eps)
    want = F.cross_entropy(x, y, weight=w, label_smoothing=eps)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(torch.autograd.grad(got, x)[0], torch.autograd.grad(want, x)[0])


# --- bad input --------------------------------------------------------------------------------

def test_shape_mismatch_raises_where_torch_would_broadcast():
    x, y = torch.randn(8, 1), torch.randn(8)
    for fn in (L.mse_loss, L.l1_loss, L.huber_loss, L.rmse_loss,
               L.binary_cross_entropy_with_logits):
        with pytest.raises(ValueError, match="'target' must have the shape"):
            fn(x, y)


def test_probabilities_outside_the_unit_interval_are_refused():
    p, y = torch.tensor([0.5, 1.2]), torch.tensor([0.0, 1.0])
    with pytest.raises(ValueError, match="'input' must be between 0 and 1"):
        L.binary_cross_entropy(p, y)
    with pytest.raises(ValueError, match="'target' must be between 0 and 1"):
        L.binary_cross_entropy(y * 0.5, torch.tensor([0.0, 2.0]))
    with pytest.raises(ValueError, match="'target' must be between 0 and 1"):
        L.binary_cross_entropy_with_logits(torch.randn(2), torch.tensor([-0.1, 1.0]))
    with pytest.raises(ValueError, match="'target' must be between 0 and 1"):
        L.cross_entropy(torch.randn(2, 3), torch.tensor([[0.5, 0.5, 0.0], [1.5, -0.5, 0.0]]))


def test_class_index_out_of_range_is_refused_but_ignore_index_is_not():
    x = torch.randn(3, 4)
    for fn in (L.cross_entropy, L.nll_loss):
        with pytest.raises(IndexError, match=r"'target' has class index 4 outside the range"):
            fn(x, torch.tensor([0, 4, 1]))
        with pytest.raises(IndexError, match="-1"):
            fn(x, torch.tensor([0, -1, 1]))
        assert torch.isfinite(fn(x, torch.tensor([0, -100, 1])))
        assert torch.isfinite(fn(x, torch.tensor([0, 7, 1]), ignore_index=7))


def test_bad_hyper_parameters_are_refused_naming_the_argument():
    x, y = torch.randn(3), torch.randn(3)
    with pytest.raises(ValueError, match="'delta' must be > 0"):
        L.huber_loss(x, y, delta=-1.0)
    with pytest.raises(ValueError, match="'label_smoothing' must be in"):
        L.cross_entropy(torch.randn(2, 3), torch.tensor([0, 1]), label_smoothing=1.5)
    with pytest.raises(ValueError, match="'reduction' must be one of"):
        L.mse_loss(x, y, reduction="avg")
    with pytest.raises(ValueError, match="'weight' must be a floating-point tensor of shape"):
        L.cross_entropy(torch.randn(2, 3), torch.tensor([0, 1]), weight=torch.ones(4))
    with pytest.raises(ValueError, match="'pos_weight'"):
        L.binary_cross_entropy_with_logits(torch.randn(2, 3), torch.rand(2, 3),
                                           pos_weight=torch.ones(4))


def test_wrong_types_are_refused():
    with pytest.raises(TypeError, match="'target' must be a Tensor"):
        L.mse_loss(torch.randn(3), [1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="'input' must be a floating-point tensor"):
        L.cross_entropy(torch.ones(2, 3, dtype=torch.long), torch.tensor([0, 1]))
    with pytest.raises(TypeError, match="class indices"):
        L.nll_loss(torch.randn(2, 3), torch.rand(2, 3))
    with pytest.raises(ValueError, match="class-index 'target' must have shape"):
        L.cross_entropy(torch.randn(2, 3, 4), torch.tensor([0, 1]))
