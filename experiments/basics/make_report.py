"""Report of the basics: ``python experiments/basics/make_report.py [sweep dir]`` writes
README.md and the figures next to this file.

Besides the sweep (a linear model vs a tanh MLP on XOR and moons), it trains Rosenblatt's
perceptron (binary step, the perceptron rule) on a linearly separable set and on XOR and draws
the decision boundaries, and checks that softmax over two classes equals the sigmoid of the
logit difference.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import analysis as A  # noqa: E402

from nnref.activations import binary_step, sigmoid, softmax  # noqa: E402
from nnref.experiment.data import build_datamodule  # noqa: E402


def separable(n: int = 200, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two Gaussian clouds whose labels are the side of the line x1 + 0.5 x2 = 0.3 (points
    closer than 0.1 to it are dropped, so a margin exists and the rule must converge)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(4 * n, 2, generator=g) * 4 - 2
    s = x[:, 0] + 0.5 * x[:, 1] - 0.3
    keep = s.abs() > 0.1
    return x[keep][:n], (s[keep][:n] > 0).float()


def perceptron(x: torch.Tensor, y: torch.Tensor, epochs: int = 100, lr: float = 0.1):
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


def build(sweep: Path) -> Path:
    t, _ = A.load(sweep)
    t["dataset"] = t["data"]
    t["model"] = t["model.activation"].map({"identity": "linear (identity activation)",
                                            "tanh": "MLP, 8 tanh units"})
    table = A.seeds_table(t, ["dataset", "model"], {"val/acc": "val acc",
                                                    "val/loss": "val loss"})

    xs, ys = separable()
    dm = build_datamodule("xor", seed=0, standardize=False)
    dm.setup()
    xx, yx = dm.splits["train"][0][:400], dm.splits["train"][1][:400, 0]
    runs = {"linearly separable": (xs, ys, *perceptron(xs, ys)),
            "XOR": (xx, yx, *perceptron(xx, yx))}
    fig, axes = A.subplots(3, ncols=3, size=(3.2, 3.0))
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
    key_fig = A.savefig(fig, HERE / "perceptron.png")

    z = torch.randn(10_000, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 10
    diff = float((softmax(z, dim=1)[:, 1] - sigmoid(z[:, 1] - z[:, 0])).abs().max())

    sep_err, xor_err = runs["linearly separable"][4], runs["XOR"][4]

    def acc(d, m):
        return A.median(t, "val/acc", dataset=d, **{"model.activation": m})

    conclusion = [
        A.verdict(sep_err[-1] == 0, f"the perceptron with the binary step separates the "
                  f"linearly separable set: 0 errors after {len(sep_err)} epoch(s) (the "
                  "perceptron convergence theorem: a finite number of mistakes when a margin "
                  f"exists). On XOR it still misclassifies {xor_err[-1]} of {len(yx)} points "
                  f"after {len(xor_err)} epochs: no line separates XOR (Minsky & Papert 1969)."),
        A.verdict(acc("xor", "tanh") > 0.9 > acc("xor", "identity") + 0.2,
                  f"XOR needs a hidden nonlinearity: validation accuracy of a linear model "
                  f"{A.fmt(acc('xor', 'identity'))} vs one hidden layer of 8 tanh units "
                  f"{A.fmt(acc('xor', 'tanh'))} (median of 3 seeds); on moons "
                  f"{A.fmt(acc('moons', 'identity'))} vs {A.fmt(acc('moons', 'tanh'))}."),
        A.verdict(diff < 1e-12, "seed 003: *\"If the number of classes is 2 SoftMax acts as a "
                  "sigmoid function\"*: softmax(z)₁ = e^{z₁}/(e^{z₀}+e^{z₁}) = "
                  "1/(1+e^{−(z₁−z₀)}) = σ(z₁ − z₀); on 10,000 random logit pairs (std 10, "
                  f"float64) the largest difference between nnref's softmax and sigmoid is "
                  f"{A.fmt(diff)}."),
    ]
    return A.write_readme(HERE, "Basics: perceptron, XOR, softmax vs sigmoid", [
        "## Question\n\nThe notes (seeds 000, 003, 004): *\"the first Neural network created is "
        "Perceptron\"*; *\"A Decision boundary is a line (in the case of 2D features) or a plane "
        "… that separates two classes\"*; the identity activation *\"cannot capture the "
        "non-linear relation between input and output\"*; *\"If the number of classes is 2 "
        "SoftMax acts as a sigmoid function.\"* Papers: Rosenblatt (1958); Novikoff (1962) "
        "convergence proof; Minsky & Papert (1969) on XOR; Rumelhart, Hinton & Williams (1986).",
        "## Set-up\n\nSweep: XOR (points in [−1, 1]², label = signs differ) and moons, "
        "1000 samples, noise 0.1; a linear model (one hidden layer with the identity "
        "activation: the composition of linear maps is linear) against 8 tanh units; Adam lr "
        "0.01, batch 32, 40 epochs, 3 seeds. Perceptron: the binary step H(w·x + b) trained "
        "by Rosenblatt's rule (η = 0.1, one sample at a time, up to 100 epochs) on 200 "
        "separable points and on 400 XOR points.\n\n```\n"
        "python experiments/train.py -m experiment=basics\n"
        "python experiments/basics/make_report.py\n```",
        f"## Results\n\n![perceptron]({key_fig})\n\n" + table,
        "## Conclusion\n\n" + "\n\n".join(conclusion),
    ], sweep)


if __name__ == "__main__":
    sys.exit(A.main(build, "basics"))
