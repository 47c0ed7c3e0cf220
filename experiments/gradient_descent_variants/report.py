"""Report of batch vs stochastic vs mini-batch gradient descent:
``python experiments/gradient_descent_variants/report.py [sweep] [--out DIR | --update-tracked]``
fills README.md.in beside it."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from nnref.experiment import reporting as R

HERE = Path(__file__).resolve().parent
NAMES = {"full": "batch GD", 1: "stochastic GD (1)", 32: "mini-batch 32", 64: "mini-batch 64"}


def build(sweep: Path, out: Path) -> dict:
    t, curves = R.load(sweep, wall_time=True)
    t["batch"] = t["data.batch_size"].map(lambda b: NAMES.get(b, str(b)))
    noise, seconds, steps = [], [], []
    for j in t.job:
        c = R.curve(curves, j, "train/loss_step")
        # roughness: typical step-to-step change of the log loss over the second half (a
        # single sample's loss can round to 0: the floor keeps its log finite)
        v = np.log(c.value.to_numpy() + 1e-6)
        half = v[len(v) // 2:]
        noise.append(float(np.median(np.abs(np.diff(half)))) if len(half) > 1 else np.nan)
        wt = curves[j].wall_time
        seconds.append(float(wt.max() - wt.min()))
        steps.append(float(c.step.max() + 1))
    t["noise"], t["seconds"], t["steps"] = noise, seconds, steps
    t["steps/epoch"] = [s / len(R.curve(curves, j, "train/loss_epoch"))
                        for s, j in zip(steps, t.job, strict=True)]

    fig, axes = R.subplots(3, ncols=3, size=(3.6, 3.0))
    for name in NAMES.values():
        rows = t[(t.batch == name) & (t.seed == 0)]
        if not len(rows):
            continue
        j = int(rows.job.iloc[0])
        e = R.curve(curves, j, "train/loss_epoch")
        axes[0].plot(np.arange(1, len(e) + 1), e.value, "-o", ms=3, label=name)
        s = R.curve(curves, j, "train/loss_step")
        t0 = curves[j].wall_time.min()
        axes[1].plot(s.wall_time - t0, s.value, lw=0.6, label=name)
        axes[2].plot(s.step / max(1.0, float(rows["steps/epoch"].iloc[0])), s.value, lw=0.6,
                     label=name)
    axes[0].set(yscale="log", xlabel="epoch", ylabel="mean training loss of the epoch")
    axes[1].set(yscale="log", xlabel="wall-clock seconds", ylabel="training loss (per step)")
    axes[2].set(yscale="log", xlabel="epoch", ylabel="training loss (per step)")
    axes[0].legend(fontsize=6)
    key_fig = R.savefig(fig, out / "loss_curves.png")

    table = R.seeds_table(t, ["batch"], {
        "steps/epoch": "steps per epoch", "noise": "step-to-step |Δ log loss|",
        "train/loss_epoch": "final epoch loss", "val/acc": "val acc", "seconds": "seconds"})

    def med(col, name):
        return R.median(t, col, batch=name)

    def per_seed(col, name):
        return t[t.batch == name].sort_values("seed")[col].astype(float).tolist()

    batch, sgd = NAMES["full"], NAMES[1]
    minis = [NAMES[32], NAMES[64]]
    # the notes' order of roughness: batch GD below each mini-batch, each mini-batch below SGD
    smoother = {(a, b): R.compare(per_seed("noise", a), per_seed("noise", b),
                                  higher_is_better=False, paired=True)
                for a, b in [*((batch, m) for m in minis), *((m, sgd) for m in minis)]}
    # more updates per epoch, more progress per epoch: each of them against batch GD's one step
    further = {a: R.compare(per_seed("train/loss_epoch", a), per_seed("train/loss_epoch", batch),
                            higher_is_better=False, paired=True) for a in (sgd, *minis)}
    n = {k: med("noise", k) for k in NAMES.values()}
    loss = {k: med("train/loss_epoch", k) for k in NAMES.values()}
    secs = {k: med("seconds", k) for k in NAMES.values()}
    return {
        "key_fig": key_fig, "table": table, "steps_per_epoch": int(med("steps/epoch", sgd)),
        "smooth": R.claim(*smoother.values()),
        "smooth_cmp": "; ".join(f"{a} against {b}: {c}" for (a, b), c in smoother.items()),
        "faster": R.claim(*further.values()),
        "faster_cmp": "; ".join(f"{a} against {batch}: {c}" for a, c in further.items()),
        "noise": R.listing(n), "loss": R.listing(loss), "seconds": R.listing(secs),
    }

if __name__ == "__main__":
    sys.exit(R.main(build, HERE))
