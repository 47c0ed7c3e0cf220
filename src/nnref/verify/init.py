"""Checks for initializers: bit-identical to ``torch.nn.init`` (or, for one torch lacks, the
composition of ``torch.nn.init`` in its cases) with the same seeded generator, the exact
bound / standard deviation of the target law on a large tensor, torch's errors for tensors with
fewer than 2 dimensions and for invalid arguments.

The target law comes from the cases (``law`` and ``spread``, written from the formulas, not
from :mod:`nnref.init`). The Kolmogorov-Smirnov test against the same law lives in
``tests/test_init.py`` (scipy is a test dependency, not a library one).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch

from nnref.registry import Spec
from nnref.verify import Row, case_label, cases, max_abs_diff

# Linear (out, in), Conv1d (out, in, k), Conv2d (out, in, kh, kw), Conv3d (out, in, kd, kh, kw).
SHAPES = ((64, 32), (16, 8, 5), (16, 8, 3, 3), (8, 4, 3, 3, 3))
LARGE = (1024, 512)  # 524288 samples for the statistical checks


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight shape, computed here independently of nnref.init."""
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def expected_law(spec: Spec, kwargs: Mapping, shape) -> tuple[str, float]:
    """``(law, spread)``: the constant value, the uniform bound or the normal std."""
    fan_in, fan_out = fans(shape)
    c = cases.of(spec)
    return c.law, float(c.spread(fan_in, fan_out, **kwargs))


def counterpart(spec: Spec):
    """torch's initializer, or the composition of ``torch.nn.init`` in the cases' ``oracle``."""
    base = spec.builtin or cases.of(spec).oracle
    if base is None:
        raise AssertionError(f"{spec.name}: no torch counterpart to compare with")
    return base


def _fill(spec, fn, kwargs, shape, dtype, device, seed):
    t = torch.empty(shape, dtype=dtype, device=device)
    if cases.of(spec).law == "constant":  # torch's zeros_/constant_ take no generator
        return fn(t, **kwargs)
    g = torch.Generator(device=device).manual_seed(seed)
    return fn(t, **kwargs, generator=g)


def check_bitwise(spec: Spec, kwargs: Mapping, device="cpu",
                  dtypes=(torch.float32, torch.float64, torch.bfloat16)) -> float:
    """Same seeded generator -> the very same tensor as torch, for every layer shape and dtype."""
    base = counterpart(spec)
    for dtype in dtypes:
        for shape in SHAPES:
            got = _fill(spec, spec.reference, kwargs, shape, dtype, device, seed=len(shape))
            want = _fill(spec, base, kwargs, shape, dtype, device, seed=len(shape))
            assert torch.equal(got, want), (
                f"{spec.name}[{case_label(kwargs)}] {tuple(shape)} {dtype}: differs from torch "
                f"by up to {max_abs_diff(got, want):.3g}")
    return 0.0


def sample(spec: Spec, kwargs: Mapping, device="cpu", shape=LARGE, seed: int = 1234):
    """A large float64 tensor filled by the reference (for the statistical checks)."""
    return _fill(spec, spec.reference, kwargs, shape, torch.float64, device, seed)


def check_spread(spec: Spec, kwargs: Mapping, device="cpu") -> float:
    """Constant: every element equals the value. Uniform: all inside the bound, the extremes
    within 0.1% of it. Normal: mean 0 and sample std equal to the target within 5 standard
    errors (std error of a sample std: sigma / sqrt(2n)). Returns the relative std error."""
    law, spread = expected_law(spec, kwargs, LARGE)
    w = sample(spec, kwargs, device)
    n = w.numel()
    where = f"{spec.name}[{case_label(kwargs)}]"
    if law == "constant":
        assert bool((w == spread).all()), f"{where}: not all equal to {spread}"
        return 0.0
    if law == "uniform":
        lo, hi = float(w.min()), float(w.max())
        assert -spread <= lo and hi <= spread, f"{where}: values outside +-{spread}"
        assert hi > spread * 0.999 and lo < -spread * 0.999, \
            f"{where}: extremes {lo}, {hi} do not reach the bound {spread}"
        std = spread / math.sqrt(3)
    elif law == "normal":
        std = spread
    else:
        raise AssertionError(f"{where}: unknown law {law!r}")
    rel = abs(float(w.std()) / std - 1)
    assert rel < 5 / math.sqrt(2 * n), f"{where}: std {float(w.std())}, expected {std}"
    assert abs(float(w.mean())) < 5 * std / math.sqrt(n), f"{where}: mean {float(w.mean())}"
    return rel


def check_errors(spec: Spec, device="cpu") -> None:
    """torch's ValueError for a 1-d tensor (fan-based initializers) and for the cases'
    ``invalid`` arguments."""
    c = cases.of(spec)
    reference, builtin = spec.reference, counterpart(spec)
    base_kwargs = dict(c.kwargs[0])
    if c.fans:
        for fn in (reference, builtin):
            try:
                fn(torch.empty(5, device=device), **base_kwargs)
            except ValueError as exc:
                assert "fewer than 2 dimensions" in str(exc), f"{spec.name}: message {exc}"
                continue
            raise AssertionError(f"{spec.name}: a 1-d tensor was accepted by {fn.__name__}")
    for kwargs, exc_type in c.invalid:
        for fn in (reference, builtin):
            try:
                fn(torch.empty(4, 3, device=device), **kwargs)
            except exc_type as exc:
                if fn is reference:
                    key = next(iter(kwargs))
                    assert key in str(exc), f"{spec.name}: error {exc!r} does not name {key!r}"
                continue
            raise AssertionError(f"{spec.name}: {case_label(kwargs)} accepted by {fn.__name__}")


def verify(spec: Spec, device: str) -> list[Row]:
    """One row per case: bit-identical to torch in float32/float64/bfloat16 on Linear and Conv
    weights, and the exact bound/std on a large tensor; one row for the error checks."""
    rows = []
    for kwargs in cases.of(spec).kwargs:
        row = Row(spec.kind, spec.name, case_label(kwargs), device)
        try:
            row.fwd_err = check_bitwise(spec, kwargs, device)
            check_spread(spec, kwargs, device)
        except Exception as exc:
            row.fail(exc)
        rows.append(row)
    row = Row(spec.kind, spec.name, "errors", device)
    try:
        check_errors(spec, device)
    except Exception as exc:
        row.fail(exc)
    rows.append(row)
    return rows
