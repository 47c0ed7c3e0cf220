"""Checks for batch normalization against ``torch.nn.BatchNorm1d/2d``; each raises
``AssertionError`` on a mismatch and returns the largest forward and gradient errors.

A check runs the reference and the built-in side by side for several training steps (outputs,
input/weight/bias gradients and every buffer compared after each step), then in eval; state
dicts are moved between the two in both directions on the way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch

from nnref import normalization as N
from nnref.registry import Spec
from nnref.verify import Row, case_label, cases, gradcheck, max_abs_diff, saved_bytes, tolerance

STEPS = 20


def make_input(shape, dtype=torch.float32, device="cpu", seed: int = 0, offset: float = 1.0
               ) -> torch.Tensor:
    """Normal input with a per-channel mean ~ N(0, offset^2) and a per-channel scale in
    [0.5, 2.5], so the statistics are not trivial."""
    g = torch.Generator().manual_seed(seed)
    c = shape[1]
    offset = torch.randn(c, generator=g, dtype=torch.float64) * offset
    scale = torch.rand(c, generator=g, dtype=torch.float64) * 2 + 0.5
    x = torch.randn(shape, generator=g, dtype=torch.float64)
    x = x * N._per_channel(scale, x) + N._per_channel(offset, x)
    return x.to(device=device, dtype=dtype)


def build_pair(spec: Spec, kwargs: Mapping, dtype, device):
    """Reference and built-in with the same random affine parameters; the built-in's state is
    loaded into the reference (proving the state dicts are compatible)."""
    base = spec.builtin(**kwargs).to(device=device, dtype=dtype)
    if base.affine:
        g = torch.Generator().manual_seed(5)
        with torch.no_grad():
            base.weight.copy_(torch.rand(base.num_features, generator=g) + 0.5)
            if base.bias is not None:
                base.bias.copy_(torch.randn(base.num_features, generator=g))
    ref = spec.reference(**kwargs).to(device=device, dtype=dtype)
    ref.load_state_dict(base.state_dict())
    return ref, base


def _step(module, x, upstream):
    leaf = x.detach().clone().requires_grad_(True)
    y = module(leaf)
    params = list(module.parameters())
    grads = torch.autograd.grad((y * upstream).sum(), [leaf, *params])
    return y.detach(), grads


def term_scales(base, x, upstream) -> dict[str, torch.Tensor]:
    """The size of the terms each float64 result is summed or cancelled from, per result, for
    :func:`nnref.verify.float64_tolerance`: the output subtracts a mean from x; the input
    gradient cancels g against mean(g) and x^ mean(g x^); the weight and bias gradients sum
    g x^ and g over the M = N L entries of a channel, and every result goes through the
    channel's mean and variance. Two summation orders of M terms (pairwise, or chunk by chunk
    as the reference's large-input path) differ by rounding errors that add up like a random
    walk: about sqrt(M) ulps of the sum of their magnitudes, not of the (smaller) result. The
    scales are those sums times sqrt(M); the running statistics get the same factor on max|x|
    (running_mean) and max|x|^2 (running_var)."""
    dims = [d for d in range(x.dim()) if d != 1]
    x, g = x.detach().double(), upstream.detach().double()
    shape = [1, -1] + [1] * (x.dim() - 2)
    mean, var = x.mean(dims, keepdim=True), x.var(dims, unbiased=False, keepdim=True)
    invstd = (var + base.eps).rsqrt()
    w = base.weight.detach().double().abs().reshape(shape) if base.weight is not None else 1.0
    xhat = (x - mean) * invstd
    gx = (g * xhat).abs()
    depth = math.ceil(math.sqrt(x.numel() // x.shape[1]))
    big = float(x.abs().max())
    return {
        "output": depth * x.abs() * invstd * w,
        "input": depth * w * invstd * (g.abs() + g.abs().mean(dims, keepdim=True)
                                       + xhat.abs() * gx.mean(dims, keepdim=True)),
        "weight": depth * gx.sum(dims),
        "bias": depth * g.abs().sum(dims),
        "running_mean": torch.tensor(depth * big),
        "running_var": torch.tensor(depth * big * big),
    }


def _compare(what, ref, base, x, upstream, layout=None) -> tuple[float, float]:
    """``ref`` on ``layout(x)`` against ``base`` on ``x``."""
    layout = layout or (lambda t: t)
    (y1, g1), (y2, g2) = _step(ref, layout(x), layout(upstream)), _step(base, x, upstream)
    if layout(x).is_contiguous(memory_format=torch.channels_last) and x.dim() == 4:
        assert y1.is_contiguous(memory_format=torch.channels_last), f"{what}: layout not kept"
    scales = term_scales(base, x, upstream)
    torch.testing.assert_close(y1, y2, **tolerance(y2, scales["output"]),
                               msg=lambda m: f"{what} output: {m}")
    for name, a, b in zip(("input", "weight", "bias"), g1, g2, strict=False):
        torch.testing.assert_close(a, b, **tolerance(b, scales[name]),
                                   msg=lambda m, n=name: f"{what} {n} gradient: {m}")
    errs = [max_abs_diff(a, b) for a, b in zip(g1, g2, strict=True)]
    return max_abs_diff(y1, y2), max(errs)


def _compare_buffers(what, ref, base, scales) -> None:
    want = dict(base.named_buffers())
    for name, buf in ref.named_buffers():
        torch.testing.assert_close(buf, want[name], **tolerance(want[name], scales.get(name)),
                                   msg=lambda m, n=name: f"{what} {n}: {m}")


def check_steps(spec: Spec, kwargs: Mapping, shape, dtype=torch.float32, device="cpu",
                steps: int = STEPS, layout=None) -> tuple[float, float]:
    """``steps`` training steps then eval: outputs, gradients and buffers equal torch's.

    ``layout`` transforms the reference's inputs (channels-last, a non-contiguous view, ...);
    torch runs on the plain contiguous tensor (its channels-last CPU kernel is itself less
    accurate than its contiguous one, so it is not the yardstick for layouts). Channel means
    are kept moderate in float32 (offset 1): torch's CPU kernel loses digits to cancellation
    when mean >> std (see :func:`check_accuracy`), which would fail the comparison on torch's
    side; float64 uses offset 3.
    """
    ref, base = build_pair(spec, kwargs, dtype, device)
    offset = 3.0 if dtype == torch.float64 else 1.0
    fwd = grad = 0.0
    for step in range(steps):
        x = make_input(shape, dtype, device, seed=step, offset=offset)
        up = make_input(shape, dtype, device, seed=1000 + step)
        e = _compare(f"{spec.name} step {step}", ref, base, x, up, layout)
        _compare_buffers(f"{spec.name} step {step}", ref, base, term_scales(base, x, up))
        fwd, grad = max(fwd, e[0]), max(grad, e[1])
    ref.eval()
    base.eval()
    x = make_input(shape, dtype, device, seed=999)
    e = _compare(f"{spec.name} eval", ref, base, x, torch.ones_like(x), layout)
    # and back: the reference's trained state loads into a fresh built-in, outputs agree
    fresh = spec.builtin(**kwargs).to(device=device, dtype=dtype).eval()
    fresh.load_state_dict(ref.state_dict())
    torch.testing.assert_close(fresh(x), ref(x), msg=lambda m: f"{spec.name} reloaded: {m}")
    return max(fwd, e[0]), max(grad, e[1])


def check_accuracy(shape, device="cpu", offset: float = 3.0, seeds: int = 5) -> float:
    """float32 training forward/backward against a float64 evaluation of torch: the reference
    is at least as accurate as torch's float32 kernel (up to a 1e-6 floor), even for channel
    means several standard deviations from 0. Returns the reference's largest error."""
    worst = 0.0
    c = shape[1]
    for seed in range(seeds):
        x = make_input(shape, torch.float32, device, seed=seed, offset=offset)
        up = make_input(shape, torch.float32, device, seed=100 + seed)
        w = torch.rand(c, device=device) + 0.5
        b = torch.randn(c, device=device)
        outs = {}
        for name, fn, dt in (("ref", N.batch_norm, torch.float32),
                             ("torch", torch.nn.functional.batch_norm, torch.float32),
                             ("truth", torch.nn.functional.batch_norm, torch.float64)):
            xx, ww, bb = (t.to(dt).requires_grad_(True) for t in (x, w, b))
            y = fn(xx, None, None, ww, bb, True)
            outs[name] = (y, *torch.autograd.grad((y * up.to(dt)).sum(), [xx, ww, bb]))
        for i, what in enumerate(("output", "input grad", "weight grad", "bias grad")):
            ref_err = max_abs_diff(outs["ref"][i], outs["truth"][i])
            torch_err = max_abs_diff(outs["torch"][i], outs["truth"][i])
            assert ref_err <= max(torch_err, 1e-6) * 2, (
                f"batch_norm {what}: error {ref_err:.2e} vs float64, torch's {torch_err:.2e}")
            worst = max(worst, ref_err)
    return worst


def layouts(shape) -> dict[str, object]:
    """Input layouts to test: channels-last (4-d) and a non-contiguous transposed view."""
    out: dict[str, object] = {
        "non_contiguous": lambda t: t.transpose(0, -1).contiguous().transpose(0, -1),
    }
    if len(shape) == 4:
        out["channels_last"] = lambda t: t.contiguous(memory_format=torch.channels_last)
    return out


def check_gradcheck(shape, device="cpu") -> bool:
    """gradcheck and gradgradcheck (float64, :data:`nnref.verify.GRADCHECK`) of the functional
    form, training and eval."""
    c = shape[1]
    small = (3,) + tuple(min(s, 3) for s in shape[2:])
    x = make_input(small[:1] + (c,) + small[1:], torch.float64, device).requires_grad_(True)
    w = torch.rand(c, dtype=torch.float64, device=device).add_(0.5).requires_grad_(True)
    b = torch.randn(c, dtype=torch.float64, device=device).requires_grad_(True)
    rm = torch.randn(c, dtype=torch.float64, device=device)
    rv = torch.rand(c, dtype=torch.float64, device=device) + 0.5
    for training in (True, False):
        def fn(x, w, b, training=training):
            return N.batch_norm(x, rm.clone(), rv.clone(), w, b, training)

        what = f"batch_norm {'training' if training else 'eval'} {tuple(shape)}"
        gradcheck(fn, (x, w, b), what)
        gradcheck(lambda x, t=training: N.batch_norm(x, rm.clone(), rv.clone(), None, None, t),
                  (x,), f"{what} without affine", second=False)
    return True


def check_saved_bytes(spec: Spec, kwargs: Mapping, shape, device="cpu") -> tuple[int, int]:
    """Backward keeps at most the input plus per-channel vectors, and no more than torch."""
    big = (256,) + tuple(shape[1:])
    ref, base = build_pair(spec, kwargs, torch.float32, device)
    x = make_input(big, torch.float32, device)

    def call(module):
        def fn(t):
            return module(t.clone().requires_grad_(True))
        return fn

    got, want = saved_bytes(call(ref), x), saved_bytes(call(base), x)
    per_channel = 8 * shape[1] * 8  # a handful of (C,) vectors at most
    limit = x.numel() * x.element_size() + per_channel
    assert got <= limit, f"{spec.name}: saves {got} bytes; input + per-channel is {limit}"
    assert got <= want + per_channel, f"{spec.name}: saves {got} bytes, torch {want}"
    return got, want


def verify(spec: Spec, device: str) -> list[Row]:
    """One row per case: 20 training steps + eval in float32/float64 for every shape of its
    cases, channels-last / non-contiguous inputs, gradcheck/gradgradcheck, saved bytes."""
    rows = []
    shapes = cases.of(spec).shapes
    for kwargs in cases.of(spec).kwargs:
        row = Row(spec.kind, spec.name, case_label(kwargs), device)
        try:
            errs = []
            for shape in shapes:
                for dtype in (torch.float32, torch.float64):
                    errs.append(check_steps(spec, kwargs, shape, dtype, device))
                for layout in layouts(shape).values():
                    errs.append(check_steps(spec, kwargs, shape, torch.float32, device,
                                            steps=3, layout=layout))
            row.fwd_err = max(e[0] for e in errs)
            row.grad_err = max(e[1] for e in errs)
            for shape in shapes:
                check_accuracy(shape, device)
            row.gradcheck = all(check_gradcheck(s, device) for s in shapes)
            row.saved_ref, row.saved_base = check_saved_bytes(
                spec, kwargs, shapes[-1], device)
        except Exception as exc:
            row.fail(exc)
        rows.append(row)
    return rows
