"""Report of the batch-norm study: ``python experiments/batch_norm/report.py [sweep] [--out DIR
| --update-tracked]`` fills README.md.in beside it. Besides the sweep it retrains the two
3 x 100 sigmoid networks (with and without batch norm) for 400 steps while recording the
15th/50th/85th percentiles of one last-layer unit's sigmoid input on a fixed batch, the picture
of "internal covariate shift" in Ioffe & Szegedy (2015, Fig. 1)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pandas as pd
import torch

from nnref import registry
from nnref.experiment import reporting as R
from nnref.experiment.data import Digits
from nnref.experiment.models import MLP
from nnref.losses import cross_entropy

HERE = Path(__file__).resolve().parent
TARGET = 0.8  # "speed": first epoch whose validation accuracy reaches this
BOUNDARY = HERE / "lr_boundary.json"  # written by lr_boundary.py beside this script
DRIFT_STEPS, PROBE = 400, 256


def drift(norm: str | None, steps: int = DRIFT_STEPS, lr: float = 0.1, seed: int = 0):
    torch.manual_seed(seed)
    dm = Digits(seed=seed)
    dm.setup()
    x, y = dm.splits["train"]
    probe = x[:PROBE]
    net = MLP(64, 10, width=100, depth=3, activation="sigmoid", init="xavier_normal", norm=norm)
    opt = registry.get("optim", "sgd", lr=lr)(net.parameters())
    seen = {}
    net.hidden3.act.register_forward_hook(lambda m, i, o: seen.__setitem__("z", i[0][:, 0]))
    q = torch.tensor([0.15, 0.5, 0.85])
    out, g = [], torch.Generator().manual_seed(seed)
    for step in range(steps + 1):
        if step % 10 == 0:
            net.eval()
            with torch.no_grad():
                net(probe)
            out.append(torch.quantile(seen["z"], q))
            net.train()
        if step == steps:
            break
        idx = torch.randint(0, len(x), (64,), generator=g)
        opt.zero_grad()
        cross_entropy(net(x[idx]), y[idx]).backward()
        opt.step()
    return torch.stack(out)


def first_epoch(values, target: float) -> float:
    hit = [i + 1 for i, v in enumerate(values) if v >= target]
    return float(hit[0]) if hit else math.nan


def boundary(sweep: Path, out: Path) -> dict:
    """lr_boundary.py's sweep to divergence (the sweep's own JSON if ``run_experiments.sh
    --long`` wrote one, else the tracked one): per arm, gain and seed the largest rate that
    still trains (final validation accuracy >= the JSON's bar) and the next rate of the grid,
    where it no longer does; batch norm against none through the paired rule, pair by pair
    (the same gain and seed: the same split and batch order)."""
    rec = R.side_study(sweep, out, BOUNDARY)
    if rec is None:
        return {"boundary_ran": False}
    runs = pd.DataFrame(rec["runs"])
    runs["trains"] = runs.val_acc.fillna(0.0) >= rec["trains_at"]
    lrs = sorted(runs.lr.unique())
    rows = []
    for (norm, gain, seed), g in runs.groupby(["norm", "gain", "seed"]):
        ok = sorted(g[g.trains].lr)
        top = ok[-1] if ok else None
        above = [lr for lr in sorted(g.lr) if top is not None and lr > top]
        rows.append({"norm": norm, "gain": gain, "seed": seed, "largest": top,
                     "fails": above[0] if above else None})
    b = pd.DataFrame(rows)
    fig, axes = R.subplots(1, ncols=1, size=(4.8, 3.2))
    for (norm, gain), g in runs.groupby(["norm", "gain"]):
        med = g.groupby("lr").val_acc.median()
        axes[0].plot(med.index, med.values, "-o" if norm == "batch" else "--s", ms=3,
                     label=f"{'BN' if norm == 'batch' else 'no BN'}, gain {gain:g}")
    axes[0].axhline(rec["trains_at"], color="k", lw=0.5)
    axes[0].set(xscale="log", xlabel="learning rate (plain SGD)",
                ylabel="final val acc (median of seeds)", ylim=(0, 1))
    axes[0].legend(fontsize=6)
    fig_name = R.savefig(fig, out / "lr_boundary.png")

    def log_largest(norm, gain=None):
        g = b[(b.norm == norm) & ((b.gain == gain) if gain is not None else True)]
        # an arm that trains at no rate sits half a decade below the grid
        return [math.log10(v) if v is not None and not pd.isna(v) else math.log10(lrs[0]) - 0.5
                for v in g.sort_values(["gain", "seed"]).largest]

    gains = sorted(b.gain.unique())
    per_gain = {gn: R.compare(log_largest("batch", gn), log_largest("none", gn), paired=True)
                for gn in gains}
    overall = R.compare(log_largest("batch"), log_largest("none"), paired=True)
    table = ["| gain | batch norm | largest rate that trains (per seed) | next rate: fails |",
             "|---|---|---|---|"]
    for (gain, norm), g in b.groupby(["gain", "norm"]):
        g = g.sort_values("seed")
        table.append(f"| {gain:g} | {'yes' if norm == 'batch' else 'no'} | "
                     + ", ".join("none" if pd.isna(v) else f"{v:g}" for v in g.largest) + " | "
                     + ", ".join("— (grid's top)" if pd.isna(v) else f"{v:g}" for v in g.fails)
                     + " |")
    edge = bool(b.fails.isna().any())
    return {
        "boundary_ran": True, "boundary_fig": fig_name, "boundary_rec": rec,
        "boundary_table": "\n".join(table), "boundary_lrs": [float(v) for v in lrs],
        "boundary_seeds": int(b.seed.nunique()), "boundary_gains": [float(v) for v in gains],
        "boundary_held": R.claim(overall), "boundary_cmp": str(overall),
        "boundary_per_gain": "; ".join(f"gain {gn:g}: {c}" for gn, c in per_gain.items()),
        "boundary_gain_verdicts": {float(gn): c.a_better for gn, c in per_gain.items()},
        "boundary_edge": edge,
    }


def build(sweep: Path, out: Path) -> dict:
    t, curves = R.load(sweep)
    t["batch norm"] = t["model.norm"].map(lambda v: "yes" if v == "batch" else "no")
    t["lr"], t["init gain"] = t["optim.lr"], t["init.kwargs.gain"]
    t[f"epochs to {TARGET} val acc"] = [
        first_epoch(list(R.curve(curves, j, "val/acc").value), TARGET) for j in t.job]

    fig, axes = R.subplots(4, ncols=2, size=(4.4, 3.2))
    combos = [(lr, gain) for lr in sorted(t.lr.unique())
              for gain in sorted(t["init gain"].unique())]
    for ax, (lr, gain) in zip(axes, combos, strict=True):
        for bn, color in (("no", "tab:red"), ("yes", "tab:blue")):
            for _, r in t[(t.lr == lr) & (t["init gain"] == gain) & (t["batch norm"] == bn)
                          ].iterrows():
                c = R.curve(curves, r.job, "val/acc")
                ax.plot(range(1, len(c) + 1), c.value, color=color, lw=1,
                        label=f"BN {bn}" if r.seed == 0 else None)
        ax.set(title=f"lr {lr:g}, init gain {gain:g}", xlabel="epoch", ylabel="val acc",
               ylim=(0, 1))
    axes[0].legend(fontsize=7)
    key_fig = R.savefig(fig, out / "val_acc.png")

    seeds = sorted(int(v) for v in t.seed.unique())
    d = {(norm, s): drift(norm, seed=s) for norm in (None, "batch") for s in seeds}
    fig, axes = R.subplots(2, ncols=2, size=(4.4, 3.2))
    for ax, norm in zip(axes, (None, "batch"), strict=True):
        p = d[norm, seeds[0]]
        steps = [10 * i for i in range(len(p))]
        for k, lab in enumerate(("15th", "50th", "85th")):
            ax.plot(steps, p[:, k], label=lab)
        ax.set(title="with batch norm" if norm else "without batch norm", xlabel="step",
               ylabel="sigmoid input of unit 1, layer 3")
    axes[0].legend(fontsize=7)
    drift_fig = R.savefig(fig, out / "drift.png")
    # drift: how far the percentiles move after the first 100 steps, relative to their spread
    move = {}
    for (norm, _seed), p in d.items():
        late = p[10:]
        move.setdefault(norm, []).append(float((late.max(0).values - late.min(0).values).max()
                                               / (p[-1, 2] - p[-1, 0]).clamp_min(1e-12)))

    table = R.seeds_table(t, ["batch norm", "lr", "init gain"], {
        f"epochs to {TARGET} val acc": f"epochs to {TARGET} val acc",
        "train/loss_epoch": "final train loss", "val/acc": "final val acc"})

    def acc(bn, lr, gain):
        return R.median(t, "val/acc", **{"batch norm": bn, "lr": lr, "init gain": gain})

    def per_seed(col, bn, lr, gain):
        g = t[(t["batch norm"] == bn) & (t.lr == lr) & (t["init gain"] == gain)]
        return g.sort_values("seed")[col].astype(float).tolist()

    lrs, gains = sorted(t.lr.unique()), sorted(t["init gain"].unique())
    lo, hi, g1, g4 = lrs[0], lrs[-1], gains[0], gains[-1]
    epochs_col = f"epochs to {TARGET} val acc"
    never = R.job_config(Path(t.dir.iloc[0])).trainer.max_epochs + 1
    # a run that never reaches the target counts as one epoch past the budget: slower than any
    # that does, and the seed rule still sees how the seeds disagree
    bn_ep, plain_ep = ([never if math.isnan(v) else v for v in per_seed(epochs_col, bn, lo, g1)]
                       for bn in ("yes", "no"))
    faster = R.compare(bn_ep, plain_ep, higher_is_better=False, paired=True)
    higher_lr = R.compare(per_seed("val/acc", "yes", hi, g1), per_seed("val/acc", "no", hi, g1),
                          paired=True)
    # each seed's change of accuracy from gain g1 to g4, the same seed on both sides
    change = {bn: [abs(a - b) for a, b in zip(per_seed("val/acc", bn, lo, g4),
                                              per_seed("val/acc", bn, lo, g1), strict=True)]
              for bn in ("yes", "no")}
    less_sensitive = R.compare(change["yes"], change["no"], higher_is_better=False, paired=True)
    less_drift = R.compare(move["batch"], move[None], higher_is_better=False, paired=True)
    return {
        "key_fig": key_fig, "drift_fig": drift_fig, "table": table, "target": TARGET,
        "drift_steps": DRIFT_STEPS, "probe": PROBE, "drift_seeds": len(seeds),
        "lo": lo, "hi": hi, "g1": g1, "g4": g4,
        "faster": R.claim(faster), "faster_cmp": str(faster),
        "bn_epochs": R.median(t, epochs_col, **{"batch norm": "yes", "lr": lo, "init gain": g1}),
        "plain_epochs": R.median(t, epochs_col, **{"batch norm": "no", "lr": lo,
                                                   "init gain": g1}),
        "acc": {(bn, lr, g): acc(bn, lr, g) for bn in ("yes", "no") for lr in lrs for g in gains},
        "higher_lr": R.claim(higher_lr), "higher_lr_cmp": str(higher_lr),
        "less_sensitive": R.claim(less_sensitive), "sensitive_cmp": str(less_sensitive),
        "less_drift": R.claim(less_drift), "drift_cmp": str(less_drift),
        "move_plain": float(pd.Series(move[None]).median()),
        "move_bn": float(pd.Series(move["batch"]).median()),
        **boundary(sweep, out),
    }


if __name__ == "__main__":
    sys.exit(R.main(build, HERE))
