"""Report of the regularization study: ``python experiments/regularization/report.py
[sweep] [--out DIR | --update-tracked]`` fills README.md.in beside it."""

from __future__ import annotations

import sys
from pathlib import Path

from nnref.experiment import reporting as R

HERE = Path(__file__).resolve().parent

def build(sweep: Path, out: Path) -> dict:
    t, curves = R.load(sweep)
    t["gap"] = t["train/acc"] - t["val/acc"]
    t["epochs"] = [len(R.curve(curves, j, "val/acc")) for j in t.job]
    regimes = list(dict.fromkeys(t.regime))

    fig, axes = R.subplots(2, ncols=2, size=(4.6, 3.4))
    for i, r in enumerate(regimes):
        g = t[t.regime == r]
        for ax, col in zip(axes, ("val/acc@max", "gap"), strict=True):
            ax.bar(i, g[col].median(), color="tab:blue", alpha=0.6)
            ax.plot([i] * len(g), g[col], "k.", ms=4)
    labels = ("best val accuracy", "train acc - val acc at the end")
    for ax, label in zip(axes, labels, strict=True):
        ax.set_xticks(range(len(regimes)), regimes, rotation=45, ha="right", fontsize=7)
        ax.set(ylabel=label)
    key_fig = R.savefig(fig, out / "regularization.png")

    fig, axes = R.subplots(1, ncols=1, size=(5.0, 3.4))
    for r in regimes:
        j = int(t[(t.regime == r) & (t.seed == 0)].job.iloc[0])
        c = R.curve(curves, j, "val/loss")
        axes[0].plot(range(1, len(c) + 1), c.value, lw=1, label=r)
    axes[0].set(xlabel="epoch", ylabel="validation loss (seed 0)", yscale="log")
    axes[0].legend(fontsize=6)
    curve_fig = R.savefig(fig, out / "val_loss.png")

    table = R.seeds_table(t, ["regime"], {
        "train/acc": "final train acc", "val/acc": "final val acc",
        "val/acc@max": "best val acc", "gap": "gap (train - val)", "epochs": "epochs"})
    base_gap = R.median(t, "gap", regime="none")
    base_best = R.median(t, "val/acc@max", regime="none")
    base_final = R.median(t, "val/acc", regime="none")
    res = {r: (R.median(t, "gap", regime=r), R.median(t, "val/acc@max", regime=r),
               R.median(t, "val/acc", regime=r)) for r in regimes if r != "none"}
    smaller_gap = [r for r, v in res.items() if v[0] < base_gap - 0.02]
    better = [r for r, v in res.items() if v[2] > base_final + 0.01]
    return {
        "key_fig": key_fig, "curve_fig": curve_fig, "table": table,
        "base_train": R.median(t, "train/acc", regime="none"), "base_final": base_final,
        "base_best": base_best, "base_gap": base_gap,
        "held": len(smaller_gap) >= len(res) // 2,
        "smaller_gap": ", ".join(smaller_gap) or "none", "better": ", ".join(better) or "none",
        "no_effect": ", ".join(r for r in res if r not in smaller_gap and r not in better)
        or "none",
        "per_regime": "; ".join(f"{r} {R.fmt(v[0])}, {R.fmt(v[1])}, {R.fmt(v[2])}"
                                for r, v in res.items()),
    }


if __name__ == "__main__":
    sys.exit(R.main(build, HERE))
