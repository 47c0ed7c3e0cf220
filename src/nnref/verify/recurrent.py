r"""Checks for the recurrent cells and layers against ``torch.nn.RNN/LSTM/GRU`` and their cells;
each raises ``AssertionError`` on a mismatch and returns the largest forward and gradient errors.

A check builds torch's module from a seed, loads its state dict into the reference (strictly),
runs both on the same input and initial state, and compares every output (the sequence output
and each final state) and the gradients of one scalar made from all of them with respect to
the input, every initial state and every parameter. With ``dropout`` in training both draw
their masks from the same seed.

Tolerances: float32 is held to ``torch.testing.assert_close``'s defaults. float64 to
:data:`nnref.verify.ULPS64` ulps of each value plus :data:`ULPS_THROUGH_TIME` ulps of the
largest magnitude of the result times :math:`\sqrt{L N}`: nnref's tanh and sigmoid differ from
torch's by an ulp here and there; through time those differences pass through every later step
and the :math:`L N` per-step terms of a weight gradient (of both signs: the sum may be far
smaller than its terms) add up like a random walk. Measured: at most 5.3 ulps of the largest
magnitude over 200 steps, 32 units, 1 to 2 layers, and 15 ulps for a weight gradient that
cancels 12 terms down to 1e-3 of their size; a wrong gate or derivative is off by 1e6 ulps (a
forget gate scaled by 1 + 1e-9) to 1e13 (the paper's GRU).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping

import torch

from nnref.registry import Spec
from nnref.verify import ULPS64, Row, case_label, cases, gradcheck, max_abs_diff

ULPS_THROUGH_TIME = 8
EPS64 = torch.finfo(torch.float64).eps
SEED = 0


def _is_lstm(module) -> bool:
    return type(module).__name__.startswith("LSTM")


def _tolerance(want: torch.Tensor, terms: int) -> dict:
    if want.dtype != torch.float64:
        return {}
    big = float(want.detach().abs().max()) if want.numel() else 0.0
    return {"rtol": ULPS64 * EPS64,
            "atol": ULPS_THROUGH_TIME * math.sqrt(terms) * EPS64 * big}


def build_pair(spec: Spec, kwargs: Mapping, dtype=torch.float32, device="cpu", seed: int = SEED):
    """(reference, built-in) with the built-in's parameters, drawn from ``seed``, loaded into the
    reference strictly; torch loads the reference's back (strictly) on the way."""
    kwargs = {**spec.defaults, **kwargs}
    torch.manual_seed(seed)
    base = spec.builtin(**kwargs).to(device=device, dtype=dtype)
    ref = spec.reference(**kwargs).to(device=device, dtype=dtype)
    ref.load_state_dict(base.state_dict(), strict=True)
    spec.builtin(**kwargs).to(device=device, dtype=dtype).load_state_dict(ref.state_dict(),
                                                                          strict=True)
    return ref, base


def make_inputs(module, seq_len: int, batch: int | None, with_state: bool,
                dtype=torch.float32, device="cpu", seed: int = 1):
    """Input and initial state (``None``, a tensor, or LSTM's pair) for ``module``, standard
    normal from a seeded generator; ``batch=None`` for unbatched input."""
    g = torch.Generator().manual_seed(seed)

    def normal(*shape):
        shape = tuple(s for s in shape if s is not None)
        return torch.randn(shape, generator=g, dtype=torch.float64).to(device=device,
                                                                         dtype=dtype)

    cell = not hasattr(module, "num_layers")
    if cell:
        x = normal(batch, module.input_size)
        h_shape = [(batch, module.hidden_size)]
    else:
        lead = (batch, seq_len) if module.batch_first else (seq_len, batch)
        x = normal(*lead, module.input_size)
        stack = module.num_layers * (2 if module.bidirectional else 1)
        h_shape = [(stack, batch, module.proj_size or module.hidden_size)]
    if _is_lstm(module):
        h_shape.append(h_shape[0][:-1] + (module.hidden_size,))
    if not with_state:
        return x, None
    states = tuple(normal(*s) for s in h_shape)
    return x, states if _is_lstm(module) else states[0]


def _leaves(tree):
    if tree is None:
        return None
    if isinstance(tree, tuple):
        return tuple(t.detach().clone().requires_grad_(True) for t in tree)
    return tree.detach().clone().requires_grad_(True)


def _flat(tree) -> list[torch.Tensor]:
    if tree is None:
        return []
    if isinstance(tree, (tuple, list)):
        return [t for item in tree for t in _flat(item)]
    return [tree]


def run(module, x, hx, upstream_seed: int = 2, dropout_seed: int | None = None):
    """Outputs (flattened) and the gradients of ``sum(out_k * u_k)`` (fixed random ``u_k``)
    with respect to the input, the initial states and every parameter, in that order."""
    xl, hl = _leaves(x), _leaves(hx)
    if dropout_seed is not None:
        torch.manual_seed(dropout_seed)
    outs = _flat(module(xl, hl))
    g = torch.Generator().manual_seed(upstream_seed)
    ups = [torch.randn(o.shape, generator=g, dtype=torch.float64).to(o) for o in outs]
    loss = sum((o * u).sum() for o, u in zip(outs, ups, strict=True))
    inputs = [xl, *_flat(hl), *module.parameters()]
    grads = torch.autograd.grad(loss, inputs)
    return [o.detach() for o in outs], list(grads)


def _names(module, hx) -> list[str]:
    return ["input", *[f"hx[{i}]" for i in range(len(_flat(hx)))],
            *[n for n, _ in module.named_parameters()]]


def compare(what: str, got, want, names=None, terms: int = 1) -> tuple[float, float]:
    """``got`` = (outputs, gradients) of the reference against torch's ``want``, from ``terms``
    = sequence length times batch size steps."""
    (o1, g1), (o2, g2) = got, want
    assert len(o1) == len(o2), f"{what}: {len(o1)} outputs, torch {len(o2)}"
    for i, (a, b) in enumerate(zip(o1, o2, strict=True)):
        torch.testing.assert_close(a, b, **_tolerance(b, terms),
                                   msg=lambda m, i=i: f"{what} output {i}: {m}")
    names = names or [str(i) for i in range(len(g2))]
    for n, a, b in zip(names, g1, g2, strict=True):
        torch.testing.assert_close(a, b, **_tolerance(b, terms),
                                   msg=lambda m, n=n: f"{what} gradient of {n}: {m}")
    return (max(max_abs_diff(a, b) for a, b in zip(o1, o2, strict=True)),
            max(max_abs_diff(a, b) for a, b in zip(g1, g2, strict=True)))


def check_parity(spec: Spec, kwargs: Mapping, dtype=torch.float32, device="cpu", *,
                 batched: bool = True, with_state: bool = True, training: bool = True,
                 seq_len: int | None = None) -> tuple[float, float]:
    """Outputs, final states and all gradients equal torch's (see the module's tolerances)."""
    c = cases.of(spec)
    ref, base = build_pair(spec, kwargs, dtype, device)
    ref.train(training)
    base.train(training)
    x, hx = make_inputs(base, seq_len or c.seq_len, c.batch if batched else None, with_state,
                        dtype, device)
    seed = 7 if training and getattr(base, "dropout", 0) else None
    what = (f"{spec.name}({case_label(kwargs)}) {str(dtype)[6:]} "
            f"{'batched' if batched else 'unbatched'}{' with hx' if with_state else ''}"
            f"{'' if training else ' eval'}")
    terms = (1 if c.cell else seq_len or c.seq_len) * (c.batch if batched else 1)
    return compare(what, run(ref, x, hx, dropout_seed=seed), run(base, x, hx, dropout_seed=seed),
                   _names(base, hx), terms)


def check_accuracy(spec: Spec, kwargs: Mapping, device="cpu", seq_len: int | None = None,
                   seeds: int = 2) -> float:
    """float32 over a long sequence against a float64 evaluation of torch: the reference is at
    least as accurate as torch's float32 kernel (within twice its error, floor 1e-6 of the
    result's magnitude). Over hundreds of steps two float32 evaluations in different orders
    differ by more than assert_close's defaults whoever is right, so the float64 truth judges.
    Returns the reference's largest error relative to each result's largest magnitude."""
    c = cases.of(spec)
    worst = 0.0
    for seed in range(seeds):
        truth_mod = build_pair(spec, kwargs, torch.float64, device, seed=seed)[1]
        ref, base = build_pair(spec, kwargs, torch.float32, device, seed=seed)
        for m in (truth_mod, ref, base):
            m.eval()
        x, hx = make_inputs(truth_mod, seq_len or c.long_len, c.batch, True, torch.float64,
                            device, seed=10 + seed)
        truth = run(truth_mod, x, hx)
        x32 = x.float()
        hx32 = tuple(h.float() for h in hx) if isinstance(hx, tuple) else hx.float()
        got, theirs = run(ref, x32, hx32), run(base, x32, hx32)
        names = ["output"] * len(truth[0]) + _names(base, hx)
        for n, t, a, b in zip(names, truth[0] + truth[1], got[0] + got[1],
                              theirs[0] + theirs[1], strict=True):
            big = float(t.abs().max())
            mine, torchs = max_abs_diff(a, t), max_abs_diff(b, t)
            assert mine <= max(2 * torchs, 1e-6 * big), (
                f"{spec.name}({case_label(kwargs)}) {n}: float32 error {mine:.2e} against "
                f"float64, torch's {torchs:.2e}")
            worst = max(worst, mine / big if big else 0.0)
    return worst


def check_gradcheck(spec: Spec, kwargs: Mapping, device="cpu", second: bool = False) -> bool:
    """gradcheck (and gradgradcheck with ``second``: a minute for a stacked bidirectional
    LSTM) at :data:`nnref.verify.GRADCHECK`'s tolerances in float64 with respect to the input,
    the initial states and every parameter, on a small instance."""
    small = {**kwargs, "input_size": 2, "hidden_size": 3}
    if small.get("proj_size"):
        small["proj_size"] = 2
    small.pop("dropout", None)  # a random mask differs between the evaluations
    ref, _ = build_pair(spec, small, torch.float64, device)
    x, hx = make_inputs(ref, 3, 2, True, torch.float64, device)
    names = [n for n, _ in ref.named_parameters()]
    n_states = len(_flat(hx))

    def fn(x, *rest):
        states, params = rest[:n_states], rest[n_states:]
        hx_ = tuple(states) if n_states == 2 else states[0]
        out = torch.func.functional_call(ref, dict(zip(names, params, strict=True)), (x, hx_))
        return tuple(_flat(out))

    inputs = (x.requires_grad_(True), *(s.requires_grad_(True) for s in _flat(hx)),
              *(p.detach().clone().requires_grad_(True) for p in ref.parameters()))
    return gradcheck(fn, inputs, f"{spec.name}({case_label(small)})", second=second)


def bad_inputs(spec: Spec, kwargs: Mapping, dtype=torch.float32, device="cpu") -> dict:
    """``what -> (input, hx)`` that torch refuses: a wrong input size, a wrong hidden-state
    shape (batch, features, stack), wrong ranks, a wrong dtype."""
    _, base = build_pair(spec, kwargs, dtype, device)
    x, hx = make_inputs(base, 5, 3, True, dtype, device)
    cell = not hasattr(base, "num_layers")

    def grow(t, dim):
        shape = list(t.shape)
        shape[dim] += 1
        return torch.zeros(shape, dtype=t.dtype, device=t.device)

    def each(fn):
        return tuple(fn(h) for h in hx) if isinstance(hx, tuple) else fn(hx)

    feature = -1
    out = {
        "input_size": (grow(x, -1), hx),
        "hidden features": (x, each(lambda h: grow(h, feature))),
        "hidden batch": (x, each(lambda h: grow(h, 0 if cell else 1))),
        "input rank": (x.unsqueeze(0), hx),
        "hidden rank": (x, each(lambda h: h.unsqueeze(0))),
        "unbatched input, batched hidden": (x[0], hx),
    }
    if not cell:
        out["hidden stack"] = (x, each(lambda h: grow(h, 0)))
        out["dtype"] = (x.double() if dtype != torch.float64 else x.float(), None)
        out["empty sequence"] = (x[:0] if not base.batch_first else x[:, :0], None)
    if isinstance(hx, tuple):
        out["cell state features"] = (x, (hx[0], grow(hx[1], -1)))
    return out


def check_errors(spec: Spec, kwargs: Mapping, device="cpu") -> int:
    """Every bad input is refused with torch's exception type and message (which name the
    argument: ``input_size``, ``hidden_size``, ``hx``...); returns how many were checked."""
    ref, base = build_pair(spec, kwargs, torch.float32, device)
    count = 0
    for what, (x, hx) in bad_inputs(spec, kwargs, torch.float32, device).items():
        try:
            base(x, hx)
        except Exception as exc:  # torch's own verdict is the yardstick
            want = exc
        else:
            raise AssertionError(f"{spec.name} {what}: torch accepts it; not a bad input")
        try:
            ref(x, hx)
        except Exception as got:
            assert type(got) is type(want) and str(got) == str(want), (
                f"{spec.name} {what}: nnref raises {type(got).__name__}: {got}; torch "
                f"{type(want).__name__}: {want}")
        else:
            raise AssertionError(f"{spec.name} {what}: nnref accepts it; torch raises "
                                 f"{type(want).__name__}: {want}")
        count += 1
    return count


def check_invalid(spec: Spec) -> int:
    """Each invalid constructor argument set is refused with the case's exception type, and
    with torch's type and message wherever torch refuses it at construction too."""
    count = 0
    for kwargs, exc in cases.of(spec).invalid:
        try:
            spec.reference(**kwargs)
        except exc as got:
            try:
                spec.builtin(**kwargs)
            except Exception as want:
                assert type(got) is type(want) and str(got) == str(want), (
                    f"{spec.name}({case_label(kwargs)}): nnref {type(got).__name__}: {got}; "
                    f"torch {type(want).__name__}: {want}")
        else:
            raise AssertionError(f"{spec.name}({case_label(kwargs)}) was accepted")
        count += 1
    return count


def check_signature(spec: Spec) -> None:
    """Constructor arguments in torch's order with torch's defaults (its typed overload for the
    layers)."""
    import typing

    init = next(iter(typing.get_overloads(spec.builtin.__init__)), spec.builtin.__init__)
    want = [(n, p.default) for n, p in inspect.signature(init).parameters.items()]
    got = [(n, p.default) for n, p in inspect.signature(spec.reference.__init__).parameters.items()]
    assert got == want, f"{spec.name}: {got} vs torch {want}"


def verify(spec: Spec, device: str) -> list[Row]:
    """One row per case: float32/float64 parity batched and unbatched, with and without an
    initial state, in training and eval; float32 accuracy over a long sequence; gradcheck (and
    gradgradcheck for the first case); bad inputs and invalid arguments as torch."""
    rows = []
    first = cases.of(spec).kwargs[0]
    for kwargs in cases.of(spec).kwargs:
        row = Row(spec.kind, spec.name, case_label(kwargs), device)
        try:
            errs = [check_parity(spec, kwargs, dtype, device, batched=b, with_state=s,
                                 training=t)
                    for dtype in (torch.float32, torch.float64) for b in (True, False)
                    for s in (True, False) for t in (True, False)]
            row.fwd_err = max(e[0] for e in errs)
            row.grad_err = max(e[1] for e in errs)
            if not cases.of(spec).cell:
                check_accuracy(spec, kwargs, device, seeds=1)
            row.gradcheck = check_gradcheck(spec, kwargs, device, second=kwargs is first)
            check_errors(spec, kwargs, device)
        except Exception as exc:
            row.fail(exc)
        rows.append(row)
    try:
        check_signature(spec)
        check_invalid(spec)
    except Exception as exc:
        row = Row(spec.kind, spec.name, "arguments", device)
        row.fail(exc)
        rows.append(row)
    return rows
