"""Benchmark section: forward+backward time of every registered activation against its torch
built-in (or, where torch has none, the autograd composition of built-ins in the oracle), eager
and under ``torch.compile``, on a 4M-element float32 tensor."""

from __future__ import annotations

import statistics

import torch
from torch.utils import benchmark

from nnref import registry
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


def _time(step, min_run_time) -> float:
    step()  # warm-up (and compilation)
    t = benchmark.Timer(stmt="step()", globals={"step": step}).blocked_autorange(
        min_run_time=min_run_time)
    return t.median


def _compiled(fn):
    torch._dynamo.reset()
    return torch.compile(fn, dynamic=False)


def run(args) -> str:
    shape = QUICK_SHAPE if args.quick else SHAPE
    min_run = 0.2 if args.quick else 0.5
    rows, eager_ratios, compiled_ratios, both_compiled = [], [], [], []
    for spec in registry.ACTIVATIONS.values():
        kwargs = {k: v for k, v in cases.of(spec).kwargs[0].items() if k != "inplace"}
        pair = build_pair(spec, kwargs, torch.float32, args.device)
        x = make_input(spec, shape, torch.float32, args.device).requires_grad_(True)
        g = torch.randn_like(x)
        t_ref = _time(_fwd_bwd(pair.ref, x, g), min_run)
        t_base = _time(_fwd_bwd(pair.base, x, g), min_run)
        row = [spec.name, "oracle" if pair.oracle else "torch", f"{t_ref * 1e3:.2f}",
               f"{t_base * 1e3:.2f}", f"{t_ref / t_base:.2f}"]
        if not pair.oracle:
            eager_ratios.append(t_ref / t_base)
        if not args.no_compile:
            t_comp, t_comp_base = (_time(_fwd_bwd(_compiled(fn), x, g), min_run)
                                   for fn in (pair.ref, pair.base))
            row += [f"{t_comp * 1e3:.2f}", f"{t_comp / t_base:.2f}", f"{t_comp / t_comp_base:.2f}"]
            if not pair.oracle:
                compiled_ratios.append(t_comp / t_base)
                both_compiled.append(t_comp / t_comp_base)
        rows.append(row)
    head = ["activation", "baseline", "reference ms", "baseline ms", "eager ratio"]
    if not args.no_compile:
        head += ["compiled ref ms", "compiled ref / eager baseline",
                 "compiled ref / compiled baseline"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines.append("")
    lines.append(f"Shape {shape} float32 on {args.device}, forward + backward, median of "
                 "torch.utils.benchmark blocked_autorange. Ratios > 1: the reference is slower. "
                 "Baseline 'oracle': no torch built-in; the autograd composition of built-ins.")
    if eager_ratios:
        lines.append(f"Against torch built-ins: median eager ratio "
                     f"{statistics.median(eager_ratios):.2f}, worst {max(eager_ratios):.2f}"
                     + (f"; compiled reference / eager built-in: median "
                        f"{statistics.median(compiled_ratios):.2f}, worst "
                        f"{max(compiled_ratios):.2f}; compiled reference / compiled built-in: "
                        f"median {statistics.median(both_compiled):.2f}, worst "
                        f"{max(both_compiled):.2f}" if compiled_ratios else "") + ".")
    return "\n".join(lines)
