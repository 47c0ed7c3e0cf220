"""Benchmark section ``dropout``: training-mode forward + backward of every dropout variant
against its torch built-in (DropConnectLinear against a plain ``nn.Linear``, for scale), on
4M float32 elements (``--quick``: 0.5M). Bar: each variant takes at most 1.5 times as long as
its built-in.
"""

from __future__ import annotations

import torch
from torch import nn

from nnref import registry
from nnref.bench._harness import compare, fwd_bwd, ratio_row, table

BAR = 1.5
# (N, C, ...) per variant: 4M elements; channel variants with spatial extent
SHAPES = {"dropout": (4096, 1024), "dropout1d": (256, 64, 256),
          "dropout2d": (256, 64, 16, 16), "alpha_dropout": (4096, 1024)}


def run(args) -> str:
    scale = 8 if args.quick else 1
    min_run = 0.3 if args.quick else 1.0
    rows = []
    for name, shape in SHAPES.items():
        shape = (shape[0] // scale,) + shape[1:]
        spec = registry.spec("dropout", name)
        x = torch.randn(shape, device=args.device).requires_grad_(True)
        g = torch.randn_like(x)
        steps = [fwd_bwd(cls(p=0.5).to(args.device).train(), x, g)
                 for cls in (spec.reference, spec.builtin)]
        rows.append(ratio_row((name, "x".join(map(str, shape))),
                              *compare(steps, args.device, min_run), BAR))
    # DropConnect has no built-in: the plain layer shows what dropping weights costs
    n, f = 4096 // scale, 1024
    x = torch.randn(n, f, device=args.device).requires_grad_(True)
    g = torch.randn(n, f, device=args.device)
    dc = registry.get("dropout", "dropconnect", in_features=f, out_features=f).to(args.device)
    steps = [fwd_bwd(m, x, g) for m in (dc.train(), nn.Linear(f, f).to(args.device))]
    rows.append(ratio_row(("dropconnect vs nn.Linear (no bar)", f"{n}x{f}"),
                          *compare(steps, args.device, min_run)))
    head = ["variant", "shape", "reference ms", "torch ms", "ratio", "bar"]
    return table(head, rows, f"p = 0.5, float32 on {args.device}, training mode; best of 3 "
                 "alternating medians (torch.utils.benchmark); ratio > 1: the reference is "
                 "slower.")
