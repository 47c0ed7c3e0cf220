"""Reading sweeps back and writing their reports.

A sweep is a Hydra multirun directory: one job directory per point of the grid, each with its
overrides (``<job>/.hydra/overrides.yaml``) and its TensorBoard scalars. :func:`load` turns it
into one row per job with the swept values as columns; the helpers below draw small figures and
markdown tables from that table; :func:`render` fills an experiment's README template from the
numbers and from the experiment's composed Hydra config, so the set-up text cannot drift from
the YAML.

``python -m nnref.experiment.reporting <sweep>`` writes the quick report of any sweep
(``report.md`` and two figures in the sweep directory): a table, and sentences on what the
gradients and accuracies show.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import jinja2  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import yaml  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from hydra.core.override_parser.overrides_parser import OverridesParser  # noqa: E402
from hydra.utils import instantiate  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402
from tbparse import SummaryReader  # noqa: E402

RATIO = "grad_norm_ratio/first_over_last"
# where outputs went and which experiment config was picked are not part of what a job tried
_NOT_SWEPT = ("paths.", "hydra.", "hydra/", "experiment=")

plt.rcParams.update({"font.size": 10, "axes.titlesize": 10, "axes.labelsize": 10,
                     "legend.fontsize": 8, "xtick.labelsize": 9, "ytick.labelsize": 9})


# --- reading a sweep --------------------------------------------------------------------------

def jobs(sweep: Path) -> list[Path]:
    """Job directories of a sweep (or the run itself): those holding TensorBoard events, in
    the order the sweep launched them (Hydra's ``hydra.job.num``; a directory without it by
    its name, ``2`` before ``10``)."""
    dirs = {p.parent.parent if p.parent.name == "tensorboard" else p.parent
            for p in Path(sweep).rglob("events.out.tfevents.*")}
    return sorted(dirs, key=lambda d: (len(d.parts), _job_num(d), natural(d.name)))


def _job_num(job: Path) -> int:
    """The job's number in its sweep, as Hydra saved it (jobs are named by their overrides)."""
    f = Path(job) / ".hydra" / "hydra.yaml"
    if f.is_file():
        m = re.search(r"^    num: (\d+)$", f.read_text(), re.M)
        if m:
            return int(m[1])
    return int(job.name) if job.name.isdigit() else -1


def natural(tag: str) -> list:
    """Sort key putting ``hidden2`` before ``hidden10`` (input-side layers first)."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", tag)]


def params(job: Path) -> dict[str, object]:
    """The swept values of one job, parsed by Hydra; dict values (``arm={a:1}``) are
    flattened to ``arm.a``."""
    f = Path(job) / ".hydra" / "overrides.yaml"
    if not f.is_file():
        return {}
    lines = [o for o in yaml.safe_load(f.read_text()) or [] if not o.startswith(_NOT_SWEPT)]
    out: dict[str, object] = {}
    for o in OverridesParser.create().parse_overrides(lines):
        key, value = o.key_or_group.lstrip("+~"), o.value()
        if isinstance(value, dict):
            out.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            out[key] = value
    return out


def job_config(job: Path) -> DictConfig:
    """The config one job ran with, as Hydra saved it (``<job>/.hydra/config.yaml``)."""
    return OmegaConf.load(Path(job) / ".hydra" / "config.yaml")


def job_data(job: Path, **overrides: object):
    """The data module one job trained on (its config's ``data`` node, instantiated), set up;
    ``overrides`` replace constructor arguments (e.g. ``standardize=False`` to draw raw
    inputs)."""
    dm = instantiate(job_config(job).data, **overrides)
    dm.setup()
    return dm


def scalars(job: Path, wall_time: bool = False) -> pd.DataFrame:
    """Every scalar of one job (``tag``, ``step``, ``value``; ``wall_time`` if asked), by
    step."""
    extra = {"wall_time"} if wall_time else set()
    df = SummaryReader(str(job), pivot=False, extra_columns=extra).scalars
    return df.sort_values("step", kind="stable")


def load(sweep: Path, wall_time: bool = False) -> tuple[pd.DataFrame, dict[int, pd.DataFrame]]:
    """One row per job: ``job`` (index into the curves dict), ``dir``, the swept values, and
    for every logged tag its last value (``tag``), first value (``tag@first``, i.e. at
    initialisation for gradient norms logged at step 0) and maximum (``tag@max``), and
    ``diverged`` (1 or 0) for every job."""
    rows, curves = [], {}
    for i, job in enumerate(jobs(sweep)):
        df = scalars(job, wall_time)
        curves[i] = df
        row: dict[str, object] = {"job": i, "dir": str(job), **params(job)}
        grouped = df.groupby("tag").value
        row.update(grouped.last().to_dict())
        row.update({f"{k}@first": v for k, v in grouped.first().to_dict().items()})
        row.update({f"{k}@max": v for k, v in grouped.max().to_dict().items()})
        rows.append(row)
    table = pd.DataFrame(rows)
    # every job says whether it diverged; the metric is logged only by a job that does
    table["diverged"] = table["diverged"].fillna(0) if "diverged" in table else 0.0
    return table, curves


def curve(curves: Mapping[int, pd.DataFrame], job: int, tag: str) -> pd.DataFrame:
    """``step``, ``value`` (and ``wall_time`` if read) of one tag of one job."""
    df = curves[job]
    return df[df.tag == tag]


def is_full(sweep: Path) -> bool:
    """Whether a sweep ran the experiment's whole grid: no command-line override replaced one
    of its swept keys (``scripts/run.sh`` runs a reduced vanishing-gradient sweep)."""
    hydra = yaml.safe_load((Path(sweep) / "multirun.yaml").read_text()).get("hydra", {})
    swept = set((hydra.get("sweeper") or {}).get("params") or {})
    task = (hydra.get("overrides") or {}).get("task") or []
    return not any(o.split("=", 1)[0].lstrip("+~") in swept for o in task)


def latest_sweep(name: str, log_dir: Path) -> Path:
    """The most recent complete multirun of experiment ``name`` under ``log_dir``."""
    base = Path(log_dir) / name / "multiruns"
    sweeps = [p for p in base.glob("*/*") if (p / "multirun.yaml").is_file() and is_full(p)]
    if not sweeps:
        raise FileNotFoundError(f"no complete sweep of {name} under {base}; run "
                                f"python experiments/train.py -m experiment={name}")
    return max(sweeps, key=lambda p: p.stat().st_mtime)


def side_study(sweep: Path, out: Path, tracked: Path) -> dict | None:
    """The record of a study a report script runs beside its sweep (a JSON file written by a
    script next to the report, e.g. the papers' own training loops): the sweep's own copy if
    ``run_experiments.sh --long`` wrote one there, else the ``tracked`` file, which ``out``
    then keeps beside the report; ``None`` if neither exists."""
    path = Path(sweep) / tracked.name
    if not path.is_file():
        path = tracked
    if not path.is_file():
        return None
    if Path(out).resolve() != path.parent.resolve():
        shutil.copyfile(path, Path(out) / tracked.name)
    return json.loads(path.read_text())


# --- numbers, tables, figures -------------------------------------------------------------------

def fmt(v: object, digits: int = 3) -> str:
    """A number as the reports print it: ``digits`` significant digits."""
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.{digits}g}"
    return str(v)


def median(table: pd.DataFrame, col: str, **where: object) -> float:
    """Median of ``col`` over the jobs matching ``where`` (column == value; None matches a
    missing value)."""
    m = pd.Series(True, index=table.index)
    for k, v in where.items():
        m &= (table[k].isna() if v is None else table[k] == v)
    return float(table.loc[m, col].astype(float).median())


def seeds_table(table: pd.DataFrame, by: Sequence[str], metrics: Mapping[str, str],
                digits: int = 3, sort: str | None = None, ascending: bool = True) -> str:
    """Markdown table grouping ``table`` by ``by``; for each metric (column -> heading) one
    cell ``median (every seed's value, in seed order)``; rows sorted by the median of ``sort``
    if given, else in order of appearance."""
    heads = [*by, "seeds", *metrics.values()]
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
        agg.append((float(g[sort].astype(float).median()) if sort else 0.0, cells))
    if sort:
        agg.sort(key=lambda t: (math.isnan(t[0]), t[0] if ascending else -t[0]))
    lines += ["| " + " | ".join(c) + " |" for _, c in agg]
    return "\n".join(lines) + ("\n\nEach cell: **median** over seeds (every seed's value, "
                               "in seed order: their range is the spread).")


def subplots(n: int, ncols: int = 3, size: tuple[float, float] = (3.2, 2.6)):
    """``n`` axes on a grid of at most ``ncols`` columns, each ``size`` inches."""
    nrows = max(1, math.ceil(n / ncols))
    ncols = min(n, ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows),
                             squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def savefig(fig, path: Path, dpi: int = 80) -> str:
    """Save a small PNG (reports are committed: keep each well under 200 KB); its file name."""
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return Path(path).name


def verdict(held: bool | None, source: str = "the lecture notes") -> str:
    """The opening of a conclusion: whether the measured numbers support the claim; ``None``
    (see :func:`claim`) when the seeds cannot tell."""
    if held is None:
        return f"**Inconclusive against {source}:**"
    return f"**{'Agrees' if held else 'Does not agree'} with {source}:**"


MIN_SEEDS = 3


@dataclass(frozen=True)
class Comparison:
    """Two arms measured over seeds (``a`` against ``b``), and whether the seeds carry a
    verdict.

    Unpaired arms (different seeds, or nothing shared between the runs of one seed): the
    difference of the medians must exceed the spread over seeds (the larger of the two arms'
    ranges, max - min), and each arm needs at least ``min_seeds`` seeds. A difference inside
    the spread is what another draw of seeds could reverse.

    Paired arms (``paired=True``: the i-th value of ``a`` and of ``b`` come from the same seed,
    start or data order): the per-seed differences ``a_i - b_i`` decide, and every one of them
    must lie beyond zero on the same side, over at least ``min_seeds`` pairs. Run-to-run noise
    that both arms of a seed share cancels in the difference, so a consistent gap smaller than
    either arm's spread still counts; one pair the other way (or a tie) leaves it open. The
    price: where the arms do not differ at all, n pairs still all fall on one side by chance
    with probability 2^(1-n) (one in four for 3 seeds), so a small settled gap over 3 seeds
    asks for more seeds before it carries weight.
    """

    a: tuple[float, ...]
    b: tuple[float, ...]
    higher_is_better: bool = True
    min_seeds: int = MIN_SEEDS
    paired: bool = False

    @property
    def differences(self) -> tuple[float, ...]:
        """``a_i - b_i`` for each pair (paired arms only)."""
        if not self.paired:
            raise ValueError("per-seed differences need paired arms (compare(..., paired=True))")
        return tuple(x - y for x, y in zip(self.a, self.b, strict=True))

    @property
    def difference(self) -> float:
        """median(a) - median(b); for paired arms the median of the per-seed differences."""
        if self.paired:
            return float(pd.Series(self.differences).median())
        return float(pd.Series(self.a).median() - pd.Series(self.b).median())

    @property
    def spread(self) -> float:
        return max(max(v) - min(v) for v in (self.a, self.b))

    @property
    def seeds(self) -> int:
        return min(len(self.a), len(self.b))

    @property
    def settled(self) -> bool:
        if self.seeds < self.min_seeds:
            return False
        if self.paired:
            d = self.differences
            return all(x > 0 for x in d) or all(x < 0 for x in d)
        return abs(self.difference) > self.spread

    @property
    def a_better(self) -> bool | None:
        """Whether ``a`` beats ``b``; ``None`` when the seeds cannot tell."""
        if not self.settled:
            return None
        return (self.difference > 0) == self.higher_is_better

    def __str__(self) -> str:
        ma, mb = (float(pd.Series(v).median()) for v in (self.a, self.b))
        why = ("" if self.settled else
               f" (inconclusive: fewer than {self.min_seeds} seeds)" if self.seeds < self.min_seeds
               else " (inconclusive: the per-seed differences do not all lie on one side of "
               "zero)" if self.paired else " (inconclusive: within the spread)")
        if self.paired:
            return (f"{fmt(ma)} vs {fmt(mb)}, per-seed differences "
                    f"{', '.join(fmt(d) for d in self.differences)} ({self.seeds} paired "
                    f"seeds){why}")
        return (f"{fmt(ma)} vs {fmt(mb)}, difference {fmt(abs(self.difference))} against a "
                f"spread over seeds of {fmt(self.spread)} ({self.seeds} seeds){why}")


def compare(a: Sequence[float], b: Sequence[float], higher_is_better: bool = True,
            min_seeds: int = MIN_SEEDS, paired: bool = False) -> Comparison:
    """``a`` against ``b``, each one value per seed (see :class:`Comparison`); ``paired``
    when the i-th values of both come from the same seed, start or data order."""
    a, b = tuple(float(v) for v in a), tuple(float(v) for v in b)
    if not a or not b or any(math.isnan(v) for v in (*a, *b)):
        raise ValueError(f"compare needs a number per seed on both sides, got {a} and {b}")
    if paired and len(a) != len(b):
        raise ValueError(f"paired arms need one value per shared seed on both sides, got "
                         f"{len(a)} and {len(b)} values")
    return Comparison(a, b, higher_is_better, min_seeds, paired)


def claim(*comparisons: Comparison) -> bool | None:
    """The verdict on a claim that every ``a`` beats its ``b``: ``True`` when each comparison
    settles for ``a``, ``False`` when any settles for ``b``, else ``None`` (inconclusive)."""
    votes = [c.a_better for c in comparisons]
    if any(v is False for v in votes):
        return False
    return True if votes and all(votes) else None


# --- experiment reports: numbers + config -> template ----------------------------------------

def experiment_config(name: str, conf_dir: Path, sweep: Path | None = None
                      ) -> tuple[DictConfig, dict[str, list]]:
    """``conf/experiment/<name>.yaml`` composed with ``train.yaml`` by Hydra, and each swept
    key with its values. A sweep's own command-line overrides (``multirun.yaml``) take part, as
    they did in the run: a plain one changes the config, a comma list replaces that key's
    values."""
    task = []
    if sweep is not None and (Path(sweep) / "multirun.yaml").is_file():
        hydra = yaml.safe_load((Path(sweep) / "multirun.yaml").read_text()).get("hydra", {})
        task = [o for o in (hydra.get("overrides") or {}).get("task") or []
                if not o.startswith(_NOT_SWEPT)]
    parsed = OverridesParser.create().parse_overrides(task)
    plain = [o.input_line for o in parsed if not o.is_sweep_override()]
    with initialize_config_dir(config_dir=str(Path(conf_dir).resolve()), version_base="1.3"):
        cfg = compose("train", overrides=[f"experiment={name}", *plain],
                      return_hydra_config=True)
    values = {}
    for key, spec in (OmegaConf.select(cfg, "hydra.sweeper.params") or {}).items():
        o = OverridesParser.create().parse_overrides([f"{key}={spec}"])[0]
        values[key] = list(o.sweep_iterator()) if o.is_sweep_override() else [o.value()]
    # on the command line a swept key's value, one or a list, replaces the config's list
    values.update({o.key_or_group: list(o.sweep_iterator()) if o.is_sweep_override()
                   else [o.value()] for o in parsed
                   if o.is_sweep_override() or o.key_or_group in values})
    return cfg, values


def _commit(root: Path) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                             capture_output=True, text=True)
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def render(template: Path, out: Path, numbers: Mapping[str, object], cfg: DictConfig,
           values: Mapping[str, list], sweep: Path, root: Path) -> Path:
    """Fill ``template`` (jinja2) into ``out/README.md``. The template sees the report's
    ``numbers``, ``cfg`` (the composed experiment config), ``sweep`` (``values``: each swept
    key's values), ``verdict`` and the filter ``fmt``; an undefined name is an error, so a
    renamed number or config key cannot leave a blank in the text."""
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             autoescape=False)
    env.filters["fmt"] = fmt
    text = env.from_string(Path(template).read_text()).render(
        **numbers, cfg=cfg, sweep=values, verdict=verdict)
    sweep = Path(sweep).resolve()
    rel = sweep.relative_to(root) if sweep.is_relative_to(root) else sweep
    name = Path(template).parent.name
    text = (text.rstrip() + f"\n\n---\nGenerated by `python experiments/{name}/report.py` from "
            f"the sweep `{rel}` (code at commit {_commit(root)}); do not edit by hand.\n")
    Path(out).mkdir(parents=True, exist_ok=True)
    path = Path(out) / "README.md"
    path.write_text(text)
    return path


def listing(pairs: Mapping[object, float] | pd.Series | Sequence[tuple[object, float]],
            sep: str = " ", prefix: str = "", digits: int = 3) -> str:
    """``"a 0.5, b 0.25"``: each label with its number, for sentences in the templates."""
    items = pairs.items() if hasattr(pairs, "items") else pairs  # a dict or a Series
    return ", ".join(f"{prefix}{k}{sep}{fmt(float(v), digits)}" for k, v in items)


def sci(v: float) -> str:
    """``10^-5.8``: a positive number by its power of ten, for ratios spanning many orders."""
    # + 0.0 turns the -0.0 of a ratio just below one into 0.0
    return "nan" if not v > 0 else f"10^{round(math.log10(v), 1) + 0.0:.1f}"


def main(build: Callable[[Path, Path], Mapping[str, object]], here: Path,
         argv: Sequence[str] | None = None) -> int:
    """The command line of every ``experiments/<name>/report.py``: ``[sweep] [--out DIR |
    --update-tracked]``. ``build(sweep, out)`` writes the figures into ``out`` and returns the
    numbers; the template ``README.md.in`` beside the script turns them into ``README.md``."""
    here = Path(here).resolve()
    name, root = here.name, here.parents[1]
    # the jobs' configs resolve their paths from it, as experiments/train.py sets it
    os.environ.setdefault("NNREF_ROOT", str(root))
    p = argparse.ArgumentParser(description=f"Report of the {name} experiment.")
    p.add_argument("sweep", nargs="?", type=Path,
                   help="multirun directory (default: the latest complete one under logs/)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--out", type=Path,
                       help="where README.md and figures go (default: <sweep>/report)")
    where.add_argument("--update-tracked", action="store_true",
                       help=f"write them into experiments/{name}/ (the tracked report)")
    args = p.parse_args(argv)
    try:
        sweep = (args.sweep or latest_sweep(name, root / "logs")).resolve()
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = here if args.update_tracked else (args.out or sweep / "report")
    out.mkdir(parents=True, exist_ok=True)
    numbers = build(sweep, out)
    cfg, values = experiment_config(name, root / "conf", sweep)
    path = render(here / "README.md.in", out, numbers, cfg, values, sweep, root)
    print(f"report: {path}", file=sys.stderr)
    return 0


# --- the quick report of any sweep (scripts/run.sh) ------------------------------------------

# A job whose training loss ends non-finite, or grew this many times over its first logged
# value, diverged (whether or not the divergence guard stopped it).
GROWTH = 1000.0
_LOSSES = ("train/loss_step", "train/loss_epoch")


def _short(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def _label(row: pd.Series, keys: Sequence[str]) -> str:
    return ", ".join(f"{_short(k)}={fmt(row[k])}" for k in keys) or "(defaults)"


def _styles(table: pd.DataFrame, keys: Sequence[str]) -> list[dict]:
    """Colour by the first swept key, line style by the second, marker by the third."""
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    lines, markers = ["-", "--", ":", "-."], ["o", "s", "^", "v", "D"]
    kinds = [(colours, "color"), (lines, "linestyle"), (markers, "marker")]
    levels = [list(dict.fromkeys(map(str, table[k]))) for k in keys]  # str: NaN == NaN
    return [{attr: pool[levels[i].index(str(r[k])) % len(pool)]
             for i, (k, (pool, attr)) in enumerate(zip(keys, kinds, strict=False))}
            for _, r in table.iterrows()]


def _markdown(table: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(fmt(v, 4) for v in r) + " |"
              for r in table.itertuples(index=False)]
    return "\n".join(lines)


def swept_keys(sweep: Path) -> list[str]:
    """The keys a sweep varied (its command line's sweeps and its sweeper's params), in the
    order of the command line; ``[]`` for a single run."""
    from nnref.experiment.naming import sweep_keys

    saved = Path(sweep) / "multirun.yaml"
    if not saved.is_file():
        return []
    hydra = yaml.safe_load(saved.read_text()).get("hydra", {})
    keys = sweep_keys(hydra.get("sweeper") or {}, sweep)
    task = [o.split("=", 1)[0].lstrip("+~") for o in (hydra.get("overrides") or {}).get(
        "task") or []]
    return sorted(keys, key=lambda k: (task.index(k) if k in task else len(task), k))


def _diverged(flagged: object, losses: Sequence[pd.Series]) -> bool:
    """The guard's flag, or a training loss that turned non-finite or grew :data:`GROWTH`
    times over its first logged value."""
    if flagged is not None and not pd.isna(flagged) and float(flagged) > 0:
        return True
    for v in losses:
        v = v.astype(float)
        if len(v) and (not v.map(math.isfinite).all() or (
                v.iloc[0] > 0 and v.max() >= GROWTH * v.iloc[0])):
            return True
    return False


def _jobs_table(sweep: Path) -> tuple[pd.DataFrame, dict[int, pd.DataFrame], list[str]]:
    """Every job of the sweep (those that failed before logging anything too): its swept
    values, logged scalars, ``status``/``reason`` (``result.yaml``) and ``diverged``."""
    t, curves = load(sweep)
    keys = swept_keys(sweep)
    rows = {str(Path(d)): r for d, r in zip(t["dir"], t.to_dict("records"), strict=True)} \
        if len(t) else {}
    out = []
    for saved in sorted(Path(sweep).rglob(".hydra/overrides.yaml"),
                        key=lambda f: (_job_num(f.parent.parent), natural(f.parent.parent.name))):
        job = saved.parent.parent
        row = dict(rows.get(str(job), {"job": -1, "dir": str(job)}))
        ratio = curve(curves, row["job"], RATIO) if row["job"] >= 0 else None
        # the step of the last gradient measurement: the verdict needs one past step 0
        row["ratio_step"] = float(ratio.step.max()) if ratio is not None and len(ratio) \
            else math.nan
        row.update({k: v for k, v in params(job).items() if k not in row})
        result = job / "result.yaml"
        record = yaml.safe_load(result.read_text()) if result.is_file() else {}
        if not record and "hp/failed" in row and not pd.isna(row["hp/failed"]):
            # a job that logged its end but kept no result.yaml (an older nnref's)
            record = {"status": "failed" if row["hp/failed"] else "ok",
                      "reason": "see its train.log" if row["hp/failed"] else ""}
        row["status"] = record.get("status", "no result")
        row["reason"] = record.get("reason", "the job was killed or is still running")
        row["chance"] = (record.get("metrics") or {}).get("chance/acc", math.nan)
        out.append(row)
    table = pd.DataFrame(out)
    for k in keys:  # lists and dicts as text: one column per swept key, comparable values
        table[k] = table[k].map(lambda v: v if isinstance(v, (int, float, str)) else str(v)) \
            if k in table else math.nan
    table["diverged"] = [int(_diverged(r.get("diverged"), [curve(curves, r["job"], tag).value
                                                            for tag in _LOSSES]))
                         if r["job"] >= 0 else 0 for _, r in table.iterrows()]
    return table, curves, keys


def _by_point(t: pd.DataFrame, keys: Sequence[str]):
    """Groups of jobs that differ only in their seed: no statistic pools swept values."""
    point = [k for k in keys if _short(k) != "seed"]
    if not point:
        return [((), t)]
    return [(k if isinstance(k, tuple) else (k,), g)
            for k, g in t.groupby(point, sort=False, dropna=False)]


def _findings(t: pd.DataFrame, keys: Sequence[str]) -> list[str]:
    """Sentences on what the sweep shows, from its numbers alone."""
    out = []
    point = [k for k in keys if _short(k) != "seed"]
    seeds = "seed" in map(_short, keys)
    ok = t[t.status.isin(["ok", "diverged"])]

    def label(key: tuple) -> str:
        return ", ".join(f"{_short(k)}={fmt(v)}" for k, v in zip(point, key, strict=True)) \
            or "the run"

    def stat(g: pd.DataFrame, col: str) -> str:
        v = g[col].astype(float).dropna()
        if not len(v):
            return "nan"
        return fmt(float(v.median())) + (f" (median of {len(v)} seeds, {fmt(float(v.min()))}"
                                         f"-{fmt(float(v.max()))})" if seeds and len(v) > 1
                                         else "")

    gradient_sweep = any(_short(k) in ("activation", "depth") for k in keys)
    if gradient_sweep and f"{RATIO}@first" in ok:
        out.append("At initialisation, the first layer's gradient is this fraction of the "
                   "last's: " + "; ".join(f"{label(k)}: {stat(g, f'{RATIO}@first')}"
                                          for k, g in _by_point(ok, keys)) + ".")
        trained = ok["ratio_step"].astype(float) > 0
        if trained.any():
            verdicts = []
            for k, g in _by_point(ok[trained], keys):
                r = float(g[RATIO].astype(float).median())
                word = "vanishes" if r < 1e-2 else "explodes" if r > 1e2 else "keeps its size"
                verdicts.append(f"{label(k)} {word} ({sci(r)})")
            out.append("After training (the last gradient measured past step 0): "
                       + "; ".join(verdicts) + " (a first/last ratio below 10^-2 vanishes, "
                       "above 10^2 explodes).")
        else:
            out.append("No gradient was measured after training began (fewer steps than "
                       "callbacks.gradient_flow.every_n_steps), so no verdict after training.")
    if "val/acc" in ok:
        chance = ok["chance"].astype(float).dropna()
        at = (f" (chance: {fmt(float(chance.max()))}, always the most frequent class)"
              if len(chance) else "")
        out.append(f"Validation accuracy at the end{at}: " + "; ".join(
            f"{label(k)}: {stat(g, 'val/acc')}" for k, g in _by_point(ok, keys)) + ".")
    bad = t[t.diverged > 0]
    if len(bad):
        out.append(f"{len(bad)} of {len(t)} jobs diverged (a non-finite loss, or one grown "
                   f"{GROWTH:g} times over its start): "
                   + "; ".join(_label(r, keys) for _, r in bad.iterrows()) + ".")
    failed = t[~t.status.isin(["ok", "diverged"])]
    if len(failed):
        out.append(f"{len(failed)} of {len(t)} jobs failed: " + "; ".join(
            f"{_label(r, keys)} ({r.status}: {r.reason})" for _, r in failed.iterrows()) + ".")
    return out


def quick_report(sweep: Path) -> Path:
    """Write ``report.md``, ``loss_curves.png`` and ``grad_norms.png`` into ``sweep``."""
    sweep = Path(sweep)
    t, curves, keys = _jobs_table(sweep)
    if not len(t):
        raise FileNotFoundError(f"no job under {sweep}")
    # activation picks the colour and depth the line style, wherever they were on the line
    keys.sort(key=lambda k: {"activation": 0, "depth": 1}.get(_short(k), 2))
    logged = t[t.job >= 0]
    styles = _styles(logged, keys)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (_, r), style in zip(logged.iterrows(), styles, strict=True):
        c = curve(curves, r.job, "train/loss_step")
        ax.plot(c.step, c.value, lw=1.2, label=_label(r, keys), **style | {"marker": None})
    ax.set(xlabel="step", ylabel="training loss", yscale="log")
    if len(logged):
        ax.legend(ncol=2)
    savefig(fig, sweep / "loss_curves.png", dpi=110)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (_, r), style in zip(logged.iterrows(), styles, strict=True):
        tags = sorted((k for k in r.index if k.startswith("grad_norm/") and k.endswith("@first")
                       and isinstance(r[k], float) and not math.isnan(r[k])), key=natural)
        ax.plot(range(1, len(tags) + 1), [r[k] for k in tags], lw=1.2, ms=4,
                label=_label(r, keys), **{"marker": "o"} | style)
    ax.set(xlabel="layer (1 = input side)", ylabel="gradient L2 norm at initialisation",
           yscale="log")
    if len(logged):
        ax.legend(ncol=2)
    savefig(fig, sweep / "grad_norms.png", dpi=110)

    cols = [*keys, *(c for c in (f"{RATIO}@first", RATIO, "train/loss_epoch", "val/loss",
                                 "val/acc") if c in t), "diverged", "status"]
    table = t[cols].rename(columns={k: _short(k) for k in keys} | {
        f"{RATIO}@first": "first/last grad at init", RATIO: "first/last grad at end",
        "train/loss_epoch": "train/loss"})
    table.insert(0, "job", [Path(d).name for d in t.dir])
    md = sweep / "report.md"
    md.write_text(
        f"# Sweep report: {_shown(sweep)}\n\n## What it shows\n\n"
        + "\n\n".join(_findings(t, keys)) + "\n\n## Jobs\n\n" + _markdown(table)
        + "\n\n## Figures\n\n![training loss](loss_curves.png)\n\n*Training loss at every "
        "logged step, one line per job (colour: "
        + (f"{_short(keys[0])}" if keys else "job") + (f"; line style: {_short(keys[1])}"
                                                      if len(keys) > 1 else "")
        + ").*\n\n![gradient norms](grad_norms.png)\n\n*Each layer's weight-gradient norm at "
        "initialisation, input side first: a line falling to the left is a gradient that "
        "vanishes on its way back, one rising to the left explodes.*\n")
    return md


def _shown(sweep: Path) -> str:
    """The sweep as the report names it: from the experiment's folder under ``logs/`` on
    (no machine's absolute path)."""
    parts = Path(sweep).parts
    if "multiruns" in parts:
        i = parts.index("multiruns")
        return "/".join(parts[max(i - 1, 0):])
    return Path(sweep).name


def _cli(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m nnref.experiment.reporting",
                                description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sweep", type=Path, help="a multirun (or run) directory under logs/")
    args = p.parse_args(argv)
    if not args.sweep.is_dir():
        print(f"error: {args.sweep} is not a directory", file=sys.stderr)
        return 2
    try:
        md = quick_report(args.sweep.resolve())
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(md.read_text().split("\n## Figures")[0])
    print(f"report: {md}")
    return 0


if __name__ == "__main__":
    sys.exit(_cli())
