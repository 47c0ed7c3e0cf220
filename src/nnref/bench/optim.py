"""Benchmark section ``optim``: ``step()`` time of every reference optimizer against its
``torch.optim`` counterpart, on the foreach path and on the single-tensor path.

The model is ~10M float32 parameters in 50 tensors (``--quick``: ~1M) with random gradients;
each optimizer runs with its registry defaults. LARS has no torch counterpart: it is timed
against torch's SGD with the same momentum (the trust ratio's two norms per tensor are the
extra work), without a bar. The bars (issue 5): foreach <= 1.2x, single-tensor <= 1.5x.
"""

from __future__ import annotations

import functools

import torch
from torch.utils import benchmark

from nnref import registry

BARS = {True: 1.2, False: 1.5}  # foreach -> allowed reference / torch ratio
TENSORS = 50
ROUNDS = 3


def _params(numel_each: int, device, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    rows = 500
    out = []
    for _ in range(TENSORS):
        p = torch.randn(rows, numel_each // rows, generator=g).to(device).requires_grad_(True)
        p.grad = torch.randn(p.shape, generator=g).to(device) * 1e-2
        out.append(p)
    return out


def _step_timer(make, params, device, min_run_time: float):
    """A function that measures the median ``step()`` time of a fresh optimizer over ``params``."""
    opt = make(params)
    opt.step()  # creates the state, so the timing sees steady-state steps

    def step():
        opt.step()
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize()

    timer = benchmark.Timer(stmt="step()", globals={"step": step},
                            num_threads=torch.get_num_threads())
    return lambda: timer.blocked_autorange(min_run_time=min_run_time).median


def _compare(make_ref, make_base, fresh, device, min_run_time: float) -> tuple[float, float]:
    """Best of ``ROUNDS`` medians each, measured alternately, so that load from other processes
    on a shared machine hits both sides alike."""
    time_ref = _step_timer(make_ref, fresh(), device, min_run_time)
    time_base = _step_timer(make_base, fresh(), device, min_run_time)
    ref, base = [], []
    for _ in range(ROUNDS):
        ref.append(time_ref())
        base.append(time_base())
    return min(ref), min(base)


def run(args) -> str:
    numel_each = 20_000 if args.quick else 200_000
    min_run = 0.2 if args.quick else 0.5
    template = _params(numel_each, args.device)

    def fresh():
        out = []
        for t in template:
            p = t.detach().clone().requires_grad_(True)
            p.grad = t.grad.clone()
            out.append(p)
        return out

    lines = ["| optimizer | path | reference ms | torch ms | ratio | bar |",
             "|---|---|---|---|---|---|"]
    worst = {True: 0.0, False: 0.0}
    for spec in registry.OPTIMIZERS.values():
        kwargs = dict(spec.defaults)
        if spec.builtin is not None:
            base_cls, base_kwargs, against = spec.builtin, kwargs, ""
        else:  # LARS: the SGD step it adds the trust ratio to
            base_cls, against = torch.optim.SGD, " (vs torch SGD momentum)"
            base_kwargs = {"lr": kwargs.get("lr", 1.0), "momentum": 0.9}
        for foreach in (True, False):
            ref, base = _compare(functools.partial(spec.reference, **kwargs, foreach=foreach),
                                 functools.partial(base_cls, **base_kwargs, foreach=foreach),
                                 fresh, args.device, min_run)
            ratio = ref / base
            if spec.builtin is not None:
                worst[foreach] = max(worst[foreach], ratio)
                verdict = "ok" if ratio <= BARS[foreach] else f"over {BARS[foreach]}x"
            else:
                verdict = "-"
            path = "foreach" if foreach else "single-tensor"
            lines.append(f"| {spec.name}{against} | {path} | {ref * 1e3:.2f} | {base * 1e3:.2f} "
                         f"| {ratio:.2f} | {verdict} |")
    total = TENSORS * numel_each
    lines += ["", f"{total / 1e6:.0f}M float32 parameters in {TENSORS} tensors on {args.device}, "
              f"best of {ROUNDS} alternating medians of step() time (torch.utils.benchmark). "
              f"Worst ratio: foreach {worst[True]:.2f} (bar {BARS[True]}), "
              f"single-tensor {worst[False]:.2f} (bar {BARS[False]})."]
    return "\n".join(lines)
