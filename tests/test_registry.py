"""The registry as a user extends it: a component of their own, registered with its cases, is
verified like a built-in one; a wrong one fails; names are never silently shadowed."""

from __future__ import annotations

import importlib.util
import sys

import pytest
import torch
from conftest import write_user_module

from nnref import activations as A
from nnref import registry, swap, verify
from nnref.verify.cases.activation import ActivationCases
from nnref.verify.cases.loss import LossCases


def _import_user_module(tmp_path, module, name, grad_scale=1.0):
    path = write_user_module(tmp_path, module, name, grad_scale)
    spec = importlib.util.spec_from_file_location(module, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[module] = mod
    try:
        spec.loader.exec_module(mod)
    finally:
        del sys.modules[module]
    return mod


def test_a_registered_user_activation_is_verified_like_a_builtin(tmp_path, scratch_registry):
    mod = _import_user_module(tmp_path, "user_act", "scaled_tanh")
    assert "scaled_tanh" in registry.names("activation")
    assert isinstance(registry.get("activation", "scaled_tanh"), mod.ScaledTanh)
    rows = verify.run(kinds=["activation"], devices=["cpu"], names=["scaled_tanh"])
    assert [r.name for r in rows] == ["scaled_tanh"]
    assert all(r.ok for r in rows), verify.format_table(rows)
    assert rows[0].gradcheck and rows[0].saved_ref is not None


def test_a_wrong_derivative_fails_verification(tmp_path, scratch_registry):
    _import_user_module(tmp_path, "user_wrong", "wrong_tanh", grad_scale=0.9)
    rows = verify.run(devices=["cpu"], names=["wrong_tanh"])
    assert rows and not any(r.ok for r in rows)
    assert "grad" in rows[0].message, rows[0].message


def test_registered_without_cases_is_reported_not_passed(scratch_registry):
    registry.register(registry.Spec("bare_relu", "activation", A.ReLU, None))
    (row,) = verify.run(devices=["cpu"], names=["bare_relu"])
    assert not row.ok and "no verification cases" in row.message


def test_duplicate_names_and_aliases_are_refused_naming_them(scratch_registry):
    with pytest.raises(ValueError, match="'relu' is already registered"):
        registry.register(registry.Spec("relu", "activation", A.ReLU, torch.nn.ReLU))
    with pytest.raises(ValueError, match="'swish1' is already registered .*'silu'"):
        registry.register(registry.Spec("my_silu", "activation", A.SiLU, aliases=("swish1",)))
    with pytest.raises(ValueError, match="'My-Act' must be lower-snake-case"):
        registry.register(registry.Spec("My-Act", "activation", A.ReLU))
    assert "my_silu" not in registry.names("activation")


def test_cases_of_the_wrong_kind_are_refused_before_anything_is_registered(scratch_registry):
    with pytest.raises(TypeError, match="must be a ActivationCases, got LossCases"):
        verify.register(registry.Spec("odd", "activation", A.ReLU), LossCases())
    assert "odd" not in registry.names("activation")
    verify.register(registry.Spec("odd", "activation", A.ReLU, torch.nn.ReLU), ActivationCases())
    with pytest.raises(ValueError, match="'odd' is already registered"):
        verify.register(registry.Spec("odd", "activation", A.ReLU), ActivationCases())


def test_unknown_names_and_kinds_list_the_valid_ones():
    with pytest.raises(registry.UnknownNameError, match="valid names: identity, binary_step"):
        registry.spec("activation", "nope")
    with pytest.raises(KeyError, match="valid kinds: activation, loss, init"):
        registry.register(registry.Spec("x", "activations", A.ReLU))


def test_swap_picks_up_a_registered_module_pair(scratch_registry):
    class MyReLU(A.ReLU):
        pass

    registry.register(registry.Spec("my_relu", "activation", MyReLU, torch.nn.ReLU6))
    model = torch.nn.Sequential(torch.nn.ReLU6())
    swap.to_reference(model)
    assert type(model[0]) is MyReLU


def test_the_registry_holds_no_test_data():
    fields = set(registry.Spec.__dataclass_fields__)
    assert fields == {"name", "kind", "reference", "builtin", "aliases", "defaults", "family",
                      "note", "output_range", "dies"}
