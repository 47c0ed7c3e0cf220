"""Parity checks for activations: each compares the reference with the torch built-in (or, where
torch has none, with the independent formula in its cases' ``oracle``) and raises
``AssertionError`` with the mismatch, returning the largest forward and gradient errors.

The pytest suite (``tests/test_activations.py``) parametrizes these over the registry; the
``verify`` command runs them on the user's device.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch.func import functional_call

from nnref._tensor import LOW_PRECISION
from nnref.registry import Spec
from nnref.verify import (
    Row,
    case_label,
    cases,
    draw,
    gradcheck,
    half_accurate,
    max_abs_diff,
    saved_bytes,
    saved_in,
    tolerance,
)

SHAPE = (3, 6, 5)  # channels (6) on dim 1, matching the per-channel cases
HALF_SHAPE = (4, 6, 128)  # 3072 elements: over nnref.verify.HALF_BIAS_MIN


@dataclass
class Pair:
    """A reference module and its comparison (built-in module or oracle) with equal state."""

    ref: torch.nn.Module
    base: Callable[[torch.Tensor], torch.Tensor]
    ref_params: list[torch.Tensor]
    base_params: list[torch.Tensor]
    inplace: bool
    oracle: bool


def build_pair(spec: Spec, kwargs: Mapping, dtype: torch.dtype, device, state=None) -> Pair:
    """Reference (with ``state`` loaded, if given) and built-in (state dict copied across), or
    reference and oracle twin."""
    ref = spec.reference(**kwargs).to(device=device, dtype=dtype).eval()
    if state is not None:
        ref.load_state_dict(state)
    if spec.builtin is not None:
        base = spec.builtin(**kwargs).to(device=device, dtype=dtype).eval()
        base.load_state_dict(ref.state_dict())  # also proves the state dicts are compatible
        return Pair(ref, base, list(ref.parameters()), list(base.parameters()),
                    bool(kwargs.get("inplace")), oracle=False)
    oracle = cases.of(spec).oracle
    if oracle is None:
        raise AssertionError(f"{spec.name}: no torch built-in and no oracle to check against")
    twin = copy.deepcopy(ref)
    return Pair(ref, lambda x: oracle(twin, x), list(ref.parameters()), list(twin.parameters()),
                bool(kwargs.get("inplace")), oracle=True)


def make_input(spec: Spec, shape=SHAPE, dtype=torch.float32, device="cpu", *, seed: int = 0,
               kinks: bool = True, away_from_kinks: bool = False) -> torch.Tensor:
    """Uniform samples from the cases' ``domain``; the first elements are the ``kinks``
    themselves (``kinks``), or every sample is pushed at least 0.05 away from them
    (``away_from_kinks``, for finite differences)."""
    c = cases.of(spec)
    return draw(shape, c.domain, c.kinks if kinks or away_from_kinks else (), dtype, device,
                seed=seed, away_from_kinks=away_from_kinks)


def _value_and_grads(fn, params, inplace, x, upstream):
    x = x.detach().clone().requires_grad_(True)
    y = fn(x.clone() if inplace else x)
    inputs = [x, *params]
    if not y.requires_grad:  # e.g. the step oracle: no path, zero gradient
        return y.detach(), [torch.zeros_like(t) for t in inputs]
    grads = torch.autograd.grad(y, inputs, upstream(y), allow_unused=True,
                                materialize_grads=True)
    return y.detach(), [g.detach() for g in grads]


def _upstream(seed: int = 1):
    def make(y):
        g = torch.Generator().manual_seed(seed)
        return torch.randn(y.shape, generator=g, dtype=torch.float64).to(y.device, y.dtype)
    return make


def compare(spec: Spec, kwargs: Mapping, x: torch.Tensor) -> tuple[float, float]:
    """Forward value and gradients (input and parameters) of reference vs comparison at ``x``.

    An oracle is evaluated in float64 for every other dtype, since a naive formula in lower
    precision is less accurate than the reference it checks (soft exponential's alpha-gradient
    cancels catastrophically in float32 for small alpha x). Forward values use assert_close's
    default tolerances for the dtype, float64 results :func:`nnref.verify.float64_tolerance`
    (a few ulps). float16/bfloat16 results follow :func:`nnref.verify.half_accurate`: no
    farther from the exact value than torch's half result (the oracle's formula in the dtype), plus
    one rounding, and no bias; gradients may instead follow the exact value of torch's backward
    given its saved tensors rounded to the dtype, as torch's half backward is.
    Returns (max forward error, max gradient error); raises AssertionError on a mismatch.
    """
    pair = build_pair(spec, kwargs, x.dtype, x.device)
    up = _upstream()
    got = _value_and_grads(pair.ref, pair.ref_params, pair.inplace, x, up)
    if x.dtype == torch.float64 or (x.dtype not in LOW_PRECISION and not pair.oracle):
        return _assert_same(spec, kwargs, got, _value_and_grads(
            pair.base, pair.base_params, pair.inplace, x, up))
    state = {k: v.double() for k, v in pair.ref.state_dict().items()}
    pair64 = build_pair(spec, kwargs, torch.float64, x.device, state)

    def exact():
        return _value_and_grads(pair64.base, pair64.base_params, pair.inplace, x.double(),
                                lambda y: up(y.to(x.dtype)).double())

    y64, g64 = exact()
    if x.dtype not in LOW_PRECISION:
        return _assert_same(spec, kwargs, got, (y64.to(x.dtype), [g.to(x.dtype) for g in g64]))
    # torch's half result: the built-in's, or the oracle's formula evaluated in the dtype (what
    # composing it from torch's ops gives); the exact values are what the rule measures by.
    want = _value_and_grads(pair.base, pair.base_params, pair.inplace, x, up)
    if pair.oracle:
        saved = g64  # no torch backward to take saved tensors from
    else:
        with saved_in(x.dtype):
            _, saved = exact()
    where = f"{spec.name} {case_label(kwargs)}"
    half_accurate(got[0], want[0], [y64], f"{where} forward")
    names = ["input"] + [f"param{i}" for i in range(len(g64) - 1)]
    for name, a, b, t, ts in zip(names, got[1], want[1], g64, saved, strict=True):
        half_accurate(a, b, [t, ts], f"{where} grad {name}")
    return max_abs_diff(got[0], want[0]), max(
        (max_abs_diff(a, b) for a, b in zip(got[1], want[1], strict=True)), default=0.0)


def _terms(upstream: torch.Tensor, y: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """The size of the terms a gradient is formed from, for :func:`nnref.verify.tolerance`: the
    upstream gradient for the input's; a parameter's sums upstream x derivative over the M
    elements sharing it (terms of the output's size, at least 1, times the upstream's), and two
    summation orders differ by a random walk of their roundings, sqrt(M) of them (soft
    exponential's alpha-gradient summed over 16 float64 elements: 19 ulps of its value)."""
    terms = y.numel() // max(grad.numel(), 1)
    if grad.shape == y.shape or terms <= 1:
        return upstream
    finite = y[y.isfinite()]
    size = max(1.0, float(finite.abs().max())) if finite.numel() else 1.0
    return upstream * (size * math.sqrt(terms))


def _assert_same(spec, kwargs, got, want) -> tuple[float, float]:
    (y_ref, g_ref), (y_base, g_base) = got, want
    upstream = _upstream()(y_base)  # what every comparison here is run with
    torch.testing.assert_close(y_ref, y_base, equal_nan=True, **tolerance(y_base),
                               msg=lambda m: f"{spec.name} {case_label(kwargs)} forward: {m}")
    names = ["input"] + [f"param{i}" for i in range(len(g_ref) - 1)]
    for name, a, b in zip(names, g_ref, g_base, strict=True):
        scale = _terms(upstream, y_base, b)
        torch.testing.assert_close(a, b, equal_nan=True, **tolerance(b, scale),
                                   msg=lambda m, name=name:
                                   f"{spec.name} {case_label(kwargs)} grad {name}: {m}")
    fwd = max_abs_diff(y_ref, y_base)
    grad = max((max_abs_diff(a, b) for a, b in zip(g_ref, g_base, strict=True)), default=0.0)
    return fwd, grad


def check_parity(spec, kwargs, dtype=torch.float32, device="cpu"):
    """Values and gradients on the standard input (kinks included) in ``dtype``; in float16
    and bfloat16 on :data:`HALF_SHAPE`, enough elements for the bias part of the rule."""
    shape = HALF_SHAPE if dtype in LOW_PRECISION else SHAPE
    return compare(spec, kwargs, make_input(spec, shape, dtype=dtype, device=device))


def layout_inputs(spec, kwargs, dtype=torch.float32, device="cpu") -> dict[str, torch.Tensor]:
    """Non-contiguous, expanded (broadcast), 0-d and empty inputs."""
    wide = make_input(spec, (SHAPE[0], SHAPE[1], 2 * SHAPE[2]), dtype, device, seed=3)
    one = make_input(spec, (1,) + SHAPE[1:], dtype, device, seed=4)
    out = {
        "non_contiguous": wide[..., ::2],
        "channels_last_like": make_input(spec, (SHAPE[0], SHAPE[2], SHAPE[1]), dtype, device,
                                         seed=5).transpose(1, 2),
        "empty": make_input(spec, (0,) + SHAPE[1:], dtype, device),
        "scalar": make_input(spec, (), dtype, device, seed=6),
    }
    if not kwargs.get("inplace"):  # in-place on an expanded tensor is an error in torch too
        out["expanded"] = one.expand(SHAPE)
    return out


def scalar_case(spec: Spec, kwargs: Mapping) -> Mapping:
    """The case to use with 0-d input: the cases' ``scalar_case`` where they need a channel or
    a dim a scalar does not have, otherwise the case itself."""
    special = cases.of(spec).scalar_case
    return kwargs if special is None else special


def check_layouts(spec, kwargs, dtype=torch.float32, device="cpu"):
    fwd = grad = 0.0
    for label, x in layout_inputs(spec, kwargs, dtype, device).items():
        kw = scalar_case(spec, kwargs) if x.dim() == 0 else kwargs
        try:
            f, g = compare(spec, kw, x)
        except AssertionError as exc:
            raise AssertionError(f"[{label} input] {exc}") from None
        fwd, grad = max(fwd, f), max(grad, g)
    return fwd, grad


FINITE_EXTREMES = (-1e4, -1.0, -0.0, 0.0, 1.0, 1e4)


def extreme_grid(values, dtype=torch.float32, device="cpu") -> torch.Tensor:
    """Shape (len(values), 6, 1) with ``values[(i + c) % len(values)]`` at row i, channel c:
    every row (dim 1) and every column (dim 0) holds each value next to the others, so that
    a function normalising over a dim (softmax) and per-channel parameters see them all."""
    n = len(values)
    idx = (torch.arange(n)[:, None] + torch.arange(SHAPE[1])[None, :]) % n
    x = torch.tensor(values, dtype=torch.float64)[idx]
    return x.reshape(n, SHAPE[1], 1).to(device=device, dtype=dtype)


def case_limits(spec: Spec, kwargs: Mapping) -> Mapping[float, tuple[float, float]]:
    """The cases' hand-worked limits at -inf and +inf for ``kwargs`` (empty: none given)."""
    limits = cases.of(spec).limits
    return limits(kwargs) if callable(limits) else limits


def check_extremes(spec, kwargs, dtype=torch.float32, device="cpu"):
    """Extreme inputs, each kind in a tensor of its own so that a NaN never hides a mismatch:

    * ±1e4, ±1, ±0: value, input and parameter gradients against the built-in (or oracle);
    * -inf and +inf (each next to the finite extremes): against the built-in (or oracle), or,
      where the cases give hand-worked limits (an oracle whose naive formula gives inf - inf;
      a deliberate deviation where torch returns NaN), the reference's value and derivative
      at every infinite entry against them, for every case;
    * NaN next to finite values: against the built-in (or oracle), NaN where it is NaN.
    """
    fwd, grad = compare(spec, kwargs, extreme_grid(FINITE_EXTREMES, dtype, device))
    limits = case_limits(spec, kwargs)
    for inf in (-math.inf, math.inf):
        x = extreme_grid(FINITE_EXTREMES + (inf,), dtype, device)
        if limits:
            _check_limits(spec, kwargs, x, inf, limits[inf])
            continue
        try:
            f, g = compare(spec, kwargs, x)
        except AssertionError as exc:
            raise AssertionError(f"[{inf} input] {exc}") from None
        fwd, grad = max(fwd, f), max(grad, g)
    _check_nan(spec, kwargs, extreme_grid((math.nan, -1.0, 0.0, 1.0), dtype, device))
    return fwd, grad


def _check_nan(spec, kwargs, x):
    """NaN inputs: the value equals the comparison's everywhere (NaN where it is NaN), the
    input gradient at the other entries. The gradient at a NaN entry is no yardstick: torch's
    own depends on the element's position (ELU's vectorised loop gives NaN, its scalar tail
    1), and so, through the sum, do the parameter gradients."""
    pair = build_pair(spec, kwargs, x.dtype, x.device)
    up = _upstream()
    y, (gx, *_) = _value_and_grads(pair.ref, pair.ref_params, pair.inplace, x, up)
    dt = torch.float64 if pair.oracle else x.dtype  # an oracle in float64, as in compare()
    if pair.oracle:
        pair = build_pair(spec, kwargs, dt, x.device,
                          {k: v.double() for k, v in pair.ref.state_dict().items()})
    y_b, (gx_b, *_) = _value_and_grads(pair.base, pair.base_params, pair.inplace, x.to(dt),
                                       lambda t: up(t.to(x.dtype)).to(dt))
    y_b, gx_b = y_b.to(x.dtype), gx_b.to(x.dtype)
    where = f"{spec.name} {case_label(kwargs)} [NaN input]"
    torch.testing.assert_close(y, y_b, equal_nan=True, **tolerance(y_b),
                               msg=lambda m: f"{where} forward: {m}")
    real = ~x.isnan()
    torch.testing.assert_close(gx[real], gx_b[real], equal_nan=True,
                               **tolerance(gx_b[real], up(y_b)),
                               msg=lambda m: f"{where} grad input: {m}")


def _check_limits(spec, kwargs, x, inf, limit):
    pair = build_pair(spec, kwargs, x.dtype, x.device)
    xi = x.detach().clone().requires_grad_(True)
    y = pair.ref(xi.clone() if pair.inplace else xi)
    (g,) = torch.autograd.grad(y.sum(), xi)
    at = x == inf
    for what, got, want in (("f", y.detach(), limit[0]), ("f'", g, limit[1])):
        torch.testing.assert_close(
            got[at], torch.full_like(got[at], want), equal_nan=True,
            msg=lambda m, w=what: f"{spec.name} {case_label(kwargs)} {w}({inf}): {m}")


def _functional(spec, kwargs, x):
    """(function of (x, *params), inputs) for gradcheck, via torch.func.functional_call."""
    ref = spec.reference(**kwargs).to(dtype=torch.float64).eval()
    names = [n for n, _ in ref.named_parameters()]
    params = [p.detach().clone().requires_grad_(True) for _, p in ref.named_parameters()]
    # Learnable parameters at init can sit on a kink (APL's a = 0 makes b's gradient 0 there);
    # perturb them so finite differences see every term.
    with torch.no_grad():
        for p in params:
            p.add_(torch.linspace(0.1, 0.3, p.numel(), dtype=p.dtype).reshape(p.shape))

    def fn(x, *ps):
        return functional_call(ref, dict(zip(names, ps, strict=True)), (x,))

    return fn, (x, *params)


def check_gradcheck(spec, kwargs, device="cpu") -> bool:
    """gradcheck and gradgradcheck in float64 on inputs away from the kinks, at
    :data:`nnref.verify.GRADCHECK`'s tolerances."""
    if kwargs.get("inplace"):
        kwargs = {k: v for k, v in kwargs.items() if k != "inplace"}
    x = make_input(spec, (2, SHAPE[1], 3), torch.float64, device, seed=7,
                   away_from_kinks=True).requires_grad_(True)
    fn, inputs = _functional(spec, kwargs, x)
    return gradcheck(fn, inputs, f"{spec.name} {case_label(kwargs)}")


def check_saved_bytes(spec, kwargs, device="cpu") -> tuple[int, int]:
    """Saved-for-backward bytes of reference vs comparison on a 64k-element input."""
    pair = build_pair(spec, kwargs, torch.float32, device)
    x = make_input(spec, (256, SHAPE[1], 43), torch.float32, device, seed=8)

    def run(fn):
        def call(t):
            leaf = t.clone().requires_grad_(True)
            return fn(leaf.clone() if pair.inplace else leaf)
        return call

    ref, base = saved_bytes(run(pair.ref), x), saved_bytes(run(pair.base), x)
    # Against an oracle (autograd through a composition) the reference may also keep its own
    # parameters, which a Function must save to return their gradient; the input-sized
    # tensors, where the memory is, must not exceed the composition's.
    allowance = sum(p.numel() * p.element_size() for p in pair.ref_params) if pair.oracle else 0
    other = "oracle" if pair.oracle else "built-in"
    assert ref <= base + allowance, (
        f"{spec.name}: saves {ref} bytes for backward, the {other} {base}")
    return ref, base


def check_vmap(spec, kwargs, device="cpu"):
    """torch.func.vmap of the forward and of the gradient equals a loop over the batch."""
    kwargs = {k: v for k, v in kwargs.items() if k != "inplace"}
    pair = build_pair(spec, kwargs, torch.float64, device)
    xb = make_input(spec, (2,) + SHAPE, torch.float64, device, seed=9)
    got = torch.func.vmap(pair.ref)(xb)
    want = torch.stack([pair.ref(xi) for xi in xb])
    torch.testing.assert_close(got, want, equal_nan=True)
    grad_fn = torch.func.grad(lambda t: pair.ref(t).sum())
    got_g = torch.func.vmap(grad_fn)(xb)
    want_g = torch.stack([grad_fn(xi) for xi in xb])
    torch.testing.assert_close(got_g, want_g, equal_nan=True)
    return max_abs_diff(got, want), max_abs_diff(got_g, want_g)


def check_compile(spec, kwargs, device="cpu", backend: str = "inductor"):
    """``torch.compile`` of the reference equals the eager comparison, value and gradients."""
    pair = build_pair(spec, kwargs, torch.float32, device)
    compiled = torch.compile(pair.ref, backend=backend, dynamic=False)
    x = make_input(spec, dtype=torch.float32, device=device, seed=10)
    up = _upstream()
    got = _value_and_grads(compiled, pair.ref_params, pair.inplace, x, up)
    return _assert_same(spec, kwargs, got, _value_and_grads(pair.base, pair.base_params,
                                                            pair.inplace, x, up))


def verify(spec: Spec, device: str) -> list[Row]:
    """One row per case: float32/float64 parity, layouts, extremes, gradcheck, saved bytes."""
    rows = []
    for kwargs in cases.of(spec).kwargs:
        row = Row(spec.kind, spec.name, case_label(kwargs), device)
        try:
            errs = [check_parity(spec, kwargs, dt, device) for dt in (torch.float32,
                                                                     torch.float64)]
            errs.append(check_layouts(spec, kwargs, torch.float32, device))
            errs.append(check_extremes(spec, kwargs, torch.float32, device))
            row.fwd_err = max(e[0] for e in errs)
            row.grad_err = max(e[1] for e in errs)
            row.gradcheck = check_gradcheck(spec, kwargs, device)
            row.saved_ref, row.saved_base = check_saved_bytes(spec, kwargs, device)
        except Exception as exc:
            row.fail(exc)
        rows.append(row)
    return rows
