"""Report of the initialization sweep: ``python experiments/initialization/report.py
[sweep] [--out DIR | --update-tracked]`` fills README.md.in beside it.

Besides the trained runs of the sweep, it measures signal propagation at initialisation (per-layer
activation mean and std on 512 training digits, 3 seeds) for every initializer and activation,
counts distinct hidden units in each run's final weights (symmetry), and works through the
lecture notes' sigmoid cases w = 0 and w = +-10.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import matplotlib
import pandas as pd
import torch

from nnref.experiment import reporting as R
from nnref.experiment.data import Digits
from nnref.experiment.models import MLP
from nnref.init import constant_, init_model
from nnref.losses import cross_entropy

HERE = Path(__file__).resolve().parent
INITS = ["zeros", "constant", "uniform_fan_in", "xavier_normal", "xavier_uniform", "he_normal",
         "he_uniform", "lecun_normal"]
ACTS = ["tanh", "relu", "selu"]
BAND = 0.01  # saturated: within 1% of the output range of a bound, as the GradientFlowMonitor
ATTRACTION = HERE / "selu_attraction.json"  # written by selu_attraction.py beside this script
NEAR = 0.1  # "at (0, 1)": mean and variance both within 0.1 of it


def inputs(seed: int, n: int = 512) -> torch.Tensor:
    dm = Digits(seed=seed)
    dm.setup()
    return dm.splits["train"][0][:n]


def propagate(net: MLP, x: torch.Tensor) -> list[torch.Tensor]:
    """Every hidden layer's output for the batch ``x``."""
    outs, h = [], x.flatten(1)
    for block in net.hidden():
        h = block(h)
        outs.append(h.detach())
    return outs


def distinct_units(weight: torch.Tensor, tol: float = 1e-6) -> int:
    """Number of different rows (hidden units) of a weight matrix, up to ``tol``."""
    rows: list[torch.Tensor] = []
    for w in weight:
        if not any(float((w - r).abs().max()) <= tol for r in rows):
            rows.append(w)
    return len(rows)


def final_units(job_dir: str) -> float:
    ckpt = Path(job_dir) / "checkpoints" / "last.ckpt"
    if not ckpt.is_file():
        return math.nan
    state = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
    return float(distinct_units(state["model.hidden2.linear.weight"]))


def attraction(sweep: Path, out: Path) -> dict:
    """selu_attraction.py's trajectories (the sweep's own JSON if ``run_experiments.sh --long``
    wrote one, else the tracked one): per activation the distance of the last layer's
    (mean, variance) from (0, 1) against the start's, start by start (the same start and seed
    on both sides of each pair), a figure, and how far the endpoints still depend on the
    start."""
    rec = R.side_study(sweep, out, ATTRACTION)
    if rec is None:
        return {"attraction_ran": False}
    runs = pd.DataFrame(rec["runs"])
    runs["d0"] = [math.hypot(m[0], v[0] - 1) for m, v in zip(runs["mean"], runs["var"],
                                                             strict=True)]
    runs["d_end"] = [math.hypot(m[-1], v[-1] - 1) for m, v in zip(runs["mean"], runs["var"],
                                                                  strict=True)]
    runs["mean_end"], runs["var_end"] = runs["mean"].str[-1], runs["var"].str[-1]
    variances = sorted(float(v) for v in runs.nu0.unique())
    starts = sorted(set(zip(runs.mu0, runs.nu0, strict=True)))
    acts = list(dict.fromkeys(runs.activation))

    fig, axes = R.subplots(2 * len(acts), ncols=len(acts), size=(3.2, 2.4))
    cmap = matplotlib.colormaps["viridis"]
    colour = {k: cmap(i / max(1, len(starts) - 1)) for i, k in enumerate(starts)}
    for k, (act, g) in enumerate(runs[runs.seed == runs.seed.min()].groupby("activation",
                                                                           sort=False)):
        for r in g.itertuples():
            kw = {"color": colour[r.mu0, r.nu0], "lw": 1, "label": f"({r.mu0:g}, {r.nu0:g})"}
            axes[k].plot(r.mean, **kw)
            axes[k + len(acts)].plot(r.var, **kw)
        axes[k].set(title=f"{act} + {g.init.iloc[0]}", ylabel="activation mean")
        axes[k].axhline(0, color="k", lw=0.5)
        axes[k + len(acts)].set(xlabel="layer (0 = input)", ylabel="activation variance",
                                yscale="log")
        axes[k + len(acts)].axhline(1, color="k", lw=0.5)
    axes[len(acts) - 1].legend(fontsize=6, title="start (mean, var)", title_fontsize=6, ncol=2)
    fig_name = R.savefig(fig, out / "selu_attraction.png")

    def perturbed(act):
        g = runs[(runs.activation == act) & ((runs.mu0 != 0) | (runs.nu0 != 1))]
        return g.sort_values(["seed", "mu0", "nu0"])

    toward = {a: R.compare(perturbed(a).d_end, perturbed(a).d0, higher_is_better=False,
                           paired=True) for a in acts}
    selu = perturbed("selu")
    near = bool(((selu.mean_end.abs() <= NEAR) & ((selu.var_end - 1).abs() <= NEAR)).all())

    def memory(act):
        """The last layer's variance from the widest start over that from the narrowest
        (mean 0, median over seeds): 1 forgets the start, the inputs' ratio carries it."""
        g = runs[(runs.activation == act) & (runs.mu0 == 0)]
        hi, lo = (g[g.nu0 == v].sort_values("seed").var_end.to_numpy()
                  for v in (variances[-1], variances[0]))
        return float(pd.Series(hi / lo).median())

    return {
        "attraction_ran": True, "attraction_fig": fig_name, "att_rec": rec,
        "att_seeds": int(runs.seed.nunique()), "att_starts": len(starts),
        "att_means": sorted(float(v) for v in runs.mu0.unique()), "att_vars": variances,
        "att_held": R.claim(toward["selu"]) if near else False, "att_near": near,
        "att_tol": NEAR, "att_selu_mean": float(selu.mean_end.abs().max()),
        "att_selu_var": (float(selu.var_end.min()), float(selu.var_end.max())),
        "att_cmp": {a: str(c) for a, c in toward.items()},
        "att_toward": {a: c.a_better for a, c in toward.items()},
        "att_memory": {a: memory(a) for a in acts},
        "att_ratio": variances[-1] / variances[0],
        "att_tanh_var": float(perturbed("tanh").var_end.median()),
        "att_relu_mean": float(perturbed("relu").mean_end.median()),
    }


def build(sweep: Path, out: Path) -> dict:
    t, _ = R.load(sweep)
    t["init"], t["activation"] = t["init.name"], t["model.activation"]
    t["distinct units (hidden2, end)"] = [final_units(d) for d in t.dir]
    sat_cols = [c for c in t.columns if c.startswith("saturated/") and c.endswith("@first")]
    t["saturated at init"] = t[sat_cols].mean(axis=1) if sat_cols else math.nan
    deep = int(R.job_config(Path(t.dir.iloc[0])).model.depth)

    # signal propagation at init: std of each hidden layer's output, 3 seeds
    xs = {s: inputs(s) for s in range(3)}
    stats, seed_stats = {}, {}
    for act in ACTS:
        for init in INITS:
            per_seed = []
            for s, x in xs.items():
                torch.manual_seed(s)
                net = MLP(64, 10, width=32, depth=deep, activation=act, init=init,
                          init_kwargs={"val": 0.1} if init == "constant" else {})
                per_seed.append(torch.stack([torch.stack([h.mean(), h.std()])
                                             for h in propagate(net, x)]))
            seed_stats[act, init] = torch.stack(per_seed)  # (seed, depth, 2)
            stats[act, init] = seed_stats[act, init].median(0).values
    fig, axes = R.subplots(len(ACTS), ncols=3, size=(3.6, 3.0))
    for ax, act in zip(axes, ACTS, strict=True):
        for init in INITS:
            std = stats[act, init][:, 1].clamp_min(1e-12)
            ax.plot(range(1, deep + 1), std, label=init, lw=1.2)
        ax.set(yscale="log", title=act, xlabel="hidden layer", ylabel="activation std at init")
    axes[0].legend(fontsize=6)
    key_fig = R.savefig(fig, out / "activation_std_at_init.png")
    sig_rows = ["| activation | initializer | layer 1 mean / std | layer "
                f"{deep // 2} mean / std | layer {deep} mean / std |", "|---|---|---|---|---|"]
    for act in ACTS:
        for init in INITS:
            m = stats[act, init]
            sig_rows.append(f"| {act} | {init} | " + " | ".join(
                f"{R.fmt(float(m[i, 0]), 2)} / {R.fmt(float(m[i, 1]), 2)}"
                for i in (0, deep // 2 - 1, deep - 1)) + " |")

    # the notes' sigmoid cases: all weights 0, all +10, all -10; and Glorot for reference
    seed_cases = {}
    for s, x in xs.items():
        data = Digits(seed=s)
        data.setup()
        target = data.splits["train"][1][: len(x)]
        for label, val in (("w = 0", 0.0), ("w = +10", 10.0), ("w = -10", -10.0),
                           ("Glorot normal", None)):
            torch.manual_seed(s)
            net = MLP(64, 10, width=32, depth=5, activation="sigmoid", init="xavier_normal")
            if val is not None:
                init_model(net, constant_, val=val)
            hs = propagate(net, x)
            sat = float(torch.stack([((h <= BAND) | (h >= 1 - BAND)).float().mean()
                                     for h in hs]).mean())
            cross_entropy(net(x), target).backward()
            seed_cases.setdefault(label, []).append(
                (sat, float(net.hidden1.linear.weight.grad.norm()),
                 float(net.out.weight.grad.norm()), distinct_units(hs[0].T)))
    # the table shows the first seed; the verdict below uses every seed
    cases = [(label, *v[0]) for label, v in seed_cases.items()]
    x = xs[0]
    case_rows = ["| weights | saturated fraction | first-layer grad norm | output-layer grad "
                 "norm | distinct units in layer 1 |", "|---|---|---|---|---|"]
    case_rows += [f"| {c[0]} | {R.fmt(c[1])} | {R.fmt(c[2])} | {R.fmt(c[3])} | {c[4]} |"
                  for c in cases]

    table = R.seeds_table(t, ["activation", "init"], {
        "saturated at init": "saturated at init", "grad_norm_ratio/first_over_last@first":
        "first/last grad at init", "distinct units (hidden2, end)": "distinct units at end",
        "train/loss_epoch": "final train loss", "val/acc": "val acc"})

    def acc(**w):
        return R.median(t, "val/acc", **w)

    def seed_medians(col, **w):
        """Per seed, the median of ``col`` over the runs matching ``w``, in seed order."""
        m = pd.Series(True, index=t.index)
        for k, v in w.items():
            m &= t[k] == v
        return t[m].groupby("seed")[col].median().sort_index().astype(float).tolist()

    units = "distinct units (hidden2, end)"
    sym = {i: R.median(t, units, init=i) for i in ("zeros", "constant")}
    rand_units = R.median(t, units, init="he_normal")
    # without the runs' final checkpoints there are no units to count, and no verdict
    sym_cmp = {} if t[units].isna().any() else {
        i: R.compare(seed_medians(units, init="he_normal"), seed_medians(units, init=i),
                     paired=True)
        for i in ("zeros", "constant")}
    keep = {(a, i): float(stats[a, i][-1, 1] / stats[a, i][0, 1].clamp_min(1e-30))
            for a in ACTS for i in INITS}

    def log_drift(a, i):
        """Per seed, how many decades the std moves from layer 1 to the last: |log10 ratio|."""
        st = seed_stats[a, i][:, :, 1]
        return [abs(math.log10(float(v[-1].clamp_min(1e-30) / v[0].clamp_min(1e-30)))) for v in st]

    matched = {"tanh": "xavier_normal", "relu": "he_normal", "selu": "lecun_normal"}
    signal_cmp = {a: R.compare(log_drift(a, i), log_drift("relu", "uniform_fan_in"),
                               higher_is_better=False, paired=True) for a, i in matched.items()}
    best = {a: max(INITS, key=lambda i: acc(activation=a, init=i)) for a in ACTS}
    # w = 0 stops the first layer's gradient exactly, on every seed; w = +-10 nearly, which
    # the seeds must tell apart from Glorot's
    zero_exact = all(c[1] == 0 for c in seed_cases["w = 0"])
    saturated = [max(p[1], m[1]) for p, m in zip(seed_cases["w = +10"], seed_cases["w = -10"],
                                                 strict=True)]
    sig_cmp = R.compare([c[1] for c in seed_cases["Glorot normal"]], saturated, paired=True)
    return {
        "key_fig": key_fig, "signal_table": "\n".join(sig_rows),
        "case_table": "\n".join(case_rows), "table": table, "deep": deep,
        "n_signal_seeds": len(xs), "n_inputs": len(x),
        "symmetric": R.claim(*sym_cmp.values()),
        "sym_cmp": "; ".join(f"he_normal against {i}: {c}" for i, c in sym_cmp.items())
        or "no final checkpoints to count units in",
        "units_zeros": sym["zeros"], "units_constant": sym["constant"],
        "units_he": rand_units,
        "signal_held": R.claim(*signal_cmp.values()),
        "signal_cmp": "; ".join(f"{a} + {matched[a]}: {c}" for a, c in signal_cmp.items()),
        "matched": R.listing({f"{a} + {i}": keep[a, i] for a, i in matched.items()}, sep=": "),
        "keep_fan_in": keep["relu", "uniform_fan_in"], "keep_glorot": keep["relu", "xavier_normal"],
        "best": ", ".join(f"{a}: {best[a]} (val acc "
                          f"{R.fmt(acc(activation=a, init=best[a]))})" for a in ACTS),
        "sigmoid_held": R.claim(sig_cmp) if zero_exact else False,
        "sigmoid_cmp": str(sig_cmp), "zero_exact": zero_exact,
        "cases": {c[0]: {"saturated": c[1], "grad_first": c[2]} for c in cases},
        **attraction(sweep, out),
    }


if __name__ == "__main__":
    sys.exit(R.main(build, HERE))
