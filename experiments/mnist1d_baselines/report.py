"""Report of the MNIST-1D baselines: ``python experiments/mnist1d_baselines/report.py
[sweep] [--out DIR | --update-tracked]`` fills README.md.in beside it."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pandas as pd

from nnref.experiment import reporting as R

HERE = Path(__file__).resolve().parent
# Test accuracies published with the data set (Greydanus 2020; the mnist1d package README):
# logistic regression, MLP, CNN.
PUBLISHED = {"linear MLP (logistic regression)": 0.32, "MLP (ReLU)": 0.68, "CNN (ReLU)": 0.94}
# The mnist1d repository's own saved runs (its notebooks' outputs, 6000 steps), as read there:
# below the published MLP and CNN numbers.
REPO_RUNS = {"linear MLP (logistic regression)": 0.32, "MLP (ReLU)": 0.65, "CNN (ReLU)": 0.92}
REPO_STEPS = 6000  # the notebooks' total_steps
EVAL_EVERY = 250  # paper_loop.py's (the notebooks') evaluation interval
NAMES = {("mlp", "identity"): "linear MLP (logistic regression)", ("mlp", "relu"): "MLP (ReLU)",
         ("cnn", "identity"): "linear CNN", ("cnn", "relu"): "CNN (ReLU)"}


PAPER_LOOP = HERE / "paper_loop.json"  # written by paper_loop.py beside this script
PAPER_NAMES = {"logistic, paper's loop": "linear MLP (logistic regression)",
               "MLP, paper's loop": "MLP (ReLU)", "CNN, paper's loop": "CNN (ReLU)"}
BAR = 0.02  # "reproduced": the median over seeds within 2 points of the published number


def paper_loop(sweep: Path, out: Path) -> dict:
    """The numbers of paper_loop.py's runs (the sweep's own ``paper_loop.json`` if
    ``run_experiments.sh --long`` wrote one, else the tracked one, which ``out`` then keeps):
    a table per condition (final and best test accuracy over its evaluations, every seed),
    each model against its published number, and the CNN's conditions against the paper's
    loop."""
    rec = R.side_study(sweep, out, PAPER_LOOP)
    if rec is None:
        return {"paper_ran": False}
    runs = pd.DataFrame(rec["runs"])
    if set(runs.eval_every) != {EVAL_EVERY}:
        raise ValueError(f"{PAPER_LOOP.name}: evaluations every {set(runs.eval_every)} steps, "
                         f"expected {EVAL_EVERY}")
    runs["final"] = runs.test_acc.map(lambda v: v[-1])
    runs["best"] = runs.test_acc.map(max)
    runs["best step"] = [r.eval_every * max(range(len(r.test_acc)), key=r.test_acc.__getitem__)
                         for r in runs.itertuples()]
    runs["last train loss"] = runs.train_loss.map(lambda v: v[-1])
    runs["published"] = runs.condition.map(lambda c: PUBLISHED.get(PAPER_NAMES.get(c), "—"))
    table = R.seeds_table(runs, ["condition", "train_size", "published"], {
        "final": "final test acc", "best": "best test acc (any evaluation)",
        "best step": "step of the best", "last train loss": "last batch loss"})
    cond = {c: g.sort_values("seed") for c, g in runs.groupby("condition", sort=False)}
    lines = []
    for c, name in PAPER_NAMES.items():
        if c not in cond:
            continue
        med = float(cond[c].final.median())
        lines.append(f"{name}: {R.fmt(med)} against {PUBLISHED[name]} "
                     f"({'within' if abs(med - PUBLISHED[name]) <= BAR else 'outside'} "
                     f"{round(BAR * 100)} points; best over evaluations "
                     f"{R.fmt(float(cond[c].best.median()))})")
    # the loop has no schedule, so its evaluation at REPO_STEPS is what a run of REPO_STEPS ends at
    at_repo = {name: float(cond[c].test_acc.map(lambda v: v[REPO_STEPS // EVAL_EVERY]).median())
               for c, name in PAPER_NAMES.items() if c in cond and rec["steps"] >= REPO_STEPS}
    final = {name: float(cond[c].final.median()) for c, name in PAPER_NAMES.items() if c in cond}
    base = "CNN, paper's loop"
    effects = [f"{c}: {R.compare(g.final, cond[base].final, paired=True)}" for c, g in cond.items()
               if c.startswith("CNN") and c != base]
    frozen = rec.get("frozen")
    return {
        "paper_ran": True, "paper_table": table, "paper_steps": rec["steps"],
        "paper_at_repo": at_repo, "paper_final": final,
        "paper_vs_published": "; ".join(lines), "cnn_effects": "; ".join(effects),
        "paper_seeds": int(runs.groupby("condition").size().min()),
        "frozen": ("not checked" if not frozen else
                   f"largest difference {R.fmt(frozen['max_abs_diff'])}, labels "
                   f"{'identical' if frozen['labels_equal'] else 'different'}"),
        "same_data": bool(frozen and frozen["labels_equal"] and frozen["max_abs_diff"] < 1e-6),
        "cnn_best": float(cond[base].best.median()) if base in cond else math.nan,
        "cnn_final": float(cond[base].final.median()) if base in cond else math.nan,
    }


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
    def accs(n):
        g = t[t["model name"] == n]
        return (g.sort_values("seed") if "seed" in g else g)["test/acc"]

    steps = [R.compare(accs(hi), accs(lo), paired=True) for lo, hi in (
        ("linear MLP (logistic regression)", "MLP (ReLU)"), ("MLP (ReLU)", "CNN (ReLU)"))]
    order_ok = R.claim(*steps)
    paper = paper_loop(sweep, out)
    steps_run = int(R.job_config(Path(t.dir.iloc[0])).trainer.max_steps)
    heads = ["model", "published (Greydanus 2020)",
             f"mnist1d repository's saved runs ({REPO_STEPS} steps)"]
    if paper.get("paper_at_repo"):
        heads.append(f"nnref, paper's loop at {REPO_STEPS} steps")
    if paper.get("paper_ran"):
        heads.append(f"nnref, paper's loop at {paper['paper_steps']} steps")
    heads.append(f"nnref's stack ({steps_run} steps)")
    rows = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for n, pub in PUBLISHED.items():
        cells = [n, R.fmt(pub), R.fmt(REPO_RUNS[n])]
        if paper.get("paper_at_repo"):
            cells.append(R.fmt(paper["paper_at_repo"].get(n, math.nan)))
        if paper.get("paper_ran"):
            cells.append(R.fmt(paper["paper_final"].get(n, math.nan)))
        cells.append(R.fmt(ours[n]))
        rows.append("| " + " | ".join(cells) + " |")
    return {
        **paper, "rows": "\n".join(rows), "repo_steps": REPO_STEPS,
        "key_fig": key_fig, "table": table, "ordered": order_ok, "ours": R.listing(ours),
        "order_steps": f"MLP against logistic {steps[0]}; CNN against MLP {steps[1]}",
        "published": R.listing(PUBLISHED), "distance": R.listing(close),
    }


if __name__ == "__main__":
    sys.exit(R.main(build, HERE))
