"""Report of the exploding-gradient sweep: ``python experiments/exploding_gradient/report.py
[sweep] [--out DIR | --update-tracked]`` fills README.md.in beside it."""

from __future__ import annotations

import math
import sys
from pathlib import Path

from nnref.experiment import reporting as R

HERE = Path(__file__).resolve().parent

def global_norm(df):
    """Global L2 norm of the weight gradients per logged step (before clipping)."""
    g = df[df.tag.str.startswith("grad_norm/")]
    return g.groupby("step").value.apply(lambda v: math.sqrt(float((v ** 2).sum())))


def build(sweep: Path, out: Path) -> dict:
    t, curves = R.load(sweep)
    t["scale"] = (t["init.kwargs.gain"] / math.sqrt(2)).round(1)
    t["clip"] = t["regularization.clip_grad_norm"].map(lambda v: "none" if v is None or
                                                        (isinstance(v, float) and math.isnan(v))
                                                        else v)
    t["l2"] = t["regularization.l2"]
    t["depth"] = t["model.depth"]
    norms = {j: global_norm(curves[j]) for j in t.job}
    t["grad_norm_init"] = [float(norms[j].iloc[0]) if len(norms[j]) else math.nan
                           for j in t.job]
    t["grad_norm_max"] = [float(norms[j].max()) if len(norms[j]) else math.nan for j in t.job]
    loss_col = "train/loss_epoch"
    t["final_loss"] = t[loss_col] if loss_col in t else math.nan
    deep = int(t.depth.max())

    fig, axes = R.subplots(2, ncols=2, size=(4.6, 3.4))
    for _, r in t[(t.depth == deep) & (t.l2 == 0) & (t.seed == 0)].iterrows():
        n = norms[r.job]
        style = "-" if r.clip == "none" else "--"
        label = f"x{r.scale:g}, clip {r.clip}"
        axes[0].plot(n.index, n.values, style, label=label)
        loss = R.curve(curves, r.job, "train/loss_step")
        axes[1].plot(loss.step, loss.value, style, label=label)
    axes[0].set(yscale="log", xlabel="step", ylabel="global gradient norm (before clipping)",
                title=f"depth {deep}, l2 0, seed 0")
    axes[1].set(yscale="log", xlabel="step", ylabel="training loss")
    axes[0].legend(fontsize=6)
    key_fig = R.savefig(fig, out / "grad_norm_over_time.png")

    table = R.seeds_table(t, ["depth", "scale", "clip", "l2"], {
        "grad_norm_init": "grad norm at init", "grad_norm_max": "max grad norm",
        "diverged": "diverged (NaN/inf)", "final_loss": "final train loss",
        "val/acc": "val acc"})

    def med(col, **w):
        return R.median(t, col, **w)

    rows = {}
    for s in sorted(t.scale.unique()):
        rows[s] = dict(init=med("grad_norm_init", depth=deep, scale=s, clip="none", l2=0.0),
                       div=med("diverged", depth=deep, scale=s, clip="none", l2=0.0),
                       acc=med("val/acc", depth=deep, scale=s, clip="none", l2=0.0),
                       acc_clip=med("val/acc", depth=deep, scale=s, clip=1.0, l2=0.0),
                       acc_l2=med("val/acc", depth=deep, scale=s, clip="none", l2=0.001),
                       div_clip=med("diverged", depth=deep, scale=s, clip=1.0, l2=0.0),
                       shallow_init=med("grad_norm_init", depth=int(t.depth.min()), scale=s,
                                        clip="none", l2=0.0),
                       acc_shallow=med("val/acc", depth=int(t.depth.min()), scale=s,
                                       clip="none", l2=0.0))
    top = max(rows)

    def each(key):
        return R.listing({f"{s:g}": r[key] for s, r in rows.items()}, sep=": ", prefix="x")

    def per_seed(col, **w):
        m = (t.depth == deep) & (t.l2 == w.pop("l2", 0.0))
        for k, v in w.items():
            m &= t[k] == v
        return t[m].sort_values("seed")[col].astype(float).tolist()

    # the claim: a larger scale makes the gradient at init grow and the net stop learning
    norm_grows = R.compare(per_seed("grad_norm_init", scale=top, clip="none"),
                           per_seed("grad_norm_init", scale=1.0, clip="none"), paired=True)
    acc_falls = R.compare(per_seed("val/acc", scale=1.0, clip="none"),
                          per_seed("val/acc", scale=top, clip="none"), paired=True)
    # clipping as the remedy against NaN, at every scale where some unclipped seed diverged
    clip_cmp = {s: R.compare(per_seed("diverged", scale=s, clip=1.0),
                             per_seed("diverged", scale=s, clip="none"), higher_is_better=False,
                             paired=True)
                for s in rows if max(per_seed("diverged", scale=s, clip="none")) > 0}
    return {
        "key_fig": key_fig, "table": table, "deep": deep, "shallow": int(t.depth.min()),
        "top": top, "grows": R.claim(norm_grows, acc_falls),
        "grows_cmp": f"gradient norm at init, x{top:g} against x1: {norm_grows}; validation "
                     f"accuracy, x1 against x{top:g}: {acc_falls}",
        "clip_fix": R.claim(*clip_cmp.values()),
        "clip_cmp": "; ".join(f"x{s:g}: {c}" for s, c in clip_cmp.items()) or "none diverged",
        **{key: each(key) for key in next(iter(rows.values()))},
    }


if __name__ == "__main__":
    sys.exit(R.main(build, HERE))
