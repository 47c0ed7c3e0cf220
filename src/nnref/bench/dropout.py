"""Benchmark section ``dropout``: training-mode forward + backward of every dropout variant
against its torch built-in (DropConnectLinear against a plain ``nn.Linear``, for scale), on
4M float32 elements (``--quick``: 0.5M). Bar (issue 4): dropout <= 1.5x the built-in.
"""

from __future__ import annotations

import torch
from torch import nn

from nnref import registry
from nnref.bench.normalization import fwd_bwd, median_time, table_row

BAR = 1.5
# (N, C, ...) per variant: 4M elements; channel variants with spatial extent
SHAPES = {"dropout": (4096, 1024), "dropout1d": (256, 64, 256),
          "dropout2d": (256, 64, 16, 16), "alpha_dropout": (4096, 1024)}


def run(args) -> str:
    scale = 8 if args.quick else 1
    min_run = 0.3 if args.quick else 1.0
    lines = ["| variant | shape | reference ms | torch ms | ratio | bar |",
             "|---|---|---|---|---|---|"]
    for name, shape in SHAPES.items():
        shape = (shape[0] // scale,) + shape[1:]
        spec = registry.spec("dropout", name)
        x = torch.randn(shape, device=args.device).requires_grad_(True)
        g = torch.randn_like(x)
        times = [median_time(fwd_bwd(cls(p=0.5).to(args.device).train(), x, g), min_run)
                 for cls in (spec.reference, spec.builtin)]
        lines.append(table_row(name, shape, *times, BAR))
    # DropConnect has no built-in: the plain layer shows what dropping weights costs
    n, f = 4096 // scale, 1024
    x = torch.randn(n, f, device=args.device).requires_grad_(True)
    g = torch.randn(n, f, device=args.device)
    dc = registry.get("dropout", "dropconnect", in_features=f, out_features=f).to(args.device)
    times = [median_time(fwd_bwd(m, x, g), min_run)
             for m in (dc.train(), nn.Linear(f, f).to(args.device))]
    lines.append(table_row("dropconnect vs nn.Linear (no bar)", (n, f), *times))
    lines.append("")
    lines.append(f"p = 0.5, float32 on {args.device}, training mode; median of "
                 "torch.utils.benchmark blocked_autorange; ratio > 1: the reference is slower.")
    return "\n".join(lines)
