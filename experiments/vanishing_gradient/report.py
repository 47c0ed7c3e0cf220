"""Report of the vanishing-gradient sweep: ``python experiments/vanishing_gradient/report.py
[sweep] [--out DIR | --update-tracked]`` fills README.md.in beside it."""

from __future__ import annotations

import math
import sys
from pathlib import Path

from nnref.experiment import reporting as R

HERE = Path(__file__).resolve().parent
ACTS = ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "swish"]
RATIO = R.RATIO


def layer_norms(row, when: str) -> list[float]:
    tags = sorted((k for k in row.index if k.startswith("grad_norm/") and k.endswith(when)
                   and not isinstance(row[k], str) and not math.isnan(row[k])),
                  key=R.natural)
    return [float(row[t]) for t in tags]


def build(sweep: Path, out: Path) -> dict:
    t, _ = R.load(sweep)
    t["depth"] = t["model.depth"]
    t["activation"] = t["model.activation"]
    deepest = int(t.depth.max())

    fig, axes = R.subplots(2, ncols=2, size=(4.6, 3.4))
    for act in ACTS:
        rows = t[(t.activation == act) & (t.depth == deepest)].sort_values("seed")
        if not len(rows):
            continue
        r = rows.iloc[0]
        axes[0].plot(range(1, deepest + 2), layer_norms(r, "@first"), marker=".", label=act)
        sub = t[t.activation == act].groupby("depth")[f"{RATIO}@first"].median()
        axes[1].plot(sub.index, sub.values, marker="o", label=act)
    axes[0].set(yscale="log", xlabel="layer (1 = input side, last = output)",
                ylabel="gradient norm at init", title=f"depth {deepest}, seed 0")
    axes[1].set(yscale="log", xlabel="hidden layers", ylabel="first / last layer grad norm",
                title="at init, median of seeds")
    axes[1].axhline(1.0, color="k", lw=0.5)
    axes[0].legend(fontsize=7)
    key_fig = R.savefig(fig, out / "grad_norms_at_init.png")

    fig, axes = R.subplots(1, ncols=1, size=(5, 3.4))
    for act in ACTS:
        sub = t[t.activation == act].groupby("depth")["val/acc"].median()
        axes[0].plot(sub.index, sub.values, marker="o", label=act)
    axes[0].set(xlabel="hidden layers", ylabel="val accuracy after 10 epochs (median)")
    axes[0].legend(fontsize=7)
    acc_fig = R.savefig(fig, out / "accuracy_vs_depth.png")

    table = R.seeds_table(t, ["activation", "depth"], {
        f"{RATIO}@first": "first/last grad at init", RATIO: "first/last grad, end",
        "val/acc": "val acc"})

    def ratio(act, depth, col=f"{RATIO}@first"):
        return R.median(t, col, activation=act, depth=depth)

    def decades(act):
        """log10 of the first/last ratio at init at the deepest depth, one per seed: the claim
        is about orders of magnitude, and a ratio's spread over seeds is multiplicative."""
        rows = t[(t.activation == act) & (t.depth == deepest)].sort_values("seed")
        return [math.log10(v) for v in rows[f"{RATIO}@first"].astype(float)]

    sig = ratio("sigmoid", deepest)
    fam = {a: ratio(a, deepest) for a in ("relu", "leaky_relu", "elu", "selu", "swish")}
    vanishes = {a: R.compare(decades(a), decades("sigmoid"), paired=True) for a in fam}
    return {
        "key_fig": key_fig, "acc_fig": acc_fig, "table": table, "deepest": deepest,
        "held": R.claim(*vanishes.values()), "sig": sig, "sig2": ratio("sigmoid", 2),
        "held_cmp": "; ".join(f"{a} against sigmoid: {c}" for a, c in vanishes.items()),
        "per_layer": sig ** (1 / deepest), "family": R.listing(fam),
        "tanh": ratio("tanh", deepest), "tanh_end": ratio("tanh", deepest, RATIO),
        "sig_acc": R.median(t, "val/acc", activation="sigmoid", depth=deepest),
        "relu_acc": R.median(t, "val/acc", activation="relu", depth=deepest),
    }


if __name__ == "__main__":
    sys.exit(R.main(build, HERE))
