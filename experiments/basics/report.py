"""Report of the basics: ``python experiments/basics/report.py [sweep] [--out DIR |
--update-tracked]`` fills README.md.in beside it.

Besides the sweep (a linear model vs a tanh MLP on XOR and moons), it trains Rosenblatt's
perceptron (binary step, the perceptron rule) on a linearly separable set and on XOR and draws
the decision boundaries, and checks that softmax over two classes equals the sigmoid of the
logit difference.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from nnref.activations import binary_step, sigmoid, softmax
from nnref.experiment import reporting as R

HERE = Path(__file__).resolve().parent
PERCEPTRON_LR, PERCEPTRON_EPOCHS = 0.1, 100


def separable(n: int = 200, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two Gaussian clouds whose labels are the side of the line x1 + 0.5 x2 = 0.3 (points
    closer than 0.1 to it are dropped, so a margin exists and the rule must converge)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(4 * n, 2, generator=g) * 4 - 2
    s = x[:, 0] + 0.5 * x[:, 1] - 0.3
    keep = s.abs() > 0.1
    return x[keep][:n], (s[keep][:n] > 0).float()


def perceptron(x: torch.Tensor, y: torch.Tensor, epochs: int = PERCEPTRON_EPOCHS,
               lr: float = PERCEPTRON_LR):
    r"""Rosenblatt's rule :math:`w \leftarrow w + \eta (y - H(w^\top x + b)) x`, one sample at
    a time; returns the weights, the bias and the misclassified count after each epoch."""
    w, b = torch.zeros(2), torch.zeros(())
    errors = []
    for _ in range(epochs):
        for xi, yi in zip(x, y, strict=True):
            err = yi - binary_step(w @ xi + b)
            w, b = w + lr * err * xi, b + lr * err
        errors.append(int((binary_step(x @ w + b) != y).sum()))
        if errors[-1] == 0:
            break
    return w, b, errors


def build(sweep: Path, out: Path) -> dict:
    t, _ = R.load(sweep)
    t["dataset"] = t["data"]
    t["model"] = t["model.activation"].map({"identity": "linear (identity activation)",
                                            "tanh": "MLP, 8 tanh units"})
    table = R.seeds_table(t, ["dataset", "model"], {"val/acc": "val acc",
                                                    "val/loss": "val loss"})

    xs, ys = separable()
    # the XOR points of the seed-0 job, in raw coordinates so the boundary is drawn in them
    dm = R.job_data(t[(t.dataset == "xor") & (t.seed == 0)].dir.iloc[0], standardize=False)
    xx, yx = dm.splits["train"][0][:400], dm.splits["train"][1][:400, 0]
    runs = {"linearly separable": (xs, ys, *perceptron(xs, ys)),
            "XOR": (xx, yx, *perceptron(xx, yx))}
    fig, axes = R.subplots(3, ncols=3, size=(3.2, 3.0))
    for ax, (name, (x, y, w, b, _)) in zip(axes, runs.items(), strict=False):
        ax.scatter(x[:, 0], x[:, 1], c=y, s=4, cmap="coolwarm")
        line = torch.linspace(-2, 2, 2)
        if float(w[1].abs()) > 1e-9:
            ax.plot(line, -(w[0] * line + b) / w[1], "k-", lw=1.2)
        ax.set(xlim=(float(x[:, 0].min()), float(x[:, 0].max())),
               ylim=(float(x[:, 1].min()), float(x[:, 1].max())),
               title=f"perceptron: {name}")
    for name, (*_, errors) in runs.items():
        axes[2].plot(range(1, len(errors) + 1), errors, "-o", ms=2, label=name)
    axes[2].set(xlabel="epoch", ylabel="misclassified training points")
    axes[2].legend(fontsize=6)
    key_fig = R.savefig(fig, out / "perceptron.png")

    z = torch.randn(10_000, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 10
    diff = float((softmax(z, dim=1)[:, 1] - sigmoid(z[:, 1] - z[:, 0])).abs().max())

    sep_err, xor_err = runs["linearly separable"][4], runs["XOR"][4]

    def per_seed(d, m):
        g = t[(t.dataset == d) & (t["model.activation"] == m)]
        return g.sort_values("seed")["val/acc"].astype(float).tolist()

    hidden = {d: R.compare(per_seed(d, "tanh"), per_seed(d, "identity"), paired=True)
              for d in ("xor", "moons")}
    return {
        "table": table, "key_fig": key_fig, "softmax_diff": diff,
        "sep_epochs": len(sep_err), "sep_errors": sep_err[-1], "n_sep": len(ys),
        "xor_epochs": len(xor_err), "xor_errors": xor_err[-1], "n_xor": len(yx),
        "separates": sep_err[-1] == 0,
        "needs_hidden": R.claim(*hidden.values()),
        "xor_cmp": str(hidden["xor"]), "moons_cmp": str(hidden["moons"]),
        "softmax_is_sigmoid": diff < 1e-12,
        "perceptron_lr": PERCEPTRON_LR, "perceptron_epochs": PERCEPTRON_EPOCHS,
    }


if __name__ == "__main__":
    sys.exit(R.main(build, HERE))
