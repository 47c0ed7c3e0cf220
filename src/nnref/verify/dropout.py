"""Checks for the dropout family: each compares the reference with torch (or, for DropConnect
and classic dropout, with the composition of built-ins in its cases' ``oracle``) and raises
``AssertionError`` on a mismatch.

Randomness is made comparable, not avoided: on CPU the reference draws its masks exactly as
torch does, so with the same seed both drop the same units and the training outputs and
gradients must be equal. On other devices torch's fused kernel uses its own random stream;
there the training mode is checked against the formula with a mask drawn independently from the
same generator state, and against the binomial statistics of the mask.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping

import torch

from nnref.registry import Spec
from nnref.verify import Row, case_label, cases, gradcheck, max_abs_diff, saved_bytes, tolerance

SEED = 1234
# |kept - n q| may exceed this many binomial standard deviations with probability < 1e-6.
Z_BOUND = 5.0


def make_input(spec: Spec, dtype=torch.float32, device="cpu", seed: int = 0,
               shape: tuple[int, ...] | None = None) -> torch.Tensor:
    """Standard-normal input of the cases' shape, nudged away from 0 (so y / x is defined)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape or cases.of(spec).shape, generator=g, dtype=torch.float64)
    x = torch.where(x.abs() < 1e-3, x.sign() * 1e-3 + 1e-3, x)
    return x.to(device=device, dtype=dtype)


def run(module, x: torch.Tensor, seed: int | None, inplace: bool, upstream: torch.Tensor):
    """Output and gradients (input, then parameters) of ``sum(module(x) * upstream)``."""
    leaf = x.detach().clone().requires_grad_(True)
    if seed is not None:
        torch.manual_seed(seed)
    y = module(leaf.clone() if inplace else leaf)
    params = [p for p in module.parameters() if p.requires_grad]
    grads = torch.autograd.grad((y * upstream).sum(), [leaf, *params], allow_unused=True)
    return y.detach(), [g if g is not None else torch.zeros_like(t)
                        for g, t in zip(grads, [leaf, *params], strict=True)]


def _assert_same(what, got, want) -> tuple[float, float]:
    (y1, g1), (y2, g2) = got, want
    torch.testing.assert_close(y1, y2, equal_nan=True, **tolerance(y2),
                               msg=lambda m: f"{what} output: {m}")
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b, equal_nan=True, **tolerance(b),
                                   msg=lambda m: f"{what} gradient: {m}")
    return max_abs_diff(y1, y2), max(max_abs_diff(a, b) for a, b in zip(g1, g2, strict=True))


class _Oracle(torch.nn.Module):
    """Wraps an oracle function with the reference's parameters so grads are comparable."""

    def __init__(self, oracle, kwargs, ref, seed):
        super().__init__()
        self.oracle, self.kwargs, self.ref, self.seed = oracle, kwargs, ref, seed

    def forward(self, x):
        return self.oracle(self.ref, x, self.training, self.seed, self.kwargs)


def _comparison(spec: Spec, kwargs: Mapping, ref, dtype, device):
    """The built-in (state copied from ``ref``), or the oracle when torch has no counterpart."""
    if spec.builtin is not None and set(kwargs) <= _builtin_args(spec):
        base = spec.builtin(**kwargs).to(device=device, dtype=dtype)
        base.load_state_dict(ref.state_dict())
        return base, False
    oracle = cases.of(spec).oracle
    if oracle is None:
        raise AssertionError(f"{spec.name}: {case_label(kwargs)} has no torch built-in and no "
                             f"oracle to check against")
    return _Oracle(oracle, kwargs, ref, SEED), True


def _builtin_args(spec: Spec) -> set[str]:
    return set(inspect.signature(spec.builtin).parameters)


def check_parity(spec: Spec, kwargs: Mapping, dtype=torch.float32, device="cpu"
                 ) -> tuple[float, float]:
    """Eval equal to torch (or the oracle); in training, with the same seed, equal on CPU."""
    ref = spec.reference(**kwargs).to(device=device, dtype=dtype)
    base, oracle = _comparison(spec, kwargs, ref, dtype, device)
    inplace = bool(kwargs.get("inplace"))
    x = make_input(spec, dtype, device)
    up = make_input(spec, dtype, device, seed=1)
    if cases.of(spec).unit == "weight":  # a linear layer: the output has out_features
        up = torch.randn(x.shape[0], kwargs["out_features"], dtype=dtype, device=device,
                         generator=torch.Generator(device).manual_seed(1))
    errs = []
    for training in (False, True):
        ref.train(training)
        base.train(training)
        if training and not oracle and torch.device(device).type != "cpu":
            errs.append(check_training_formula(spec, kwargs, dtype, device))
            continue
        # the oracle draws its mask itself (seeded); the reference draws with the same seed
        got = run(ref, x, SEED, inplace, up)
        want = run(base, x, None if oracle else SEED, inplace, up)
        errs.append(_assert_same(f"{spec.name} ({'train' if training else 'eval'})", got, want))
    return max(e[0] for e in errs), max(e[1] for e in errs)


def expected_mask(spec: Spec, kwargs: Mapping, x: torch.Tensor, seed: int = SEED
                  ) -> torch.Tensor:
    """The keep mask a Bernoulli(1 - p) draw gives after ``torch.manual_seed(seed)``, drawn
    here as torch's dropout draws it (``bernoulli_`` on a tensor of the input's dtype, one
    value per unit), independently of the reference; broadcast to ``x``'s shape."""
    p = kwargs.get("p", 0.5)
    shape = list(x.shape)
    if cases.of(spec).unit == "channel":
        shape[2:] = [1] * (len(shape) - 2)
    torch.manual_seed(seed)
    keep = torch.empty(shape, dtype=x.dtype, device=x.device).bernoulli_(1 - p)
    return keep.bool().expand(x.shape)


def check_training_formula(spec: Spec, kwargs: Mapping, dtype=torch.float32, device="cpu"
                           ) -> tuple[float, float]:
    """Device-independent training check: y = m x s and dy/dx = m s, with the mask m drawn
    independently from the generator state the reference draws from. For 0 < p < 1 the mask
    must keep some units and drop others (an all-zero output is refused)."""
    p = kwargs.get("p", 0.5)
    ref = spec.reference(**kwargs).to(device=device, dtype=dtype).train()
    x = make_input(spec, dtype, device)
    up = torch.ones_like(x)
    y, (gx,) = run(ref, x, SEED, bool(kwargs.get("inplace")), up)
    kept = expected_mask(spec, kwargs, x)
    if 0 < p < 1:
        assert kept.any() and not kept.all(), f"{spec.name}: the test's mask is degenerate"
        assert (y != 0).any(), f"{spec.name}: p={p} gave an all-zero output"
    alpha = cases.of(spec).saturation
    if alpha is not None and p < 1:
        return _alpha_formula(x, y, gx, p, alpha, kept)
    scale = 0.0 if p == 1 else 1.0 if kwargs.get("mode") == "classic" else 1.0 / (1 - p)
    want = torch.where(kept, x * scale, torch.zeros_like(x))
    torch.testing.assert_close(y, want)
    torch.testing.assert_close(gx, kept.to(dtype) * scale)
    return max_abs_diff(y, want), max_abs_diff(gx, kept.to(dtype) * scale)


def _alpha_formula(x, y, gx, p, alpha, kept) -> tuple[float, float]:
    a = 1 / math.sqrt((1 - p) * (1 + p * alpha**2))
    dropped_value = a * alpha * (1 - p)
    dropped = ~kept
    want = torch.where(dropped, torch.full_like(x, dropped_value), a * x - a * alpha * p)
    torch.testing.assert_close(y, want)
    torch.testing.assert_close(gx, (~dropped).to(x.dtype) * a)
    return max_abs_diff(y, want), max_abs_diff(gx, (~dropped).to(x.dtype) * a)


def keep_fraction_bound(n: int, keep: float) -> float:
    """Largest |kept / n - keep| a correct Bernoulli(keep) mask of n units shows with
    probability about 1 - 1e-6 (normal approximation to the binomial, plus one unit)."""
    return (Z_BOUND * math.sqrt(n * keep * (1 - keep)) + 1) / n


def check_keep_fraction(spec: Spec, kwargs: Mapping, device="cpu", n_units: int = 200_000
                        ) -> float:
    """The fraction of units kept in training is within the binomial bound of 1 - p."""
    p = kwargs.get("p", 0.5)
    ref = spec.reference(**kwargs).to(device=device).train()
    c = cases.of(spec)
    shape = list(c.shape)
    per_unit = math.prod(shape[2:]) if c.unit == "channel" else 1
    shape[0] = max(1, n_units // (math.prod(shape[1:]) // per_unit))
    x = torch.ones(shape, device=device)
    y = ref(x)
    if c.saturation is not None:
        kept = (y - y.min()).abs() > 1e-6 if 0 < p < 1 else y != 0
    else:
        kept = y != 0
    if per_unit > 1:
        # a channel is kept or dropped as a whole
        kept = kept.reshape(shape[0], shape[1], -1)
        assert bool((kept.all(-1) | ~kept.any(-1)).all()), f"{spec.name}: partial channels"
        kept = kept[..., 0]
    frac = kept.double().mean().item()
    bound = keep_fraction_bound(kept.numel(), 1 - p)
    assert abs(frac - (1 - p)) <= bound, (
        f"{spec.name}: kept {frac:.4f} of units, expected {1 - p} +- {bound:.4f}")
    return abs(frac - (1 - p))


def check_gradcheck(spec: Spec, kwargs: Mapping, device="cpu") -> bool:
    """gradcheck and gradgradcheck (float64, :data:`nnref.verify.GRADCHECK`) in training, with
    the mask fixed by a seed."""
    kwargs = {k: v for k, v in kwargs.items() if k != "inplace"}
    ref = spec.reference(**kwargs).to(device=device, dtype=torch.float64).train()
    shape = cases.of(spec).shape
    x = make_input(spec, torch.float64, device, shape=(2, shape[1]) + (3,) * (len(shape) - 2))
    x.requires_grad_(True)
    params = [p for p in ref.parameters()]

    def fn(x, *ps):
        torch.manual_seed(SEED)
        return torch.func.functional_call(ref, dict(zip(dict(ref.named_parameters()), ps,
                                                        strict=True)), (x,))

    inputs = (x, *(p.detach().clone().requires_grad_(True) for p in params))
    return gradcheck(fn, inputs, f"{spec.name} {case_label(kwargs)}")


def check_saved_bytes(spec: Spec, kwargs: Mapping, device="cpu") -> tuple[int, int | None]:
    """Training saves a bool mask (<= 1 byte per element), and no more than torch."""
    kwargs = {k: v for k, v in kwargs.items() if k != "inplace"}
    x = make_input(spec, torch.float32, device, shape=(4096,) + tuple(cases.of(spec).shape[1:]))

    def call(module):
        def fn(t):
            return module(t.clone().requires_grad_(True))
        return fn

    ref = spec.reference(**kwargs).to(device).train()
    got = saved_bytes(call(ref), x)
    if cases.of(spec).unit == "weight":
        # the bool weight mask, plus what any linear layer keeps: the input (for dL/dW) and
        # the (masked) weight (for dL/dx)
        w = ref.weight
        limit = w.numel() + x.numel() * x.element_size() + w.numel() * w.element_size()
        assert got <= limit, f"{spec.name}: saves {got} bytes, more than mask + input"
        return got, None
    assert got <= x.numel(), f"{spec.name}: saves {got} bytes for {x.numel()} elements"
    if spec.builtin is None or not set(kwargs) <= _builtin_args(spec):
        return got, None
    base = saved_bytes(call(spec.builtin(**kwargs).to(device).train()), x)
    assert got <= base, f"{spec.name}: saves {got} bytes, torch {base}"
    return got, base


def verify(spec: Spec, device: str) -> list[Row]:
    """One row per case: eval and seeded-training parity (float32, float64), the keep
    fraction, gradcheck/gradgradcheck and saved bytes."""
    rows = []
    for kwargs in cases.of(spec).kwargs:
        row = Row(spec.kind, spec.name, case_label(kwargs), device)
        try:
            errs = [check_parity(spec, kwargs, dt, device)
                    for dt in (torch.float32, torch.float64)]
            row.fwd_err = max(e[0] for e in errs)
            row.grad_err = max(e[1] for e in errs)
            if cases.of(spec).unit != "weight":
                check_keep_fraction(spec, kwargs, device)
            row.gradcheck = check_gradcheck(spec, kwargs, device)
            row.saved_ref, row.saved_base = check_saved_bytes(spec, kwargs, device)
        except Exception as exc:
            row.fail(exc)
        rows.append(row)
    return rows
