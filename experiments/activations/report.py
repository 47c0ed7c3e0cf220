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


def paper_terms(sweep: Path, out: Path) -> dict:
    """The numbers of deep_swish.py's runs (the sweep's own ``deep_swish.json`` if
    ``run_experiments.sh --long`` wrote one, else the tracked one, which ``out`` then keeps):
    per depth and arm the rate with the lowest median validation loss, test accuracy there
    for every seed, and Swish (each initialisation) against ReLU through the seed rule."""
    rec = R.side_study(sweep, out, PAPER_TERMS)
    if rec is None:
        return {"paper_ran": False}
    runs = pd.DataFrame(rec["runs"])
    runs["arm"] = runs.activation + ", " + runs.init.map({"he": "He gain", "matched":
                                                          "matched gain"})
    runs["val_loss"] = runs.val_loss.astype(float).fillna(float("inf"))  # diverged: worst
    best = {k: g.groupby("lr").val_loss.median().idxmin()
            for k, g in runs.groupby(["depth", "arm"])}
    chosen = runs[[best[(d, a)] == lr for d, a, lr in zip(runs.depth, runs.arm, runs.lr,
                                                            strict=True)]]
    # an arm whose every rate leaves the training loss near ln 10 (chance on 10 classes) has
    # no best rate to speak of: its "best" is noise, wherever it falls on the grid
    stuck = {k for k, g in runs.groupby(["depth", "arm"])
             if g.groupby("lr").train_loss.median().min() > CHANCE_LOSS}
    edges = sorted(f"{a} at depth {d} ({lr:g})" for (d, a), lr in best.items()
                   if lr in (min(rec["lrs"]), max(rec["lrs"])) and (d, a) not in stuck)

    fig, axes = R.subplots(1, ncols=1, size=(4.8, 3.2))
    for (arm, g), color in zip(chosen.groupby("arm"), ("tab:red", "tab:green", "tab:olive"),
                               strict=True):
        axes[0].plot(g.depth, g.test_acc, ".", color=color, alpha=0.5)
        med = g.groupby("depth").test_acc.median()
        axes[0].plot(med.index, med.values, "-o", color=color, label=arm)
    axes[0].set(xlabel="hidden layers (batch norm, momentum SGD)", ylabel="test accuracy",
                title="best rate per depth and arm")
    axes[0].legend(fontsize=7)
    fig_name = R.savefig(fig, out / "deep_swish.png")

    def accs(arm, depth):
        return chosen[(chosen.arm == arm) & (chosen.depth == depth)].sort_values(
            "seed").test_acc

    depths = sorted(int(d) for d in runs.depth.unique())
    swish_he = {d: R.compare(accs("swish, He gain", d), accs("relu, He gain", d), paired=True)
                for d in depths}
    swish_matched = {d: R.compare(accs("swish, matched gain", d), accs("relu, He gain", d),
                                  paired=True)
                     for d in depths}
    init_effect = {d: R.compare(accs("swish, matched gain", d), accs("swish, He gain", d),
                                paired=True)
                   for d in depths}
    deep = [d for d in depths if d >= PAST]
    return {
        "paper_ran": True, "paper_fig": fig_name, "paper_rec": rec, "paper_past": PAST,
        "paper_depths": depths, "paper_seeds": int(runs.groupby(["depth", "arm", "lr"])
                                                   .size().min()),
        "paper_table": R.seeds_table(chosen.assign(**{"best lr": chosen.lr}),
                                     ["depth", "arm", "best lr"], {
            "test_acc": "test acc", "val_loss": "val loss",
            "train_loss": "last epoch's train loss"}),
        "paper_swish_wins": R.claim(*(swish_he[d] for d in deep)),
        "paper_matched_wins": R.claim(*(swish_matched[d] for d in deep)),
        "paper_vs": "; ".join(f"depth {d}: swish (He gain) against relu {swish_he[d]}"
                              for d in depths),
        "paper_matched_vs": "; ".join(f"depth {d}: {swish_matched[d]}" for d in deep),
        "paper_init": "; ".join(f"depth {d}: {init_effect[d]}" for d in depths),
        "paper_edges": ", ".join(edges),
        "paper_stuck": ", ".join(f"{a} at depth {d}" for d, a in sorted(stuck)),
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
