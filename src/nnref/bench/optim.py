"""Benchmark section ``optim``: ``step()`` time of every reference optimizer against its
``torch.optim`` counterpart, on the foreach path and on the single-tensor path.

The model is ~10M float32 parameters in 50 tensors (``--quick``: ~1M) with random gradients;
each optimizer runs with its registry defaults. LARS has no torch counterpart: it is timed
against torch's SGD with the same momentum (the trust ratio's two norms per tensor are the
extra work), without a bar. Bars: a reference step takes at most 1.2 times as long as torch's
on the foreach path, at most 1.5 times on the single-tensor path. Unless ``--no-compile``, each
optimizer with a torch counterpart is also timed with ``step`` under ``torch.compile`` (foreach,
one graph on both sides), against torch's compiled step: bar 1.1.
"""

from __future__ import annotations

import torch

from nnref import registry
from nnref.bench._harness import Table, compile_fresh, measure, ratio, verdict

BARS = {True: 1.2, False: 1.5}  # foreach -> allowed reference / torch ratio
COMPILED_BAR = 1.1
TENSORS = 50


def _params(numel_each: int, device, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    rows = 500
    out = []
    for _ in range(TENSORS):
        p = torch.randn(rows, numel_each // rows, generator=g).to(device).requires_grad_(True)
        p.grad = torch.randn(p.shape, generator=g).to(device) * 1e-2
        out.append(p)
    return out


def _row(t: Table, labels, times, bar) -> dict:
    cell = ratio(*times)
    t.add(*labels, min(times[0]) * 1e3, min(times[1]) * 1e3, cell, verdict(cell, bar))
    return cell


def run(args) -> list[Table]:
    numel_each = 20_000 if args.quick else 200_000
    min_run = 0.03 if args.quick else 0.3
    template = _params(numel_each, args.device)

    def fresh():
        out = []
        for t in template:
            p = t.detach().clone().requires_grad_(True)
            p.grad = t.grad.clone()
            out.append(p)
        return out

    t = Table("Optimizers, step()", ["optimizer", "path", "reference ms", "torch ms", "ratio",
                                     "bar"])
    worst = {True: 0.0, False: 0.0, "compiled": 0.0}  # foreach, single-tensor, compiled
    for spec in registry.OPTIMIZERS.values():
        kwargs = dict(spec.defaults)
        if spec.builtin is not None:
            base_cls, base_kwargs, against = spec.builtin, kwargs, ""
        else:  # LARS: the SGD step it adds the trust ratio to
            base_cls, against = torch.optim.SGD, " (vs torch SGD momentum)"
            base_kwargs = {"lr": kwargs.get("lr", 1.0), "momentum": 0.9}
        for foreach in (True, False):
            # the warm-up step inside compare() creates the state: steady-state steps are timed
            opts = (spec.reference(fresh(), **kwargs, foreach=foreach),
                    base_cls(fresh(), **base_kwargs, foreach=foreach))
            times = measure([opt.step for opt in opts], args.device, min_run, args.reps)
            bar = BARS[foreach] if spec.builtin is not None else None
            path = "foreach" if foreach else "single-tensor"
            cell = _row(t, (f"{spec.name}{against}", path), times, bar)
            if bar is not None:
                worst[foreach] = max(worst[foreach], cell["ratio"])
        if spec.builtin is not None and not args.no_compile:
            opts = (spec.reference(fresh(), **kwargs, foreach=True),
                    base_cls(fresh(), **base_kwargs, foreach=True))
            steps = compile_fresh(*(opt.step for opt in opts))
            cell = _row(t, (spec.name, "foreach, compiled"),
                        measure(steps, args.device, min_run, args.reps), COMPILED_BAR)
            worst["compiled"] = max(worst["compiled"], cell["ratio"])
    total = TENSORS * numel_each
    t.note = (
        f"{total / 1e6:.0f}M float32 parameters in {TENSORS} tensors on {args.device}; step() "
        f"time, fastest of {args.reps} alternating repetitions (torch.utils.benchmark); ratio: "
        "median (min–max) of the per-repetition ratios. Worst median ratio: "
        f"foreach {worst[True]:.2f} (bar {BARS[True]}), single-tensor {worst[False]:.2f} "
        f"(bar {BARS[False]})"
        + ("." if args.no_compile else
           f", compiled {worst['compiled']:.2f} (bar {COMPILED_BAR}; step under torch.compile "
           f"on both sides)."))
    return [t]
