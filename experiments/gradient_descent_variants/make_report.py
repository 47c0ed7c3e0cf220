"""Report of batch vs stochastic vs mini-batch gradient descent:
``python experiments/gradient_descent_variants/make_report.py [sweep dir]`` writes README.md and
the figures next to this file."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import analysis as A  # noqa: E402

NAMES = {"full": "batch GD", 1: "stochastic GD (1)", 32: "mini-batch 32", 64: "mini-batch 64"}


def build(sweep: Path) -> Path:
    t, curves = A.load(sweep, wall_time=True)
    t["batch"] = t["data.batch_size"].map(lambda b: NAMES.get(b, str(b)))
    noise, seconds, steps = [], [], []
    for j in t.job:
        c = A.curve(curves, j, "train/loss_step")
        # roughness: typical step-to-step change of the log loss over the second half (a
        # single sample's loss can round to 0: the floor keeps its log finite)
        v = np.log(c.value.to_numpy() + 1e-6)
        half = v[len(v) // 2:]
        noise.append(float(np.median(np.abs(np.diff(half)))) if len(half) > 1 else np.nan)
        wt = curves[j].wall_time
        seconds.append(float(wt.max() - wt.min()))
        steps.append(float(c.step.max() + 1))
    t["noise"], t["seconds"], t["steps"] = noise, seconds, steps
    t["steps/epoch"] = [s / len(A.curve(curves, j, "train/loss_epoch"))
                        for s, j in zip(steps, t.job, strict=True)]

    fig, axes = A.subplots(3, ncols=3, size=(3.6, 3.0))
    for name in NAMES.values():
        rows = t[(t.batch == name) & (t.seed == 0)]
        if not len(rows):
            continue
        j = int(rows.job.iloc[0])
        e = A.curve(curves, j, "train/loss_epoch")
        axes[0].plot(np.arange(1, len(e) + 1), e.value, "-o", ms=3, label=name)
        s = A.curve(curves, j, "train/loss_step")
        t0 = curves[j].wall_time.min()
        axes[1].plot(s.wall_time - t0, s.value, lw=0.6, label=name)
        axes[2].plot(s.step / max(1.0, float(rows["steps/epoch"].iloc[0])), s.value, lw=0.6,
                     label=name)
    axes[0].set(yscale="log", xlabel="epoch", ylabel="mean training loss of the epoch")
    axes[1].set(yscale="log", xlabel="wall-clock seconds", ylabel="training loss (per step)")
    axes[2].set(yscale="log", xlabel="epoch", ylabel="training loss (per step)")
    axes[0].legend(fontsize=6)
    key_fig = A.savefig(fig, HERE / "loss_curves.png")

    table = A.seeds_table(t, ["batch"], {
        "steps/epoch": "steps per epoch", "noise": "step-to-step |Δ log loss|",
        "train/loss_epoch": "final epoch loss", "val/acc": "val acc", "seconds": "seconds"})

    def med(col, name):
        return A.median(t, col, batch=name)

    n = {k: med("noise", k) for k in NAMES.values()}
    loss = {k: med("train/loss_epoch", k) for k in NAMES.values()}
    secs = {k: med("seconds", k) for k in NAMES.values()}
    smooth = n["batch GD"] < n["mini-batch 32"] < n["stochastic GD (1)"]
    conclusion = [
        A.verdict(smooth, "smoothness (seed 003: batch GD *\"Cost function reduces "
                  "smoothly\"*, SGD *\"Lot of variations in cost function\"*, mini-batch "
                  "*\"Smoother cost function as compared to SGD\"*): median step-to-step change "
                  "of the log training loss " + ", ".join(f"{k} {A.fmt(v)}"
                                                         for k, v in n.items()) + "."),
        A.verdict(loss["stochastic GD (1)"] < loss["batch GD"],
                  "progress per epoch at the same learning rate (0.05): final epoch loss "
                  + ", ".join(f"{k} {A.fmt(v)}" for k, v in loss.items())
                  + ". One epoch of batch GD is a single step, one of SGD is 256 steps."),
        "Time (seed 003: SGD *\"Computation time is more\"*, mini-batch *\"Computation time "
        "is lesser than SGD\"*): wall-clock seconds for 15 epochs "
        + ", ".join(f"{k} {A.fmt(v)}" for k, v in secs.items())
        + ". Per epoch, SGD pays the fixed cost of a step (kernel launches, Python, logging) "
        "256 times; on this machine (2 shared CPU cores) timings are indicative only.",
    ]
    return A.write_readme(HERE, "Batch, stochastic and mini-batch gradient descent", [
        "## Question\n\nThe notes (seed 000): *\"Stochastic Gradient Descent: speeds up the "
        "process by updating weights after one random training sample … Mini batch gradient "
        "descent: used small batches like 32 (or) 64 samples: good speed and the "
        "stability.\"* Seed 003 compares the three (quoted in the conclusion). Background: "
        "Robbins & Monro (1951); Bottou (2010), \"Large-scale machine learning with stochastic "
        "gradient descent\"; Keskar et al. (2017) on large batches.",
        "## Set-up\n\nMLP 2 x 64 ReLU, He normal, on 256 training digits, plain SGD lr 0.05 "
        "for 15 epochs with batch = all 256 (batch GD), 1, 32 and 64; 3 seeds; the training "
        "loss is logged at every step with its wall-clock time.\n\n```\n"
        "python experiments/train.py -m experiment=gradient_descent_variants\n"
        "python experiments/gradient_descent_variants/make_report.py\n```",
        f"## Results\n\n![loss curves]({key_fig})\n\n" + table,
        "## Conclusion\n\n" + "\n\n".join(conclusion),
    ], sweep)


if __name__ == "__main__":
    sys.exit(A.main(build, "gradient_descent_variants"))
