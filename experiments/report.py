"""Summarise a sweep: ``python experiments/report.py <sweep dir>``.

Reads every job's TensorBoard event files back (tbparse, no size limit) and its Hydra overrides
(``<job>/.hydra/overrides.yaml``) and writes next to the sweep:

- ``report.md``: one row per job — overrides, final train/val loss and accuracy, steps,
  diverged — plus the figures below;
- ``loss_curves.png``: training loss against step, one line per job;
- ``grad_norms.png``: each job's last per-layer gradient norms, input layer first (log scale),
  the picture of vanishing or exploding gradients.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import yaml  # noqa: E402
from tbparse import SummaryReader  # noqa: E402

COLUMNS = ("train/loss_epoch", "val/loss", "val/acc", "test/loss", "test/acc")


def jobs(sweep: Path) -> list[Path]:
    """Job directories of a sweep (or the run itself): those holding TensorBoard events."""
    dirs = sorted({p.parent.parent if p.parent.name == "tensorboard" else p.parent
                   for p in sweep.rglob("events.out.tfevents.*")})
    return sorted(dirs, key=lambda d: (len(d.parts), int(d.name) if d.name.isdigit() else 0,
                                       str(d)))


def overrides(job: Path) -> str:
    f = job / ".hydra" / "overrides.yaml"
    if not f.is_file():
        return job.name
    # where outputs went is not part of what the job tried
    kept = [o for o in yaml.safe_load(f.read_text()) or []
            if not o.startswith(("paths.", "hydra.", "hydra/"))]
    return " ".join(kept) or "(defaults)"


def scalars(job: Path) -> pd.DataFrame:
    return SummaryReader(str(job), pivot=False, extra_columns={"dir_name"}).scalars


def _last(df: pd.DataFrame, tag: str) -> float:
    rows = df[df.tag == tag]
    return float(rows.sort_values("step").value.iloc[-1]) if len(rows) else math.nan


def summarise(sweep: Path) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    rows, data = [], {}
    for job in jobs(sweep):
        df = scalars(job)
        name = overrides(job)
        data[name] = df
        row = {"job": job.relative_to(sweep).as_posix() or ".", "overrides": name}
        for c in COLUMNS:
            row[c] = _last(df, c)
        diverged = _last(df, "hp/diverged")
        row["steps"] = _last(df, "hp/steps")
        row["diverged"] = 0 if math.isnan(diverged) else int(diverged)
        rows.append(row)
    table = pd.DataFrame(rows)
    return table.dropna(axis=1, how="all") if len(table) else table, data


def _markdown(table: pd.DataFrame) -> str:
    cols = list(table.columns)
    fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in table.itertuples(index=False)]
    return "\n".join(lines)


def _natural(tag: str) -> list:
    """Sort key putting ``hidden2`` before ``hidden10`` (input-side layers first)."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", tag)]


def loss_figure(data: dict[str, pd.DataFrame], out: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, df in data.items():
        rows = df[df.tag == "train/loss_step"].sort_values("step")
        if len(rows):
            ax.plot(rows.step, rows.value, label=name, lw=1)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_yscale("log")
    ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def grad_figure(data: dict[str, pd.DataFrame], out: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, df in data.items():
        grads = df[df.tag.str.startswith("grad_norm/")]
        if not len(grads):
            continue
        last = grads[grads.step == grads.step.max()]
        order = sorted(set(grads.tag), key=_natural)
        values = [float(last[last.tag == t].value.iloc[0]) for t in order if (last.tag == t).any()]
        ax.plot(range(1, len(values) + 1), values, marker="o", label=name, lw=1)
    ax.set_xlabel("layer (1 = input side)")
    ax.set_ylabel("gradient L2 norm (last logged step)")
    ax.set_yscale("log")
    ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def report(sweep: Path) -> Path:
    """Write ``report.md`` and the figures into ``sweep``; return the report's path."""
    table, data = summarise(sweep)
    if not len(table):
        raise FileNotFoundError(f"no TensorBoard event files under {sweep}")
    loss_figure(data, sweep / "loss_curves.png")
    grad_figure(data, sweep / "grad_norms.png")
    md = sweep / "report.md"
    md.write_text(f"# Sweep report: {sweep}\n\n{_markdown(table)}\n\n"
                  "![training loss](loss_curves.png)\n\n![gradient norms](grad_norms.png)\n")
    return md


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sweep", type=Path, help="a multirun (or run) directory under logs/")
    args = p.parse_args(argv)
    if not args.sweep.is_dir():
        print(f"error: {args.sweep} is not a directory", file=sys.stderr)
        return 2
    try:
        md = report(args.sweep.resolve())
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(md.read_text().split("\n\n![")[0])
    print(f"\nreport: {md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
