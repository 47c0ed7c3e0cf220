"""Exactness of the losses where a naive formula rounds, divides by zero or mutates a shared
tensor: every-row-ignored gradients, huge logits, vmap with one side batched, NaN checks,
and torch's signatures."""

from __future__ import annotations

import inspect
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import nnref.dropout as D
import nnref.losses as L
import nnref.normalization as N
from nnref.verify import half_accurate, half_ulp


def _second_order(fn, x, target, **kw):
    """Loss, first-order gradient and the gradient of <grad, v> w.r.t. (x, upstream), zeros
    where autograd has no path (as torch's own derivative formulas give)."""
    x = x.detach().requires_grad_()
    up = torch.ones((), dtype=x.dtype, requires_grad=True)
    loss = fn(x, target, **kw)
    (gx,) = torch.autograd.grad(loss, x, up, create_graph=True)
    v = torch.linspace(-1, 1, x.numel(), dtype=x.dtype).reshape(x.shape)
    if not gx.requires_grad:  # a backward that does not depend on x or the upstream grad
        return loss.detach(), gx, torch.zeros_like(x), torch.zeros_like(up)
    ggx, gup = torch.autograd.grad((gx * v).sum(), (x, up), materialize_grads=True)
    return loss.detach(), gx.detach(), ggx, gup


_W = torch.tensor([0.5, 2.0, 1.0, 3.0], dtype=torch.float64)
_IGNORED = [(name, kw) for name in ("cross_entropy", "nll_loss")
            for kw in ({}, {"weight": _W}, {"ignore_index": 2})]
_IGNORED.append(("cross_entropy", {"label_smoothing": 0.2}))


@pytest.mark.parametrize(("name", "kw"), _IGNORED)
def test_every_row_ignored_has_torch_value_and_zero_gradients(name, kw):
    ignore = kw.get("ignore_index", -100)
    x = torch.randn(3, 4, dtype=torch.float64)
    y = torch.full((3,), ignore)
    ours = _second_order(getattr(L, name), x, y, **kw)
    want = _second_order(getattr(F, name), x, y, **kw)
    assert ours[0].isnan() and want[0].isnan()  # the mean over zero weight, 0/0
    # gradient and second order in x: zeros, as torch. (torch's derivative of the gradient
    # with respect to the upstream gradient is 0/0 there; the reference's is 0.)
    for a, b in zip(ours[1:3], want[1:3], strict=True):
        assert not b.isnan().any()
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not ours[3].isnan().any()


def test_zero_total_weight_with_valid_rows_divides_by_zero_like_torch():
    # rows are kept but their class weight is 0: torch divides by the zero total in backward
    x = torch.randn(2, 3, dtype=torch.float64)
    y, w = torch.tensor([0, 0]), torch.tensor([0.0, 1.0, 1.0], dtype=torch.float64)
    for name in ("cross_entropy", "nll_loss"):
        grads = []
        for fn in (getattr(L, name), getattr(F, name)):
            t = x.clone().requires_grad_()
            grads.append(torch.autograd.grad(fn(t, y, weight=w), t)[0])
        assert grads[1].isnan().any(), name
        torch.testing.assert_close(grads[0], grads[1], equal_nan=True, rtol=0, atol=0)


def test_ignore_index_with_probability_targets_raises_like_torch():
    x, t = torch.randn(2, 3), torch.softmax(torch.randn(2, 3), 1)
    msg = "ignore_index is not supported for floating point target"
    with pytest.raises(RuntimeError, match=msg):
        F.cross_entropy(x, t, ignore_index=1)
    with pytest.raises(RuntimeError, match=msg):
        L.cross_entropy(x, t, ignore_index=1)
    with pytest.raises(RuntimeError, match=msg):
        L.CrossEntropyLoss(ignore_index=0)(x, t)
    torch.testing.assert_close(L.cross_entropy(x, t, ignore_index=-100), F.cross_entropy(x, t))


_BCE_CASES = [
    ("binary_cross_entropy", {}),
    ("binary_cross_entropy", {"weight": True}),
    ("binary_cross_entropy_with_logits", {}),
    ("binary_cross_entropy_with_logits", {"weight": True}),
    ("binary_cross_entropy_with_logits", {"pos_weight": True}),
    ("binary_cross_entropy_with_logits", {"weight": True, "pos_weight": True}),
]


@pytest.mark.parametrize("batched", [0, 1])
@pytest.mark.parametrize(("name", "flags"), _BCE_CASES)
def test_binary_losses_under_vmap_with_one_side_batched(name, flags, batched):
    g = torch.Generator().manual_seed(0)
    kw = {k: torch.rand(5, generator=g, dtype=torch.float64) + 0.5 for k in flags}
    x = torch.rand(3, 5, generator=g, dtype=torch.float64) * 0.8 + 0.1
    y = torch.rand(3, 5, generator=g, dtype=torch.float64)
    args = [x[0], y[0]]
    args[batched] = (x, y)[batched]  # only this side carries the vmapped dimension
    dims = (0, None) if batched == 0 else (None, 0)
    ref, builtin = getattr(L, name), getattr(F, name)
    for reduction in ("mean", "none"):
        def run(f, reduction=reduction):
            return torch.func.vmap(lambda a, b: f(a, b, reduction=reduction, **kw),
                                   in_dims=dims)(*args)
        torch.testing.assert_close(run(ref), run(builtin))

    def grads(f):
        per = torch.func.grad(lambda a, b: f(a, b, **kw), argnums=batched)
        return torch.func.vmap(per, in_dims=dims)(*args)
    torch.testing.assert_close(grads(ref), grads(builtin))


_CE_CASES = [(name, target, kw) for name, targets in (("cross_entropy", ("index", "prob")),
                                                       ("nll_loss", ("index",)))
             for target in targets
             for kw in ({}, {"weight": True}, {"label_smoothing": 0.1},
                        {"weight": True, "label_smoothing": 0.1})
             if name == "cross_entropy" or "label_smoothing" not in kw]


@pytest.mark.filterwarnings("ignore:There is a performance drop")  # vmap's in-place fallback
@pytest.mark.parametrize("batched", [0, 1])
@pytest.mark.parametrize(("name", "target_kind", "flags"), _CE_CASES)
def test_categorical_losses_under_vmap_with_one_side_batched(name, target_kind, flags, batched):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4, 5, generator=g, dtype=torch.float64)
    if target_kind == "index":
        y = torch.randint(0, 5, (3, 4), generator=g)
    else:
        y = torch.softmax(torch.randn(3, 4, 5, generator=g, dtype=torch.float64), -1)
    kw = dict(flags)
    if "weight" in kw:
        kw["weight"] = torch.rand(5, generator=g, dtype=torch.float64) + 0.5
    args = [x[0], y[0]]
    args[batched] = (x, y)[batched]
    dims = (0, None) if batched == 0 else (None, 0)
    ref, builtin = getattr(L, name), getattr(F, name)

    # the built-in one sample at a time: torch's own cross-entropy with label smoothing fails
    # under vmap when only the target is batched
    def per_sample(f):
        samples = []
        for i in range(3):
            one = list(args)
            one[batched] = args[batched][i]
            samples.append(f(*one))
        return torch.stack(samples)

    for reduction in ("mean", "none"):
        def loss(f, reduction=reduction):
            return lambda a, b: f(a, b, reduction=reduction, **kw)
        torch.testing.assert_close(torch.func.vmap(loss(ref), in_dims=dims)(*args),
                                   per_sample(loss(builtin)))
    torch.testing.assert_close(
        torch.func.vmap(torch.func.grad(lambda a, b: ref(a, b, **kw)), in_dims=dims)(*args),
        per_sample(torch.func.grad(lambda a, b: builtin(a, b, **kw))))


def test_large_logits_cancel_before_rounding():
    x = torch.tensor([[1e6, 1e6 + 1, 1e6 - 1]])
    y = torch.tensor([0])
    torch.testing.assert_close(L.cross_entropy(x, y), F.cross_entropy(x, y))
    assert L.cross_entropy(x, y).item() == pytest.approx(1.4076, abs=1e-4)
    for target in (torch.tensor([0]), torch.tensor([[1.0, 0.0, 0.0]])):
        grads = []
        for fn in (L.cross_entropy, F.cross_entropy):
            t = torch.tensor([[0.0, 1e30, 1e30]], requires_grad=True)
            fn(t, target).backward()
            grads.append(t.grad)
        torch.testing.assert_close(grads[0], grads[1])
        torch.testing.assert_close(grads[0], torch.tensor([[-1.0, 0.5, 0.5]]))


@settings(max_examples=60, deadline=None)
@given(
    shift=st.one_of(st.sampled_from([0.0, 1e6, -1e6, 1e15, 1e30, -1e30]),
                    st.floats(-1e30, 1e30, allow_nan=False)),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    target_kind=st.sampled_from(["index", "probability"]),
    smoothing=st.sampled_from([0.0, 0.1]),
    weighted=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_cross_entropy_with_shifted_logits_equals_torch(shift, dtype, target_kind, smoothing,
                                                        weighted, seed):
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(4, 5, generator=g, dtype=dtype) * 3 + shift).requires_grad_()
    if target_kind == "index":
        target = torch.randint(0, 5, (4,), generator=g)
    else:
        target = torch.softmax(torch.randn(4, 5, generator=g, dtype=dtype), 1)
    kw = {"label_smoothing": smoothing}
    if weighted:
        kw["weight"] = torch.rand(5, generator=g, dtype=dtype) + 0.5
    out = []
    for fn in (L.cross_entropy, F.cross_entropy):
        loss = fn(x, target, **kw)
        out.append((loss, torch.autograd.grad(loss, x)[0]))
    torch.testing.assert_close(out[0][0], out[1][0])
    torch.testing.assert_close(out[0][1], out[1][1])


@pytest.mark.parametrize("bad", ["input", "target"])
def test_binary_cross_entropy_refuses_nan(bad):
    p = torch.tensor([0.3, float("nan")]) if bad == "input" else torch.tensor([0.3, 0.6])
    y = torch.tensor([0.3, float("nan")]) if bad == "target" else torch.tensor([0.3, 0.6])
    with pytest.raises(RuntimeError, match=f"all elements of {bad} should be between 0 and 1"):
        F.binary_cross_entropy(p, y)
    with pytest.raises(ValueError, match=f"all elements of '{bad}' must be between 0 and 1"):
        L.binary_cross_entropy(p, y)
    with pytest.raises(ValueError, match=f"'{bad}' must be between 0 and 1"):
        L.BCELoss()(p, y)


def _counterparts():
    for module, names in ((L, L.__all__), (D, D.__all__), (N, N.__all__)):
        for name in names:
            builtin = getattr(F, name, None) or getattr(nn, name, None)
            if builtin is not None:
                yield getattr(module, name), builtin


@pytest.mark.parametrize(("ours", "builtin"), list(_counterparts()),
                         ids=lambda f: getattr(f, "__name__", ""))
def test_signatures_keep_torch_positional_order(ours, builtin):
    """torch's parameters come first, in torch's order, with torch's names, kinds and
    defaults; anything the reference adds is keyword-only, so a positional call means the
    same to both."""
    mine = list(inspect.signature(ours).parameters.values())
    theirs = list(inspect.signature(builtin).parameters.values())
    assert [(p.name, p.kind, p.default) for p in mine[:len(theirs)]] == \
        [(p.name, p.kind, p.default) for p in theirs]
    for extra in mine[len(theirs):]:
        assert extra.kind is inspect.Parameter.KEYWORD_ONLY, extra.name


def test_signature_check_covers_every_loss_with_a_builtin():
    covered = {ours.__name__ for ours, _ in _counterparts()}
    assert {"cross_entropy", "CrossEntropyLoss", "mse_loss", "MSELoss", "huber_loss",
            "binary_cross_entropy_with_logits", "dropout", "Dropout", "batch_norm"} <= covered


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_cross_entropy_half_gradient_at_a_confident_target_is_correctly_rounded(dtype):
    # p_t - 1 cancels where p_t is near 1: formed in float32 it can leave more than half an ulp
    # of error after the rounding to half (torch's database samples found it).
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4096, 5, generator=g)
    t = torch.randint(0, 5, (4096,), generator=g)
    x[torch.arange(4096), t] += 8.0  # p_t ~ 1 - 3e-4
    x = x.to(dtype)
    a = x.clone().requires_grad_()
    L.cross_entropy(a, t, reduction="sum").backward()
    exact = torch.softmax(x.double(), 1)
    exact[torch.arange(4096), t] -= 1
    got = a.grad.double()[torch.arange(4096), t]
    want = exact[torch.arange(4096), t]
    info = torch.finfo(dtype)  # an ulp of the half dtype at each value, subnormals included
    ulp = info.eps * 2.0 ** torch.floor(torch.log2(want.abs())).clamp_min(math.log2(info.tiny))
    assert float(((got - want).abs() / ulp).max()) <= 0.5 + 1e-3


@pytest.mark.parametrize("target", ["index", "probability"])
def test_cross_entropy_of_a_confident_class_is_accurate_to_two_ulps(target):
    # The loss -log p_t = log(1 + r), r the other classes' mass: from 1 + r rounded it keeps
    # only r's high bits (a relative error of 1e-2 at r = 1e-5 in float32).
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4096, 10, generator=g)
    x[:, 0] += torch.rand(4096, generator=g) * 10 + 6  # r from 1e-2 down to 1e-7
    t = torch.zeros(4096, dtype=torch.long)
    if target == "probability":
        t = F.one_hot(t, 10).float()
    got = L.cross_entropy(x, t, reduction="none").double()
    # from the float32 shifted logits (their rounding is the input's, not the loss's): what is
    # left is a few roundings of exp, the sum and log1p (torch: median 1900 ulps, and 0 for
    # r below float32's epsilon)
    exact = torch.log1p((x[:, 1:] - x[:, :1]).double().exp().sum(1))
    assert float(((got - exact).abs() / (exact * 2.0 ** -23)).max()) <= 2.0


def test_cross_entropy_counts_tied_largest_logits_out_of_a_large_vocabulary():
    # the largest terms are counted out of the row sums, not located: ties (here every class,
    # then a few) and 10^5 classes must still give log(C) and torch's value
    x = torch.zeros(2, 100_000)
    x[1, :7] = 3.0
    x[1, 7:] = torch.randn(99_993, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 3])
    got = L.cross_entropy(x, y, reduction="none").double()
    want = F.cross_entropy(x.double(), y, reduction="none")
    assert torch.allclose(got, want, rtol=2e-7, atol=0), (got, want)
    assert got[0] == float(torch.tensor(100_000.0).log())


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_cross_entropy_half_gradients_at_confident_probability_targets_are_accurate(dtype):
    # Logits and target probabilities both near one class: log p_t = -log(1 + r) lost r's low
    # bits when 1 + r was rounded (the target's gradient), and p_j sum(q) - q_j cancelled in
    # float32 (the input's); both left results farther from the exact value than torch's plus
    # half an ulp (torch's database samples found them).
    g = torch.Generator().manual_seed(0)
    # as torch's samples: uniform in [-9, 9], the classes in dimension 1 of a 3-d input
    x = torch.rand(64, 3, 64, generator=g) * 18 - 9
    z = torch.rand(64, 3, 64, generator=g) * 18 - 9
    x, t = x.to(dtype), torch.softmax(z, 1).to(dtype)
    upstream = (torch.randn(64, 64, generator=g) * 8).round() / 8  # exact in every dtype
    grads = []
    for fn, dt in ((L.cross_entropy, dtype), (F.cross_entropy, dtype),
                   (F.cross_entropy, torch.float64)):
        a, b = x.to(dt, copy=True).requires_grad_(), t.to(dt, copy=True).requires_grad_()
        fn(a, b, reduction="none").backward(upstream.to(dt))
        grads.append((a.grad, b.grad))
    (mine_x, mine_t), (torch_x, _), (exact_x, exact_t) = grads
    half_accurate(mine_x, torch_x, [exact_x], "input gradient")
    # -log p_j times an exact upstream: correctly rounded (torch's is up to 2 ulps off in
    # float16 and 200 in bfloat16 here)
    ulps = (mine_t.double() - exact_t).abs() / half_ulp(exact_t, dtype)
    assert float(ulps.max()) <= 0.5 + 1e-3
