"""What inductor generates for the references (issue 24's compiled findings), read from the
generated code rather than timed."""

from __future__ import annotations

import pytest
import torch
from torch._inductor.utils import run_and_get_code

import nnref
from nnref.activations._common import nonnegative_step, step

# inductor's CPU code computes an op without a vector form lane by lane into this buffer
PER_LANE = "tmpbuf_out"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_nonnegative_step_equals_the_nan_replacing_step(dtype):
    info = torch.finfo(dtype)
    special = torch.tensor([0.0, -0.0, float("nan"), float("inf"), info.tiny * info.eps,
                            info.tiny, 1.0, info.max], dtype=dtype)
    g = torch.Generator().manual_seed(0)
    t = torch.cat([special, torch.randn(4096, generator=g).to(dtype)]).clamp_min(0)
    want = step(t, at_nan=1.0)
    assert torch.equal(nonnegative_step(t), want)
    assert torch.equal(torch.compile(nonnegative_step)(t), want)


def _generated(fn, x):
    torch._dynamo.reset()
    compiled = torch.compile(fn, dynamic=False)

    def fwd_bwd():
        torch.autograd.grad(compiled(x), x, torch.ones_like(x))
    _, code = run_and_get_code(fwd_bwd)
    return code


@pytest.mark.slow
def test_compiled_relu_backward_vectorizes_and_saves_no_mask():
    x = torch.randn(64, 6, 80, requires_grad=True)
    fwd, bwd = _generated(nnref.activations.relu, x)
    assert PER_LANE not in fwd and PER_LANE not in bwd
    # torch's own compiled relu saves a bool mask (le) and reloads it, the slow path on CPU
    fwd, bwd = _generated(torch.relu, x)
    assert "bool*" in fwd and "bool*" in bwd
