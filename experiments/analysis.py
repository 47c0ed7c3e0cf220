"""Shared tooling for the per-experiment reports (``experiments/<name>/make_report.py``).

A sweep directory is read back with :mod:`report` (TensorBoard scalars via tbparse, Hydra
overrides per job); this module turns it into one row per job with the swept values as columns,
aggregates seeds (median, min, max, every seed's value: nothing is dropped), draws small PNGs and
writes ``experiments/<name>/README.md``. Numbers in the READMEs come only from here.
"""

from __future__ import annotations

import math
import os
import subprocess
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import report  # noqa: E402  (experiments/report.py: jobs(), scalars(), the markdown table)
import yaml  # noqa: E402
from hydra.core.override_parser.overrides_parser import OverridesParser  # noqa: E402
from tbparse import SummaryReader  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("NNREF_ROOT", str(ROOT))


def _full(sweep: Path) -> bool:
    """Whether a sweep ran the experiment's whole grid: no command-line override replaced
    one of its swept keys (``scripts/run.sh`` runs a reduced vanishing-gradient sweep)."""
    hydra = yaml.safe_load((sweep / "multirun.yaml").read_text()).get("hydra", {})
    swept = set((hydra.get("sweeper") or {}).get("params") or {})
    task = (hydra.get("overrides") or {}).get("task") or []
    return not any(o.split("=", 1)[0].lstrip("+~") in swept for o in task)


def latest_sweep(name: str) -> Path:
    """The most recent complete multirun of experiment ``name`` under ``logs/``."""
    base = ROOT / "logs" / name / "multiruns"
    sweeps = [p for p in base.glob("*/*") if (p / "multirun.yaml").is_file() and _full(p)]
    if not sweeps:
        raise FileNotFoundError(f"no complete sweep of {name} under {base}; run "
                                f"python experiments/train.py -m experiment={name}")
    return max(sweeps, key=lambda p: p.stat().st_mtime)


def params(job: Path) -> dict[str, object]:
    """The swept values of one job, parsed by Hydra; dict values (``arm={a:1}``) are
    flattened to ``arm.a``."""
    f = job / ".hydra" / "overrides.yaml"
    lines = [o for o in yaml.safe_load(f.read_text()) or []
             if not o.startswith(("paths.", "hydra.", "hydra/", "experiment="))]
    out: dict[str, object] = {}
    for o in OverridesParser.create().parse_overrides(lines):
        key, value = o.key_or_group.lstrip("+"), o.value()
        if isinstance(value, dict):
            out.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            out[key] = value
    return out


def load(sweep: Path, wall_time: bool = False) -> tuple[pd.DataFrame, dict[int, pd.DataFrame]]:
    """One row per job: ``job`` (index into the scalars dict), swept values, and for every
    logged tag its last value (``tag``), first value (``tag@first``, i.e. at initialisation
    for gradient norms logged at step 0) and maximum (``tag@max``). ``wall_time`` adds the
    event times (seconds) to the curves."""
    rows, curves = [], {}
    for i, job in enumerate(report.jobs(sweep)):
        df = (SummaryReader(str(job), pivot=False, extra_columns={"wall_time"}).scalars
              if wall_time else report.scalars(job)).sort_values("step", kind="stable")
        curves[i] = df
        row: dict[str, object] = {"job": i, "dir": str(job), **params(job)}
        grouped = df.groupby("tag").value
        row.update(grouped.last().to_dict())
        row.update({f"{k}@first": v for k, v in grouped.first().to_dict().items()})
        row.update({f"{k}@max": v for k, v in grouped.max().to_dict().items()})
        rows.append(row)
    table = pd.DataFrame(rows)
    if "diverged" in table:
        table["diverged"] = table["diverged"].fillna(0)
    return table, curves


def curve(curves: dict[int, pd.DataFrame], job: int, tag: str) -> pd.DataFrame:
    """``step``, ``value`` (and ``wall_time`` if read) of one tag of one job."""
    df = curves[job]
    return df[df.tag == tag]


def fmt(v: object, digits: int = 3) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return f"{v:.{digits}g}"
    return str(v)


def seeds_table(table: pd.DataFrame, by: Sequence[str], metrics: dict[str, str],
                digits: int = 3, sort: str | None = None, ascending: bool = True) -> str:
    """Markdown table grouping ``table`` by ``by``; for each metric (column -> heading) one
    cell ``median (every seed's value, in seed order)``; rows sorted by the median
    of ``sort`` if given, else in order of appearance."""
    heads = list(by) + ["seeds"] + list(metrics.values())
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    agg = []
    for key, g in table.groupby(list(by), sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        g = g.sort_values("seed") if "seed" in g else g
        cells = [fmt(k) for k in key] + [str(len(g))]
        for col in metrics:
            v = g[col].astype(float) if col in g else pd.Series([math.nan] * len(g))
            cell = f"**{fmt(float(v.median()), digits)}**"
            if len(v) > 1:
                cell += f" ({', '.join(fmt(float(x), digits) for x in v)})"
            cells.append(cell)
        sort_val = float(g[sort].astype(float).median()) if sort else 0.0
        agg.append((sort_val, cells))
    if sort:
        agg.sort(key=lambda t: (math.isnan(t[0]), t[0] if ascending else -t[0]))
    lines += ["| " + " | ".join(c) + " |" for _, c in agg]
    return "\n".join(lines) + ("\n\nEach cell: **median** over seeds (every seed's value, "
                               "in seed order: their range is the spread).")


def median(table: pd.DataFrame, col: str, **where: object) -> float:
    """Median of ``col`` over the jobs matching ``where`` (column == value)."""
    m = pd.Series(True, index=table.index)
    for k, v in where.items():
        m &= (table[k].isna() if v is None else table[k] == v)
    return float(table.loc[m, col].astype(float).median())


def savefig(fig, path: Path, dpi: int = 80) -> str:
    """Save a small PNG (the reports are committed: keep each well under 200 KB)."""
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path.name


def verdict(held: bool, text: str, source: str = "the notes") -> str:
    """A conclusion that states whether the measured numbers support the claim."""
    return f"**{'Agrees' if held else 'Does not agree'} with {source}:** {text}"


def write_readme(folder: Path, title: str, sections: Iterable[str], sweep: Path) -> Path:
    """``folder/README.md`` from markdown sections, with where the numbers came from."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = "unknown"
    body = "\n\n".join(s.strip() for s in sections)
    rel = sweep.relative_to(ROOT) if sweep.is_relative_to(ROOT) else sweep
    out = folder / "README.md"
    out.write_text(f"# {title}\n\n{body}\n\n---\nGenerated by `python experiments/{folder.name}/"
                   f"make_report.py` from the sweep `{rel}` (code at commit {commit}); "
                   "do not edit by hand.\n")
    return out


def subplots(n: int, ncols: int = 3, size: tuple[float, float] = (3.2, 2.6)):
    nrows = max(1, math.ceil(n / ncols))
    ncols = min(n, ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows),
                             squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def main(build: Callable[[Path], Path], name: str, argv: Sequence[str] | None = None) -> int:
    """CLI shared by every ``make_report.py``: ``[sweep dir]`` (default: the latest)."""
    import argparse
    import sys

    p = argparse.ArgumentParser(description=f"Write experiments/{name}/README.md")
    p.add_argument("sweep", nargs="?", type=Path, help="multirun dir (default: latest)")
    args = p.parse_args(argv)
    sweep = (args.sweep or latest_sweep(name)).resolve()
    out = build(sweep)
    print(f"report: {out}", file=sys.stderr)
    return 0
