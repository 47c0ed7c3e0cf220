"""Where the optimizers, initializers and clipping meet torch exactly: argument order, torch's
refusals, nnref's stricter refusals, options nnref does not claim, and one compiled graph per
optimizer step."""

from __future__ import annotations

import inspect

import pytest
import torch
from torch import nn

from nnref import init as I
from nnref import registry
from nnref import regularization as R
from nnref.optim import LARS, SGD, Adagrad, Adam, AdamW, RMSprop

SPECS = list(registry.OPTIMIZERS.values())
BUILTIN = [s for s in SPECS if s.builtin is not None]
TORCH_PAIRS = (
    [pytest.param(s.reference, s.builtin, id=s.name) for s in BUILTIN]
    + [pytest.param(getattr(I, n), getattr(nn.init, n), id=f"init.{n}")
       for n in I.__all__ if hasattr(nn.init, n)]
    + [pytest.param(I.fan_in_and_fan_out, nn.init._calculate_fan_in_and_fan_out,
                    id="init.fan_in_and_fan_out")]
    + [pytest.param(getattr(R, n), getattr(nn.utils, n), id=f"regularization.{n}")
       for n in R.__all__ if hasattr(nn.utils, n)]
)
POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _params(fn):
    return [p for p in inspect.signature(fn).parameters.values() if p.name != "self"]


def test_the_signature_pairs_are_found():
    # the comparison below would pass vacuously if a rename hid a counterpart
    assert len(TORCH_PAIRS) >= len(BUILTIN) + 8


@pytest.mark.parametrize("ours,theirs", TORCH_PAIRS)
def test_torchs_parameter_order_names_and_defaults(ours, theirs):
    mine, torchs = _params(ours), _params(theirs)
    # a positional call binds the same argument in both
    assert [(p.name, p.default) for p in mine if p.kind in POSITIONAL] == \
           [(p.name, p.default) for p in torchs if p.kind in POSITIONAL]
    # every keyword torch takes is taken here, keyword-only as there, with its default
    kw_mine = {p.name: p.default for p in mine if p.kind == inspect.Parameter.KEYWORD_ONLY}
    for p in torchs:
        if p.kind == inspect.Parameter.KEYWORD_ONLY:
            assert p.name in kw_mine and kw_mine[p.name] == p.default, p.name


def test_rmsprop_positional_call_binds_like_torch():
    w = nn.Parameter(torch.ones(2))
    args = (0.01, 0.99, 1e-8, 0, 0, False, False, True)  # ... centered, capturable, foreach
    assert RMSprop([w], *args).defaults["foreach"] is \
        torch.optim.RMSprop([w], *args).defaults["foreach"] is True


# ---- torch's refusals ---------------------------------------------------------------------

def _tensor_hyper_cases():
    w = nn.Parameter(torch.ones(2))
    t9, t99 = torch.tensor(0.9), torch.tensor(0.999)
    return w, [
        ({"betas": (t9, t99), "foreach": True}, "betas[0] as a Tensor"),
        ({"lr": torch.tensor(1e-3), "foreach": True}, "lr as a Tensor"),
        ({"betas": (0.9, t99)}, "betas must be either both floats or both Tensors"),
        ({"betas": (t9, 0.999)}, "betas must be either both floats or both Tensors"),
    ]


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
@pytest.mark.parametrize("case", range(4))
def test_tensor_hyperparameters_refused_at_construction_like_torch(name, case):
    w, cases = _tensor_hyper_cases()
    kwargs, message = cases[case]
    import nnref.optim as N
    for cls in (getattr(N, name), getattr(torch.optim, name)):
        with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
            cls([w], **kwargs)


@pytest.mark.parametrize("cls,torch_cls", [(Adam, torch.optim.Adam),
                                            (AdamW, torch.optim.AdamW)])
def test_tensor_betas_without_foreach_step_like_torch(cls, torch_cls):
    ws = [nn.Parameter(torch.linspace(-1, 1, 6)) for _ in range(2)]
    betas = (torch.tensor(0.8), torch.tensor(0.99))
    ours = cls([ws[0]], lr=torch.tensor(0.01), betas=betas, foreach=False)
    theirs = torch_cls([ws[1]], lr=torch.tensor(0.01), betas=betas, foreach=False)
    for step in range(5):
        for w in ws:
            w.grad = torch.cos(w.detach() * (step + 1))
        ours.step()
        theirs.step()
    torch.testing.assert_close(ws[0], ws[1], rtol=0, atol=0)


# ---- stricter than torch --------------------------------------------------------------------

@pytest.mark.parametrize("value", [0.0, -1e-3])
def test_lars_refuses_a_trust_coefficient_that_never_moves_the_weights(value):
    with pytest.raises(ValueError, match="trust_coefficient"):
        LARS([nn.Parameter(torch.ones(2))], trust_coefficient=value)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_duplicate_parameters_in_a_group_are_refused(spec):
    p = nn.Parameter(torch.ones(2))
    with pytest.raises(ValueError, match="params"):
        spec.reference([p, p])
    opt = spec.reference([nn.Parameter(torch.ones(2))])
    with pytest.raises(ValueError, match="params"):
        opt.add_param_group({"params": [p, p]})


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_a_set_of_parameters_still_gets_torchs_error(spec):
    # the duplicate check reads the group's parameters; an unordered set is torch's to refuse
    with pytest.raises(TypeError, match="ordered collections"):
        spec.reference([{"params": {nn.Parameter(torch.ones(2))}}])


# one configuration of each optimizer that keeps per-parameter state
STATEFUL = [(SGD, {"momentum": 0.9}), (Adagrad, {}), (RMSprop, {"momentum": 0.9, "centered": True}),
            (Adam, {}), (Adam, {"amsgrad": True}), (AdamW, {}), (LARS, {})]


def _label(cls, kwargs):
    return "-".join([cls.__name__, *(f"{k}={v}" for k, v in kwargs.items())])


@pytest.mark.parametrize("cls,kwargs", [pytest.param(c, k, id=_label(c, k)) for c, k in STATEFUL])
def test_load_state_dict_refuses_state_of_the_wrong_shape(cls, kwargs):
    model = nn.Linear(3, 2)
    opt = cls(model.parameters(), **kwargs)
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    for key, value in opt.state_dict()["state"][0].items():
        if key == "step":
            continue
        saved = opt.state_dict()
        # the saved per-parameter dicts are the optimizer's own: replace, never mutate
        saved["state"][0] = {**saved["state"][0], key: torch.zeros(5, dtype=value.dtype)}
        fresh = cls(nn.Linear(3, 2).parameters(), **kwargs)
        with pytest.raises(ValueError, match=f"'{key}'.*shape"):
            fresh.load_state_dict(saved)
    # a state of the right shape loads
    cls(nn.Linear(3, 2).parameters(), **kwargs).load_state_dict(opt.state_dict())


@pytest.mark.parametrize("name", ["xavier_normal_", "xavier_uniform_"])
def test_negative_gain_is_refused(name):
    with pytest.raises(ValueError, match="gain"):
        getattr(I, name)(torch.empty(3, 4), gain=-1.0)


def test_negative_max_norm_is_refused_instead_of_flipping_the_gradient():
    w = nn.Parameter(torch.ones(3))
    w.grad = torch.ones(3)
    with pytest.raises(ValueError, match="max_norm"):
        R.clip_grad_norm_([w], max_norm=-1.0)
    assert torch.equal(w.grad, torch.ones(3))


# ---- options nnref does not claim -------------------------------------------------------------

UNCLAIMED = [(s, option, value) for s in BUILTIN
             for option, value in (("fused", True), ("capturable", True),
                                   ("differentiable", True))
             if option in inspect.signature(s.builtin).parameters]


@pytest.mark.parametrize("spec,option,value", UNCLAIMED,
                         ids=[f"{s.name}-{o}" for s, o, _ in UNCLAIMED])
def test_unclaimed_options_are_refused_by_name(spec, option, value):
    with pytest.raises(NotImplementedError, match=option):
        spec.reference([nn.Parameter(torch.ones(2))], **{option: value})


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_complex_parameters_are_refused_at_construction(spec):
    with pytest.raises(NotImplementedError, match="complex"):
        spec.reference([nn.Parameter(torch.ones(2, dtype=torch.complex64))])


# ---- one compiled graph per step ------------------------------------------------------------

COMPILED = [pytest.param(c, k, id=_label(c, k)) for c, k in
            [(SGD, {}), (SGD, {"momentum": 0.9, "nesterov": True}), (RMSprop, {}), *STATEFUL]]


@pytest.mark.parametrize("foreach", [False, True], ids=["single_tensor", "foreach"])
@pytest.mark.parametrize("cls,kwargs", COMPILED)
def test_step_compiles_into_one_graph(cls, kwargs, foreach):
    torch._dynamo.reset()
    model = nn.Linear(3, 2)
    opt = cls(model.parameters(), **kwargs, foreach=foreach)
    for _ in range(2):  # the first step creates the state, the second reads it
        model(torch.ones(4, 3)).sum().backward()
        explanation = torch._dynamo.explain(opt.step)()
        assert (explanation.graph_count, explanation.graph_break_count) == (1, 0), \
            explanation.break_reasons
