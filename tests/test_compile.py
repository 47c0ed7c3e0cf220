"""torch.compile: the references trace into one graph (no graph break), so a compiled model
keeps them fused with their neighbours. Not timed."""

from __future__ import annotations

import pytest
import torch

import nnref.losses
from nnref import activations as A
from nnref import registry
from nnref.verify import cases
from nnref.verify.activations import build_pair, make_input


def _breaks(fn, *args) -> list:
    torch._dynamo.reset()
    return torch._dynamo.explain(fn)(*args).break_reasons


@pytest.mark.parametrize("alpha", [-0.5, 0.0, 0.5])
def test_soft_exponential_compiles_without_graph_break(alpha):
    m = A.SoftExponential(alpha)
    x = torch.linspace(-0.9, 3, 17, requires_grad=True)
    assert _breaks(lambda t: m(t).sum(), x) == []


@pytest.mark.parametrize("alpha", [-0.5, 0.0, 0.5])
def test_soft_exponential_compiled_equals_eager(alpha):
    """The same function under compile: values and both gradients, alpha of either sign."""
    x = torch.linspace(-0.9, 3, 17, dtype=torch.float64)
    results = []
    for compiled in (False, True):
        torch._dynamo.reset()
        m = A.SoftExponential(alpha).double()
        fn = torch.compile(m, fullgraph=True) if compiled else m
        xi = x.clone().requires_grad_(True)
        y = fn(xi)
        gx, ga = torch.autograd.grad(y.sum(), [xi, m.alpha])
        results.append((y.detach(), gx, ga))
    for eager, compiled in zip(*results, strict=True):
        torch.testing.assert_close(compiled, eager)


@pytest.mark.parametrize("name", [n for n in registry.names("activation") if n != "rrelu"])
def test_activation_compiles_without_graph_break(name):
    """Every activation in its default configuration (RReLU draws as many slopes as the
    input has non-positive values, a count read on the host, like torch's own kernel)."""
    spec = registry.ACTIVATIONS[name]
    kwargs = {k: v for k, v in cases.of(spec).kwargs[0].items() if k != "inplace"}
    pair = build_pair(spec, kwargs, torch.float32, "cpu")
    x = make_input(spec, (3, 6, 5)).requires_grad_(True)
    assert _breaks(lambda t: pair.ref(t).sum(), x) == []


def test_cross_entropy_index_check_compiles_without_graph_break():
    """The class-index check runs on the device under compile instead of reading a value."""
    x = torch.randn(8, 5, requires_grad=True)
    y = torch.tensor([0, 4, 2, -100, 1, 3, 3, 0])
    assert _breaks(lambda a, b: nnref.losses.cross_entropy(a, b), x, y) == []


def test_index_out_of_range_still_raises_compiled_and_eager():
    x = torch.randn(4, 5)
    bad = torch.tensor([0, 5, 2, 1])
    with pytest.raises(IndexError, match="class index 5"):
        nnref.losses.cross_entropy(x, bad)
    torch._dynamo.reset()
    compiled = torch.compile(nnref.losses.cross_entropy, fullgraph=True)
    assert torch.equal(compiled(x, torch.tensor([0, 4, -100, 1])),
                       nnref.losses.cross_entropy(x, torch.tensor([0, 4, -100, 1])))
    # (inductor's own gather bounds check may fire first; without it the assertion is ours)
    with pytest.raises(RuntimeError):
        compiled(x, bad)
    torch._dynamo.reset()
    traced = torch.compile(nnref.losses.cross_entropy, fullgraph=True, backend="aot_eager")
    with pytest.raises(RuntimeError, match="class index outside"):
        traced(x, bad)


def test_unit_interval_check_compiled():
    p, t = torch.rand(6), torch.rand(6)
    torch._dynamo.reset()
    compiled = torch.compile(nnref.losses.binary_cross_entropy, fullgraph=True)
    torch.testing.assert_close(compiled(p, t), nnref.losses.binary_cross_entropy(p, t))
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        compiled(p, t + 1)
