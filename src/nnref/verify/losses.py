"""Parity checks for losses: value and gradients (input and, where floating, target) of the
reference against the torch built-in, or against the independent formula in the cases'
``oracle`` for a loss torch lacks (RMSE). Each check raises ``AssertionError`` with the mismatch and
returns the largest errors; :func:`verify` turns them into rows for ``python -m nnref verify``.

What the cases provide is documented in :mod:`nnref.verify.cases.loss`: ``input`` and
``target`` say how to draw the data, case keys starting with ``_`` are harness options
(``_target``, ``_shape``), ``scale_if`` maps reference-only options onto a scaled built-in.
Tensor-valued constructor arguments (``weight``, ``pos_weight``) are written as tuples there and
become tensors of the test's dtype and device here.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from nnref._tensor import LOW_PRECISION
from nnref.registry import Spec
from nnref.verify import (
    Row,
    case_label,
    cases,
    gradcheck,
    half_accurate,
    max_abs_diff,
    saved_bytes,
    saved_in,
    tolerance,
)

CLASSES = 5
SHAPE = (8, CLASSES)  # (N, C); elementwise losses use the same shape
TENSOR_ARGS = ("weight", "pos_weight")


def split_case(kwargs: Mapping) -> tuple[dict, dict]:
    """Constructor arguments and harness options (keys starting with ``_``) of a case."""
    ctor = {k: v for k, v in kwargs.items() if not k.startswith("_")}
    opts = {k[1:]: v for k, v in kwargs.items() if k.startswith("_")}
    return ctor, opts


def _materialise(ctor: Mapping, dtype, device, rounded_to) -> dict:
    # rounded_to: draw the values in this dtype first, so that a float64 run sees exactly the
    # weights a low-precision run does.
    return {k: torch.tensor(v, dtype=rounded_to or dtype, device=device).to(dtype)
            if k in TENSOR_ARGS else v for k, v in ctor.items()}


def build(spec: Spec, kwargs: Mapping, dtype=torch.float32, device="cpu", rounded_to=None):
    """``(reference module, comparison callable)`` for one case; the comparison is the
    built-in (scaled for reference-only options) or the oracle."""
    ctor, _ = split_case(kwargs)
    ref = spec.reference(**_materialise(ctor, dtype, device, rounded_to))
    c = cases.of(spec)
    scale = 1.0
    base_kwargs = dict(ctor)
    for key, factor in c.scale_if.items():
        if base_kwargs.pop(key, False):
            scale *= factor
    if spec.builtin is not None:
        builtin = spec.builtin(**_materialise(base_kwargs, dtype, device, rounded_to))
        base = builtin if scale == 1.0 else (lambda x, t: scale * builtin(x, t))
    elif c.oracle is not None:
        base = c.oracle(**base_kwargs)
    else:
        raise AssertionError(f"{spec.name}: no torch built-in and no oracle to check against")
    return ref, base


def make_inputs(spec: Spec, kwargs: Mapping, dtype=torch.float32, device="cpu", *,
                seed: int = 0, batch: int | None = None, interior: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Input and target for one case, drawn in float64 on the CPU from a seeded generator.

    ``interior`` keeps bounded targets away from 0 and 1, where finite differences would step
    outside the allowed range. ``batch`` replaces the batch size; an unbatched shape (C,)
    becomes (batch, C)."""
    _, opts = split_case(kwargs)
    shape = tuple(opts.get("shape", SHAPE))
    if batch is not None:
        shape = (batch,) + (shape[1:] if len(shape) > 1 else shape)
    cls = 0 if len(shape) == 1 else 1
    g = torch.Generator().manual_seed(seed)
    c = cases.of(spec)
    kind = c.input
    x = torch.randn(shape, generator=g, dtype=torch.float64) * 2
    if kind == "probability":
        x = torch.rand(shape, generator=g, dtype=torch.float64) * 0.96 + 0.02
    elif kind == "log_probability":
        x = torch.log_softmax(x, cls)
    target = opts.get("target", c.target)
    if target == "real":
        t = torch.randn(shape, generator=g, dtype=torch.float64)
    elif target == "binary":
        t = torch.rand(shape, generator=g, dtype=torch.float64)
        if interior:
            t = t * 0.9 + 0.05
        else:
            t.reshape(-1)[:2] = torch.tensor([0.0, 1.0])[: t.numel()]  # hard labels too
    elif target == "probability":
        t = torch.softmax(torch.randn(shape, generator=g, dtype=torch.float64) * 2, cls)
    elif target == "index":
        t = torch.randint(0, shape[cls], shape[:cls] + shape[cls + 1:], generator=g)
        if "ignore_index" in kwargs and t.dim():
            t.reshape(-1)[::3] = kwargs["ignore_index"]
    else:
        raise AssertionError(f"{spec.name}: unknown target kind {target!r}")
    if t.is_floating_point():
        t = t.to(dtype)
    return x.to(device=device, dtype=dtype), t.to(device)


def _upstream(out: torch.Tensor, seed: int = 1) -> torch.Tensor:
    # Multiples of 1/8 in [0.5, 1.5]: exact in every dtype, so runs in different precisions
    # see the same upstream gradient.
    g = torch.Generator().manual_seed(seed)
    steps = torch.randint(0, 9, out.shape, generator=g, dtype=torch.float64)
    return (steps / 8 + 0.5).to(out)


def value_and_grads(fn, x: torch.Tensor, t: torch.Tensor):
    """``(loss, d/d input, d/d target or None)`` for a random upstream gradient."""
    x = x.detach().clone().requires_grad_(True)
    t = t.detach().clone().requires_grad_(t.is_floating_point())
    out = fn(x, t)
    inputs = [x, t] if t.requires_grad else [x]
    grads = torch.autograd.grad(out, inputs, _upstream(out), allow_unused=True) \
        if out.numel() else [torch.zeros_like(i) for i in inputs]
    return out.detach(), grads[0], grads[1] if len(grads) > 1 else None


def _assert_same(spec, kwargs, got, want) -> tuple[float, float]:
    where = f"{spec.name}[{case_label(kwargs)}]"
    names = ("value", "input grad", "target grad")
    for name, a, b in zip(names, got, want, strict=True):
        if a is None and b is None:
            continue
        assert a is not None and b is not None, f"{where}: {name} missing on one side"
        torch.testing.assert_close(a, b, equal_nan=True, **tolerance(b),
                                   msg=lambda m, n=name: f"{where} {n}: {m}")
    grad_err = max(max_abs_diff(a, b) for a, b in zip(got[1:], want[1:], strict=True)
                   if a is not None)
    return max_abs_diff(got[0], want[0]), grad_err


def check_parity(spec: Spec, kwargs: Mapping, dtype=torch.float32, device="cpu", *,
                 batch: int | None = None) -> tuple[float, float]:
    """Value and gradients equal to the built-in or oracle in ``dtype`` (default tolerances).

    float16/bfloat16 results follow :func:`nnref.verify.half_accurate`: no farther than
    torch's half result from the built-in evaluated in float64 on the same (rounded) inputs and
    weights (gradients: or from it with its saved tensors rounded to ``dtype``), plus one
    rounding; the reference computes in float32 and rounds once, while torch's composite
    losses round every intermediate in half precision.
    """
    x, t = make_inputs(spec, kwargs, dtype, device, batch=batch)
    if dtype in LOW_PRECISION:
        ref, half = build(spec, kwargs, dtype, device)
        _, base = build(spec, kwargs, torch.float64, device, rounded_to=dtype)
        x64, t64 = x.double(), (t.double() if t.is_floating_point() else t)
        exact = value_and_grads(base, x64, t64)
        with saved_in(dtype):
            rounded = value_and_grads(base, x64, t64)
        got, want = value_and_grads(ref, x, t), value_and_grads(half, x, t)
        where = f"{spec.name}[{case_label(kwargs)}]"
        # gradients cancel terms of the upstream's size (softmax minus one-hot: 1.5 at most)
        for i, name in enumerate(("value", "input grad", "target grad")):
            if got[i] is not None:
                half_accurate(got[i], want[i], [exact[i], rounded[i]], f"{where} {name}",
                              scale=1.5 if i else 0.0)
        return max_abs_diff(got[0], want[0]), max(
            max_abs_diff(a, b) for a, b in zip(got[1:], want[1:], strict=True) if a is not None)
    ref, base = build(spec, kwargs, dtype, device)
    return _assert_same(spec, kwargs, value_and_grads(ref, x, t), value_and_grads(base, x, t))


def check_empty(spec: Spec, kwargs: Mapping, device="cpu") -> tuple[float, float]:
    """An empty batch gives torch's answer (NaN for 'mean', 0 for 'sum', empty for 'none'), for
    every case: an unbatched one, (C,), is given the empty batch (0, C) of its class count."""
    return check_parity(spec, kwargs, torch.float32, device, batch=0)


def check_gradcheck(spec: Spec, kwargs: Mapping, device="cpu") -> bool:
    """gradcheck and gradgradcheck in float64 (:data:`nnref.verify.GRADCHECK`), with respect to
    input and floating target."""
    ref, _ = build(spec, kwargs, torch.float64, device)
    x, t = make_inputs(spec, kwargs, torch.float64, device, seed=3, interior=True)
    x.requires_grad_(True)
    if t.is_floating_point():
        t.requires_grad_(True)
        inputs, fn = (x, t), ref
    else:
        inputs, fn = (x,), (lambda xx: ref(xx, t))
    return gradcheck(fn, inputs, f"{spec.name}[{case_label(kwargs)}]")


def check_saved_bytes(spec: Spec, kwargs: Mapping, device="cpu") -> tuple[int, int]:
    """Bytes saved for backward by reference and comparison on a 4096-row batch; the
    reference must not keep more."""
    ref, base = build(spec, kwargs, torch.float32, device)
    x, t = make_inputs(spec, kwargs, torch.float32, device, seed=4, batch=4096)

    def run(fn):
        return lambda xx: fn(xx.clone().requires_grad_(True), t)

    got, want = saved_bytes(run(ref), x), saved_bytes(run(base), x)
    assert got <= want, f"{spec.name}[{case_label(kwargs)}]: saves {got} bytes, torch {want}"
    return got, want


def check_compile(spec: Spec, kwargs: Mapping, device="cpu", backend: str = "aot_eager"
                  ) -> tuple[float, float]:
    """``torch.compile`` of the reference equals the eager comparison, value and gradients."""
    ref, base = build(spec, kwargs, torch.float32, device)
    compiled = torch.compile(ref, backend=backend)
    x, t = make_inputs(spec, kwargs, torch.float32, device, seed=5)
    return _assert_same(spec, kwargs, value_and_grads(compiled, x, t),
                        value_and_grads(base, x, t))


def check_invalid(spec: Spec) -> None:
    """Every ``invalid`` constructor argument set of the cases is refused with its exception
    type."""
    for kwargs, exc in cases.of(spec).invalid:
        try:
            spec.reference(**kwargs)
        except exc:
            continue
        raise AssertionError(f"{spec.name}: {case_label(kwargs)} was accepted, expected "
                             f"{exc.__name__}")


def verify(spec: Spec, device: str) -> list[Row]:
    """One row per case: float32/float64/float16/bfloat16 parity, empty batch, gradcheck and
    gradgradcheck, saved bytes; plus one row for the invalid arguments."""
    rows = []
    c = cases.of(spec)
    for kwargs in c.kwargs:
        row = Row(spec.kind, spec.name, case_label(kwargs), device)
        try:
            errs = [check_parity(spec, kwargs, dt, device)
                    for dt in (torch.float32, torch.float64, *LOW_PRECISION)]
            errs.append(check_empty(spec, kwargs, device))
            row.fwd_err = max(e[0] for e in errs[:2])  # low precision has its own tolerance
            row.grad_err = max(e[1] for e in errs[:2])
            row.gradcheck = check_gradcheck(spec, kwargs, device)
            row.saved_ref, row.saved_base = check_saved_bytes(spec, kwargs, device)
        except Exception as exc:
            row.fail(exc)
        rows.append(row)
    if c.invalid:
        row = Row(spec.kind, spec.name, "invalid arguments", device)
        try:
            check_invalid(spec)
        except Exception as exc:
            row.fail(exc)
        rows.append(row)
    return rows
