"""torch.compile: the references trace into one graph (no graph break), so a compiled model
keeps them fused with their neighbours. Not timed."""

from __future__ import annotations

import pytest
import torch

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
