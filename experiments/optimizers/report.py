"""Report of the optimizer comparison: ``python experiments/optimizers/report.py [sweep]
[--out DIR | --update-tracked]`` fills README.md.in beside it. Besides the sweep (digits and
MNIST-1D), it runs every optimizer on the 2-D surfaces of :mod:`nnref.experiment.surfaces` (a few
seconds) and draws the trajectories, and shows a learning rate too small, right and too big on
the ill-conditioned quadratic."""

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


def build(sweep: Path, out: Path) -> dict:
    t, _ = R.load(sweep)
    t["optimizer"], t["lr"], t["dataset"] = t["arm.name"], t["arm.lr"], t["data"]
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
        ax.set_xticks([0, 1, 2], ["small", "middle", "large"])
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

    ill = {o: res["ill_conditioned", o][2] for o in RUNS["ill_conditioned"][2]}
    well = {o: float(res["tilted_double_well", o][0][0]) for o in RUNS["tilted_double_well"][2]}
    escaped = [o for o, x in well.items() if x < 0]
    saddle = {o: abs(float(res["saddle", o][0][1])) for o in RUNS["saddle"][2]}
    f_demo = {lr: float(surfaces.ill_conditioned(p[-1, 0], p[-1, 1])) for lr, p in demo.items()}
    return {
        "traj_fig": traj_fig, "traj_table": traj_table, "grid_fig": grid_fig,
        "best_table": best_table, "all_table": all_table,
        "ranks": "; ".join(f"**{d}**: {R.listing(r)}" for d, r in ranks.items()),
        "sensitivity": "; ".join(f"**{d}**: {R.listing(sens[d])}" for d in datasets),
        "lr_held": f_demo[LR_DEMO[0]] > f_demo[LR_DEMO[1]]
        and (not math.isfinite(f_demo[LR_DEMO[2]]) or f_demo[LR_DEMO[2]] > f_demo[LR_DEMO[0]]),
        "demo_steps": DEMO_STEPS, "lr_demo": ", ".join(f"{R.fmt(v)} at lr {lr:g}"
                                                       for lr, v in f_demo.items()),
        "sgd_grid": "; ".join(f"{d}: {sgd_lr_effect(d)}" for d in datasets),
        "ill_held": min(ill["momentum"], ill["adam"]) < ill["sgd"], "ill": R.listing(ill),
        "runs": {name: {"start": start, "steps": steps, "lrs": lrs}
                 for name, (start, steps, lrs) in RUNS.items()},
        "rosenbrock": R.listing({o: res["rosenbrock", o][2] for o in RUNS["rosenbrock"][2]}),
        "well_held": len(escaped) > 0 and "sgd" not in escaped, "well": R.listing(well),
        "escaped": ", ".join(escaped) or "none", "saddle": R.listing(saddle),
    }


if __name__ == "__main__":
    sys.exit(R.main(build, HERE))
