"""Benchmark section ``losses``: eager forward+backward time of every loss, and the fill time
of every initializer, as a ratio of reference to torch built-in (or, where torch has none, the
composition of built-ins the tests use as the oracle).

Losses run on (N, C) = (65536, 100) inputs (cross-entropy's N and C; the elementwise losses
see the same number of elements); initializers fill a 4096 x 4096 weight. ``--quick`` uses
N = 8192 and a 1024 x 1024 weight. Bars: a loss takes at most 1.5 times as long as its
built-in, an initializer at most 1.2 times.
"""

from __future__ import annotations

import torch

from nnref import registry
from nnref.bench._harness import Table, measure, ratio, verdict
from nnref.verify import cases
from nnref.verify.losses import make_inputs

LOSS_BAR, INIT_BAR = 1.5, 1.2


def _loss_step(module, x, t):
    def step():
        torch.autograd.grad(module(x, t), x)
    return step


def _row(t: Table, labels, times, bar) -> None:
    cell = ratio(*times)
    t.add(*labels, min(times[0]) * 1e3, min(times[1]) * 1e3, cell, verdict(cell, bar))


def run(args) -> list[Table]:
    device = args.device
    n, classes = (8192, 100) if args.quick else (65536, 100)
    side = 1024 if args.quick else 4096
    min_run = 0.03 if args.quick else 0.3
    head = ["component", "case", "shape", "reference ms", "torch ms", "ratio", "bar"]
    t = Table("Losses and initializers", head)
    loss_cases = {"cross_entropy": ({}, {"label_smoothing": 0.1},
                                    {"_target": "probability"})}
    for spec in registry.LOSSES.values():
        for case in loss_cases.get(spec.name, ({},)):
            kwargs = {**case, "_shape": (n, classes)}
            x, y = make_inputs(spec, kwargs, torch.float32, device)
            x.requires_grad_(True)
            ctor = {k: v for k, v in case.items() if not k.startswith("_")}
            ref = spec.reference(**ctor)
            base = spec.builtin(**ctor) if spec.builtin else cases.of(spec).oracle(**ctor)
            times = measure([_loss_step(module, x, y) for module in (ref, base)], device,
                            min_run, args.reps)
            label = ",".join(f"{k.lstrip('_')}={v}" for k, v in case.items()) or "default"
            _row(t, (spec.name, label, f"{n}x{classes}"), times, LOSS_BAR)
    w = torch.empty(side, side, device=device)
    for spec in registry.INITIALIZERS.values():
        kwargs = dict(cases.of(spec).kwargs[0])
        random = cases.of(spec).law != "constant"
        fills = []
        for fn in (spec.reference, spec.builtin or cases.of(spec).oracle):
            if random:
                g = torch.Generator(device=device).manual_seed(0)
                fills.append(lambda fn=fn, g=g, kw=kwargs: fn(w, **kw, generator=g))
            else:
                fills.append(lambda fn=fn, kw=kwargs: fn(w, **kw))
        times = measure(fills, device, min_run, args.reps)
        label = ",".join(f"{k}={v}" for k, v in kwargs.items()) or "default"
        _row(t, (spec.name, label, f"{side}x{side}"), times, INIT_BAR)
    t.note = (
        f"Losses: forward + backward (gradient of the loss with respect to the input); "
        f"initializers: one fill. Eager, float32 on {device}. Times: fastest of {args.reps} "
        "alternating repetitions (torch.utils.benchmark); ratio: median (min–max) of the "
        "per-repetition ratios. torch.compile is covered by the tests, not timed here.")
    return [t]
