"""Benchmark section ``losses``: eager forward+backward time of every loss, and the fill time
of every initializer, as a ratio of reference to torch built-in (torch.utils.benchmark).

Losses run on (N, C) = (65536, 100) inputs (cross-entropy's N and C; the elementwise losses
see the same number of elements); initializers fill a 4096 x 4096 weight. ``--quick`` uses
N = 8192 and a 1024 x 1024 weight. The bars (issue 3): losses <= 1.5x, initializers <= 1.2x.
"""

from __future__ import annotations

import torch
from torch.utils import benchmark

from nnref import registry
from nnref.verify import cases
from nnref.verify.losses import make_inputs

LOSS_BAR, INIT_BAR = 1.5, 1.2


def _median(fn, min_run_time: float) -> float:
    timer = benchmark.Timer(stmt="fn()", globals={"fn": fn},
                            num_threads=torch.get_num_threads())
    return timer.blocked_autorange(min_run_time=min_run_time).median


def _compare(ref, base, min_run_time: float, rounds: int) -> list[float]:
    """Median times of ``ref`` and ``base``, measured in alternating rounds and the best round
    kept for each, so that load drifting on a shared machine hits both sides alike."""
    best = [float("inf"), float("inf")]
    for _ in range(rounds):
        for i, fn in enumerate((ref, base)):
            best[i] = min(best[i], _median(fn, min_run_time / rounds))
    return best


def _loss_step(module, x, t):
    def step():
        torch.autograd.grad(module(x, t), x)
    return step


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def _row(name, case, shape, ref_s, base_s, bar):
    ratio = ref_s / base_s
    verdict = "ok" if ratio <= bar else f"over {bar}x"
    return (f"| {name} | {case} | {shape} | {ref_s * 1e3:.3f} | {base_s * 1e3:.3f} | "
            f"{ratio:.2f} | {verdict} |")


def run(args) -> str:
    device = args.device
    n, classes = (8192, 100) if args.quick else (65536, 100)
    side = 1024 if args.quick else 4096
    min_run, rounds = (0.3, 2) if args.quick else (1.5, 3)
    lines = ["| component | case | shape | reference ms | torch ms | ratio | bar |",
             "|---|---|---|---|---|---|---|"]
    loss_cases = {"cross_entropy": ({}, {"label_smoothing": 0.1},
                                    {"_target": "probability"})}
    for spec in registry.LOSSES.values():
        for case in loss_cases.get(spec.name, ({},)):
            kwargs = {**case, "_shape": (n, classes)}
            x, t = make_inputs(spec, kwargs, torch.float32, device)
            x.requires_grad_(True)
            ctor = {k: v for k, v in case.items() if not k.startswith("_")}
            ref = spec.reference(**ctor)
            base = spec.builtin(**ctor) if spec.builtin else cases.of(spec).oracle(**ctor)
            steps = [_loss_step(module, x, t) for module in (ref, base)]
            for step in steps:  # warm-up
                step()
            _sync(device)
            times = _compare(*steps, min_run, rounds)
            label = ",".join(f"{k.lstrip('_')}={v}" for k, v in case.items()) or "default"
            lines.append(_row(spec.name, label, f"{n}x{classes}", *times, LOSS_BAR))
    w = torch.empty(side, side, device=device)
    for spec in registry.INITIALIZERS.values():
        kwargs = dict(cases.of(spec).kwargs[0])
        random = cases.of(spec).law != "constant"
        fills = []
        for fn in (spec.reference, spec.builtin or cases.of(spec).oracle):
            if random:
                g = torch.Generator(device=device).manual_seed(0)
                fills.append(lambda fn=fn, g=g, kw=kwargs: fn(w, **kw, generator=g))
            else:
                fills.append(lambda fn=fn, kw=kwargs: fn(w, **kw))
        times = _compare(*fills, min_run, rounds)
        label = ",".join(f"{k}={v}" for k, v in kwargs.items()) or "default"
        lines.append(_row(spec.name, label, f"{side}x{side}", *times, INIT_BAR))
    note = ("\nForward + backward (gradient of the loss with respect to the input), eager, "
            "float32; torch.compile is covered by the tests, not timed here.")
    return "\n".join(lines) + "\n" + note
