"""Report of the optimizer comparison: ``python experiments/optimizers/report.py [sweep]
[--out DIR | --update-tracked]`` fills README.md.in beside it. Besides the sweep (networks on
MNIST-1D), it tunes GD, heavy-ball momentum, Nesterov, RMSprop and Adam on quadratics of
growing condition number and counts the steps each needs at its own best rate (a minute or
two), runs every optimizer on the 2-D surfaces of :mod:`nnref.experiment.surfaces` and draws
the trajectories, and shows a learning rate too small, right and too big."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import torch

from nnref import registry
from nnref.experiment import reporting as R
from nnref.experiment import surfaces

HERE = Path(__file__).resolve().parent
OPTIMS = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw", "lars"]
# (start, steps, lr per optimizer) per surface; one rate per optimizer and surface, chosen for
# a stable run of that optimizer's family, never per outcome
RUNS = {
    "ill_conditioned": ((-4.5, 1.5), 100, {"sgd": 0.4, "momentum": 0.05, "nesterov": 0.05,
                                          "adagrad": 0.5, "rmsprop": 0.05, "adam": 0.1}),
    "rosenbrock": ((-1.5, 2.0), 500, {"sgd": 1e-3, "momentum": 2e-4, "nesterov": 2e-4,
                                      "adagrad": 0.5, "rmsprop": 0.01, "adam": 0.05}),
    "saddle": ((-1.8, 1e-3), 60, {"sgd": 0.1, "momentum": 0.02, "nesterov": 0.02,
                                  "adagrad": 0.3, "rmsprop": 0.05, "adam": 0.1}),
    "tilted_double_well": ((1.8, 1.0), 200, {"sgd": 0.02, "momentum": 0.02, "nesterov": 0.02,
                                            "adagrad": 0.3, "rmsprop": 0.02, "adam": 0.05}),
}
# Ill-conditioning measured fairly: on quadratics of condition number KAPPAS, each method at
# its own best (lr, momentum), searched on a grid that is widened until the best is interior.
KAPPAS = (10, 100, 1000)
TOL = 1e-6  # "converged": f(x_t) <= TOL * f(x_0)
MAX_STEPS = 6000  # GD needs about 3500 at κ = 1000
STARTS = (0, 1, 2)  # seeds of the start points, on the unit sphere
DIM = 20
PER_DECADE = 4  # coarse grid; the search then refines around the best point
# 1 - momentum on a log grid: 0 (plain GD) up to 0.999
MOMENTA = tuple(float(1 - 10 ** (-k / PER_DECADE)) for k in range(0, 3 * PER_DECADE + 1))
TUNED = {"sgd": (), "momentum": MOMENTA, "nesterov": MOMENTA[1:], "rmsprop": (), "adam": ()}
LR_DEMO = (0.01, 0.4, 0.55)  # plain GD on the ill-conditioned quadratic: stable iff lr < 0.5
DEMO_STEPS = 30


def run_surfaces():
    paths = {}
    for name, (start, steps, lrs) in RUNS.items():
        fn = surfaces.SURFACES[name].fn
        for opt, lr in lrs.items():
            paths[name, opt] = surfaces.trajectory(fn, registry.get("optim", opt, lr=lr),
                                                   start, steps)
    demo = {lr: surfaces.trajectory(surfaces.ill_conditioned, registry.get("optim", "sgd", lr=lr),
                                    RUNS["ill_conditioned"][0], DEMO_STEPS) for lr in LR_DEMO}
    return paths, demo


def surface_figure(paths, demo, out: Path) -> str:
    fig, axes = R.subplots(len(RUNS) + 1, ncols=3, size=(3.6, 3.0))
    for ax, name in zip(axes, RUNS, strict=False):
        s = surfaces.SURFACES[name]
        x0, x1, y0, y1 = s.window
        gx, gy = torch.meshgrid(torch.linspace(x0, x1, 120), torch.linspace(y0, y1, 120),
                                indexing="xy")
        z = s.fn(gx, gy)
        z = torch.log1p(z - z.min())
        ax.contour(gx, gy, z, levels=12, linewidths=0.4, colors="0.6")
        for opt in RUNS[name][2]:
            p = paths[name, opt].clamp(-10, 10)
            ax.plot(p[:, 0], p[:, 1], lw=1, label=opt)
        for m in s.minima:
            ax.plot(*m, "k*", ms=7)
        ax.set(xlim=(x0, x1), ylim=(y0, y1), title=name)
    axes[0].legend(fontsize=6)
    ax = axes[-1]
    for lr, p in demo.items():
        f = surfaces.ill_conditioned(p[:, 0], p[:, 1])
        ax.plot(range(len(f)), f, label=f"lr {lr}")
    ax.set(yscale="log", xlabel="step", ylabel="f", title="GD on ill_conditioned: lr")
    ax.legend(fontsize=6)
    return R.savefig(fig, out / "trajectories.png", dpi=60)


def surface_table(paths) -> tuple[str, dict]:
    lines = ["| surface | optimizer | lr | steps | final (x, y) | final f | distance to "
             "nearest minimum |", "|---|---|---|---|---|---|---|"]
    out = {}
    for name, (_, steps, lrs) in RUNS.items():
        s = surfaces.SURFACES[name]
        for opt, lr in lrs.items():
            p = paths[name, opt][-1]
            f = float(s.fn(p[0], p[1]))
            d = min((math.dist(p.tolist(), m) for m in s.minima), default=math.nan)
            out[name, opt] = (p, f, d)
            lines.append(f"| {name} | {opt} | {lr:g} | {steps} | ({R.fmt(float(p[0]))}, "
                         f"{R.fmt(float(p[1]))}) | {R.fmt(f)} | "
                         f"{R.fmt(d) if s.minima else '— (no minimum)'} |")
    return "\n".join(lines), out


# --- ill-conditioning, each method at its own tuned rate -------------------------------------

def quadratic(kappa: float) -> torch.Tensor:
    """The Hessian A of f(z) = z^T A z / 2 in DIM dimensions: eigenvalues spaced evenly in log
    from 1/kappa to 1 (L = 1, condition number kappa), eigenvectors a seeded random rotation
    (so per-coordinate scaling gains nothing from the axes). With only two eigenvalues, as in
    a 2-D quadratic, a tuned momentum method can cancel both modes at once and beat its
    worst-case rate; a spread spectrum is the case the rates describe."""
    g = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(DIM, DIM, generator=g, dtype=torch.float64))
    eig = torch.logspace(-math.log10(kappa), 0, DIM, dtype=torch.float64)
    return q @ torch.diag(eig) @ q.T


def start(seed: int) -> torch.Tensor:
    """A start point on the unit sphere."""
    z = torch.randn(DIM, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return z / z.norm()


def curve(a: torch.Tensor, make, z0: torch.Tensor, steps: int) -> list[float]:
    """f after each of ``steps`` steps of the optimizer ``make`` from ``z0``."""
    z = z0.clone().requires_grad_(True)
    opt = make([z])
    out = []
    for _ in range(steps + 1):
        with torch.no_grad():
            g = a @ z
            out.append(float(0.5 * z @ g))
        z.grad = g
        opt.step()
    return out


def steps_to_tol(a: torch.Tensor, make, x0, cap: int) -> int | None:
    """Steps of the optimizer ``make`` until f <= TOL * f(x0) on the quadratic ``a``; None
    when it diverges or needs more than ``cap``. The gradient A z is set directly: autograd
    would only add cost to so small a step."""
    z = x0.clone().requires_grad_(True)
    opt = make([z])
    f0 = float(0.5 * x0 @ a @ x0)
    for t in range(cap + 1):
        with torch.no_grad():
            g = a @ z
            f = float(0.5 * z @ g)
        if f <= TOL * f0:
            return t
        if not f < 1e6 * f0:  # diverging (or nan)
            return None
        z.grad = g
        opt.step()
    return None


def _settings(name: str, lr: float, beta: float | None) -> dict:
    return {"lr": lr} if beta is None else {"lr": lr, "momentum": beta}


def total_steps(a, name: str, lr: float, beta: float | None, cap: int) -> int | None:
    """Steps to tolerance summed over the STARTS, or None once the sum passes ``cap`` (a point
    slower than the best so far needs no exact count)."""
    used = 0
    for seed in STARTS:
        n = steps_to_tol(a, registry.get("optim", name, **_settings(name, lr, beta)),
                         start(seed), cap - used)
        if n is None:
            return None
        used += n
    return used


def tune(a, name: str, lo: float = 1e-3, hi: float = 10.0) -> dict:
    """The (lr, momentum) with the fewest steps to tolerance: a log grid of rates (and the
    method's momenta), widened by a decade wherever the best lies on its edge, then refined
    by a finer grid around the best. Returns the best point, its steps per start, the grid's
    bounds, and how often it was widened."""
    betas = TUNED[name] or (None,)
    widened = 0
    while True:
        lrs = [lo * 10 ** (k / PER_DECADE)
               for k in range(round(math.log10(hi / lo) * PER_DECADE) + 1)]
        best, cap = None, len(STARTS) * MAX_STEPS
        for beta in betas:
            for lr in reversed(lrs):  # big rates first: they diverge fast and cut the cap
                n = total_steps(a, name, lr, beta, cap)
                if n is not None and n < cap:
                    best, cap = (lr, beta), n
        if best is None:  # adaptive methods at a fixed rate may hover above the tolerance
            return {"lr": math.nan, "momentum": None, "steps": [None] * len(STARTS),
                    "grid": (lo, hi), "widened": widened, "edge": False}
        at_lo, at_hi = best[0] <= lrs[0] * 1.0001, best[0] >= lrs[-1] * 0.9999
        if not (at_lo or at_hi) or widened >= 4:
            break
        widened += 1
        lo, hi = (lo / 10, hi) if at_lo else (lo, hi * 10)
    # refine: 8 points per step of the coarse grid, around the best (GD's best rate sits just
    # below its divergence limit 2/L, where a coarse grid misses it by up to its step)
    step = 10 ** (1 / PER_DECADE)
    fine_lrs = [best[0] * step ** (k / 8) for k in range(-8, 9)]
    fine_betas = betas
    if best[1] is not None:
        i = betas.index(best[1])
        near = betas[max(i - 1, 0)], betas[min(i + 1, len(betas) - 1)]
        fine_betas = sorted({*betas[max(i - 1, 0):i + 2],
                             *(float(1 - math.sqrt((1 - near[0]) * (1 - best[1]))),
                               float(1 - math.sqrt((1 - near[1]) * (1 - best[1]))))})
    for beta in fine_betas:
        for lr in fine_lrs:
            n = total_steps(a, name, lr, beta, cap)
            if n is not None and n < cap:
                best, cap = (lr, beta), n
    per_start = [steps_to_tol(a, registry.get("optim", name, **_settings(name, *best)),
                              start(s), cap) for s in STARTS]
    edge_beta = best[1] is not None and best[1] == betas[-1]
    return {"lr": best[0], "momentum": best[1], "steps": per_start, "grid": (lo, hi),
            "widened": widened, "edge": edge_beta or (best[0] <= lo or best[0] >= hi)}


def theory_steps(kappa: float) -> dict[str, float]:
    """Steps to TOL at each method's optimal fixed tuning on a quadratic: f shrinks like
    rate^(2t), with rate (κ−1)/(κ+1) for GD at lr 2/(L+μ), (√κ−1)/(√κ+1) for heavy ball at
    Polyak's (lr, momentum), and 1 − 2/√(3κ+1) for Nesterov at its best constant tuning
    (Lessard, Recht & Packard 2016)."""
    r = math.sqrt(kappa)
    rates = {"sgd": (kappa - 1) / (kappa + 1), "momentum": (r - 1) / (r + 1),
             "nesterov": 1 - 2 / math.sqrt(3 * kappa + 1)}
    return {k: math.log(1 / TOL) / (2 * math.log(1 / v)) for k, v in rates.items()}


def counts(result: dict) -> np.ndarray:
    """Steps per start, nan where the tolerance was not reached."""
    return np.array([math.nan if n is None else n for n in result["steps"]], dtype=float)


def conditioning(out: Path) -> dict:
    results = {(name, k): tune(quadratic(k), name) for k in KAPPAS for name in TUNED}
    fig, axes = R.subplots(2, ncols=2, size=(4.4, 3.4))
    ax = axes[0]
    ks = np.array(KAPPAS, dtype=float)
    dense = np.geomspace(ks[0], ks[-1], 50)
    colours = {"sgd": "tab:blue", "momentum": "tab:orange", "nesterov": "tab:green",
               "rmsprop": "tab:purple", "adam": "tab:red"}
    slopes = {}
    for name in TUNED:
        med = np.array([np.median(counts(results[name, k])) for k in KAPPAS])
        ok = np.isfinite(med)
        slopes[name] = (float(np.polyfit(np.log(ks[ok]), np.log(med[ok]), 1)[0])
                        if ok.sum() > 1 else math.nan)
        for k in KAPPAS:
            ax.plot([k] * len(STARTS), counts(results[name, k]), ".", color=colours[name],
                    ms=3)
        ax.plot(ks, med, "o", color=colours[name], label=f"{name} (slope {slopes[name]:.2f})")
        if name in ("sgd", "momentum", "nesterov"):
            ax.plot(dense, [theory_steps(k)[name] for k in dense], "-", color=colours[name],
                    lw=0.8)
    ax.set(xscale="log", yscale="log", xlabel="condition number κ",
           ylabel=f"steps to f ≤ {TOL:g}·f₀", title="tuned: measured (dots), theory (lines)")
    ax.legend(fontsize=6)
    ax = axes[1]
    a = quadratic(KAPPAS[1])
    for name in TUNED:
        r = results[name, KAPPAS[1]]
        if r["steps"][0] is None:
            continue
        f = curve(a, registry.get("optim", name, **_settings(name, r["lr"], r["momentum"])),
                  start(STARTS[0]), int(max(r["steps"])))
        ax.plot(range(len(f)), f, color=colours[name], label=name)
    ax.set(yscale="log", xscale="log", xlabel="step", ylabel="f",
           title=f"κ = {KAPPAS[1]}, each at its tuned rate")
    ax.legend(fontsize=6)
    fig_name = R.savefig(fig, out / "conditioning.png")

    lines = ["| method | κ | best lr | best momentum | steps to tolerance (per start) | "
             "theory | grid searched | best on the grid's edge |",
             "|---|---|---|---|---|---|---|---|"]
    for name in TUNED:
        for k in KAPPAS:
            r = results[name, k]
            th = theory_steps(k).get(name)
            widened = f", widened {r['widened']}x" if r["widened"] else ""
            if r["steps"][0] is None:
                lines.append(f"| {name} | {k} | — | — | not reached in {MAX_STEPS} steps at "
                             f"any rate | — | [{r['grid'][0]:g}, {r['grid'][1]:g}] | — |")
                continue
            lines.append(
                f"| {name} | {k} | {R.fmt(r['lr'])} | "
                f"{'—' if r['momentum'] is None else R.fmt(r['momentum'])} | "
                f"**{R.fmt(float(np.median(counts(r))))}** ({', '.join(map(str, r['steps']))})"
                f" | {'—' if th is None else R.fmt(th)} | "
                f"[{r['grid'][0]:g}, {r['grid'][1]:g}]{widened} | "
                f"{'**yes**' if r['edge'] else 'no'} |")
    top = KAPPAS[-1]
    gd = results["sgd", top]["steps"]
    compare = {m: R.compare(results[m, top]["steps"], gd, higher_is_better=False, paired=True)
               for m in ("momentum", "nesterov")}
    held = R.claim(*compare.values())
    return {
        "cond_fig": fig_name, "cond_table": "\n".join(lines), "kappas": list(KAPPAS),
        "tol": TOL, "n_starts": len(STARTS), "dim": DIM,
        "slopes": R.listing({m: v for m, v in slopes.items() if math.isfinite(v)}),
        "unreached": ", ".join(f"{n} at κ={k}" for (n, k), r in results.items()
                               if r["steps"][0] is None) or "none",
        "max_steps": MAX_STEPS, "cond_held": held,
        "cond_compare": "; ".join(f"{m} {c}" for m, c in compare.items()),
        "cond_edges": ", ".join(f"{n} at κ={k}" for (n, k), r in results.items() if r["edge"])
        or "none",
        "ratio_top": R.listing({m: float(np.median(gd) / np.median(counts(results[m, top])))
                                for m in TUNED
                                if m != "sgd" and results[m, top]["steps"][0] is not None}),
        "top_kappa": top,
    }


def build(sweep: Path, out: Path) -> dict:
    t, _ = R.load(sweep)
    t["optimizer"], t["lr"] = t["arm.name"], t["arm.lr"]
    if "data" not in t:  # one data set, chosen by the experiment config rather than swept
        t["data"] = str(R.job_config(Path(t.dir.iloc[0])).data._target_).rsplit(".", 1)[-1]
    t["dataset"] = t["data"]
    best = {}
    for (d, o), g in t.groupby(["dataset", "optimizer"]):
        best[d, o] = g.groupby("lr")["val/loss"].median().idxmin()
    chosen = t[[best[d, o] == lr
                for d, o, lr in zip(t.dataset, t.optimizer, t.lr, strict=True)]]
    datasets = sorted(t.dataset.unique())

    fig, axes = R.subplots(len(datasets), ncols=2, size=(4.6, 3.4))
    for ax, d in zip(axes, datasets, strict=True):
        for o in OPTIMS:
            g = t[(t.dataset == d) & (t.optimizer == o)].groupby("lr")["val/acc"].median()
            ax.plot(np.arange(len(g)), g.values, "-o", label=o, ms=3)
        ax.set_xlabel("rate, smallest to largest of its grid")
        ax.set(title=f"{d}: val acc over each optimizer's lr grid", ylabel="val accuracy")
    axes[0].legend(fontsize=6)
    grid_fig = R.savefig(fig, out / "lr_grid.png")

    paths, demo = run_surfaces()
    traj_fig = surface_figure(paths, demo, out)
    traj_table, res = surface_table(paths)

    best_table = R.seeds_table(chosen, ["dataset", "optimizer", "lr"], {
        "val/acc": "val acc", "val/loss": "val loss", "train/loss_epoch": "final train loss"})
    all_table = R.seeds_table(t, ["dataset", "optimizer", "lr"], {"val/acc": "val acc",
                                                                  "val/loss": "val loss"})
    ranks = {d: chosen[chosen.dataset == d].groupby("optimizer")["val/acc"].median()
             .sort_values(ascending=False) for d in datasets}

    sens = {d: t[t.dataset == d].groupby(["optimizer", "lr"])["val/acc"].median()
            .groupby("optimizer").agg(lambda v: v.max() - v.min()).sort_values()
            for d in datasets}

    def sgd_lr_effect(d):
        g = t[(t.dataset == d) & (t.optimizer == "sgd")].groupby("lr")["val/acc"].median()
        return ", ".join(f"lr {lr:g}: {R.fmt(v)}" for lr, v in g.items())

    well = {o: float(res["tilted_double_well", o][0][0]) for o in RUNS["tilted_double_well"][2]}
    escaped = [o for o, x in well.items() if x < 0]
    saddle = {o: abs(float(res["saddle", o][0][1])) for o in RUNS["saddle"][2]}
    f_demo = {lr: float(surfaces.ill_conditioned(p[-1, 0], p[-1, 1])) for lr, p in demo.items()}
    lrs = {(d, o): sorted(g.lr.unique()) for (d, o), g in t.groupby(["dataset", "optimizer"])}
    edges = [f"{o} on {d} (lr {best[d, o]:g} of {', '.join(f'{v:g}' for v in lrs[d, o])})"
             for (d, o) in sorted(best) if best[d, o] in (lrs[d, o][0], lrs[d, o][-1])]
    return {
        **conditioning(out), "grid_edges": "; ".join(edges), "n_grid_edges": len(edges),
        "traj_fig": traj_fig, "traj_table": traj_table, "grid_fig": grid_fig,
        "best_table": best_table, "all_table": all_table,
        "ranks": "; ".join(f"**{d}**: {R.listing(r)}" for d, r in ranks.items()),
        "sensitivity": "; ".join(f"**{d}**: {R.listing(sens[d])}" for d in datasets),
        "lr_held": f_demo[LR_DEMO[0]] > f_demo[LR_DEMO[1]]
        and (not math.isfinite(f_demo[LR_DEMO[2]]) or f_demo[LR_DEMO[2]] > f_demo[LR_DEMO[0]]),
        "demo_steps": DEMO_STEPS, "lr_demo": ", ".join(f"{R.fmt(v)} at lr {lr:g}"
                                                       for lr, v in f_demo.items()),
        "sgd_grid": "; ".join(f"{d}: {sgd_lr_effect(d)}" for d in datasets),
        "runs": {name: {"start": start, "steps": steps, "lrs": lrs}
                 for name, (start, steps, lrs) in RUNS.items()},
        "rosenbrock": R.listing({o: res["rosenbrock", o][2] for o in RUNS["rosenbrock"][2]}),
        "well_held": len(escaped) > 0 and "sgd" not in escaped, "well": R.listing(well),
        "escaped": ", ".join(escaped) or "none", "saddle": R.listing(saddle),
    }


if __name__ == "__main__":
    sys.exit(R.main(build, HERE))
