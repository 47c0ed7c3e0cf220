"""Report of the universal-approximation study:
``python experiments/universal_approximation/report.py [sweep] [--out DIR | --update-tracked]``
fills README.md.in beside it; the fitted curves come from each run's last checkpoint."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from nnref.experiment import reporting as R
from nnref.experiment.models import MLP

HERE = Path(__file__).resolve().parent
FUNCS = ["sine", "abs", "step", "polynomial"]


def fitted(job_dir: str, width: int) -> MLP | None:
    ckpt = Path(job_dir) / "checkpoints" / "last.ckpt"
    if not ckpt.is_file():
        return None
    state = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
    net = MLP(1, 1, width=width, depth=1, activation="tanh")
    net.load_state_dict({k.removeprefix("model."): v for k, v in state.items()
                         if k.startswith("model.")})
    return net.eval()


def build(sweep: Path, out: Path) -> dict:
    t, _ = R.load(sweep)
    t["function"], t["width"] = t["data"], t["model.width"]
    widths = sorted(t.width.unique())
    # the best reachable MSE is the variance of the noise on the targets
    floor = float(R.job_config(t.dir.iloc[0]).data.noise_std) ** 2

    fig, axes = R.subplots(1, ncols=1, size=(5.0, 3.4))
    for f in FUNCS:
        g = t[t.function == f].groupby("width")["val/loss"].median()
        axes[0].plot(g.index, g.values, "-o", ms=3, label=f)
    axes[0].axhline(floor, color="k", lw=0.6, ls="--", label="noise floor")
    axes[0].set(xscale="log", yscale="log", xlabel="hidden units (one layer, tanh)",
                ylabel="validation MSE (median of seeds)")
    axes[0].legend(fontsize=7)
    err_fig = R.savefig(fig, out / "error_vs_width.png")

    shown = [w for w in (1, 4, 64) if w in widths]
    fig, axes = R.subplots(len(FUNCS), ncols=2, size=(4.2, 3.0))
    for ax, f in zip(axes, FUNCS, strict=True):
        dm = R.job_data(t[(t.function == f) & (t.seed == 0)].dir.iloc[0])
        x, y = dm.splits["val"]
        order = x[:, 0].argsort()
        ax.plot(x[order, 0], y[order, 0], ".", color="0.6", ms=2, label="val targets")
        for w in shown:
            r = t[(t.function == f) & (t.width == w) & (t.seed == 0)]
            net = fitted(r.dir.iloc[0], int(w)) if len(r) else None
            if net is not None:
                with torch.no_grad():
                    ax.plot(x[order, 0], net(x[order])[:, 0], lw=1.2, label=f"{w} units")
        ax.set(title=f, xlabel="x (standardized)")
    axes[0].legend(fontsize=6)
    key_fig = R.savefig(fig, out / "fits.png")

    table = (f"Validation MSE (the noise floor is {R.fmt(floor)}):\n\n"
             + R.seeds_table(t, ["function", "width"], {"val/loss": "val MSE",
                                                        "train/loss_epoch": "train MSE"}))

    def err(f, w):
        return R.median(t, "val/loss", function=f, width=w)

    lo, hi = widths[0], widths[-1]
    cont = ("sine", "abs", "polynomial")
    best_w = {f: min((w for w in widths if w >= 8), key=lambda w: err(f, w)) for f in FUNCS}
    best = {f: err(f, best_w[f]) for f in FUNCS}
    worse = [f for f in FUNCS if err(f, hi) > 1.5 * best[f]]

    def per_seed(f, w):
        return t[(t.function == f) & (t.width == w)].sort_values("seed")["val/loss"].tolist()

    falls = {f: R.compare(per_seed(f, best_w[f]), per_seed(f, lo), higher_is_better=False,
                          paired=True)
             for f in cont}
    return {
        "key_fig": key_fig, "err_fig": err_fig, "table": table, "floor": floor,
        "held": R.claim(*falls.values()), "lo": lo, "hi": hi,
        "falls": ", ".join(f"{f} {R.fmt(err(f, lo))} → {R.fmt(best[f])}" for f in FUNCS),
        "falls_cmp": "; ".join(f"{f}, {best_w[f]} units against {lo}: {c}"
                               for f, c in falls.items()),
        "best_factor": min(best[f] for f in cont) / floor,
        "worst_factor": max(best[f] for f in cont) / floor,
        "worse": ", ".join(worse), "worse_errors": R.listing({f: err(f, hi) for f in worse}),
        "step_error": err("step", lo),
    }


if __name__ == "__main__":
    sys.exit(R.main(build, HERE))
