"""Verification of every registered component against torch, on the user's own device(s).

Each registry kind has a verifier module here exposing ``verify(spec, device) -> list[Row]``
(one row per tested keyword-argument case), reading what to test from
:mod:`nnref.verify.cases`; :func:`register` adds a user's component with its cases. The same
check functions back the pytest suite, so ``python -m nnref verify`` and ``pytest`` can never
disagree about what "equal to torch" means. Built-ins appear here by design: this package is
where references meet torch.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch

from nnref import registry
from nnref.verify import cases as _cases

# kind -> module that verifies it; a kind missing here is reported, never passed silently.
VERIFIERS = {
    "activation": "nnref.verify.activations",
    "loss": "nnref.verify.losses",
    "init": "nnref.verify.init",
    "optim": "nnref.verify.optim",
    "dropout": "nnref.verify.dropout",
    "norm": "nnref.verify.normalization",
    "recurrent": "nnref.verify.recurrent",
}


@dataclass
class Row:
    """One line of the verification table."""

    kind: str
    name: str
    case: str
    device: str
    fwd_err: float | None = None
    grad_err: float | None = None
    gradcheck: bool | None = None
    saved_ref: int | None = None
    saved_base: int | None = None
    ok: bool = True
    message: str = ""

    def fail(self, exc: BaseException) -> None:
        """Mark the row failed with the first line of ``exc``."""
        self.ok = False
        self.message = f"{type(exc).__name__}: {exc}".splitlines()[0][:160]


def case_label(kwargs) -> str:
    """Short text for a keyword-argument case: ``alpha=0.5,inplace=True`` or ``default``."""
    return ",".join(f"{k}={v}" for k, v in kwargs.items()) or "default"


def max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest absolute difference, NaN-aware (NaN in the same place counts as equal)."""
    if a.numel() == 0:
        return 0.0
    a, b = a.detach().double(), b.detach().double()
    both_nan = a.isnan() & b.isnan()
    same = (a == b) | both_nan  # equal infinities give inf - inf = nan otherwise
    diff = (a - b).abs().masked_fill(same, 0.0)
    return math.inf if diff.isnan().any() else float(diff.max())


# float64 parity: a few ulps. Two correct float64 evaluations of one formula differ by the
# rounding of their last operations (an ulp or two of each value) and, where a result comes out
# of a cancellation or a reduction (softmax's g - sum g s, a mean of mixed-sign terms), by a few
# ulps of the largest value involved; every wrong constant or derivative is millions of ulps off
# (SELU's constants cut to 8 digits: 1e7 ulps; a derivative scaled by 1 + 1e-4: 5e11 ulps).
ULPS64 = 4
EPS64 = torch.finfo(torch.float64).eps


def _magnitude(t: torch.Tensor | None) -> float:
    if t is None:
        return 0.0
    finite = t.detach()[t.detach().isfinite()]
    return float(finite.abs().max()) if finite.numel() else 0.0


def float64_tolerance(want: torch.Tensor, scale: torch.Tensor | None = None) -> dict:
    """``rtol``/``atol`` for comparing float64 results with ``want``: :data:`ULPS64` ulps of each
    value, and of the largest finite magnitude of ``want`` or of ``scale``: the terms a
    result may cancel from (a derivative formed from the saved output, as tanh's
    ``g (1 - y^2)``, cancels terms of the upstream gradient's size)."""
    big = max(_magnitude(want), _magnitude(scale))
    return {"rtol": ULPS64 * EPS64, "atol": ULPS64 * EPS64 * big}


def tolerance(want: torch.Tensor, scale: torch.Tensor | None = None) -> dict:
    """Tolerances for a result of ``want``'s dtype: :func:`float64_tolerance` in float64,
    assert_close's defaults (about 10 ulps) in float32."""
    return float64_tolerance(want, scale) if want.dtype == torch.float64 else {}


# float16/bfloat16: one rule for every kind, element by element and over the whole tensor.
#
# Element by element, nnref's result passes where it equals torch's, or where it is no farther
# from the exact value than torch's own result is, plus one rounding (half an ulp of the dtype
# at the exact value): the reference may round differently from torch, never worse. The exact
# value is float64 from the same half inputs; a gradient has a second one, float64 from torch's
# backward fed the saved tensors rounded to the dtype (:func:`saved_in`), since a half backward
# only ever sees a rounded saved output (tanh's 1 - y^2 with y rounded to 1 is 0, hundreds of
# ulps from the exact 1 - tanh(x)^2). A result is judged against whichever of the two truths
# it meets, the same truth for the whole tensor.
#
# Over the tensor, a wrong constant or derivative shows as a bias: scaled by 1 + 2^-8 in
# bfloat16 (1 + 2^-11 in float16), every element moves away from zero by 1/2 to 1 ulp, which
# one element's rounding can hide but a mean cannot. The mean signed error in ulps is taken both
# plainly and signed by the exact value (positive = away from zero: upstream gradients of both
# signs cancel a plain mean of a scaled derivative). One correct rounding errs uniformly on
# +-1/2 ulp (standard deviation 0.29), so the mean of HALF_BIAS_MIN = 2048 elements has a
# standard deviation of 0.0064 ulp; measured on 4096 elements, torch's own half gradients of
# sigmoid, tanh, silu, elu and softplus have means within +-0.03 ulp of the exact values from
# their rounded saved tensors (both signs, both dtypes), the scaled derivatives +0.56 to +0.87.
# HALF_BIAS = 1/4 ulp sits between, 40 standard deviations from a correct rounding.
HALF_BIAS = 0.25
HALF_BIAS_MIN = 2048


def half_ulp(value: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Spacing of ``dtype`` at each ``|value|`` (float64), subnormal spacing at least."""
    fi = torch.finfo(dtype)
    _, exp = torch.frexp(value.abs())
    return torch.ldexp(torch.full_like(value, fi.eps), exp - 1).clamp_min(
        fi.smallest_normal * fi.eps)


def saved_in(dtype: torch.dtype, own: list | None = None):
    """Context: every floating tensor autograd saves is rounded to ``dtype`` (and kept in its
    own dtype), so a float64 backward sees what a ``dtype`` backward would be given.

    ``own`` holds (float64 output, half output) pairs, filled in at any time before backward:
    a saved output is replaced by the half one, the output the implementation judged saved
    itself. One rounding apart in the forward, the two outputs give gradients that differ by
    far more wherever the exact gradient cancels (softmax's upstream of ones: 0 exactly, and
    s (1 - sum s) from a rounded s)."""
    def pack(t):
        return (t, t.to(dtype).to(t.dtype) if t.is_floating_point() else t)

    def unpack(packed):
        t, rounded = packed
        for out, half in own or ():
            if t.shape == out.shape and t.data_ptr() == out.data_ptr():
                return half.detach().to(t.dtype)
        return rounded
    return torch.autograd.graph.saved_tensors_hooks(pack, unpack)


def _half_verdict(got: torch.Tensor, want: torch.Tensor, exact: torch.Tensor,
                  dtype: torch.dtype, scale: float) -> str:
    """'' if ``got`` meets the rule against the truth ``exact``, else what breaks it."""
    same = (got == want) | (got.isnan() & want.isnan()) | (got == exact)
    ulp = half_ulp(exact, dtype) + 2 * torch.finfo(torch.float32).eps * scale
    # a NaN from torch where the exact value is a number is infinitely far from it
    theirs = (want - exact).abs().nan_to_num(nan=math.inf)
    far = ~same & ~((got - exact).abs() <= theirs + ulp / 2)
    if far.any():
        i = int(far.reshape(-1).nonzero()[0])
        ulps = float(((got - exact).abs() / ulp).reshape(-1)[i])
        return (f"{int(far.sum())} of {far.numel()} elements farther from the exact value than "
                f"torch's plus half an ulp, first at flat index {i}: nnref "
                f"{got.reshape(-1)[i]:.6g}, torch {want.reshape(-1)[i]:.6g}, exact "
                f"{exact.reshape(-1)[i]:.6g} ({ulps:.3g} ulps from it)")
    real = got.isfinite() & exact.isfinite() & (exact != 0)
    if int(real.sum()) >= HALF_BIAS_MIN:
        err = ((got - exact) / ulp)[real]
        away = (err * exact[real].sign()).mean()
        for how, mean in (("signed", err.mean()), ("away from zero", away)):
            if abs(float(mean)) > HALF_BIAS:
                return (f"mean error {how} {float(mean):+.3f} ulp over {int(real.sum())} "
                        f"elements, beyond {HALF_BIAS}")
    return ""


def half_accurate(got: torch.Tensor, want: torch.Tensor, truths, what: str = "", *,
                  scale: float = 0.0) -> None:
    """Raise ``AssertionError`` unless the float16/bfloat16 ``got`` meets the rule above against
    one of ``truths`` (float64 exact values; torch's half result is ``want``).

    ``scale``: the size of the terms a result may cancel from (a softmax gradient's
    g - sum g s, whose exact value can be 0): half results are computed in float32, whose
    rounding of such terms no ulp of the result covers; the rounding allowance grows by one
    float32 rounding of ``scale``."""
    dtype = got.dtype
    if got.shape != want.shape:
        raise AssertionError(f"{what}: shape {tuple(got.shape)}, torch {tuple(want.shape)}")
    got, want = got.detach().double(), want.detach().double()
    verdicts = [_half_verdict(got, want, t.detach().double().to(got.device), dtype, scale)
                for t in truths]
    if all(verdicts):
        raise AssertionError(f"{what}: {str(dtype)[6:]}: " + " | ".join(dict.fromkeys(verdicts)))


# gradcheck / gradgradcheck: central differences with step h = 1e-6 on float64 inputs of order
# 1 are off by h^2 |f'''| / 6 + eps |f| / h, about 1e-10; rtol 1e-5 and atol 1e-8 leave room for
# that, yet fail a derivative 1e-4 relative off (gradcheck's default rtol of 1e-3 passes a
# sigmoid backward scaled by 0.999).
GRADCHECK = {"eps": 1e-6, "atol": 1e-8, "rtol": 1e-5}


def gradcheck(fn: Callable, inputs, what: str, *, second: bool = True) -> bool:
    """gradcheck (and gradgradcheck, with ``second``) of ``fn`` at :data:`GRADCHECK`'s
    tolerances; raises ``AssertionError`` naming ``what``."""
    for name, check in (("gradcheck", torch.autograd.gradcheck),
                        ("gradgradcheck", torch.autograd.gradgradcheck))[:2 if second else 1]:
        try:
            check(fn, inputs, **GRADCHECK)
        except RuntimeError as exc:  # keep the first line: which input and output entry
            raise AssertionError(
                f"{what}: {name} failed: {str(exc).splitlines()[0]}") from None
    return True


def draw(shape, domain=(-4.0, 4.0), kinks=(), dtype=torch.float32, device="cpu", *,
         seed: int = 0, away_from_kinks: bool = False) -> torch.Tensor:
    """Uniform samples from ``domain``, drawn in float64 from a seeded generator (so every dtype
    gets the same values, up to its rounding); the first elements are the ``kinks`` themselves,
    or, with ``away_from_kinks``, every sample is pushed at least 0.05 away from them (for
    finite differences)."""
    g = torch.Generator().manual_seed(seed)
    lo, hi = domain
    x = torch.rand(shape, generator=g, dtype=torch.float64) * (hi - lo) + lo
    if away_from_kinks:
        for k in kinks:
            x = torch.where((x - k).abs() < 0.05, x + 0.1 * torch.sign(x - k + 1e-12), x)
    elif kinks and x.numel():
        flat = x.reshape(-1)
        n = min(len(kinks), flat.numel())
        flat[:n] = torch.tensor(kinks[:n], dtype=torch.float64)
        x = flat.reshape(shape)
    return x.to(device=device, dtype=dtype)


def saved_bytes(fn: Callable, x: torch.Tensor) -> int:
    """Bytes autograd keeps for backward when ``fn(x)`` runs (saved_tensors_hooks)."""
    total = 0

    def pack(t):
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(x)
    return total


def default_devices() -> list[str]:
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def run(
    kinds: Iterable[str] | None = None,
    devices: Iterable[str] | None = None,
    names: Iterable[str] | None = None,
) -> list[Row]:
    """Verify every registered component of ``kinds`` (only those called ``names``, by name or
    alias, if given) on ``devices``; never raises per row."""
    kinds = list(kinds or registry.KINDS)
    devices = list(devices or default_devices())
    wanted = set(names) if names else None
    rows: list[Row] = []
    for kind in kinds:
        specs = [s for s in registry.KINDS[kind].values()
                 if wanted is None or not wanted.isdisjoint((s.name, *s.aliases))]
        if not specs:
            continue
        if kind not in VERIFIERS:
            rows += [Row(kind, s.name, "-", "-", ok=False, message="no verifier for this kind")
                     for s in specs]
            continue
        module = importlib.import_module(VERIFIERS[kind])
        for device in devices:
            for s in specs:
                try:
                    rows += module.verify(s, device)
                except Exception as exc:  # one broken component must not hide the others
                    row = Row(kind, s.name, "-", device)
                    row.fail(exc)
                    rows.append(row)
    return rows


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "ok" if v else "FAIL"
    if isinstance(v, float):
        return f"{v:.1e}"
    return str(v)


def format_table(rows: list[Row]) -> str:
    """Markdown table of ``rows``."""
    head = ("kind", "name", "case", "device", "max fwd err", "max grad err", "gradcheck",
            "saved bytes (ref / torch)", "status")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        saved = "-" if r.saved_ref is None else f"{r.saved_ref} / {_fmt(r.saved_base)}"
        status = "ok" if r.ok else f"FAIL {r.message}"
        cells = (r.kind, r.name, r.case, r.device, _fmt(r.fwd_err), _fmt(r.grad_err),
                 _fmt(r.gradcheck), saved, status)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def register(spec: registry.Spec, cases) -> registry.Spec:
    """Register a user's own component and the cases that verify it, in one call.

    ``cases`` is the cases dataclass of ``spec.kind`` (``ActivationCases`` for an activation,
    ...; see :mod:`nnref.verify.cases`). Afterwards ``run(names=[spec.name])`` and
    ``python -m nnref verify --name <name>`` check it as they check a built-in one. The
    registry itself only learns what the component is (:func:`nnref.registry.register`); the
    cases stay here, so the core never holds or imports test data.

    Raises:
        TypeError: for cases of the wrong kind; ValueError: for a name or alias already taken.
    """
    expected = _cases.case_type(spec.kind)
    if not isinstance(cases, expected):
        raise TypeError(f"cases for {spec.kind} {spec.name!r} must be a {expected.__name__}, "
                        f"got {type(cases).__name__}")
    registry.register(spec)
    _cases.add(spec, cases)
    return spec
