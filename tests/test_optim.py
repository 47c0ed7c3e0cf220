"""Optimizers: lockstep parity with torch.optim (or an independent formula), driven by the
registry and the cases in nnref.verify.cases.optim (generated through
nnref.testing.registry_checks), plus state dicts, schedulers, param groups, closures, memory and
bad input."""

from __future__ import annotations

import copy
import inspect

import pytest
import torch
from conftest import device_marks, invalid_params, specs_of
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.optim.optimizer import _default_to_fused_or_foreach

from nnref import registry, testing
from nnref.optim import LARS, SGD
from nnref.optim._common import default_foreach
from nnref.verify import case_label, cases
from nnref.verify import optim as V

SPECS = specs_of("optim")
BUILTIN = [s for s in SPECS if s.builtin is not None]
LOCKSTEP_STEPS = 500
SHORT = 50


CASES = [pytest.param(s, kw, id=f"{s.name}-{case_label(kw)}")
         for s in SPECS for kw in V.all_kwargs(s)]


def _factories(spec, **overrides):
    kw = {**spec.defaults, **overrides}
    make_base, _ = V.comparison(spec, kw)
    return (lambda p: spec.reference(p, **kw)), make_base


# Parity, generated through nnref.testing from the registry and the cases: every case in one
# 500-step lockstep run per path, each variant on both paths, default foreach on each device,
# each run by nnref.verify.optim.
@testing.parametrize(testing.registry_checks("optim", devices=["cpu", "cuda"]),
                     marks=device_marks)
def test_parity(check):
    check()


def test_adagrad_initial_accumulator_value_500_steps():
    # torch reads it from the constructor only, so the grouped run above cannot vary it
    spec = registry.spec("optim", "adagrad")
    V.check_case(spec, {"initial_accumulator_value": 0.5}, LOCKSTEP_STEPS, torch.float32)


@pytest.mark.slow
@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("spec,kwargs", CASES)
def test_lockstep_2000_steps_full_matrix(spec, kwargs, dtype, foreach):
    V.check_case(spec, {**kwargs, "foreach": foreach}, 2000, dtype)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("spec", BUILTIN, ids=lambda s: s.name)
def test_lockstep_low_precision(spec, dtype):
    # eps = 1e-8 rounds to 0 in float16, and both would divide by zero: use one it can hold
    eps = {"eps": 1e-3} if "eps" in inspect.signature(spec.builtin).parameters else {}
    V.check_case(spec, {**cases.of(spec).kwargs[-1], **eps}, 20, dtype)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
@settings(max_examples=5, deadline=None)
@given(data=st.data())
def test_lockstep_with_random_hyperparameters(spec, data):
    kwargs = {k: data.draw(st.floats(lo, hi), label=k)
              for k, (lo, hi) in cases.of(spec).hyper.items()}
    kwargs["foreach"] = data.draw(st.booleans(), label="foreach")
    V.check_case(spec, kwargs, 30, torch.float64)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_single_tensor_and_foreach_paths_agree(spec):
    kwargs = cases.of(spec).kwargs[-1]
    make = lambda foreach: lambda p: spec.reference(  # noqa: E731
        p, **{**spec.defaults, **kwargs, "foreach": foreach})
    run = V.pair(make(False), make(True), torch.float64)
    run.train(SHORT)
    V.assert_params_close(run)


def test_foreach_none_chooses_like_torch():
    params = [torch.zeros(3, requires_grad=True), torch.zeros(2, 2, requires_grad=True)]
    assert default_foreach(params) == _default_to_fused_or_foreach(params, False, False)[1]
    assert default_foreach([torch.zeros(2, device="meta")]) is False


def _two_groups(model):
    first, *rest = model.children()
    return [{"params": first.parameters(), "lr": 3e-3, "weight_decay": 1e-2},
            {"params": [p for m in rest for p in m.parameters()]}]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_param_groups_with_different_hyperparameters(spec):
    make_ref, make_base = _factories(spec)
    run = V.pair(make_ref, make_base, torch.float32, groups=_two_groups)
    run.train(SHORT)
    V.assert_params_close(run)
    assert [g["lr"] for g in run.opt_a.param_groups] == [3e-3, spec.defaults.get(
        "lr", run.opt_b.param_groups[1]["lr"])]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_step_with_closure_returns_the_loss_and_matches(spec):
    make_ref, make_base = _factories(spec)
    run = V.pair(make_ref, make_base, torch.float32)
    run.train(SHORT, closure=True)
    V.assert_params_close(run)
    x, y = next(V.batches(1))
    loss = run.opt_a.step(lambda: V.loss_of(run.model_a, x, y))
    # The closure runs before the step, on parameters equal to model_b's: the same loss.
    torch.testing.assert_close(loss.detach(), V.loss_of(run.model_b, x, y).detach())


@pytest.mark.parametrize("scheduler", ["step", "cosine"])
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_lr_schedulers_drive_both_identically(spec, scheduler):
    make_ref, make_base = _factories(spec)
    run = V.pair(make_ref, make_base, torch.float32)

    def sched(opt):
        if scheduler == "step":
            return torch.optim.lr_scheduler.StepLR(opt, step_size=20, gamma=0.5)
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=60)

    scheds = (sched(run.opt_a), sched(run.opt_b))
    run.train(SHORT, schedulers=scheds)
    V.assert_params_close(run)
    assert run.opt_a.param_groups[0]["lr"] == run.opt_b.param_groups[0]["lr"]
    assert run.opt_a.param_groups[0]["lr"] != run.opt_a.defaults["lr"]


@pytest.mark.parametrize("spec", BUILTIN, ids=lambda s: s.name)
def test_state_dict_cross_loads_both_ways_mid_training(spec):
    kwargs = {**spec.defaults, **cases.of(spec).kwargs[-1]}
    run = V.pair(lambda p: spec.reference(p, **kwargs), lambda p: spec.builtin(p, **kwargs))
    run.train(50)
    ref_sd, base_sd = run.opt_a.state_dict(), run.opt_b.state_dict()
    assert [set(s) for s in ref_sd["state"].values()] == \
           [set(s) for s in base_sd["state"].values()]
    for s in ref_sd["state"].values():
        if "step" in s:  # torch's convention: a 0-d float32 CPU tensor
            assert s["step"].dtype == torch.float32 and s["step"].device.type == "cpu"
    # swap: the torch model continues with the reference optimizer and vice versa
    swapped = V.Run(run.model_b, run.model_a, spec.reference(run.model_b.parameters(), **kwargs),
                    spec.builtin(run.model_a.parameters(), **kwargs))
    swapped.opt_a.load_state_dict(copy.deepcopy(base_sd))
    swapped.opt_b.load_state_dict(copy.deepcopy(ref_sd))
    swapped.train(50, seed=2)
    V.assert_params_close(swapped)
    # and the reference's own round trip restores every state tensor
    again = spec.reference(run.model_b.parameters(), **kwargs)
    again.load_state_dict(swapped.opt_a.state_dict())
    for a, b in zip(again.state.values(), swapped.opt_a.state.values(), strict=True):
        assert a.keys() == b.keys()
        for k in a:
            torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)


@pytest.mark.parametrize("set_to_none", [True, False])
def test_zero_grad(set_to_none):
    model = V.mlp()
    opt = registry.get("optim", "adam")(model.parameters())
    V.loss_of(model, *next(V.batches(1))).backward()
    opt.step()
    opt.zero_grad(set_to_none=set_to_none)
    for p in model.parameters():
        assert p.grad is None if set_to_none else not p.grad.any()
    before = [p.clone() for p in model.parameters()]
    opt.step()
    moved = [not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True)]
    # no gradient: the parameter is skipped; a zero gradient: Adam's momentum still moves it
    assert not any(moved) if set_to_none else all(moved)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_state_memory_matches_the_notes_table(spec):
    # the notes: SGD 0, momentum 4n, AdaGrad 4n, RMSprop 4n, Adam 8n, AdamW 8n, LARS 4n bytes
    model = V.mlp(torch.float32)
    opt = registry.get("optim", spec.name)(model.parameters())
    V.loss_of(model, *next(V.batches(1))).backward()
    opt.step()
    n = sum(p.numel() for p in model.parameters())
    state_bytes = sum(t.numel() * t.element_size() for s in opt.state.values()
                      for k, t in s.items() if k != "step")
    assert state_bytes == cases.of(spec).state_bytes * n


INVALID = invalid_params("optim")


@pytest.mark.parametrize("spec,kwargs,exc", INVALID)
def test_bad_hyperparameters_raise_like_torch(spec, kwargs, exc):
    params = [nn.Parameter(torch.zeros(2))]
    with pytest.raises(exc) as ours:
        registry.get("optim", spec.name, **kwargs)(params)
    # names the argument or the rule
    arg = next(iter(kwargs))
    assert arg.split("_")[0] in str(ours.value).lower() or "nesterov" in str(ours.value).lower()
    if spec.builtin is not None and not {"ema", "lookahead"} & set(kwargs):
        with pytest.raises(exc) as theirs:
            spec.builtin(params, **{**spec.defaults, **kwargs})
        assert str(theirs.value) in str(ours.value)  # torch's message, plus the allowed range


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_non_leaf_parameter_is_rejected(spec):
    leaf = torch.zeros(3, requires_grad=True)
    with pytest.raises(ValueError, match="non-leaf"):
        registry.get("optim", spec.name)([leaf * 2])


def _embedding_run(make, steps=20):
    emb = nn.Embedding(10, 4, sparse=True)
    with torch.no_grad():
        emb.weight.copy_(torch.arange(40.0).reshape(10, 4) / 40)
    opt = make(emb.parameters())
    for i in range(steps):
        opt.zero_grad()
        idx = torch.tensor([i % 10, (3 * i) % 10, i % 10])  # repeated rows: needs coalescing
        emb(idx).pow(2).sum().backward()
        opt.step()
    return emb.weight.detach()


@pytest.mark.filterwarnings("ignore:Sparse invariant checks")  # raised by torch's Adagrad
@pytest.mark.parametrize("name", ["sgd", "momentum", "adagrad"])
def test_sparse_gradients_where_supported(name):
    ref = _embedding_run(registry.get("optim", name, lr=0.1))
    base = _embedding_run(registry.get("optim", name, impl="torch", lr=0.1))
    torch.testing.assert_close(ref, base)


@pytest.mark.parametrize("name", ["rmsprop", "adam", "adamw", "lars"])
def test_sparse_gradients_where_unsupported(name):
    with pytest.raises(RuntimeError, match="does not support sparse gradients"):
        _embedding_run(registry.get("optim", name), steps=1)


def test_adagrad_sparse_with_weight_decay_is_refused_like_torch():
    with pytest.raises(RuntimeError, match="weight_decay option is not compatible"):
        _embedding_run(registry.get("optim", "adagrad", weight_decay=0.1), steps=1)


def test_registry_builds_every_optimizer_with_its_defaults():
    model = V.mlp()
    for name in registry.names("optim"):
        opt = registry.get("optim", name)(model.parameters())
        assert isinstance(opt, torch.optim.Optimizer)
        assert opt.defaults["lr"] > 0
    assert registry.get("optim", "nesterov")(model.parameters()).defaults["nesterov"] is True
    assert registry.get("optim", "momentum")(model.parameters()).defaults["momentum"] == 0.9


def test_ema_momentum_is_torch_momentum_with_scaled_lr():
    # V_t = mu V + (1 - mu) g, V_0 = 0  equals  (1 - mu) * torch's buffer b_t (b_1 = g)
    spec = registry.spec("optim", "momentum")
    V.check_case(spec, {"ema": True, "lr": 0.05}, LOCKSTEP_STEPS, torch.float64)
    opt = SGD([nn.Parameter(torch.zeros(2))], lr=1.0, momentum=0.9, ema=True)
    opt.param_groups[0]["params"][0].grad = torch.tensor([1.0, 2.0])
    opt.step()
    buf = opt.state[opt.param_groups[0]["params"][0]]["momentum_buffer"]
    torch.testing.assert_close(buf, torch.tensor([0.1, 0.2]))  # V_1 = (1 - 0.9) g


def test_lookahead_nesterov_traces_torchs_reparametrised_trajectory():
    # the notes' form evaluates g at w - mu v; torch's nesterov parameters are exactly those
    # look-ahead points, so w - mu v must follow torch's parameters step after step
    spec = registry.spec("optim", "nesterov")
    kw = {**spec.defaults, "nesterov": False, "lookahead": True}
    run = V.pair(lambda p: SGD(p, **kw), lambda p: torch.optim.SGD(p, **spec.defaults),
                 torch.float64)
    for seed in range(5):
        run.train(LOCKSTEP_STEPS // 5, seed=seed, closure=True)
        for a, b in zip(V.lookahead_points(run), run.params()[1], strict=True):
            torch.testing.assert_close(a, b)


def test_lookahead_needs_a_closure():
    p = nn.Parameter(torch.ones(2))
    p.grad = torch.ones(2)
    with pytest.raises(RuntimeError, match="closure"):
        SGD([p], lr=0.1, momentum=0.9, lookahead=True).step()


def test_lars_hand_worked_two_steps():
    # w = (3, 4): |w| = 5; g = (0.6, 0.8): |g| = 1; lr 1, mu 0.9, eta 1e-3, no decay, eps 0
    # step 1: r = 1e-3 * 5 / 1 = 5e-3, b = (0.003, 0.004), w = (2.997, 3.996)
    # step 2: |w| = 4.995, r = 4.995e-3, d = (0.002997, 0.003996),
    #         b = 0.9 b + d = (0.005697, 0.007596), w = (2.991303, 3.988404)
    w = nn.Parameter(torch.tensor([3.0, 4.0], dtype=torch.float64))
    opt = LARS([w], lr=1.0, momentum=0.9, trust_coefficient=1e-3, eps=0.0)
    expected = [(2.997, 3.996), (2.991303, 3.988404)]
    for want in expected:
        w.grad = torch.tensor([0.6, 0.8], dtype=torch.float64)
        opt.step()
        torch.testing.assert_close(w.detach(), torch.tensor(want, dtype=torch.float64))


def test_lars_zero_norm_rule_and_exclusion():
    # |w| = 0 gives r = 1 (a plain SGD step), so zero-initialised tensors still move
    w = nn.Parameter(torch.zeros(2, 2))
    b = nn.Parameter(torch.ones(2))
    opt = LARS([w, b], lr=0.1, momentum=0.0, weight_decay=0.5, exclude_bias_and_norm=True)
    w.grad, b.grad = torch.ones(2, 2), torch.ones(2)
    opt.step()
    torch.testing.assert_close(w.detach(), torch.full((2, 2), -0.1))
    torch.testing.assert_close(b.detach(), torch.full((2,), 0.9))  # no ratio, no decay
    # |g| = 0: r = 1 and the step is the weight decay alone
    w.grad = torch.zeros(2, 2)
    b.grad = None
    opt.step()
    torch.testing.assert_close(w.detach(), torch.full((2, 2), -0.1 + 0.1 * 0.5 * 0.1))


def test_lookahead_restores_the_weights_when_the_closure_fails():
    p = nn.Parameter(torch.ones(2))
    opt = SGD([p], lr=0.1, momentum=0.9, lookahead=True)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    opt.step(closure)
    after_one = p.detach().clone()

    def broken():
        raise ArithmeticError("boom")

    with pytest.raises(ArithmeticError):
        opt.step(broken)
    torch.testing.assert_close(p.detach(), after_one, rtol=0, atol=0)
