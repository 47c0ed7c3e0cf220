"""Initializers, tested from the registry and their cases (bit-identical to torch.nn.init, or
the composition of it in the cases' oracle, with the same generator, exact bound/std, torch's
errors; checks in nnref.verify.init), plus a Kolmogorov-Smirnov test against each target law,
calculate_gain, fans and init_model.
"""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from conftest import DEVICES, case_params, specs_of
from scipy import stats
from torch import nn

from nnref import init as I  # noqa: E741
from nnref import registry
from nnref.verify import cases
from nnref.verify import init as V

SPECS = specs_of("init")
CASES = case_params("init")
RANDOM_CASES = [p for p in CASES if cases.of(p.values[0]).law != "constant"]


def test_every_initializer_has_cases_and_every_cases_entry_is_registered():
    assert set(cases.table("init")) == set(registry.names("init"))


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_every_initializer_has_a_torch_counterpart_and_a_target_law(spec):
    c = cases.of(spec)
    assert (spec.builtin is None) == (c.oracle is not None), (
        "an initializer needs exactly one of: a torch built-in, a composition of torch's")
    assert c.law in ("constant", "uniform", "normal")
    assert callable(c.spread)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("spec", "kwargs"), CASES)
def test_bit_identical_to_torch_with_the_same_generator(spec, kwargs, device):
    V.check_bitwise(spec, kwargs, device)


@pytest.mark.parametrize(("spec", "kwargs"), CASES)
def test_exact_bound_or_std_on_a_large_tensor(spec, kwargs):
    V.check_spread(spec, kwargs)


@pytest.mark.parametrize(("spec", "kwargs"), RANDOM_CASES)
def test_kolmogorov_smirnov_against_the_target_law(spec, kwargs):
    law, spread = V.expected_law(spec, kwargs, V.LARGE)
    w = V.sample(spec, kwargs).reshape(-1).numpy()
    if law == "normal":
        result = stats.kstest(w, "norm", args=(0.0, spread))
    else:
        result = stats.kstest(w, "uniform", args=(-spread, 2 * spread))
    assert result.pvalue > 1e-3, f"{spec.name}: KS statistic {result.statistic}"


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_errors_match_torch(spec):
    V.check_errors(spec)


def test_the_harness_catches_a_wrong_initializer():
    # Xavier with only fan_in in the denominator: plausible, wrong, and must be caught.
    def wrong(tensor, gain=1.0, generator=None):
        fan_in, _ = I.fan_in_and_fan_out(tensor)
        with torch.no_grad():
            return tensor.normal_(0, gain * math.sqrt(2.0 / fan_in), generator=generator)

    spec = dataclasses.replace(registry.INITIALIZERS["xavier_normal"], reference=wrong)
    with pytest.raises(AssertionError):
        V.check_bitwise(spec, {})
    with pytest.raises(AssertionError):
        V.check_spread(spec, {})


def test_registry_binds_keyword_arguments_and_aliases():
    for alias, fn in [("glorot_normal", I.xavier_normal_), ("glorot_uniform", I.xavier_uniform_),
                      ("kaiming_normal", I.kaiming_normal_), ("he_uniform", I.kaiming_uniform_)]:
        assert registry.get("init", alias).func is fn
    w = registry.get("init", "he_normal", nonlinearity="relu")(torch.empty(10, 4))
    assert w.shape == (10, 4)
    assert I.glorot_normal_ is I.xavier_normal_ and I.he_uniform_ is I.kaiming_uniform_


NONLINEARITIES = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                  "conv_transpose2d", "conv_transpose3d", "sigmoid", "tanh", "relu",
                  "leaky_relu", "selu"]


@pytest.mark.parametrize("name", NONLINEARITIES)
def test_calculate_gain_matches_torch(name):
    assert I.calculate_gain(name) == nn.init.calculate_gain(name)


@pytest.mark.parametrize("param", [None, 0, 0.2, 1, 3.5])
def test_calculate_gain_leaky_relu_slope(param):
    assert I.calculate_gain("leaky_relu", param) == nn.init.calculate_gain("leaky_relu", param)


def test_calculate_gain_values_by_hand():
    assert I.calculate_gain("tanh") == 5 / 3
    assert I.calculate_gain("relu") == math.sqrt(2)
    assert I.calculate_gain("selu") == 0.75
    assert math.isclose(I.calculate_gain("leaky_relu", 0.2), math.sqrt(2 / 1.04))


def test_calculate_gain_refuses_unknown_nonlinearity_and_bad_param():
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        I.calculate_gain("swish")
    with pytest.raises(ValueError, match="'param'"):
        I.calculate_gain("leaky_relu", True)
    with pytest.raises(ValueError, match="'param'"):
        I.calculate_gain("leaky_relu", "0.1")


@pytest.mark.parametrize("layer", [nn.Linear(7, 3), nn.Conv1d(4, 6, 5), nn.Conv2d(3, 8, (3, 2)),
                                   nn.Conv3d(2, 5, (3, 3, 2))], ids=lambda m: type(m).__name__)
def test_fans_of_linear_and_conv_weights(layer):
    w = layer.weight
    k = math.prod(w.shape[2:])
    assert I.fan_in_and_fan_out(w) == (w.shape[1] * k, w.shape[0] * k)
    assert I.fan_in_and_fan_out(w) == nn.init._calculate_fan_in_and_fan_out(w)


@pytest.mark.parametrize("fn", [I.xavier_normal_, I.xavier_uniform_, I.kaiming_normal_,
                                I.kaiming_uniform_, I.lecun_normal_, I.lecun_uniform_,
                                I.uniform_fan_in_], ids=lambda f: f.__name__)
def test_fewer_than_two_dims_raise_like_torch(fn):
    for t in (torch.empty(5), torch.tensor(1.0)):
        with pytest.raises(ValueError, match="fewer than 2 dimensions"):
            fn(t)


def test_zero_element_tensors_warn_and_stay_untouched_like_torch():
    for fn in (I.kaiming_normal_, I.kaiming_uniform_):
        with pytest.warns(UserWarning, match="zero-element"):
            assert fn(torch.empty(0, 3)).shape == (0, 3)


def test_initializers_work_on_parameters_requiring_grad():
    p = nn.Parameter(torch.empty(6, 4))
    I.kaiming_uniform_(p)
    assert p.requires_grad and p.grad_fn is None and bool((p != 0).any())


def _model():
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 6 * 6, 10), nn.PReLU(), nn.Linear(10, 2))


def test_init_model_initializes_weights_zeroes_biases_and_keeps_norm_parameters():
    model = _model()
    prelu = model[5].weight.detach().clone()
    g = torch.Generator().manual_seed(3)
    I.init_model(model, registry.get("init", "he_normal", nonlinearity="relu", generator=g))
    # the same draws, in the same order, from torch.nn.init
    twin = _model()
    g2 = torch.Generator().manual_seed(3)
    for layer in (twin[0], twin[4], twin[6]):
        nn.init.kaiming_normal_(layer.weight, nonlinearity="relu", generator=g2)
    for layer in (model[0], model[4], model[6]):
        assert torch.count_nonzero(layer.bias) == 0
    for i in (0, 4, 6):
        assert torch.equal(model[i].weight, twin[i].weight)
    assert torch.equal(model[1].weight, torch.ones(4))
    assert torch.equal(model[1].bias, torch.zeros(4))
    assert torch.equal(model[5].weight, prelu)


def test_init_model_accepts_a_function_and_constant_values():
    model = I.init_model(_model(), I.constant_, val=0.5)
    assert bool((model[4].weight == 0.5).all()) and torch.count_nonzero(model[4].bias) == 0
    model = I.init_model(_model(), registry.get("init", "constant", val=-10.0))
    assert bool((model[0].weight == -10.0).all())
