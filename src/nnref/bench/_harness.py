"""The one timer and the one table writer every benchmark section uses.

A reference is judged by its ratio to the built-in measured in the same run, never by a time
from another run: on a shared machine the load drifts, so :func:`compare` measures the
callables in alternating rounds and keeps each one's best round, which lets a drift hit every
side alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import torch
from torch.utils import benchmark

__all__ = ["compare", "compile_fresh", "fwd_bwd", "peak_memory", "ratio_row", "sync", "table",
           "verdict"]


def sync(device) -> None:
    """Wait for queued CUDA work, so a warm-up or a memory reading sees it finished."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def _seconds_per_call(fn: Callable[[], object], device, min_run_time: float | None) -> float:
    if min_run_time is None:
        # a Timer would add warm-up calls of its own, each as long as the measured one
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        return time.perf_counter() - start
    # torch.utils.benchmark synchronizes the accelerator around each block and pins the thread
    # count, which otherwise defaults to 1 inside a Timer.
    timer = benchmark.Timer(stmt="fn()", globals={"fn": fn},
                            num_threads=torch.get_num_threads())
    return timer.blocked_autorange(min_run_time=min_run_time).median


def compare(fns: Sequence[Callable[[], object]], device, min_run_time: float | None,
            rounds: int = 3) -> list[float]:
    """Seconds per call of each of ``fns``: the best of ``rounds`` alternating medians.

    Each callable is called once first (warm-up: allocator, lazily created optimizer state,
    compilation). ``min_run_time`` is the total measuring time per callable, shared out over
    the rounds; ``None`` times a single call per round, for callables that run for seconds.
    """
    for fn in fns:
        fn()
    sync(device)
    per_round = None if min_run_time is None else min_run_time / rounds
    best = [float("inf")] * len(fns)
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            best[i] = min(best[i], _seconds_per_call(fn, device, per_round))
    return best


def compile_fresh(*fns: Callable) -> list[Callable]:
    """``torch.compile`` each of ``fns`` after clearing dynamo's caches.

    A section compiles many callables that share code objects (one ``autograd.Function``
    forward per family); clearing first keeps dynamo's per-code recompile limit from sending
    later ones back to eager. The callables are compiled together so that none of them is
    reset while another is being timed.
    """
    torch._dynamo.reset()
    return [torch.compile(fn, dynamic=False) for fn in fns]


def peak_memory(fn: Callable[[], object], device) -> int:
    """Peak bytes allocated by one call of ``fn`` and live at the same time.

    On CUDA, the allocator's own high-water mark above what was allocated before the call.
    The CPU allocator keeps no such mark, so there the torch profiler records every
    allocation and free made during the call, in order, and the peak is the largest running
    sum; blocks allocated before the call and freed during it are not counted, the same on
    both sides of a comparison.
    """
    sync(device)
    if torch.device(device).type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        fn()
        sync(device)
        return torch.cuda.max_memory_allocated(device) - before
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU],
                                profile_memory=True) as prof:
        fn()
    events = sorted((e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"),
                    key=lambda e: e.start_ns())
    live = peak = 0
    for e in events:
        live += e.nbytes()
        peak = max(peak, live)
    return peak


def fwd_bwd(module, x: torch.Tensor, g: torch.Tensor) -> Callable[[], None]:
    """One training step's worth of work of ``module``: forward, then the gradients of the
    input and of every parameter, with upstream gradient ``g``."""
    params = list(module.parameters())

    def step():
        torch.autograd.grad(module(x), [x, *params], g)
    return step


def verdict(ratio: float, bar: float | None) -> str:
    """The bar column: the allowed reference / built-in ratio and whether it is met."""
    if bar is None:
        return "-"
    return f"{bar}x " + ("ok" if ratio <= bar else "over")


def ratio_row(labels: Sequence[object], ref_s: float, base_s: float, bar: float | None = None,
              digits: int = 2) -> list[str]:
    """``labels``, then the two times in ms, their ratio, and the bar column."""
    ratio = ref_s / base_s
    return [*map(str, labels), f"{ref_s * 1e3:.{digits}f}", f"{base_s * 1e3:.{digits}f}",
            f"{ratio:.2f}", verdict(ratio, bar)]


def table(head: Sequence[str], rows: Sequence[Sequence[object]], note: str = "") -> str:
    """A markdown table, then ``note`` (what was measured and how) after a blank line."""
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        if len(row) != len(head):
            raise ValueError(f"table(): a row has {len(row)} cells for {len(head)} columns")
        lines.append("| " + " | ".join(map(str, row)) + " |")
    return "\n".join(lines) + (f"\n\n{note}" if note else "")
