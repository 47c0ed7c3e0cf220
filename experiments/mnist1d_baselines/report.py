"""Report of the MNIST-1D baselines: ``python experiments/mnist1d_baselines/report.py
[sweep] [--out DIR | --update-tracked]`` fills README.md.in beside it."""

from __future__ import annotations

import sys
from pathlib import Path

from nnref.experiment import reporting as R

HERE = Path(__file__).resolve().parent
# Test accuracies published with the data set (Greydanus 2020; the mnist1d package README):
# logistic regression, MLP, CNN.
PUBLISHED = {"linear MLP (logistic regression)": 0.32, "MLP (ReLU)": 0.68, "CNN (ReLU)": 0.94}
NAMES = {("mlp", "identity"): "linear MLP (logistic regression)", ("mlp", "relu"): "MLP (ReLU)",
         ("cnn", "identity"): "linear CNN", ("cnn", "relu"): "CNN (ReLU)"}


def build(sweep: Path, out: Path) -> dict:
    t, curves = R.load(sweep)
    t["model name"] = [NAMES[m, a]
                       for m, a in zip(t["model"], t["model.activation"], strict=True)]
    t["published test acc"] = t["model name"].map(lambda n: PUBLISHED.get(n, "—"))

    fig, axes = R.subplots(2, ncols=2, size=(4.4, 3.2))
    names = list(NAMES.values())
    for i, n in enumerate(names):
        g = t[t["model name"] == n]
        axes[0].bar(i, g["test/acc"].median(), color="tab:blue", alpha=0.6)
        axes[0].plot([i] * len(g), g["test/acc"], "k.", ms=4)
        if n in PUBLISHED:
            axes[0].plot([i - 0.4, i + 0.4], [PUBLISHED[n]] * 2, "r-", lw=2)
        j = int(g[g.seed == g.seed.min()].job.iloc[0])
        c = R.curve(curves, j, "val/acc")
        axes[1].plot(c.step, c.value, label=n)
    axes[0].set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=6)
    axes[0].set(ylabel="test accuracy (red: published)", ylim=(0, 1))
    axes[1].set(xlabel="step", ylabel="val accuracy (seed 0)", ylim=(0, 1))
    axes[1].legend(fontsize=6)
    key_fig = R.savefig(fig, out / "baselines.png")

    table = R.seeds_table(t, ["model name", "published test acc"], {
        "test/acc": "test acc", "val/acc": "val acc", "train/acc": "final train acc"})

    ours = {n: R.median(t, "test/acc", **{"model name": n}) for n in names}
    close = {n: abs(ours[n] - p) for n, p in PUBLISHED.items()}
    order_ok = (ours["linear MLP (logistic regression)"] < ours["MLP (ReLU)"]
                < ours["CNN (ReLU)"])
    return {
        "key_fig": key_fig, "table": table, "ordered": order_ok, "ours": R.listing(ours),
        "published": R.listing(PUBLISHED), "distance": R.listing(close),
    }


if __name__ == "__main__":
    sys.exit(R.main(build, HERE))
