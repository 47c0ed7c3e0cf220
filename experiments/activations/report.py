"""Report of the activation comparison: ``python experiments/activations/report.py
[sweep] [--out DIR | --update-tracked]`` fills README.md.in beside it."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from nnref.experiment import reporting as R

HERE = Path(__file__).resolve().parent
DEEP_LR = 0.001  # the rate of the ReLU vs Swish depth arms

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

    deep_cmp = {d: R.compare(accs("swish", d), accs("relu", d)) for d in deep_ds}
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
    }


if __name__ == "__main__":
    sys.exit(R.main(build, HERE))
