r"""The proof nnref gives its own components, for anyone's autograd Function, Module or Optimizer.

:func:`check_function`, :func:`check_module` and :func:`check_optimizer` run the battery of
:mod:`nnref.verify` — the same comparisons, ulp rules and helpers — against a reference (torch's
built-in, or any trusted callable evaluated in the tested dtype) or an oracle (an independent
formula, taken as the exact value in float64):

* ``forward`` and ``backward`` in every dtype: float64 within
  :data:`nnref.verify.ULPS64` ulps, float32 at ``assert_close``'s defaults, float16/bfloat16 no
  farther from the exact value than the reference's own half result plus half an ulp, without
  bias (:func:`nnref.verify.half_accurate`);
* ``double_backward`` against the reference's, ``gradcheck`` (and gradgradcheck) in float64;
* ``layouts`` (non-contiguous, expanded, broadcast, 0-d, empty), ``kinks`` and ``extremes``
  (±1e4, ±0, ±inf, NaN);
* ``differentiability`` (which outputs require grad), ``mutation`` (inputs, outputs and
  upstream gradients left as they were), ``determinism``, ``vmap`` with the input or the upstream
  gradient batched, ``compile`` (``torch.compile(fullgraph=True)``: no graph break), and
  ``saved_bytes`` (no more saved for backward than the reference);
* modules add ``signature`` (constructor parameters, order and defaults) and ``state_dict``;
* optimizers: ``signature``, ``no_grad_param``, ``lockstep`` (single-tensor and
  ``lockstep_foreach``), ``state_dict`` (moved each way mid-run), ``scheduler`` and ``closure``,
  bit-identical unless a tolerance is stated.

A failure raises one :class:`CheckFailure` (an ``AssertionError``) naming, for each failed check,
the property, the dtype, the input sample, the element and its error in ulps. The
``*_checks`` forms return the checks one by one, for :func:`parametrize` (one pytest test per
property and dtype) and the ``pytest --nnref-check`` option of :mod:`nnref.testing_plugin`.
:func:`registry_checks` gives nnref's own components' checks the same way, from the registry
and their cases; nnref's parity tests are generated from it.

Example:
    >>> import torch
    >>> import torch.nn.functional as F
    >>> from nnref import testing
    >>> def gelu_tanh(x):
    ...     return 0.5 * x * (1 + torch.tanh(0.7978845608028654 * (x + 0.044715 * x**3)))
    >>> testing.check_function(gelu_tanh, reference=lambda x: F.gelu(x, approximate="tanh"),
    ...                        properties=["forward", "gradcheck"], dtypes=[torch.float64])
    >>> testing.check_function(lambda x: 1.001 * torch.sin(x), reference=torch.sin,
    ...                        properties=["forward"], dtypes=[torch.float64])
    Traceback (most recent call last):
    ...
    nnref.testing.CheckFailure: 1 of 1 checks failed:
    forward [float64] sample float64[3, 6, 5]: output 0: ... elements differ, worst at (...): ...
"""

from __future__ import annotations

import copy
import importlib
import inspect
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.func import functional_call

from nnref._tensor import LOW_PRECISION
from nnref.verify import (
    draw,
    float64_tolerance,
    gradcheck,
    half_accurate,
    half_ulp,
    saved_bytes,
    saved_in,
)
from nnref.verify.activations import FINITE_EXTREMES
from nnref.verify.torchdb import (
    _as_list,
    _grad_outputs,
    _grads,
    _lockstep,
    _params,
    _set_grads,
)

DTYPES = (torch.float64, torch.float32, torch.float16, torch.bfloat16)
FUNCTION_PROPERTIES = ("forward", "backward", "double_backward", "gradcheck", "layouts", "kinks",
                       "extremes", "differentiability", "mutation", "determinism", "vmap",
                       "compile", "saved_bytes")
MODULE_PROPERTIES = ("signature", "state_dict", *FUNCTION_PROPERTIES)
OPTIMIZER_PROPERTIES = ("signature", "no_grad_param", "lockstep", "lockstep_foreach",
                        "state_dict", "scheduler", "closure")
# Checked in every dtype asked for; layouts, kinks and extremes in float32 and float64 only
# (a half result of an extreme is judged by the same rule as any other); the rest once.
PER_DTYPE = ("forward", "backward")
PER_FULL_DTYPE = ("layouts", "kinks", "extremes")
FULL = (torch.float32, torch.float64)
# Generated samples (OpInfo-style): a small 3-d tensor and one with enough elements for the
# bias part of the half rule (nnref.verify.HALF_BIAS_MIN); per arity, the shapes of each input.
SHAPES = {1: (((3, 6, 5),), ((48, 64),)), 2: (((3, 6, 5), (3, 6, 5)), ((48, 64), (48, 64)))}
EXTRA_LAYOUTS = {1: {"0-d": ((),), "empty": ((0,),), "empty 3-d": ((2, 0, 3),)},
                 2: {"broadcast": ((3, 6, 5), (6, 5)), "broadcast both": ((3, 1, 5), (1, 6, 1)),
                     "0-d with 3-d": ((), (3, 6, 5)), "empty": ((0, 5), (0, 5))}}
SAVED_SHAPE = (256, 256)


# ---------------------------------------------------------------------------------------------
# Samples and failures
# ---------------------------------------------------------------------------------------------
def _is_float(t) -> bool:
    return isinstance(t, torch.Tensor) and t.is_floating_point()


def _copy(t: torch.Tensor, dtype: torch.dtype, leaf: bool = False) -> torch.Tensor:
    """``t`` in ``dtype`` with the same strides (``Tensor.to`` makes non-dense ones
    contiguous), detached, a leaf requiring grad with ``leaf``."""
    if any(st == 0 and n > 1 for st, n in zip(t.stride(), t.shape, strict=True)):
        base = t.detach()
        for d, st in enumerate(t.stride()):
            base = base.narrow(d, 0, 1) if st == 0 else base
        return _copy(base, dtype, leaf).expand(t.shape)
    c = torch.empty_strided(t.shape, t.stride(), dtype=dtype, device=t.device)
    c.copy_(t.detach())
    return c.requires_grad_(True) if leaf else c


@dataclass(frozen=True)
class Sample:
    """One call ``fn(*args, **kwargs)``: the floating tensors in ``args`` are the
    differentiable inputs; ``label`` says how the sample was made."""

    args: tuple
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""

    def map(self, f: Callable[[torch.Tensor], torch.Tensor], first_only: bool = False) -> Sample:
        """``f`` applied to the floating tensors of ``args`` (the first one only)."""
        done, out = False, []
        for a in self.args:
            take = _is_float(a) and not (first_only and done)
            out.append(f(a) if take else a)
            done = done or take
        return Sample(tuple(out), self.kwargs, self.label)

    def to(self, dtype: torch.dtype) -> Sample:
        """The sample in ``dtype``, every tensor keeping its layout."""
        cast = self.map(lambda t: _copy(t, dtype))
        kw = {k: v.to(dtype) if _is_float(v) else v for k, v in self.kwargs.items()}
        return Sample(cast.args, kw, self.label)

    def leaves(self) -> Sample:
        """Fresh leaves requiring grad, with the same values and layout (an expanded tensor
        is an expanded view of a leaf)."""
        return self.map(lambda t: _copy(t, t.dtype, leaf=True))

    def inputs(self) -> list[torch.Tensor]:
        return [a for a in self.args if _is_float(a)]

    def call(self, fn: Callable) -> list[torch.Tensor]:
        return _as_list(fn(*self.args, **self.kwargs))

    def __str__(self) -> str:
        def one(a):
            if isinstance(a, torch.Tensor):
                return (f"{str(a.dtype)[6:]}{list(a.shape)}"
                        + ("" if a.is_contiguous() else " non-contiguous")
                        + (" expanded" if 0 in a.stride() and a.numel() > 1 else ""))
            return repr(a)
        parts = [one(a) for a in self.args] + [f"{k}={one(v)}" for k, v in self.kwargs.items()]
        return (f"{self.label}: " if self.label else "") + ", ".join(parts)


@dataclass(frozen=True)
class Failure:
    """One failed check: its property, dtype (``None`` when it has none) and what failed."""

    property: str
    dtype: torch.dtype | None
    message: str

    def __str__(self) -> str:
        dtype = f" [{str(self.dtype)[6:]}]" if self.dtype is not None else ""
        return f"{self.property}{dtype} {self.message}"


class CheckFailure(AssertionError):
    """Checks that failed; ``failures`` lists them, the message has one line each."""

    def __init__(self, failures: Sequence[Failure], total: int):
        self.failures = list(failures)
        super().__init__(f"{len(self.failures)} of {total} checks failed:\n"
                         + "\n".join(str(f) for f in self.failures))

    @property
    def properties(self) -> set[str]:
        """The properties that failed."""
        return {f.property for f in self.failures}


@dataclass
class Check:
    """One property in one dtype (or none), on ``device``: call it to run it."""

    property: str
    dtype: torch.dtype | None
    run: Callable[[], None]
    label: str = ""
    device: str = "cpu"

    @property
    def id(self) -> str:
        parts = [self.property] + ([str(self.dtype)[6:]] if self.dtype is not None else [])
        return "-".join(parts + ([self.label] if self.label else []))

    def failure(self) -> Failure | None:
        """``None`` if the check holds, else what failed (any exception counts)."""
        try:
            self.run()
        except Exception as exc:
            text = str(exc) if isinstance(exc, AssertionError) else \
                f"raises {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            return Failure(self.property, self.dtype, (f"{self.label}: " if self.label else "")
                           + text)
        return None

    def __call__(self) -> None:
        if (f := self.failure()) is not None:
            raise CheckFailure([f], 1)


def run_checks(checks: Iterable[Check]) -> None:
    """Run every check; raise one :class:`CheckFailure` listing all that failed."""
    checks = list(checks)
    failures = [f for c in checks if (f := c.failure()) is not None]
    if failures:
        raise CheckFailure(failures, len(checks))


def parametrize(checks: Iterable[Check], marks: Callable[[Check], Sequence] | None = None):
    """``pytest.mark.parametrize("check", ...)``: one test per check, named by property and
    dtype (``marks(check)``: the pytest marks of each, e.g. a skip on a missing device); the
    test body calls ``check()``::

        @testing.parametrize(testing.function_checks(MyGelu.apply, reference=F.gelu))
        def test_my_gelu(check):
            check()
    """
    import pytest

    return pytest.mark.parametrize("check", [pytest.param(c, id=c.id,
                                                          marks=marks(c) if marks else ())
                                             for c in checks])


# ---------------------------------------------------------------------------------------------
# Comparisons: the element and its error in ulps
# ---------------------------------------------------------------------------------------------
def _tolerances(want: torch.Tensor, scale) -> tuple[float, float]:
    if want.dtype == torch.float64:
        t = float64_tolerance(want, scale)
        return t["rtol"], t["atol"]
    return torch.testing._comparison.default_tolerances(want)


def differs(got: torch.Tensor, want: torch.Tensor, *, scale: torch.Tensor | None = None,
            terms: int = 1, rtol: float | None = None, atol: float | None = None) -> str:
    """Empty when ``got`` equals ``want`` (NaN equal to NaN) within ``rtol``/``atol`` — by
    default nnref's rule for the dtype (:func:`nnref.verify.tolerance`; ``scale``: the size of
    the terms the result may cancel from; ``terms``: how many terms each element sums, whose
    rounding errors in two summation orders add up like a random walk, so the tolerance grows
    by their square root) — else the count, the worst element, its values and its error in
    ulps of the dtype."""
    if got.shape != want.shape or got.dtype != want.dtype:
        return f"{got.dtype}{list(got.shape)}, expected {want.dtype}{list(want.shape)}"
    if rtol is None or atol is None:
        rtol, atol = (t * math.sqrt(max(terms, 1)) for t in _tolerances(want, scale))
    g, w = got.detach().cpu().double(), want.detach().cpu().double()
    ok = (g == w) | (g.isnan() & w.isnan()) | ((g - w).abs() <= atol + rtol * w.abs())
    if bool(ok.all()):
        return ""
    dtype = got.dtype if got.is_floating_point() else torch.float64
    ulps = ((g - w).abs() / half_ulp(w.nan_to_num(0.0, 0.0, 0.0), dtype)).nan_to_num(math.inf)
    worst = int(ulps.masked_fill(ok, -1.0).reshape(-1).argmax())
    where = tuple(int(i) for i in torch.unravel_index(torch.tensor(worst), g.shape))
    return (f"{int((~ok).sum())} of {ok.numel()} elements differ, worst at {where}: got "
            f"{float(g.reshape(-1)[worst]):.17g}, expected {float(w.reshape(-1)[worst]):.17g},"
            f" error {float(ulps.reshape(-1)[worst]):.3g} ulps (rtol {rtol:.2g}, atol "
            f"{atol:.2g})")


def _assert_each(got, want, labels, terms=None, **tol) -> None:
    if len(got) != len(want):
        raise AssertionError(f"{len(got)} results, the reference {len(want)}")
    for i, (label, a, b) in enumerate(zip(labels, got, want, strict=True)):
        if msg := differs(a, b, terms=terms[i] if terms else 1, **tol):
            raise AssertionError(f"{label}: {msg}")


def _cancel_scale(outs, ups) -> float:
    """The terms a gradient may cancel from: the upstream gradient times the output."""
    def largest(ts):
        return max((float(t.detach().abs().nan_to_num(0, 0, 0).max()) for t in ts
                    if t.is_floating_point() and t.numel()), default=0.0)
    return largest(ups) * max(1.0, largest(outs))


# ---------------------------------------------------------------------------------------------
# Functions
# ---------------------------------------------------------------------------------------------
def _forward(fn, sample: Sample) -> list[torch.Tensor]:
    return [o.detach() for o in sample.leaves().call(fn)]


def _backward(fn, sample: Sample, order: int = 1) -> list[torch.Tensor]:
    s = sample.leaves()
    grads = _grads(s.call(fn), s.inputs(), create_graph=order > 1)
    if order > 1:
        grads = _grads(grads, s.inputs())
    return [g.detach() for g in grads]


def _labels(sample: Sample, what: str, n: int) -> list[str]:
    """Names of the ``n`` results of ``what`` on ``sample``."""
    positions = [i for i, a in enumerate(sample.args) if _is_float(a)]
    if what == "forward":
        return [f"output {i}" for i in range(n)]
    return [f"{'second-order ' if what == 'double' else ''}gradient of argument {i}"
            for i in positions]


@dataclass
class _Against:
    """The function under test and what it is compared with."""

    fn: Callable
    base: Callable
    oracle: bool

    def compare(self, sample: Sample, what: str, keep=None) -> None:
        """``what`` ("forward", "backward" or "double") of ``fn`` against ``base`` on
        ``sample``; ``keep(sample, i)`` masks the elements of result ``i`` compared."""
        dtype = sample.inputs()[0].dtype
        run = _forward if what == "forward" else \
            (lambda f, s: _backward(f, s, 2 if what == "double" else 1))
        s64 = sample.to(torch.float64)
        outs64 = _forward(self.base, s64)
        scale = None if what == "forward" else torch.tensor(
            _cancel_scale(outs64, _grad_outputs([o for o in outs64 if o.is_floating_point()])))
        got = run(self.fn, sample)
        same_dtype = dtype == torch.float64 or (dtype not in LOW_PRECISION and not self.oracle)
        want = run(self.base, sample) if same_dtype else run(self.base, s64)
        if len(got) != len(want):
            raise AssertionError(f"{len(got)} results, the reference {len(want)}")
        if not same_dtype:
            exact = want
            want = [t.to(g.dtype) for t, g in zip(exact, got, strict=True)]
        labels = _labels(sample, what, len(got))
        # a gradient of an input smaller than the outputs (a weight) sums over the difference
        size = sum(o.numel() for o in outs64)
        terms = None if what == "forward" else [size // max(t.numel(), 1)
                                                for t in sample.inputs()]
        if keep is not None:
            got = [g[keep(sample, i)] for i, g in enumerate(got)]
            want = [w[keep(sample, i)] for i, w in enumerate(want)]
        if dtype not in LOW_PRECISION:
            return _assert_each(got, want, labels, terms, scale=scale)
        truths = [[t] for t in exact]
        if what == "backward" and not self.oracle:
            with saved_in(dtype):
                truths = [[t, r] for t, r in zip(exact, run(self.base, s64), strict=True)]
        for label, g, w, ts in zip(labels, got, want, truths, strict=True):
            if g.dtype in LOW_PRECISION:
                half_accurate(g, w, ts, label, scale=float(scale) if scale is not None else 0.0)
            elif msg := differs(g, w):
                raise AssertionError(f"{label}: {msg}")

    def each(self, samples: Iterable[Sample], what: Sequence[str], keep=None) -> None:
        for s in samples:
            for w in what:
                try:
                    self.compare(s, w, keep)
                except AssertionError as exc:
                    raise AssertionError(f"sample {s}: {exc}") from None


def _sample_of(item, domain) -> Sample:
    """A user's sample: a :class:`Sample`, a tensor, a shape (a tuple of ints: drawn from
    ``domain``) or a tuple of those (the positional arguments), in float64."""
    sample = item if isinstance(item, Sample) else Sample(
        (item,) if isinstance(item, torch.Tensor) or (
            isinstance(item, tuple) and item and all(isinstance(i, int) for i in item))
        else tuple(item))
    args = tuple(draw(a, domain, dtype=torch.float64, seed=i)
                 if isinstance(a, tuple) else a for i, a in enumerate(sample.args))
    return Sample(args, sample.kwargs, sample.label).to(torch.float64)


def _non_contiguous(t: torch.Tensor) -> torch.Tensor:
    return torch.empty((*t.shape, 2), dtype=t.dtype, device=t.device).select(-1, 0).copy_(t)


def _expanded(t: torch.Tensor) -> torch.Tensor:
    return t[:1].expand_as(t) if t.dim() and t.shape[0] > 1 else t


def _with_values(values, first_only=True):
    def put(t):
        v = torch.tensor(values, dtype=torch.float64)
        return v[torch.arange(t.numel()) % len(values)].reshape(t.shape).to(t)
    return lambda s: s.map(put, first_only=first_only)


def _with_kinks(kinks):
    def put(t):
        flat = t.detach().clone().reshape(-1)
        n = min(len(kinks), flat.numel())
        flat[:n] = torch.tensor(kinks[:n], dtype=t.dtype)
        return flat.reshape(t.shape)
    return lambda s: s.map(put, first_only=True)


def _plan(names, all_names, skip) -> list[str]:
    names = list(all_names if names is None else names)
    unknown = [n for n in [*names, *skip] if n not in all_names]
    if unknown:
        raise ValueError(f"unknown properties {unknown}; valid: {', '.join(all_names)}")
    return [n for n in names if n not in skip]


def function_checks(
    fn: Callable,
    *,
    reference: Callable | None = None,
    oracle: Callable | None = None,
    sample_inputs: Iterable | Callable[[], Iterable] | None = None,
    kwargs: Mapping[str, Any] | None = None,
    arity: int = 1,
    kinks: Sequence[float] = (),
    domain: tuple[float, float] = (-4.0, 4.0),
    dtypes: Sequence[torch.dtype] = DTYPES,
    properties: Sequence[str] | None = None,
    skip: Sequence[str] = (),
    compile_backend: str = "aot_eager",
    saved_allowance: int = 0,
    _all: Sequence[str] = FUNCTION_PROPERTIES,
) -> list[Check]:
    """The checks :func:`check_function` runs, one per property and dtype (see there)."""
    if (reference is None) == (oracle is None):
        raise ValueError("give exactly one of reference= (compared in the tested dtype) and "
                         "oracle= (an independent formula, exact in float64)")
    against = _Against(fn, reference if oracle is None else oracle, oracle is not None)
    kw = dict(kwargs or {})
    if sample_inputs is None:
        if arity not in SHAPES:
            raise ValueError(f"arity must be one of {sorted(SHAPES)} without sample_inputs, "
                             f"got {arity}")

        def make(shapes, seed, label):
            return Sample(tuple(draw(s, domain, dtype=torch.float64, seed=seed + i)
                                for i, s in enumerate(shapes)), kw, label)
        standard = [make(sh, 2 * i, "") for i, sh in enumerate(SHAPES[arity])]
        extra = [make(sh, 10, label) for label, sh in EXTRA_LAYOUTS[arity].items()]
        big = make((SAVED_SHAPE,) * arity, 20, "")
    else:
        items = sample_inputs() if callable(sample_inputs) else sample_inputs
        standard = [_sample_of(i, domain) for i in items]
        standard = [Sample(s.args, {**kw, **s.kwargs}, s.label) for s in standard]
        if not standard:
            raise ValueError("sample_inputs gave no samples")
        extra = []
        big = max(standard, key=lambda s: sum(t.numel() for t in s.inputs()))
    layouts = [Sample(s.map(_non_contiguous).args, s.kwargs, "non-contiguous")
               for s in standard[:1]]
    layouts += [Sample(s.map(_expanded, first_only=True).args, s.kwargs, "expanded")
                for s in standard[:1] if s.inputs()[0].dim() and s.inputs()[0].shape[0] > 1]
    layouts += extra
    grad_sample = Sample(standard[0].map(
        lambda t: draw(t.shape, domain, kinks, torch.float64, seed=7, away_from_kinks=True)
        if t.numel() <= 256 else t[tuple(slice(0, 2) for _ in t.shape)].clone(),
        first_only=True).args, standard[0].kwargs)
    full = [d for d in dtypes if d in FULL] or [torch.float64]

    def in_dtype(samples, dtype):
        return [s.to(dtype) for s in samples]

    def extremes(dtype):
        base = standard[0].to(dtype)
        against.each([_with_values(FINITE_EXTREMES)(base)], ["forward", "backward"])
        for inf in (-math.inf, math.inf):
            s = _with_values(FINITE_EXTREMES + (inf,))(base)
            against.each([Sample(s.args, s.kwargs, f"{inf} input")], ["forward", "backward"])
        s = _with_values((math.nan, -1.0, 0.0, 1.0))(base)
        s = Sample(s.args, s.kwargs, "NaN input")
        against.each([s], ["forward"])
        # the gradient at a NaN entry is no yardstick (torch's own depends on the position)
        first = next(i for i, a in enumerate(s.args) if _is_float(a))
        against.each([s], ["backward"], keep=lambda smp, i: ~smp.args[first].isnan()
                     if i == 0 else slice(None))

    def differentiability():
        s = standard[0].to(full[0]).leaves()
        mine = [o.requires_grad for o in s.call(fn)]
        theirs = [o.requires_grad for o in standard[0].to(full[0]).leaves().call(against.base)]
        if mine != theirs:
            raise AssertionError(
                f"sample {standard[0]}: outputs requiring grad {mine}, the reference's {theirs}"
                " (an output without a derivative needs ctx.mark_non_differentiable)")

    def mutation():
        s = standard[0].to(full[0]).leaves()
        before = [t.detach().clone() for t in s.inputs()]
        outs = [o for o in s.call(fn) if o.requires_grad]
        outs_before = [o.detach().clone() for o in outs]
        ups = _grad_outputs(outs)
        ups_before = [u.clone() for u in ups]
        if outs:
            torch.autograd.grad(outs, s.inputs(), ups, allow_unused=True)
        for what, now, then in (("argument", s.inputs(), before), ("output", outs, outs_before),
                                ("upstream gradient", ups, ups_before)):
            for i, (a, b) in enumerate(zip(now, then, strict=True)):
                if msg := differs(a.detach(), b, rtol=0.0, atol=0.0):
                    raise AssertionError(f"sample {standard[0]}: {what} {i} changed in place by "
                                         f"forward or backward: {msg}")

    def determinism():
        s = standard[0].to(full[0])
        first = _forward(fn, s) + _backward(fn, s)
        again = _forward(fn, s) + _backward(fn, s)
        _assert_each(again, first, [f"result {i}" for i in range(len(first))], rtol=0.0,
                     atol=0.0)

    def fixed(sample):
        """(function of the first floating argument, that argument)."""
        pos = next(i for i, a in enumerate(sample.args) if _is_float(a))
        rest = list(sample.args)

        def f(v):
            args = rest[:pos] + [v] + rest[pos + 1:]
            return _as_list(fn(*args, **sample.kwargs))[0]
        return f, sample.args[pos]

    def vmap():
        s = standard[0].to(torch.float64)
        f, x = fixed(s)
        xb = torch.stack([x, x.flip(0) if x.dim() else -x])
        _assert_each([torch.func.vmap(f)(xb)], [torch.stack([f(v) for v in xb])],
                     ["vmap of the forward, input batched"])
        up = _grad_outputs([f(x)])[0]
        g = torch.func.grad(lambda v: (f(v) * up).sum())
        _assert_each([torch.func.vmap(g)(xb)], [torch.stack([g(v) for v in xb])],
                     ["vmap of the gradient, input batched"])
        _, vjp = torch.func.vjp(f, x)
        ub = torch.stack([up, 2 * up])
        _assert_each([torch.func.vmap(vjp)(ub)[0]], [torch.stack([vjp(u)[0] for u in ub])],
                     ["vmap of the backward, upstream gradient batched"])

    def compiled():
        s = standard[0].to(torch.float32)
        torch._dynamo.reset()
        cfn = torch.compile(fn, backend=compile_backend, fullgraph=True, dynamic=False)
        for what, run in (("forward", _forward), ("backward", _backward)):
            got, want = run(cfn, s), run(fn, s)
            _assert_each(got, want, [f"compiled {label}" for label in
                                     _labels(s, what, len(got))])

    def saved():
        s = big.to(torch.float32)
        mine = saved_bytes(lambda _: s.leaves().call(fn), None)
        theirs = saved_bytes(lambda _: s.leaves().call(against.base), None)
        if mine > theirs + saved_allowance:
            raise AssertionError(f"sample {s}: saves {mine} bytes for backward, the reference "
                                 f"{theirs} (allowance {saved_allowance})")

    def grad_check():
        f, _ = fixed(grad_sample)
        pos = [i for i, a in enumerate(grad_sample.args) if _is_float(a)]

        def g(*ts):
            args = list(grad_sample.args)
            for i, t in zip(pos, ts, strict=True):
                args[i] = t
            return fn(*args, **grad_sample.kwargs)
        gradcheck(g, [t.detach().clone().requires_grad_(True) for t in grad_sample.inputs()],
                  f"sample {grad_sample}")

    checks = []
    for prop in _plan(properties, _all, skip):
        if prop in PER_DTYPE:
            for d in dtypes:
                checks.append(Check(prop, d, lambda p=prop, d=d: against.each(
                    in_dtype(standard, d), [p])))
        elif prop in PER_FULL_DTYPE:
            if prop == "kinks" and not kinks:
                continue
            for d in full:
                run = {
                    "layouts": lambda d=d: against.each(in_dtype(layouts, d),
                                                        ["forward", "backward"]),
                    "kinks": lambda d=d: against.each(
                        [Sample(_with_kinks(kinks)(s).args, s.kwargs, "kinks")
                         for s in in_dtype(standard, d)], ["forward", "backward"]),
                    "extremes": lambda d=d: extremes(d),
                }[prop]
                checks.append(Check(prop, d, run))
        else:
            run = {
                "double_backward": lambda: against.each([grad_sample], ["double"]),
                "gradcheck": grad_check, "differentiability": differentiability,
                "mutation": mutation, "determinism": determinism, "vmap": vmap,
                "compile": compiled, "saved_bytes": saved,
            }.get(prop)
            if run is not None:
                checks.append(Check(prop, None, run))
    return checks


def check_function(fn: Callable, **options) -> None:
    """Prove ``fn`` (a ``Function.apply``, a functional form, any callable of tensors) against
    ``reference=`` or ``oracle=``: every property of :data:`FUNCTION_PROPERTIES`.

    Args:
        fn: what is checked; returns a tensor or a tuple of tensors.
        reference: a trusted callable, compared in each tested dtype (torch's built-in).
        oracle: an independent formula, evaluated in float64 as the exact value.
        sample_inputs: samples (a :class:`Sample`, a tensor, a shape, or a tuple of them as the
            positional arguments), or a callable returning them; default: generated as torch's
            OpInfo does, ``arity`` inputs of several shapes, broadcast, 0-d and empty.
        kwargs: keyword arguments of every call (``dim=-1``).
        kinks: points where the derivative is a convention; compared exactly there.
        domain: interval inputs are drawn from.
        dtypes: the dtypes of ``forward`` and ``backward`` (float32/float64 of the rest).
        properties, skip: which properties to run (default all) or leave out.
        compile_backend: the ``torch.compile`` backend (``"inductor"`` to generate code).
        saved_allowance: bytes ``fn`` may save beyond the reference.

    Raises:
        CheckFailure: naming each failed property, dtype, sample, element and ulps.
    """
    run_checks(function_checks(fn, **options))


# ---------------------------------------------------------------------------------------------
# Modules
# ---------------------------------------------------------------------------------------------
def signature_differs(ours: Callable, theirs: Callable) -> str:
    """Empty when ``ours`` takes ``theirs``'s parameters first, in its order, with its names,
    kinds and defaults, and anything more keyword-only (a positional call means the same to
    both); else the first difference. Classes are compared by ``__init__``."""
    def params(f):
        sig = inspect.signature(f.__init__ if inspect.isclass(f) else f)
        return [p for p in sig.parameters.values() if p.name != "self"]
    mine, torchs = params(ours), params(theirs)
    for a, b in zip(mine, torchs, strict=False):
        if (a.name, a.kind, a.default) != (b.name, b.kind, b.default):
            return (f"parameter {a.name}={a.default!r} ({a.kind.description}), the "
                    f"reference's {b.name}={b.default!r} ({b.kind.description})")
    if len(mine) < len(torchs):
        return f"missing {[p.name for p in torchs[len(mine):]]}"
    extra = [p.name for p in mine[len(torchs):] if p.kind is not inspect.Parameter.KEYWORD_ONLY]
    return f"parameters {extra} beyond the reference's are not keyword-only" if extra else ""


def module_checks(module: Callable[..., torch.nn.Module], *, reference: Callable,
                  args: Sequence = (), kwargs: Mapping[str, Any] | None = None,
                  sample_inputs: Iterable | None = None, **options) -> list[Check]:
    """The checks :func:`check_module` runs (see there)."""
    kwargs = dict(kwargs or {})
    ref = module(*args, **kwargs)
    base = reference(*args, **kwargs)
    names = [n for n, _ in ref.named_parameters()]
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():  # parameters off their initial values, so every term shows
        for p in ref.parameters():
            p.add_(0.5 * torch.randn(p.shape, generator=g, dtype=torch.float64).to(p))
    copies: dict = {}

    def functional(m):
        def fn(*args):  # the forward's inputs, then the parameters
            inputs, ps = args[:len(args) - len(names)], args[len(args) - len(names):]
            key = (id(m), inputs[0].dtype)
            if key not in copies:
                copies[key] = copy.deepcopy(m).to(inputs[0].dtype)
            return functional_call(copies[key], dict(zip(names, ps, strict=True)), inputs)
        return fn

    params = tuple(p.detach().double() for p in ref.parameters())
    inputs = sample_inputs if sample_inputs is not None else [SHAPES[1][0][0]]
    samples = [Sample((*(s := _sample_of(item, options.get("domain", (-4.0, 4.0)))).args,
                       *params), s.kwargs, s.label) for item in inputs]

    def signature():
        if inspect.isclass(module) and inspect.isclass(reference):
            if msg := signature_differs(module, reference):
                raise AssertionError(f"constructor: {msg}")

    def state_dict():
        theirs = [n for n, _ in base.named_parameters()]
        if names != theirs:
            raise AssertionError(f"parameters {names}, the reference's {theirs}")
        base.load_state_dict(ref.state_dict())
        copy.deepcopy(ref).load_state_dict(base.state_dict())
        if ref.extra_repr() != base.extra_repr():
            raise AssertionError(f"extra_repr {ref.extra_repr()!r}, the reference's "
                                 f"{base.extra_repr()!r}")

    chosen = _plan(options.pop("properties", None), MODULE_PROPERTIES, options.pop("skip", ()))
    checks = [Check(p, None, {"signature": signature, "state_dict": state_dict}[p])
              for p in chosen if p in ("signature", "state_dict")]
    if names != [n for n, _ in base.named_parameters()]:  # nothing pairs the parameters
        return checks if "state_dict" in chosen else [*checks, Check("state_dict", None,
                                                                     state_dict)]
    base.load_state_dict(ref.state_dict())
    rest = [p for p in chosen if p not in ("signature", "state_dict")]
    if rest:
        checks += function_checks(functional(ref), reference=functional(base),
                                  sample_inputs=samples, properties=rest,
                                  _all=FUNCTION_PROPERTIES, **options)
    return checks


def check_module(module: Callable[..., torch.nn.Module], *, reference: Callable,
                 **options) -> None:
    """Prove the module built by ``module(*args, **kwargs)`` (a class or a factory) against
    ``reference(*args, **kwargs)`` (torch's class): its constructor's ``signature`` and
    ``state_dict`` (parameter names, loading both ways, ``extra_repr``), then every property of
    :func:`check_function` on its functional form ``(x, *parameters)``, so parameter gradients
    are checked too. Parameters are moved off their initial values first.

    Args:
        args, kwargs: constructor arguments.
        sample_inputs: the forward's inputs: each a tensor or a shape, or a tuple of them
            for a forward of several inputs (a recurrent cell's ``(input, hx)``).
        options: as :func:`check_function` (``dtypes``, ``kinks``, ``properties``, ...).

    Raises:
        CheckFailure: naming each failed property, dtype, sample, element and ulps.
    """
    run_checks(module_checks(module, reference=reference, **options))


# ---------------------------------------------------------------------------------------------
# Optimizers
# ---------------------------------------------------------------------------------------------
def _accepted(cls) -> Callable:
    """``cls`` called with only the keyword arguments its constructor takes (a plain-loop
    reference need not take ``foreach``)."""
    sig = inspect.signature(cls)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values()):
        return cls
    return lambda params, **kw: cls(params, **{k: v for k, v in kw.items()
                                                if k in sig.parameters})


def _config_label(config: Mapping) -> str:
    return ",".join(f"{k}={v}" for k, v in config.items()) or "defaults"


def optimizer_checks(cls: type[torch.optim.Optimizer], reference: Callable, configs:
                     Sequence[Mapping[str, Any]] = ({},), *, steps: int = 100,
                     dtypes: Sequence[torch.dtype] = (torch.float32,), rtol: float = 0.0,
                     atol: float = 0.0, properties: Sequence[str] | None = None,
                     skip: Sequence[str] = (), device: str = "cpu") -> list[Check]:
    """The checks :func:`check_optimizer` runs (see there)."""
    base = _accepted(reference)
    foreach = "foreach" in inspect.signature(cls).parameters

    def compare(a, b):
        return differs(a, b, rtol=rtol, atol=atol)

    def lockstep(config, dtype, **extra):
        if msg := _lockstep(cls, base, dict(config), dtype, device, differs=compare,
                            **{"steps": steps, **extra}):
            raise AssertionError(msg)

    def no_grad_param(config, dtype):
        params = _params(dtype, device)
        before = params[-1].detach().clone()
        opt = cls(params, **config)
        _set_grads(params, 0)
        opt.step()
        if msg := differs(params[-1].detach(), before, rtol=0.0, atol=0.0):
            raise AssertionError(f"a parameter without gradient moved: {msg}")

    def signature(config, dtype):
        if inspect.isclass(reference) and (msg := signature_differs(cls, reference)):
            raise AssertionError(f"constructor: {msg}")

    runs = {
        "no_grad_param": no_grad_param,
        "lockstep": lambda c, d: lockstep({**c, "foreach": False} if foreach else c, d),
        "lockstep_foreach": lambda c, d: lockstep({**c, "foreach": True}, d),
        "state_dict": lambda c, d: lockstep(c, d, swap_at=steps // 2),
        "scheduler": lambda c, d: lockstep(c, d, scheduler=lambda o: (
            torch.optim.lr_scheduler.StepLR(o, step_size=5, gamma=0.5))),
        "closure": lambda c, d: lockstep(c, d, steps=5, closure=True),
    }
    checks = []
    for prop in _plan(properties, OPTIMIZER_PROPERTIES, skip):
        if prop == "signature":
            checks.append(Check(prop, None, lambda: signature(None, None)))
            continue
        if prop == "lockstep_foreach" and not foreach:
            continue
        for d in dtypes:
            for c in configs:
                checks.append(Check(prop, d, lambda p=prop, c=c, d=d: runs[p](c, d),
                                    _config_label(c)))
    return checks


def check_optimizer(cls: type[torch.optim.Optimizer], reference: Callable,
                    configs: Sequence[Mapping[str, Any]] = ({},), **options) -> None:
    """Prove the optimizer ``cls`` against ``reference`` (torch's class, or a plain-loop
    formula) in lockstep: both step identical parameters (one of them never given a gradient)
    with identical gradients for ``steps`` steps, for each of ``configs``.

    Properties: the constructor's ``signature`` (when ``reference`` is a class), a parameter
    without gradient left alone (``no_grad_param``), ``lockstep`` (with ``foreach=False`` where
    ``cls`` takes it) and ``lockstep_foreach``, the ``state_dict`` compared and moved each way
    mid-run, an LR ``scheduler``, and ``step(closure)``.

    Args:
        steps: steps per run.
        dtypes: parameter dtypes.
        rtol, atol: the tolerance stated for the parameters and state (default bit-identical).
        properties, skip: which properties to run (default all) or leave out.

    Raises:
        CheckFailure: naming each failed property, dtype, configuration, step, parameter,
            element and its error in ulps.
    """
    run_checks(optimizer_checks(cls, reference, configs, **options))


# ---------------------------------------------------------------------------------------------
# By name, for the pytest plugin's --nnref-check
# ---------------------------------------------------------------------------------------------
def load(path: str) -> Any:
    """The object ``pkg.module:Name`` or ``pkg.module.Name`` (attributes may be dotted)."""
    module, sep, attr = path.partition(":")
    if not sep:
        parts = path.split(".")
        for i in range(len(parts) - 1, 0, -1):
            try:
                importlib.import_module(".".join(parts[:i]))
            except ImportError:
                continue
            module, attr = ".".join(parts[:i]), ".".join(parts[i:])
            break
        else:
            raise ValueError(f"cannot import {path!r}: give it as pkg.module:Name")
    obj = importlib.import_module(module)
    for name in attr.split("."):
        obj = getattr(obj, name)
    return obj


def checks_for(target: Any, against: Any) -> list[Check]:
    """The checks of ``target`` against ``against`` by what ``target`` is: an autograd
    Function (its ``apply``), an ``nn.Module`` class (built without arguments), an
    optimizer class (its defaults), or any callable."""
    if inspect.isclass(target) and issubclass(target, torch.autograd.Function):
        return function_checks(target.apply, reference=against)
    if inspect.isclass(target) and issubclass(target, torch.nn.Module):
        return module_checks(target, reference=against)
    if inspect.isclass(target) and issubclass(target, torch.optim.Optimizer):
        return optimizer_checks(target, against)
    if callable(target):
        return function_checks(target, reference=against)
    raise TypeError(f"cannot check {target!r}: not a Function, Module, Optimizer or callable")


# ---------------------------------------------------------------------------------------------
# nnref's own components: the registry and their cases feed the same checks
# ---------------------------------------------------------------------------------------------
REGISTRY_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


def _per_device(spec, kw, label, devices, prop, run, dtypes=(None,)) -> list[Check]:
    return [Check(prop, d, lambda d=d, device=device: run(spec, kw, d, device),
                  label + ("" if device == "cpu" else f"-{device}"), device)
            for device in devices for d in dtypes]


def _case_checks(spec, devices, V, once, extra, compile_kwargs) -> list[Check]:
    """Per keyword case of ``spec``: ``forward_backward`` in each dtype on each device,
    ``extra(kw, label)``, each of ``once`` (property, ``V``'s check of (spec, kw)), and
    ``compile`` (``V.check_compile``) for the first case."""
    from nnref.verify import cases

    out = []
    for i, kw in enumerate(cases.of(spec).kwargs):
        label = f"{spec.name}-{i}"
        out += _per_device(spec, kw, label, devices, "forward_backward", V.check_parity,
                           REGISTRY_DTYPES)
        out += extra(kw, label)
        out += [Check(prop, None, lambda run=run, kw=kw: run(spec, kw), label)
                for prop, run in once]
        if i == 0:
            out.append(Check("compile", None, lambda kw=kw: (
                torch._dynamo.reset(), V.check_compile(spec, kw, **compile_kwargs)), spec.name))
    return out


def _activation_checks(spec, devices) -> list[Check]:
    from nnref.verify import activations as V

    return _case_checks(
        spec, devices, V, (("layouts", V.check_layouts), ("gradcheck", V.check_gradcheck),
                           ("saved_bytes", V.check_saved_bytes), ("vmap", V.check_vmap)),
        lambda kw, label: [Check("extremes", d, lambda d=d: V.check_extremes(spec, kw, d),
                                 label) for d in FULL], {})


def _loss_checks(spec, devices) -> list[Check]:
    from nnref.verify import losses as V

    return _case_checks(
        spec, devices, V, (("gradcheck", V.check_gradcheck), ("saved_bytes", V.check_saved_bytes)),
        lambda kw, label: _per_device(spec, kw, label, devices, "empty",
                                      lambda spec, kw, _, device: V.check_empty(spec, kw, device)),
        {"backend": "aot_eager"})


OPTIM_LOCKSTEP_STEPS = 500
OPTIM_DEVICE_STEPS = 50
# (property, dtype, foreach): the single-tensor path in float32, the foreach path in float64
OPTIM_PATHS = (("lockstep", torch.float32, False), ("lockstep_foreach", torch.float64, True))


def _optim_checks(spec, devices) -> list[Check]:
    from nnref.verify import case_label, cases
    from nnref.verify import optim as V

    # every case at once, one param group (and one MLP) per case
    out = [Check(prop, d, lambda d=d, f=f: V.check_cases_grouped(
        spec, OPTIM_LOCKSTEP_STEPS, d, foreach=f), spec.name) for prop, d, f in OPTIM_PATHS]
    out += [Check(f"variant_{prop}", d, lambda d=d, f=f, kw=kw: V.check_case(
        spec, {**kw, "foreach": f}, OPTIM_LOCKSTEP_STEPS, d), f"{spec.name}-{case_label(kw)}")
        for kw in cases.of(spec).variants for prop, d, f in OPTIM_PATHS]
    # foreach=None: the loop on the CPU, the foreach kernels on CUDA
    out += _per_device(spec, {}, spec.name, devices, "lockstep_default_foreach",
                       lambda spec, kw, _, device: V.check_case(
                           spec, kw, OPTIM_DEVICE_STEPS, torch.float32, device))
    return out


# kind -> the checks of one registered component of that kind
REGISTRY_CHECKS = {"activation": _activation_checks, "loss": _loss_checks,
                   "optim": _optim_checks}


def registry_checks(kind: str, names: Iterable[str] | None = None,
                    devices: Sequence[str] = ("cpu",)) -> list[Check]:
    """nnref's own parity checks of every registered component of ``kind`` (the built-in ones
    and any added with :func:`nnref.verify.register`), one :class:`Check` per property, dtype
    and keyword case of :mod:`nnref.verify.cases`, run by the kind's verifier with the cases'
    oracles, limits and scalar cases; the test suite parametrizes them with
    :func:`parametrize`.

    Properties: activations ``forward_backward`` (each dtype and device), ``extremes``
    (float32, float64), ``layouts``, ``gradcheck``, ``saved_bytes``, ``vmap``, and
    ``compile`` (the first case of each component); losses ``forward_backward``, ``empty``
    (each device), ``gradcheck``, ``saved_bytes`` and ``compile``; optimizers every case in
    one 500-step lockstep run on each path (``lockstep``: single-tensor, float32;
    ``lockstep_foreach``: float64), each of the notes' variants on both
    (``variant_lockstep``, ``variant_lockstep_foreach``), and ``lockstep_default_foreach``
    on each device.

    Raises:
        ValueError: for a kind whose parity tests are not generated here yet (the other kinds'
            tests call their verifiers directly).
    """
    from nnref import registry

    if kind not in REGISTRY_CHECKS:
        raise ValueError(f"registry_checks covers the kinds {sorted(REGISTRY_CHECKS)}, got "
                         f"{kind!r}")
    wanted = set(names) if names is not None else None
    specs = [registry.spec(kind, n) for n in registry.names(kind)]
    return [c for spec in specs if wanted is None or not wanted.isdisjoint(
        (spec.name, *spec.aliases)) for c in REGISTRY_CHECKS[kind](spec, devices)]
