"""Report of the regularization study: ``python experiments/regularization/make_report.py
[sweep dir]`` writes README.md and the figures next to this file."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import analysis as A  # noqa: E402


def build(sweep: Path) -> Path:
    t, curves = A.load(sweep)
    t["gap"] = t["train/acc"] - t["val/acc"]
    t["epochs"] = [len(A.curve(curves, j, "val/acc")) for j in t.job]
    regimes = list(dict.fromkeys(t.regime))

    fig, axes = A.subplots(2, ncols=2, size=(4.6, 3.4))
    for i, r in enumerate(regimes):
        g = t[t.regime == r]
        for ax, col in zip(axes, ("val/acc@max", "gap"), strict=True):
            ax.bar(i, g[col].median(), color="tab:blue", alpha=0.6)
            ax.plot([i] * len(g), g[col], "k.", ms=4)
    labels = ("best val accuracy", "train acc - val acc at the end")
    for ax, label in zip(axes, labels, strict=True):
        ax.set_xticks(range(len(regimes)), regimes, rotation=45, ha="right", fontsize=7)
        ax.set(ylabel=label)
    key_fig = A.savefig(fig, HERE / "regularization.png")

    fig, axes = A.subplots(1, ncols=1, size=(5.0, 3.4))
    for r in regimes:
        j = int(t[(t.regime == r) & (t.seed == 0)].job.iloc[0])
        c = A.curve(curves, j, "val/loss")
        axes[0].plot(range(1, len(c) + 1), c.value, lw=1, label=r)
    axes[0].set(xlabel="epoch", ylabel="validation loss (seed 0)", yscale="log")
    axes[0].legend(fontsize=6)
    curve_fig = A.savefig(fig, HERE / "val_loss.png")

    table = A.seeds_table(t, ["regime"], {
        "train/acc": "final train acc", "val/acc": "final val acc",
        "val/acc@max": "best val acc", "gap": "gap (train - val)", "epochs": "epochs"})
    base_gap = A.median(t, "gap", regime="none")
    base_best = A.median(t, "val/acc@max", regime="none")
    base_final = A.median(t, "val/acc", regime="none")
    res = {r: (A.median(t, "gap", regime=r), A.median(t, "val/acc@max", regime=r),
               A.median(t, "val/acc", regime=r)) for r in regimes if r != "none"}
    smaller_gap = [r for r, v in res.items() if v[0] < base_gap - 0.02]
    better = [r for r, v in res.items() if v[2] > base_final + 0.01]
    conclusion = [
        f"Without regularization the network memorises the 500 training signals: final train "
        f"accuracy {A.fmt(A.median(t, 'train/acc', regime='none'))}, validation accuracy "
        f"{A.fmt(base_final)} (best during training {A.fmt(base_best)}), a gap of "
        f"{A.fmt(base_gap)}.",
        A.verdict(len(smaller_gap) >= len(res) // 2,
                  "the notes' remedies shrink the train/val gap by more than 0.02 for: "
                  + (", ".join(smaller_gap) or "none")
                  + "; and raise the final validation accuracy by more than 0.01 for: "
                  + (", ".join(better) or "none") + ". No effect beyond those margins, at the "
                  "strength tried: " + (", ".join(r for r in res if r not in smaller_gap
                                                 and r not in better) or "none")
                  + ". Per regime (median gap, best val acc, "
                  "final val acc): " + "; ".join(
                      f"{r} {A.fmt(v[0])}, {A.fmt(v[1])}, {A.fmt(v[2])}" for r, v in res.items())
                  + "."),
        "The training accuracy is counted on the training batches as they are seen, with "
        "dropout, DropConnect, noise and shifts active: part of a smaller gap is a lower, "
        "noisier training score rather than a better validation score, so read the gap "
        "together with the validation accuracy. "
        "Three seeds per regime and one strength per method (no tuning): a regime that does "
        "not help here may help at another strength; the per-seed values in the table show "
        "which differences exceed the seed-to-seed spread. Early stopping ends the run when "
        "the validation loss has not improved for 10 epochs, so its final accuracy is that "
        "of an earlier epoch, not of the best checkpoint.",
    ]
    return A.write_readme(HERE, "Overfitting and regularization", [
        "## Question\n\nThe notes (seed 004): *\"overfitting is a phenomenon where the machine "
        "learning model learns patterns and performs well on data that it has been trained on "
        "and does not perform well on unseen data\"*; seed 003 lists the remedies: L1/L2, "
        "dropout, batch normalization, early stopping (*\"stopping training when the validation "
        "loss starts to increase\"*), data augmentation, DropConnect, noise injection "
        "(*\"adding random noise to the input data or hidden layers during training\"*). "
        "Papers: Srivastava et al. (2014) dropout; Wan et al. (2013) DropConnect; Bishop "
        "(1995) training with noise; Prechelt (1998) early stopping; Krogh & Hertz (1992) "
        "weight decay; Simard et al. (2003) augmentation.",
        "## Set-up\n\nMNIST-1D (mnist1d package generator), only 500 training signals, MLP "
        "2 x 256 ReLU (~80k weights), Adam lr 1e-3, batch 64, 80 epochs, 3 seeds. Regimes: "
        "none; inverted dropout p = 0.5; classic dropout p = 0.5 (no scaling in training, "
        "times 1 − p at inference); DropConnect p = 0.5; L1 1e-4; L2 1e-3; early stopping "
        "(patience 10 on validation loss); Gaussian noise std 0.5 on the inputs "
        "(input_noise) or on every hidden activation (hidden_noise); random circular shifts "
        "of up to 4 samples (augmentation); max-norm 2 on each unit's incoming weights "
        "(Srivastava et al. 2014). One strength each, set before the runs, not tuned.\n\n```\n"
        "python experiments/train.py -m experiment=regularization\n"
        "python experiments/regularization/make_report.py\n```",
        f"## Results\n\n![regularization]({key_fig})\n\n![validation loss]({curve_fig})\n\n"
        + table,
        "## Conclusion\n\n" + "\n\n".join(conclusion),
    ], sweep)


if __name__ == "__main__":
    sys.exit(A.main(build, "regularization"))
