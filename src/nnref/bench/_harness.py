"""The one timer, the one bandwidth probe and the one table format every benchmark section uses.

A reference is judged by its ratio to the built-in measured in the same run, never by a time
from another run. :func:`measure` times the callables in ``reps`` alternating repetitions
(ref, built-in, ref, built-in, ...), so a drift in the machine's load hits both sides of each
repetition alike; a ratio is then the median of the per-repetition ratios with their range as
the interval (:func:`ratio`). With n independent repetitions the range [min, max] holds the
true median ratio with probability 1 - 2^(1-n): 94% for the default n = 5.

Per-op times are also checked against what the machine can do: :func:`copy_bandwidth` times a
large ``copy_`` with the same timer in the same run, and :func:`throughput` turns a row's time
and the bytes its op must move into a fraction of that limit. A time that implies more than
the limit (the data sat in cache, or the op skipped work, as ``nn.Identity`` returning its
input does) is flagged instead of being printed as a ratio.

Tables are data: a section returns :class:`Table` objects whose cells are strings, numbers
or the dicts :func:`ratio` and :func:`throughput` make; :func:`render` writes them as
markdown, and the same objects go to the JSON record (``nnref.bench.record``).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import torch
from torch.utils import benchmark

__all__ = ["REPS", "Table", "compile_fresh", "copy_bandwidth", "fmt", "fwd_bwd", "measure",
           "peak_memory", "ratio", "ratio_cell", "render", "sync", "throughput", "verdict"]

REPS = 5  # alternating repetitions behind every ratio


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


def measure(fns: Sequence[Callable[[], object]], device, min_run_time: float | None,
            reps: int = REPS) -> list[list[float]]:
    """Seconds per call of each of ``fns`` in each of ``reps`` alternating repetitions:
    ``out[i][r]`` is callable ``i`` in repetition ``r``.

    Each callable is called once first (warm-up: allocator, lazily created optimizer state,
    compilation). ``min_run_time`` is the measuring time per callable and repetition (the
    median of a ``torch.utils.benchmark`` block); ``None`` times a single call, for callables
    that run for seconds.
    """
    if reps < 1:
        raise ValueError(f"measure(): reps must be at least 1, got {reps}")
    for fn in fns:
        fn()
    sync(device)
    out: list[list[float]] = [[] for _ in fns]
    for _ in range(reps):
        for times, fn in zip(out, fns, strict=True):
            times.append(_seconds_per_call(fn, device, min_run_time))
    return out


def ratio(num: Sequence[float], den: Sequence[float]) -> dict:
    """The ratio of two sides measured in the same repetitions: the median of the
    per-repetition ratios ``num[r] / den[r]``, and their min and max as the interval."""
    if len(num) != len(den) or not num:
        raise ValueError(f"ratio(): {len(num)} and {len(den)} repetitions; need equal, >= 1")
    per_rep = [a / b for a, b in zip(num, den, strict=True)]
    return {"ratio": statistics.median(per_rep), "low": min(per_rep), "high": max(per_rep),
            "n": len(per_rep)}


def verdict(r: dict, bar: float | None) -> str:
    """Whether ``r`` (from :func:`ratio`) meets ``bar``, judged on its interval: "ok" only if
    the whole interval is at or under the bar, "over" only if all of it is above, otherwise
    "undecided" (a quieter machine or more repetitions could settle it either way)."""
    if bar is None:
        return "-"
    if "flag" in r:
        return f"{bar}x not judged"
    state = "ok" if r["high"] <= bar else "over" if r["low"] > bar else "undecided"
    return f"{bar}x {state}"


def ratio_cell(num: Sequence[float], den: Sequence[float], *fractions: dict) -> dict:
    """:func:`ratio`, unless one of ``fractions`` (from :func:`throughput`, one per side) is
    faster than the bandwidth limit: then a flag naming it, since the ratio would compare the
    limit's violation, not two implementations."""
    over = [f for f in fractions if f.get("over")]
    if over:
        worst = max(f["fraction"] for f in over)
        return {"flag": f"faster than copy bandwidth ({worst:.2f}x the limit)"}
    return ratio(num, den)


def copy_bandwidth(device, nbytes: int = 1 << 27, min_run_time: float = 0.1,
                   reps: int = REPS) -> float:
    """The machine's memory bandwidth in bytes/s, as the benchmarks can reach it: the fastest
    of ``reps`` repetitions of ``dst.copy_(src)`` on ``nbytes`` float32 bytes, counted as
    ``2 * nbytes`` moved (read the source, write the destination). Timed with the same timer
    and thread count as the sections, in the same run."""
    n = max(1, nbytes // 4)
    src = torch.ones(n, device=device)
    dst = torch.empty_like(src)
    [times] = measure([lambda: dst.copy_(src)], device, min_run_time, reps)
    return 2 * n * 4 / min(times)


def throughput(nbytes: int, seconds: Sequence[float], bandwidth: float) -> dict:
    """The fraction of ``bandwidth`` (bytes/s) reached by an op that must move ``nbytes`` and
    took ``seconds`` (its fastest repetition: the most favourable reading is the one that must
    not exceed the limit); ``over`` when it exceeds it."""
    fraction = nbytes / min(seconds) / bandwidth
    return {"fraction": fraction, "over": fraction > 1.0}


def fmt(cell) -> str:
    """One cell as markdown text: strings as they are, numbers to three significant figures,
    ratios as ``median (min–max)``, throughput as a fraction of the limit, flags marked."""
    if isinstance(cell, str):
        return cell
    if isinstance(cell, bool) or cell is None:
        return str(cell)
    if isinstance(cell, int):
        return str(cell)
    if isinstance(cell, float):
        if cell == 0 or abs(cell) >= 100:
            return f"{cell:.0f}"
        return f"{cell:.3g}" if abs(cell) >= 1 else f"{cell:.2g}"
    if "flag" in cell:
        return f"FLAG: {cell['flag']}"
    if "ratio" in cell:
        return f"{cell['ratio']:.2f} ({cell['low']:.2f}–{cell['high']:.2f})"
    if "fraction" in cell:
        return f"{cell['fraction']:.2f}" + (" OVER LIMIT" if cell["over"] else "")
    raise TypeError(f"fmt(): no format for the cell {cell!r}")


@dataclass
class Table:
    """One table of a section: a title, the column names, rows of cells (see :func:`fmt`)
    and a note saying what was measured and how."""

    title: str
    head: list[str]
    rows: list[list] = field(default_factory=list)
    note: str = ""

    def __post_init__(self):
        for row in self.rows:
            self.check(row)

    def check(self, row: Sequence) -> None:
        if len(row) != len(self.head):
            raise ValueError(f"Table: a row has {len(row)} cells for {len(self.head)} columns")

    def add(self, *cells) -> None:
        self.check(cells)
        self.rows.append(list(cells))

    def to_dict(self) -> dict:
        return asdict(self)


def render(table: Table | dict) -> str:
    """A table (or its JSON dict) as markdown: the title, the table, then its note."""
    t = table if isinstance(table, Table) else Table(**table)
    lines = [f"**{t.title}**", "", "| " + " | ".join(t.head) + " |", "|" + "---|" * len(t.head)]
    lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in t.rows]
    return "\n".join(lines) + (f"\n\n{t.note}" if t.note else "")


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
