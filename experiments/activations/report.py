"""Report of the activation comparison: ``python experiments/activations/report.py
[sweep] [--out DIR | --update-tracked]`` fills README.md.in beside it."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from nnref.experiment import reporting as R

HERE = Path(__file__).resolve().parent
DEEP_LR = 0.001  # the rate of the ReLU vs Swish depth arms
PAPER_TERMS = HERE / "deep_swish.json"  # written by deep_swish.py beside this script
PAST = 40  # the depth from which the paper reports Swish ahead
CHANCE_LOSS = 2.0  # ln 10 = 2.30: a training loss above 2 has learnt next to nothing


ARM_NAMES = {"he": "He gain", "matched": "matched gain"}
CHANCE_ACC = 0.2  # 10 classes: a test accuracy above 0.2 has left chance (0.1)


def _choose(runs: pd.DataFrame) -> dict:
    """Per placement, depth and arm: the rate with the lowest median validation loss, the runs
    there, which arms no rate trains, which best rates sit on the edge of the rates that arm
    tried."""
    runs = runs.copy()
    runs["val_loss"] = runs.val_loss.astype(float).fillna(float("inf"))  # diverged: worst
    keys = ["placement", "depth", "arm"]
    best = {k: g.groupby("lr").val_loss.median().idxmin() for k, g in runs.groupby(keys)}
    chosen = runs[[best[k] == lr for k, lr in zip(
        zip(runs.placement, runs.depth, runs.arm, strict=True), runs.lr, strict=True)]]
    # an arm whose every rate leaves the training loss near ln 10 (chance on 10 classes) has
    # no best rate to speak of: its "best" is noise, wherever it falls on the grid
    stuck = {k for k, g in runs.groupby(keys)
             if g.groupby("lr").train_loss.median().astype(float).fillna(9.0).min()
             > CHANCE_LOSS}
    tried = {k: sorted(g.lr.unique()) for k, g in runs.groupby(keys)}
    edges = sorted(f"{k[2]}, BN {k[0]}, depth {k[1]} ({lr:g} of "
                   f"{', '.join(f'{v:g}' for v in tried[k])})" for k, lr in best.items()
                   if lr in (tried[k][0], tried[k][-1]) and k not in stuck)
    return {"chosen": chosen, "stuck": stuck, "edges": edges, "best": best}


def _grid(runs: pd.DataFrame) -> str:
    """``depths 10, 25 at rates 0.1, 0.3; depth 50 at rate 0.01``: the depths that tried the
    same rates, together."""
    rates = {int(d): tuple(sorted(g.lr.unique())) for d, g in runs.groupby("depth")}
    groups: dict[tuple, list[int]] = {}
    for d, r in sorted(rates.items()):
        groups.setdefault(r, []).append(d)
    return "; ".join(f"depth{'s' if len(ds) > 1 else ''} {', '.join(map(str, ds))} at "
                     f"rate{'s' if len(r) > 1 else ''} {', '.join(f'{v:g}' for v in r)}"
                     for r, ds in groups.items())


def paper_terms(sweep: Path, out: Path) -> dict:
    """The numbers of deep_swish.py's runs (the sweep's own ``deep_swish.json`` if
    ``run_experiments.sh --long`` wrote one, else the tracked one, which ``out`` then keeps):
    per batch-norm placement, depth and arm the rate with the lowest median validation loss,
    test accuracy there for every seed (batch norm's statistics recomputed over the training
    set where the run did so, else its running statistics, said so), and Swish (each
    initialisation) against ReLU through the paired seed rule, a verdict per placement."""
    rec = R.side_study(sweep, out, PAPER_TERMS)
    if rec is None:
        return {"paper_ran": False}
    runs = pd.DataFrame(rec["runs"])
    runs["arm"] = runs.activation + ", " + runs.init.map(ARM_NAMES)
    recomputed = runs.bn_stats == "recomputed"
    # where a cell (placement, depth) has runs with recomputed statistics, only those count
    cells = set(zip(runs[recomputed].placement, runs[recomputed].depth, strict=True))
    old = ~recomputed & pd.Series([(p, d) not in cells for p, d in zip(
        runs.placement, runs.depth, strict=True)], index=runs.index)
    runs.loc[old, "val_loss"] = runs.loc[old, "val_loss_running"]
    runs.loc[old, "test_acc"] = runs.loc[old, "test_acc_running"]
    # before the activation, batch norm divides any gain out again (BN(cWx) = BN(Wx)): the
    # first version's matched-gain arm there is left out, as deep_swish.py no longer runs it
    runs = runs[(recomputed | old) & ~((runs.placement == "before") & (runs.init == "matched"))]
    main = runs[(runs.data == "digits") & (runs.steps == rec["default_steps"])]
    pick = _choose(main)
    chosen = pick["chosen"]

    placements = [p for p in ("before", "after") if p in set(main.placement)]
    fig, axes = R.subplots(len(placements), ncols=2, size=(4.4, 3.2))
    for ax, pl in zip(axes, placements, strict=True):
        c = chosen[chosen.placement == pl]
        for (arm, g), color in zip(c.groupby("arm"), ("tab:red", "tab:green", "tab:olive"),
                                   strict=False):
            ax.plot(g.depth, g.test_acc, ".", color=color, alpha=0.5)
            med = g.groupby("depth").test_acc.median()
            ax.plot(med.index, med.values, "-o", color=color, label=arm)
        ax.set(xlabel="hidden layers", ylabel="test accuracy", ylim=(0, 1),
               title=f"BN {pl} the activation, best rate each")
        ax.legend(fontsize=7)
    fig_name = R.savefig(fig, out / "deep_swish.png")

    def pair(frame, pl, depth, a, b):
        """``a`` against ``b`` at one placement and depth, on the seeds both ran."""
        g = frame[(frame.placement == pl) & (frame.depth == depth)]
        acc = {arm: g[g.arm == arm].set_index("seed").test_acc for arm in (a, b)}
        seeds = sorted(set(acc[a].index) & set(acc[b].index))
        return R.compare(acc[a][seeds], acc[b][seeds], paired=True) if seeds else None

    def pairs(frame, pl, a, b):
        """``a`` against ``b`` at every depth where both ran."""
        found = {d: pair(frame, pl, d, a, b) for d in sorted(int(v) for v in frame.depth.unique())}
        return {d: c for d, c in found.items() if c is not None}

    verdicts, lines, matched, init_effect, left = {}, {}, {}, {}, []
    for pl in placements:
        c = chosen[chosen.placement == pl]
        he = pairs(c, pl, "swish, He gain", "relu, He gain")
        verdicts[pl] = R.claim(*(v for d, v in he.items() if d >= PAST))
        lines[pl] = "; ".join(f"depth {d}: {v}" for d, v in he.items())
        ms = pairs(c, pl, "swish, matched gain", "relu, He gain")
        if ms:
            matched[pl] = {"held": R.claim(*(v for d, v in ms.items() if d >= PAST)),
                           "text": "; ".join(f"depth {d}: {v}" for d, v in ms.items())}
            ie = pairs(c, pl, "swish, matched gain", "swish, He gain")
            init_effect[pl] = "; ".join(f"depth {d}: {v}" for d, v in ie.items())
        g = main[main.placement == pl]
        for (d, arm), h in g.groupby(["depth", "arm"]):
            left.append(f"BN {pl}, depth {d}, {arm}: {int((h.test_acc > CHANCE_ACC).sum())}"
                        f" of {len(h)}")

    both = main[main.bn_stats == "recomputed"]
    gap = (both.test_acc - both.test_acc_running).abs()

    checks = []
    for (data, steps), g in runs.groupby(["data", "steps"]):
        if data == "digits" and steps == rec["default_steps"]:
            continue
        cp = _choose(g)["chosen"]
        for (pl, d), h in cp.groupby(["placement", "depth"]):
            cmp = pair(h, pl, d, "swish, He gain", "relu, He gain")
            if cmp is not None:
                who = {True: "Swish ahead", False: "ReLU ahead", None: "inconclusive"}
                checks.append(f"{data}, {steps} steps, BN {pl}, depth {d}: swish against relu "
                              f"{cmp} — {who[cmp.a_better]}")

    table = R.seeds_table(chosen.assign(**{"best lr": chosen.lr, "BN stats": chosen.bn_stats}),
                          ["placement", "depth", "arm", "best lr", "BN stats"], {
        "test_acc": "test acc", "test_acc_running": "test acc, running BN stats",
        "val_loss": "val loss", "train_loss": "last epoch's train loss"})
    return {
        "paper_ran": True, "paper_fig": fig_name, "paper_rec": rec, "paper_past": PAST,
        "paper_placements": placements, "paper_table": table,
        "paper_seeds": int(main.groupby(["placement", "depth", "arm", "lr"]).size().min()),
        "paper_grid": {pl: _grid(main[main.placement == pl]) for pl in placements},
        "paper_running_only": sorted({f"BN {p}, depth {d}" for p, d in zip(
            main[main.bn_stats == "running"].placement, main[main.bn_stats == "running"].depth,
            strict=True)}),
        "paper_verdicts": verdicts, "paper_vs": lines, "paper_matched": matched,
        "paper_init": init_effect, "paper_left": "; ".join(left),
        "paper_bn_gap": (float(gap.median()), float(gap.max())) if len(gap) else None,
        "paper_checks": checks,
        "paper_edges": ", ".join(pick["edges"]),
        "paper_stuck": ", ".join(f"{a} (BN {p}) at depth {d}" for p, d, a in
                                 sorted(pick["stuck"])),
    }


def build(sweep: Path, out: Path) -> dict:
    t, _ = R.load(sweep)
    t["activation"], t["depth"], t["lr"] = t["arm.activation"], t["arm.depth"], t["arm.lr"]
    base = int(t.depth.min())
    shallow = t[t.depth == base]
    # per-activation learning rate: the one with the lower median validation *loss*
    best_lr = {a: g.groupby("lr")["val/loss"].median().idxmin()
               for a, g in shallow.groupby("activation")}
    chosen = shallow[[best_lr[a] == lr
                      for a, lr in zip(shallow.activation, shallow.lr, strict=True)]]
    order = chosen.groupby("activation")["val/acc"].median().sort_values(ascending=False)

    fig, axes = R.subplots(2, ncols=2, size=(4.8, 3.4))
    ax = axes[0]
    for i, act in enumerate(order.index):
        v = chosen[chosen.activation == act]["val/acc"]
        ax.bar(i, v.median(), color="tab:blue", alpha=0.6)
        ax.plot([i] * len(v), v, "k.", ms=4)
    ax.set_xticks(range(len(order)), order.index, rotation=45, ha="right", fontsize=7)
    ax.set(ylabel="val accuracy", title=f"depth {base}, best lr each (bars: median)",
           ylim=(max(0.0, float(chosen['val/acc'].min()) - 0.05), 1.0))
    # depth `base` at each one's best rate, the deep arms at theirs
    pair = ["relu", "swish"]
    deep = pd.concat([chosen[chosen.activation.isin(pair)],
                      t[t.activation.isin(pair) & (t.depth > base) & (t.lr == DEEP_LR)]])
    for act, color in (("relu", "tab:red"), ("swish", "tab:green")):
        g = deep[deep.activation == act]
        axes[1].plot(g.depth, g["val/acc"], ".", color=color, alpha=0.6)
        med = g.groupby("depth")["val/acc"].median()
        axes[1].plot(med.index, med.values, "-o", color=color, label=act)
    axes[1].set(xlabel="hidden layers", ylabel="val accuracy",
                title=f"ReLU vs Swish (deep: lr {DEEP_LR:g})")
    axes[1].legend(fontsize=7)
    key_fig = R.savefig(fig, out / "activations.png")

    chosen_table = R.seeds_table(chosen, ["activation", "lr"], {
        "val/acc": "val acc", "val/loss": "val loss", "train/loss_epoch": "final train loss"},
        sort="val/acc", ascending=False)
    all_table = R.seeds_table(shallow, ["activation", "lr"], {"val/acc": "val acc",
                                                             "val/loss": "val loss"})
    deep_table = R.seeds_table(deep, ["activation", "depth"], {
        "val/acc": "val acc", "train/loss_epoch": "final train loss",
        f"{R.RATIO}@first": "first/last layer gradient at init"})

    def med(act, depth):
        return R.median(deep, "val/acc", activation=act, depth=depth)

    depths = sorted(int(d) for d in deep.depth.unique())
    deep_ds = [d for d in depths if d >= 40]
    def accs(act, depth):
        g = deep[(deep.activation == act) & (deep.depth == depth)].sort_values("seed")
        return g["val/acc"]

    deep_cmp = {d: R.compare(accs("swish", d), accs("relu", d), paired=True) for d in deep_ds}
    grids = {a: sorted(g.lr.unique()) for a, g in shallow.groupby("activation")}
    edges = {a: lr for a, lr in best_lr.items() if lr in (grids[a][0], grids[a][-1])}
    return {
        "key_fig": key_fig, "chosen_table": chosen_table, "deep_table": deep_table,
        "all_table": all_table, "base": base, "ranking": R.listing(order),
        "top": order.index[0], "bottom": order.index[-1],
        "spread": order.iloc[0] - order.iloc[-1], "n": len(order),
        "sigmoid_rank": list(order.index).index("sigmoid") + 1,
        "swish_wins": R.claim(*deep_cmp.values()), "shallowest": depths[0],
        "init_ratio": {a: R.median(deep, f"{R.RATIO}@first", activation=a, depth=depths[-1])
                       for a in pair},
        "deepest": depths[-1],
        "deep": "; ".join(f"depth {d}, swish against relu: {deep_cmp[d]}" for d in deep_ds),
        "swish_shallow": med("swish", depths[0]), "relu_shallow": med("relu", depths[0]),
        "lr_edges": ", ".join(f"{a} ({lr:g} of {', '.join(f'{v:g}' for v in grids[a])})"
                              for a, lr in sorted(edges.items())),
        "deep_lr": DEEP_LR,
        **paper_terms(sweep, out),
    }


if __name__ == "__main__":
    sys.exit(R.main(build, HERE))
