"""Benchmark section ``normalization``: batch norm forward + backward of
``nnref.normalization.BatchNorm2d`` against ``torch.nn.BatchNorm2d``, eager and under
``torch.compile``, on (N, C, H, W) = (256, 256, 32, 32) float32 (``--quick``: (32, 64, 32, 32)).

Bars: eager, the reference takes at most 2 times as long as the built-in; compiled, at most
1.2 times the compiled built-in (and the compiled reference against the eager built-in).

The bytes batch norm must move: in training, forward reads x twice (statistics, then the
normalisation) and writes y; backward reads the upstream gradient and x twice (the two
reductions, then the input gradient) and writes the input gradient: eight tensors of x's size.
In eval mode the statistics are given: forward reads x and writes y, backward reads the
upstream gradient and writes the input gradient (the weight gradient needs x: one more read).
"""

from __future__ import annotations

import torch
from torch import nn

from nnref import normalization as N
from nnref.bench._harness import (
    Table,
    compile_fresh,
    fwd_bwd,
    measure,
    ratio_cell,
    throughput,
    verdict,
)

SHAPE, QUICK_SHAPE = (256, 256, 32, 32), (32, 64, 32, 32)
EAGER_BAR, COMPILED_BAR = 2.0, 1.2
TENSORS_MOVED = {"training": 8, "eval": 5}


def run(args) -> list[Table]:
    shape = QUICK_SHAPE if args.quick else SHAPE
    size = "x".join(map(str, shape))
    min_run = 0.05 if args.quick else 0.3
    x = torch.randn(shape, device=args.device).requires_grad_(True)
    g = torch.randn_like(x)
    ref = N.BatchNorm2d(shape[1]).to(args.device)
    base = nn.BatchNorm2d(shape[1]).to(args.device)
    t = Table("Batch norm, forward + backward",
              ["case", "shape", "MB moved", "reference ms", "torch ms", "ref / limit",
               "torch / limit", "ratio", "bar"])

    def add(label, mode, times, bar):
        nbytes = TENSORS_MOVED[mode] * x.numel() * x.element_size()
        fr = [throughput(nbytes, s, args.bandwidth) for s in times]
        cell = ratio_cell(*times, *fr)
        t.add(label, size, nbytes / 1e6, min(times[0]) * 1e3, min(times[1]) * 1e3, *fr, cell,
              verdict(cell, bar))

    eager_train = measure([fwd_bwd(m, x, g) for m in (ref, base)], args.device, min_run,
                          args.reps)
    add("eager (training)", "training", eager_train, EAGER_BAR)
    ref.eval()
    base.eval()
    add("eager (eval)", "eval", measure([fwd_bwd(m, x, g) for m in (ref, base)], args.device,
                                        min_run, args.reps), EAGER_BAR)
    ref.train()
    base.train()
    if not args.no_compile:
        cref, cbase, ebase = measure([fwd_bwd(m, x, g) for m in (*compile_fresh(ref, base),
                                                                  base)],
                                     args.device, min_run, args.reps)
        add("compiled (training)", "training", [cref, cbase], COMPILED_BAR)
        add("compiled ref vs torch eager", "training", [cref, ebase], COMPILED_BAR)
    t.note = (f"float32 on {args.device}. Times: fastest of {args.reps} alternating "
              "repetitions (torch.utils.benchmark); ratio: median (min–max) of the "
              "per-repetition ratios, > 1: the reference is slower. '/ limit': fraction of "
              "the copy bandwidth reached moving the tensors the module doc lists.")
    return [t]
