"""Benchmark section ``dropout``: training-mode forward + backward of every dropout variant
against its torch built-in (DropConnectLinear against a plain ``nn.Linear``, for scale), on
4M float32 elements (``--quick``: 0.5M). Bar: each variant takes at most 1.5 times as long as
its built-in.

The bytes a variant must move: forward reads x and writes y and a keep mask (one byte per
element for the elementwise variants; the channel variants' mask is negligible), backward
reads the upstream gradient and the mask and writes the input gradient.
"""

from __future__ import annotations

import torch
from torch import nn

from nnref import registry
from nnref.bench._harness import Table, fwd_bwd, measure, ratio, ratio_cell, throughput, verdict

BAR = 1.5
# (N, C, ...) per variant: 4M elements; channel variants with spatial extent
SHAPES = {"dropout": (4096, 1024), "dropout1d": (256, 64, 256),
          "dropout2d": (256, 64, 16, 16), "alpha_dropout": (4096, 1024)}
CHANNEL = {"dropout1d", "dropout2d"}


def must_move(name: str, x: torch.Tensor) -> int:
    """Bytes a dropout variant's forward + backward must move at ``x`` (see the module doc)."""
    tensors = 4 * x.numel() * x.element_size()
    return tensors if name in CHANNEL else tensors + 2 * x.numel()


def run(args) -> list[Table]:
    scale = 8 if args.quick else 1
    min_run = 0.03 if args.quick else 0.15
    t = Table("Dropout, training-mode forward + backward",
              ["variant", "shape", "MB moved", "reference ms", "torch ms", "ref / limit",
               "torch / limit", "ratio", "bar"])
    for name, shape in SHAPES.items():
        shape = (shape[0] // scale,) + shape[1:]
        spec = registry.spec("dropout", name)
        x = torch.randn(shape, device=args.device).requires_grad_(True)
        g = torch.randn_like(x)
        steps = [fwd_bwd(cls(p=0.5).to(args.device).train(), x, g)
                 for cls in (spec.reference, spec.builtin)]
        times = measure(steps, args.device, min_run, args.reps)
        nbytes = must_move(name, x)
        fr = [throughput(nbytes, s, args.bandwidth) for s in times]
        cell = ratio_cell(*times, *fr)
        t.add(name, "x".join(map(str, shape)), nbytes / 1e6, min(times[0]) * 1e3,
              min(times[1]) * 1e3, *fr, cell, verdict(cell, BAR))
    # DropConnect has no built-in: the plain layer shows what dropping weights costs
    n, f = 4096 // scale, 1024
    x = torch.randn(n, f, device=args.device).requires_grad_(True)
    g = torch.randn(n, f, device=args.device)
    dc = registry.get("dropout", "dropconnect", in_features=f, out_features=f).to(args.device)
    times = measure([fwd_bwd(m, x, g) for m in (dc.train(), nn.Linear(f, f).to(args.device))],
                    args.device, min_run, args.reps)
    t.add("dropconnect vs nn.Linear (no bar)", f"{n}x{f}", "-", min(times[0]) * 1e3,
          min(times[1]) * 1e3, "-", "-", ratio(*times), "-")
    t.note = (f"p = 0.5, float32 on {args.device}, training mode. Times: fastest of "
              f"{args.reps} alternating repetitions; ratio: median (min–max) of the "
              "per-repetition ratios, > 1: the reference is slower. '/ limit': fraction of "
              "the copy bandwidth reached moving x, y, the gradients and a one-byte mask. "
              "DropConnect is matrix-multiply bound: no bandwidth column.")
    return [t]
