"""Benchmark section ``activations``: forward+backward time of every registered activation
against its torch built-in (or, where torch has none, the autograd composition of built-ins in
the oracle), eager and under ``torch.compile``, on a 4M-element float32 tensor
(``--quick``: 262k).

Each row also gives the bytes the op must move (forward: read x, write y; backward: read the
upstream gradient and one saved tensor, write the input gradient: five tensors of x's size)
and the fraction of the copy bandwidth each side reaches; and the memory passes each side's
backward makes (:mod:`nnref.bench._passes`), which is what the eager ratio is made of.

Bars (issue 24): compiled, a component with a built-in takes at most 1.1x the faster of torch's
eager and compiled op; one without, at most 1.5x the time its bytes take at the copy bandwidth.
The eager per-op ratio has no bar (rule 1: a composition of elementary ops pays one pass per op).
"""

from __future__ import annotations

import torch

from nnref import registry
from nnref.bench._harness import (
    Table,
    compile_fresh,
    measure,
    ratio_cell,
    throughput,
    verdict,
)
from nnref.bench._passes import fwd_bwd_passes
from nnref.verify import cases
from nnref.verify.activations import build_pair, make_input

SHAPE = (256, 6, 2731)  # 4.19M elements; 6 channels for the per-channel cases
QUICK_SHAPE = (64, 6, 683)
COUNT_SHAPE = (4, 6, 16)  # pass counts do not depend on the size
TENSORS_MOVED = 5
COMPILED_BAR, LIMIT_BAR = 1.1, 1.5


def _fwd_bwd(fn, x, g):
    def step():
        y = fn(x)
        if y.requires_grad:  # the step function's oracle (torch.heaviside) has no backward
            torch.autograd.grad(y, x, g)
    return step


def backward_passes(spec, kwargs) -> tuple[str, str]:
    """``kernels/traffic`` of the backward of the reference and of its baseline."""
    pair = build_pair(spec, kwargs, torch.float32, "cpu")
    x = make_input(spec, COUNT_SHAPE).requires_grad_(True)
    out = []
    for fn in (pair.ref, pair.base):
        _, bwd = fwd_bwd_passes(fn, x)
        out.append(f"{bwd.kernels}/{bwd.traffic}")
    return out[0], out[1]


def _kwargs(spec) -> dict:
    return {k: v for k, v in cases.of(spec).kwargs[0].items() if k != "inplace"}


def run(args) -> list[Table]:
    shape = QUICK_SHAPE if args.quick else SHAPE
    min_run = 0.02 if args.quick else 0.1
    compiled = not args.no_compile
    head = ["activation", "baseline", "MB moved", "ref ms", "base ms", "ref / limit",
            "base / limit", "eager ratio", "bwd passes ref", "bwd passes base"]
    if compiled:
        head += ["compiled ref ms", "compiled base ms", "compiled ref / limit",
                 "faster base", "compiled ref / faster base", "bar"]
    t = Table("Activations, forward + backward", head)
    for spec in registry.ACTIVATIONS.values():
        kwargs = _kwargs(spec)
        pair = build_pair(spec, kwargs, torch.float32, args.device)
        x = make_input(spec, shape, torch.float32, args.device).requires_grad_(True)
        g = torch.randn_like(x)
        nbytes = TENSORS_MOVED * x.numel() * x.element_size()
        fns = [pair.ref, pair.base] + (compile_fresh(pair.ref, pair.base) if compiled else [])
        times = measure([_fwd_bwd(fn, x, g) for fn in fns], args.device, min_run, args.reps)
        fr = [throughput(nbytes, s, args.bandwidth) for s in times]
        row = [spec.name, "oracle" if pair.oracle else "torch", nbytes / 1e6,
               min(times[0]) * 1e3, min(times[1]) * 1e3, fr[0], fr[1],
               ratio_cell(times[0], times[1], fr[0], fr[1]), *backward_passes(spec, kwargs)]
        if compiled:
            # per repetition, whichever of torch's eager and compiled op was faster
            faster = [min(a, b) for a, b in zip(times[1], times[3], strict=True)]
            which = "compiled" if sum(times[3]) < sum(times[1]) else "eager"
            at_limit = [nbytes / args.bandwidth] * len(times[2])
            if pair.oracle:  # no built-in: judged against the bandwidth limit
                cell = ratio_cell(times[2], at_limit, fr[2])
                bar = "limit " + verdict(cell, LIMIT_BAR)
                which = "-"
            else:
                cell = ratio_cell(times[2], faster, fr[2], fr[1], fr[3])
                bar = verdict(cell, COMPILED_BAR)
            row += [min(times[2]) * 1e3, min(times[3]) * 1e3, fr[2], which, cell, bar]
        t.add(*row)
    t.note = (
        f"Shape {shape} float32 on {args.device}. Times: the fastest of {args.reps} alternating "
        "repetitions, each the median of a torch.utils.benchmark block. Ratios: median "
        f"(min–max) of the {args.reps} per-repetition ratios; > 1: the reference is slower. "
        f"'/ limit': the fraction of the copy bandwidth measured in this run that moving the "
        f"op's {TENSORS_MOVED} tensors (x, y, upstream gradient, saved tensor, input gradient) "
        "in the fastest repetition reaches; a row over 1 is flagged, not compared. Baseline "
        "'oracle': no torch built-in; the autograd composition of built-ins. 'bwd passes': "
        "kernels touching a full-size tensor / full-size tensors read + written, in backward "
        "(counted from the dispatched ops). Compiled: each side under torch.compile; the "
        "reference is compared with the faster of torch's eager and compiled op per "
        f"repetition (bar {COMPILED_BAR}x), or, without a built-in, with its bytes at the "
        f"copy bandwidth (bar {LIMIT_BAR}x the limit). A bar is 'ok' only if the whole "
        "interval is under it.")
    return [t]
