"""The opt-in fused eager path (``nnref.fused()``): each Function's own formula compiled."""

from __future__ import annotations

import contextlib
import subprocess
import sys

import pytest
import torch

import nnref
from nnref import fusion
from nnref.activations.rectifiers import _ReLUFn

SHAPE = (4, 6, 5)  # one shape and dtype throughout: each Function compiles once per file


def _relu_and_grad(x, g):
    y = nnref.activations.relu(x)
    (gx,) = torch.autograd.grad(y, x, g, create_graph=False)
    return y, gx


def test_functions_lists_nnref_functions_and_no_twin():
    found = fusion.functions()
    assert _ReLUFn in found
    assert all(c.__module__.startswith("nnref.") for c in found)
    assert not any(issubclass(c, fusion._Fused) for c in found)
    assert len(found) >= 30  # every family's Functions (activations, losses, dropout, norm)


def test_fused_relu_runs_its_compiled_twin_and_matches_eager_bit_for_bit():
    x = torch.randn(SHAPE).requires_grad_(True)
    x.data[0, 0, :3] = torch.tensor([0.0, -0.0, float("nan")])
    g = torch.randn_like(x)
    y0, gx0 = _relu_and_grad(x, g)
    assert not fusion.is_enabled()
    with nnref.fused():
        assert fusion.is_enabled()
        y1 = nnref.activations.relu(x)
        assert type(y1.grad_fn).__name__ == "Fused_ReLUFnBackward"
        (gx1,) = torch.autograd.grad(y1, x, g)
    assert torch.allclose(y0, y1, rtol=0, atol=0, equal_nan=True)  # NaN stays NaN
    assert torch.allclose(gx0, gx1, rtol=0, atol=0, equal_nan=True)
    # outside the context the class is the eager one again
    assert not fusion.is_enabled()
    assert type(nnref.activations.relu(x).grad_fn).__name__ == "_ReLUFnBackward"
    assert "apply" not in vars(_ReLUFn)


def test_nested_contexts_patch_once_and_restore_on_the_outer_exit():
    x = torch.randn(SHAPE, requires_grad=True)
    with nnref.fused():
        with nnref.fused():
            pass
        assert type(nnref.activations.relu(x).grad_fn).__name__ == "Fused_ReLUFnBackward"
    assert "apply" not in vars(_ReLUFn)


def test_double_backward_inside_the_context_runs_the_eager_formula():
    x = torch.randn(SHAPE, requires_grad=True)
    g = torch.randn_like(x).requires_grad_(True)

    def second(fn_context):
        with fn_context():
            (gx,) = torch.autograd.grad(nnref.activations.relu(x), x, g, create_graph=True)
            return gx, torch.autograd.grad(gx, g, torch.ones_like(gx))[0]

    eager = second(contextlib.nullcontext)
    fused = second(nnref.fused)
    assert fused[0].requires_grad  # the first backward stayed differentiable
    assert all(torch.equal(a, b) for a, b in zip(eager, fused, strict=True))


def test_vmap_inside_the_context_runs_eager():
    x = torch.randn(SHAPE)
    with nnref.fused():
        y = torch.vmap(nnref.activations.relu)(x)
    assert torch.equal(y, x.clamp_min(0))


def test_not_offered_functions_stay_eager(monkeypatch):
    monkeypatch.setitem(fusion.NOT_OFFERED, fusion._qualname(_ReLUFn), "measured reason")
    x = torch.randn(SHAPE, requires_grad=True)
    with nnref.fused():
        assert type(nnref.activations.relu(x).grad_fn).__name__ == "_ReLUFnBackward"
    with nnref.fused(unchecked=True):
        assert type(nnref.activations.relu(x).grad_fn).__name__ == "Fused_ReLUFnBackward"


@pytest.mark.slow
def test_verify_fused_command_passes_for_an_offered_component():
    out = subprocess.run([sys.executable, "-m", "nnref", "verify", "--fused", "--kind",
                          "activation", "--name", "relu", "--device", "cpu"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 passed, 0 failed" in out.stdout
