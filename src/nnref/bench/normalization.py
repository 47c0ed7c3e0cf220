"""Benchmark section ``normalization``: batch norm forward + backward (training mode) of
``nnref.normalization.BatchNorm2d`` against ``torch.nn.BatchNorm2d``, eager and under
``torch.compile``, on (N, C, H, W) = (256, 256, 32, 32) float32 (``--quick``: (32, 64, 32, 32)).

Bars (issue 4): eager <= 2x the built-in eager; compiled <= 1.2x the built-in compiled.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils import benchmark

from nnref import normalization as N

SHAPE, QUICK_SHAPE = (256, 256, 32, 32), (32, 64, 32, 32)
EAGER_BAR, COMPILED_BAR = 2.0, 1.2


def median_time(step, min_run_time: float) -> float:
    """Median seconds per call of ``step`` after one warm-up call (which also compiles)."""
    step()
    timer = benchmark.Timer(stmt="step()", globals={"step": step},
                            num_threads=torch.get_num_threads())
    return timer.blocked_autorange(min_run_time=min_run_time).median


def fwd_bwd(module, x, g):
    """One training step's worth of work: forward, then input/weight/bias gradients."""
    params = list(module.parameters())

    def step():
        torch.autograd.grad(module(x), [x, *params], g)
    return step


def table_row(name, shape, ref_s, base_s, bar=None) -> str:
    """A markdown row; ``bar=None`` for a comparison the issue sets no bar for."""
    ratio = ref_s / base_s
    verdict = "-" if bar is None else f"{bar}x " + ("ok" if ratio <= bar else "over")
    return (f"| {name} | {'x'.join(map(str, shape))} | {ref_s * 1e3:.2f} | "
            f"{base_s * 1e3:.2f} | {ratio:.2f} | {verdict} |")


def run(args) -> str:
    shape = QUICK_SHAPE if args.quick else SHAPE
    min_run = 0.3 if args.quick else 1.0
    x = torch.randn(shape, device=args.device).requires_grad_(True)
    g = torch.randn_like(x)
    ref = N.BatchNorm2d(shape[1]).to(args.device)
    base = nn.BatchNorm2d(shape[1]).to(args.device)
    lines = ["| batch norm fwd+bwd | shape | reference ms | torch ms | ratio | bar |",
             "|---|---|---|---|---|---|"]
    t_ref, t_base = (median_time(fwd_bwd(m, x, g), min_run) for m in (ref, base))
    lines.append(table_row("eager (training)", shape, t_ref, t_base, EAGER_BAR))
    ref.eval()
    base.eval()
    t_ref_e, t_base_e = (median_time(fwd_bwd(m, x, g), min_run) for m in (ref, base))
    lines.append(table_row("eager (eval)", shape, t_ref_e, t_base_e, EAGER_BAR))
    ref.train()
    base.train()
    if not args.no_compile:
        torch._dynamo.reset()
        c_ref, c_base = torch.compile(ref), torch.compile(base)
        t_cref, t_cbase = (median_time(fwd_bwd(m, x, g), min_run) for m in (c_ref, c_base))
        lines.append(table_row("compiled (training)", shape, t_cref, t_cbase, COMPILED_BAR))
        lines.append(table_row("compiled ref vs torch eager", shape, t_cref, t_base,
                               COMPILED_BAR))
    lines.append("")
    lines.append(f"float32 on {args.device}; median of torch.utils.benchmark blocked_autorange; "
                 "ratio > 1: the reference is slower.")
    return "\n".join(lines)
