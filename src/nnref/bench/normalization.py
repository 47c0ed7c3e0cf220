"""Benchmark section ``normalization``: batch norm forward + backward of
``nnref.normalization.BatchNorm2d`` against ``torch.nn.BatchNorm2d``, eager and under
``torch.compile``, on (N, C, H, W) = (256, 256, 32, 32) float32 (``--quick``: (32, 64, 32, 32)).

Bars: eager, the reference takes at most 2 times as long as the built-in; compiled, at most
1.2 times the compiled built-in (and the compiled reference against the eager built-in).
"""

from __future__ import annotations

import torch
from torch import nn

from nnref import normalization as N
from nnref.bench._harness import compare, compile_fresh, fwd_bwd, ratio_row, table

SHAPE, QUICK_SHAPE = (256, 256, 32, 32), (32, 64, 32, 32)
EAGER_BAR, COMPILED_BAR = 2.0, 1.2


def run(args) -> str:
    shape = QUICK_SHAPE if args.quick else SHAPE
    size = "x".join(map(str, shape))
    min_run = 0.3 if args.quick else 1.0
    x = torch.randn(shape, device=args.device).requires_grad_(True)
    g = torch.randn_like(x)
    ref = N.BatchNorm2d(shape[1]).to(args.device)
    base = nn.BatchNorm2d(shape[1]).to(args.device)
    t_ref, t_base = compare([fwd_bwd(m, x, g) for m in (ref, base)], args.device, min_run)
    rows = [ratio_row(("eager (training)", size), t_ref, t_base, EAGER_BAR)]
    ref.eval()
    base.eval()
    rows.append(ratio_row(("eager (eval)", size),
                          *compare([fwd_bwd(m, x, g) for m in (ref, base)], args.device,
                                   min_run), EAGER_BAR))
    ref.train()
    base.train()
    if not args.no_compile:
        t_cref, t_cbase = compare([fwd_bwd(m, x, g) for m in compile_fresh(ref, base)],
                                  args.device, min_run)
        rows.append(ratio_row(("compiled (training)", size), t_cref, t_cbase, COMPILED_BAR))
        rows.append(ratio_row(("compiled ref vs torch eager", size), t_cref, t_base,
                              COMPILED_BAR))
    head = ["batch norm fwd+bwd", "shape", "reference ms", "torch ms", "ratio", "bar"]
    return table(head, rows, f"float32 on {args.device}; best of 3 alternating medians "
                 "(torch.utils.benchmark); ratio > 1: the reference is slower.")
