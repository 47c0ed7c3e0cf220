"""Benchmark section ``activations``: forward+backward time of every registered activation
against its torch built-in (or, where torch has none, the autograd composition of built-ins in
the oracle), eager and under ``torch.compile``, on a 4M-element float32 tensor."""

from __future__ import annotations

import statistics

import torch

from nnref import registry
from nnref.bench._harness import compare, compile_fresh, table
from nnref.verify import cases
from nnref.verify.activations import build_pair, make_input

SHAPE = (256, 6, 2731)  # 4.19M elements; 6 channels for the per-channel cases
QUICK_SHAPE = (64, 6, 683)


def _fwd_bwd(fn, x, g):
    def step():
        y = fn(x)
        if y.requires_grad:  # the step function's oracle (torch.heaviside) has no backward
            torch.autograd.grad(y, x, g)
    return step


def run(args) -> str:
    shape = QUICK_SHAPE if args.quick else SHAPE
    min_run, rounds = (0.2, 2) if args.quick else (0.5, 2)
    rows, eager_ratios, compiled_ratios, both_compiled = [], [], [], []
    for spec in registry.ACTIVATIONS.values():
        kwargs = {k: v for k, v in cases.of(spec).kwargs[0].items() if k != "inplace"}
        pair = build_pair(spec, kwargs, torch.float32, args.device)
        x = make_input(spec, shape, torch.float32, args.device).requires_grad_(True)
        g = torch.randn_like(x)
        fns = [pair.ref, pair.base]
        if not args.no_compile:
            fns += compile_fresh(pair.ref, pair.base)
        t_ref, t_base, *t_comp = compare([_fwd_bwd(fn, x, g) for fn in fns], args.device,
                                         min_run, rounds)
        row = [spec.name, "oracle" if pair.oracle else "torch", f"{t_ref * 1e3:.2f}",
               f"{t_base * 1e3:.2f}", f"{t_ref / t_base:.2f}"]
        if not pair.oracle:
            eager_ratios.append(t_ref / t_base)
        if t_comp:
            t_cref, t_cbase = t_comp
            row += [f"{t_cref * 1e3:.2f}", f"{t_cref / t_base:.2f}", f"{t_cref / t_cbase:.2f}"]
            if not pair.oracle:
                compiled_ratios.append(t_cref / t_base)
                both_compiled.append(t_cref / t_cbase)
        rows.append(row)
    head = ["activation", "baseline", "reference ms", "baseline ms", "eager ratio"]
    if not args.no_compile:
        head += ["compiled ref ms", "compiled ref / eager baseline",
                 "compiled ref / compiled baseline"]
    note = (f"Shape {shape} float32 on {args.device}, forward + backward, best of {rounds} "
            "alternating medians (torch.utils.benchmark). Ratios > 1: the reference is slower. "
            "Baseline 'oracle': no torch built-in; the autograd composition of built-ins.")
    if eager_ratios:
        note += (f"\nAgainst torch built-ins: median eager ratio "
                 f"{statistics.median(eager_ratios):.2f}, worst {max(eager_ratios):.2f}"
                 + (f"; compiled reference / eager built-in: median "
                    f"{statistics.median(compiled_ratios):.2f}, worst "
                    f"{max(compiled_ratios):.2f}; compiled reference / compiled built-in: "
                    f"median {statistics.median(both_compiled):.2f}, worst "
                    f"{max(both_compiled):.2f}" if compiled_ratios else "") + ".")
    return table(head, rows, note)
