"""The experiments of the lecture notes (conf/experiment/*.yaml, experiments/<name>/).

Fast: every value each sweep tries composes into a valid config; every experiment has its
report script and template and is run by scripts/run_experiments.sh; the sweep reader of
:mod:`nnref.experiment.reporting` reads overrides and scalars back; each report renders from a
small fake sweep, with its set-up text taken from the composed config; run.sh's quick report
states its findings. (That each config trains is
tests/test_training.py::test_every_experiment_runs_with_fast_dev_run.)

Slow (``-m slow``): one test per experiment runs a reduced sweep of the experiment's own config
through the Hydra app and asserts the effect the lecture notes claim, on the numbers read back
from TensorBoard by the report tooling; and every report renders from a fake sweep of its full
grid.
"""

from __future__ import annotations

import importlib.util
import itertools
import math
import re

import pytest
import torch
import yaml
from conftest import CONF, EXPERIMENTS, ROOT, run_in_process
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from nnref.experiment import reporting, suite, surfaces
from nnref.experiment.training import validate

NAMES = suite.names()  # the experiments with a suite: block in conf/experiment/

GROUPS = {p.name for p in CONF.iterdir() if p.is_dir()}


def sweep_params(name: str) -> dict[str, list]:
    """``hydra.sweeper.params`` of an experiment: each key's values, parsed by Hydra."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=[f"experiment={name}"], return_hydra_config=True)
    out = {}
    for key, spec in cfg.hydra.sweeper.params.items():
        o = OverridesParser.create().parse_overrides([f"{key}={spec}"])[0]
        out[key] = list(o.sweep_iterator())
    return out


def report_module(name: str):
    path = ROOT / "experiments" / name / "report.py"
    spec = importlib.util.spec_from_file_location(f"report_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- fake sweeps: a multirun directory as Hydra and TensorBoard leave it ----------------------

def _override(key: str, value: object) -> str:
    """``key=value`` in Hydra's override syntax (dict arms as ``{k:v,...}``)."""
    def one(v):
        return "null" if v is None else str(v)
    if isinstance(value, dict):
        return f"{key}={{{','.join(f'{k}:{one(v)}' for k, v in value.items())}}}"
    return f"{key}={one(value)}"


def fake_sweep(root, name: str, seeds=(0,), task=()):
    """A multirun of experiment ``name`` under ``root``: one job per point of its grid (seeds
    limited to ``seeds``), each with its overrides, its config and TensorBoard scalars of
    every tag the reports read, drawn from a generator seeded by the job number."""
    from torch.utils.tensorboard import SummaryWriter

    root.mkdir(parents=True, exist_ok=True)
    (root / "multirun.yaml").write_text(yaml.safe_dump({"hydra": {
        "overrides": {"task": [f"experiment={name}", *task]}}}))
    values = reporting.experiment_config(name, CONF, root)[1]
    if not any(o.startswith("seed=") for o in task):  # fewer jobs; the set-up keeps all seeds
        values["seed"] = list(seeds)
    composed = {}
    for i, point in enumerate(itertools.product(*values.values())):
        job = dict(zip(values, point, strict=True))
        overrides = [_override(k, v) for k, v in job.items()]
        groups = tuple(o for o in overrides if o.split("=")[0] in GROUPS)
        if groups not in composed:
            with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
                composed[groups] = compose("train", overrides=[f"experiment={name}", *groups])
        cfg = composed[groups].copy()
        for k, v in job.items():
            if k not in GROUPS:
                OmegaConf.update(cfg, k, v, merge=False)
        d = root / str(i)
        (d / ".hydra").mkdir(parents=True)
        (d / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(
            [*overrides, f"experiment={name}", f"hydra.sweep.dir={root}"]))
        OmegaConf.save(cfg, d / ".hydra" / "config.yaml")
        depth = job.get("model.depth") or (job.get("arm") or {}).get("depth") or 2
        g = torch.Generator().manual_seed(i)

        def u(lo=0.05, hi=1.0):
            return float(lo + (hi - lo) * torch.rand((), generator=g))  # noqa: B023

        w = SummaryWriter(str(d / "tensorboard"))
        for step in range(30):
            w.add_scalar("train/loss_step", u(0.01, 2.0), step)
        for step in (0, 10, 20):
            for layer in [*(f"hidden{k}.linear" for k in range(1, depth + 1)), "out"]:
                w.add_scalar(f"grad_norm/model.{layer}", u(1e-3, 10.0), step)
            w.add_scalar(reporting.RATIO, u(1e-6, 2.0), step)
        for epoch in range(3):
            for tag in ("train/loss_epoch", "train/acc", "val/loss", "val/acc", "test/loss",
                        "test/acc"):
                w.add_scalar(tag, u(), 10 * epoch + 9)
        w.add_scalar("diverged", 0.0, 29)
        w.add_scalar("hp/failed", 0.0, 29)
        w.close()
    return root


# --- fast ------------------------------------------------------------------------------------

def test_the_suite_is_every_experiment_config_with_a_report():
    assert len(NAMES) >= 11 and set(NAMES) <= set(EXPERIMENTS)
    orders = [e.order for e in suite.entries()]
    assert len(set(orders)) == len(orders)  # one place each
    for name in NAMES:
        assert (ROOT / "experiments" / name / "report.py").is_file(), name
        assert (ROOT / "experiments" / name / "README.md.in").is_file(), name


def test_no_path_manipulation_in_experiments_or_scripts():
    """The package is installed (editable): scripts import from it, never patch sys.path."""
    files = [*(ROOT / "experiments").rglob("*.py"), *(ROOT / "scripts").glob("*")]
    assert [f for f in files if f.is_file() and "sys.path" in f.read_text()] == []


def test_reports_speak_of_the_lecture_notes():
    texts = [*(ROOT / "experiments").rglob("README.md.in"),
             *(ROOT / "experiments").rglob("report.py")]
    bad = re.compile(r"\bseeds? \d{3}\b|INVENTORY|issue \d", re.IGNORECASE)
    assert [f for f in texts if bad.search(f.read_text())] == []


@pytest.mark.parametrize("name", NAMES)
def test_every_swept_value_composes_and_validates(name, monkeypatch):
    """Each value of each swept key (the others at their defaults) gives a valid config: a
    typo in a sweep list or a missing interpolation target fails here, not 20 minutes in."""
    monkeypatch.setenv("NNREF_ROOT", str(ROOT))  # as experiments/train.py sets it: paths resolve
    params = sweep_params(name)
    assert params, f"{name} is not a sweep"
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        base = compose("train", overrides=[f"experiment={name}"])
        for key, values in params.items():
            assert len(values) >= 2 or key == "seed", (key, values)
            for value in values:
                if key in GROUPS:  # a config group: compose it
                    cfg = compose("train", overrides=[f"experiment={name}", f"{key}={value}"])
                else:
                    cfg = base.copy()
                    OmegaConf.update(cfg, key, value, merge=False)
                validate(cfg)
                if "arm" in cfg:  # every field of a non-rectangular design point resolves
                    assert all(v is not None for v in cfg.arm.values())


def test_seeds_table_reports_every_seed_and_the_median():
    import pandas as pd

    t = pd.DataFrame({"a": ["x", "x", "x", "y"], "seed": [2, 0, 1, 0],
                      "m": [3.0, 1.0, 10.0, 5.0]})
    md = reporting.seeds_table(t, ["a"], {"m": "metric"})
    assert "| x | 3 | **3** (1, 10, 3) |" in md  # median 3, seeds in order 0, 1, 2
    assert "| y | 1 | **5** |" in md


def test_params_parse_dict_arms(tmp_path):
    job = tmp_path / "0"
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(
        ["arm={activation:relu,depth:40,lr:0.001}", "seed=2", "regularization.clip_grad_norm=null",
         "experiment=activations"]))
    assert reporting.params(job) == {"arm.activation": "relu", "arm.depth": 40, "arm.lr": 0.001,
                                    "seed": 2, "regularization.clip_grad_norm": None}


def test_only_complete_sweeps_feed_the_default_report(tmp_path):
    """scripts/run.sh runs a reduced vanishing-gradient sweep; a report without a sweep
    argument must not pick it up."""
    def multirun(task):
        d = tmp_path / str(len(list(tmp_path.iterdir())))
        d.mkdir()
        (d / "multirun.yaml").write_text(yaml.safe_dump({"hydra": {
            "sweeper": {"params": {"model.depth": "2,10", "seed": "0,1"}},
            "overrides": {"task": task}}}))
        return d

    assert reporting.is_full(multirun(["experiment=vanishing_gradient", "hydra.sweep.dir=x"]))
    assert not reporting.is_full(multirun(["experiment=vanishing_gradient", "model.depth=2,5"]))




def test_sweep_config_takes_the_sweeps_own_overrides(tmp_path):
    """A reduced sweep (run.sh's) is described by what it ran, not by the full grid."""
    (tmp_path / "multirun.yaml").write_text(yaml.safe_dump({"hydra": {"overrides": {"task": [
        "experiment=vanishing_gradient", "model.depth=2,5", "seed=0", "trainer.max_epochs=3",
        "hydra.sweep.dir=x"]}}}))
    cfg, values = reporting.experiment_config("vanishing_gradient", CONF, tmp_path)
    assert values["model.depth"] == [2, 5] and values["seed"] == [0]
    assert values["model.activation"][:2] == ["sigmoid", "tanh"]  # the config's own list
    assert cfg.trainer.max_epochs == 3 and cfg.model.width == 32


def test_set_up_text_follows_the_yaml(tmp_path):
    """Change a value in the composed config and the rendered set-up changes with it."""
    template = tmp_path / "t" / "README.md.in"
    template.parent.mkdir()
    template.write_text("lr {{ cfg.optim.lr }}, {{ sweep.seed|length }} seeds, "
                        "{{ x|fmt }} {{ verdict(ok) }}")
    cfg, values = reporting.experiment_config("basics", CONF)
    text = reporting.render(template, tmp_path / "out", {"x": 1 / 3, "ok": False}, cfg,
                            values, tmp_path, tmp_path).read_text()
    assert text.startswith("lr 0.01, 3 seeds, 0.333 **Does not agree with the lecture notes:**")
    with pytest.raises(Exception, match="x"):  # a number the template needs and did not get
        reporting.render(template, tmp_path / "out", {"ok": True}, cfg, values, tmp_path,
                         tmp_path)


def test_quick_report_concludes_from_the_numbers(tmp_path):
    sweep = fake_sweep(tmp_path / "sweep", "vanishing_gradient",
                       task=["model.activation=sigmoid,relu", "model.depth=2,10", "seed=0"])
    t, _ = reporting.load(sweep)
    md = reporting.quick_report(sweep).read_text()
    shows = md.split("## What it shows")[1].split("## Jobs")[0]
    for act in ("sigmoid", "relu"):
        where = {"model.activation": act, "model.depth": 10}
        at_init = reporting.median(t, f"{reporting.RATIO}@first", **where)
        end = reporting.median(t, reporting.RATIO, **where)  # logged at step 20: trained
        verdict = "vanishes" if end < 1e-2 else "explodes" if end > 1e2 else "keeps its size"
        assert f"activation={act}, depth=10: {reporting.fmt(at_init)}" in shows
        assert f"activation={act}, depth=10 {verdict} ({reporting.sci(end)})" in shows
    assert (sweep / "loss_curves.png").is_file() and (sweep / "grad_norms.png").is_file()


FAST_REPORTS = [e.name for e in suite.entries() if not e.slow_report]


def _render_from_fake_sweep(tmp_path, name):
    sweep = fake_sweep(tmp_path / "sweep", name)
    out = tmp_path / "out"
    assert reporting.main(report_module(name).build, ROOT / "experiments" / name,
                          [str(sweep), "--out", str(out)]) == 0
    text = (out / "README.md").read_text()
    tracked = (ROOT / "experiments" / name / "README.md").read_text()
    return text, tracked, out


def check_render(tmp_path, name):
    text, tracked, out = _render_from_fake_sweep(tmp_path, name)
    assert text.splitlines()[0] == tracked.splitlines()[0]  # same title
    for fig in re.findall(r"!\[[^]]*\]\(([^)]+)\)", text):
        assert (out / fig).is_file(), fig
    assert "{{" not in text and "{%" not in text


@pytest.mark.parametrize("name", FAST_REPORTS)
def test_report_renders_from_a_fake_sweep(tmp_path, name):
    check_render(tmp_path, name)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(NAMES) - set(FAST_REPORTS)))
def test_report_that_also_trains_or_simulates_renders_from_a_fake_sweep(tmp_path, name):
    """These reports add work of their own (perceptron, signal propagation, surfaces, drift)
    or read checkpoints (absent here: the fitted curves are left out)."""
    check_render(tmp_path, name)


# --- slow: the effects ------------------------------------------------------------------------

def sweep(monkeypatch, tmp_path, name, *overrides):
    d = run_in_process(monkeypatch, tmp_path, f"experiment={name}", *overrides)
    table, curves = reporting.load(d)
    assert len(table) > 0 and (table["hp/failed"] == 0).all()
    return table, curves


def one(table, col, **where):
    return reporting.median(table, col, **where)


def each(table, col, **where) -> list[float]:
    """``col`` of the jobs matching ``where``, one per seed of the sweep, in seed order (so
    two arms zip seed by seed); an arm the sweep did not run fails here instead of passing
    vacuously."""
    rows = table
    for k, v in where.items():
        rows = rows[rows[k].isna() if v is None else rows[k] == v]
    values = [float(v) for v in rows.sort_values("seed")[col]]
    assert len(values) == table.seed.nunique(), (col, where, values)
    return values


@pytest.mark.slow
def test_vanishing_gradient_sigmoid_shrinks_relu_does_not(tmp_path, monkeypatch):
    """The first/last gradient ratio at initialisation (step 0, so one step is enough) at
    depth 2 and 20: going 18 layers deeper divides the sigmoid's by about 4 per layer
    (sigma'(0) = 1/4), while tanh's (Glorot: the linear regime, tanh'(0) = 1) and ReLU's (He)
    stay of order one. Every seed."""
    acts = ("sigmoid", "tanh", "relu")
    t, _ = sweep(monkeypatch, tmp_path, "vanishing_gradient", f"model.activation={','.join(acts)}",
                 "model.depth=2,20", "seed=0,1", "trainer.max_steps=1")
    ratio = {(a, d): each(t, f"{reporting.RATIO}@first", **{"model.activation": a,
                                                            "model.depth": d})
             for a in acts for d in (2, 20)}
    for s in range(2):
        per_layer = {a: (ratio[a, 20][s] / ratio[a, 2][s]) ** (1 / 18) for a in acts}
        assert 0.15 < per_layer["sigmoid"] < 0.35, (per_layer, ratio)
        assert min(per_layer["tanh"], per_layer["relu"]) > 0.8, (per_layer, ratio)
        assert ratio["sigmoid", 20][s] < 1e-8, ratio
        assert min(ratio["tanh", 20][s], ratio["relu", 20][s]) > 0.1, ratio


@pytest.mark.slow
def test_exploding_gradient_diverges_unless_clipped_or_shallow(tmp_path, monkeypatch):
    """Weights 3 times He's scale (gain 3 sqrt 2): at depth 10 the first layer's gradient at
    initialisation is about 3^10 times He's and 3^7 times that of depth 3, and plain SGD
    diverges within one epoch; clipping the gradient norm prevents it, L2 (1e-3) does not,
    and fewer layers (depth 3) do. Every seed."""
    t, _ = sweep(monkeypatch, tmp_path, "exploding_gradient",
                 "init.kwargs.gain=1.4142135623730951,4.242640687119285",
                 "regularization.clip_grad_norm=null,1.0", "regularization.l2=0.0,0.001",
                 "model.depth=3,10", "seed=0,1", "trainer.max_epochs=1")
    t["big"] = t["init.kwargs.gain"] > 2
    t["clip"] = t["regularization.clip_grad_norm"].notna()
    t["depth"], t["l2"] = t["model.depth"], t["regularization.l2"] > 0

    def at(col, big=True, depth=10, clip=False, l2=False):
        return each(t, col, big=big, depth=depth, clip=clip, l2=l2)

    g = "grad_norm/model.hidden1.linear@first"
    for s in range(2):
        assert at(g)[s] > 3**10 / 10 * at(g, big=False)[s], (at(g), at(g, big=False))
        assert at(g)[s] > 3**7 / 10 * at(g, depth=3)[s], (at(g), at(g, depth=3))
    assert at("diverged") == [1, 1]
    assert at("diverged", l2=True) == [1, 1]  # the penalty's pull 2*lambda*w is far too weak
    assert at("diverged", clip=True) == at("diverged", clip=True, l2=True) == [0, 0]
    assert at("diverged", depth=3) == [0, 0]
    assert at("diverged", big=False) == [0, 0]
    # shallow at the big scale learns; deep and clipped stays near chance (its logits are
    # still enormous: clipping bounds the step, not the forward pass)
    shallow, clipped = at("val/acc", depth=3), at("val/acc", clip=True)
    assert all(a > b + 0.1 for a, b in zip(shallow, clipped, strict=True)), (shallow, clipped)


@pytest.mark.slow
def test_initialization_constant_weights_stay_symmetric(tmp_path, monkeypatch):
    """After training, zeros and constant 0.1 leave one distinct unit in layer 2 and the net
    near chance; He normal keeps 32 and learns. Every seed."""
    t, _ = sweep(monkeypatch, tmp_path, "initialization", "init.name=zeros,constant,he_normal",
                 "model.activation=relu", "model.depth=10", "seed=0,1")
    m = report_module("initialization")
    t["units"] = [m.final_units(d) for d in t.dir]
    units = {i: each(t, "units", **{"init.name": i}) for i in ("zeros", "constant", "he_normal")}
    assert units == {"zeros": [1, 1], "constant": [1, 1], "he_normal": [32, 32]}, units
    acc = {i: each(t, "val/acc", **{"init.name": i}) for i in units}
    assert min(acc["he_normal"]) > 0.5 and max(acc["zeros"] + acc["constant"]) < 0.2, acc


@pytest.mark.slow
def test_initialization_signal_keeps_its_scale_only_with_the_matching_init():
    """Std of hidden layer 30 over layer 1 at initialisation, per seed of the report's three:
    Glorot for tanh, He for ReLU, LeCun for SELU stay within a factor 10; ReLU with
    U[+-1/sqrt(fan_in)] (a sixth of He's variance) or Glorot (half of it) collapses."""
    m = report_module("initialization")
    pairs = (("tanh", "xavier_normal"), ("relu", "he_normal"), ("selu", "lecun_normal"),
             ("relu", "uniform_fan_in"), ("relu", "xavier_normal"))
    keep = {p: [] for p in pairs}
    for seed in range(3):
        x = m.inputs(seed)
        for act, init in pairs:
            torch.manual_seed(seed)
            outs = m.propagate(m.MLP(64, 10, width=32, depth=30, activation=act, init=init), x)
            keep[act, init].append(float(outs[-1].std() / outs[0].std()))
    for pair in pairs[:3]:
        assert all(0.1 < k < 10 for k in keep[pair]), keep
    # (1/6)^(29/2) ~ 5e-12 and (1/2)^(29/2) ~ 4e-5: far below any matched pair
    assert max(keep["relu", "uniform_fan_in"]) < 1e-8, keep
    assert max(keep["relu", "xavier_normal"]) < 1e-3, keep


@pytest.mark.slow
def test_activations_all_learn_and_sigmoid_trails_when_deeper(tmp_path, monkeypatch):
    arms = ",".join(f"{{activation:{a},depth:{d},lr:0.003}}"
                    for a in ("sigmoid", "relu", "swish") for d in (4, 10))
    t, _ = sweep(monkeypatch, tmp_path, "activations", f"arm={arms}", "seed=0",
                 "trainer.max_epochs=4")
    acc = {(a, d): v for a, d, v in zip(t["arm.activation"], t["arm.depth"], t["val/acc"],
                                        strict=True)}
    assert all(acc[a, 4] > 0.8 for a in ("relu", "swish")), acc
    assert acc["sigmoid", 10] < acc["relu", 10] - 0.2, acc


@pytest.mark.slow
def test_optimizers_learning_rate_and_adaptive_methods(tmp_path, monkeypatch):
    t, _ = sweep(monkeypatch, tmp_path, "optimizers",
                 "arm={name:sgd,lr:0.001},{name:sgd,lr:0.1},{name:adam,lr:0.001}",
                 "data=digits", "seed=0", "trainer.max_steps=100")
    acc = {(n, lr): v for n, lr, v in zip(t["arm.name"], t["arm.lr"], t["val/acc"],
                                          strict=True)}
    assert acc["sgd", 0.1] > acc["sgd", 0.001] + 0.3, acc  # too small a rate barely moves
    assert acc["adam", 0.001] > 0.8, acc
    m = report_module("optimizers")
    paths, demo = m.run_surfaces()
    f = {lr: float(surfaces.ill_conditioned(p[-1, 0], p[-1, 1])) for lr, p in demo.items()}
    assert f[0.55] > f[0.01] > f[0.4]  # too big diverges, too small crawls
    assert float(paths["tilted_double_well", "sgd"][-1, 0]) > 0  # stuck in the local minimum
    assert float(paths["tilted_double_well", "momentum"][-1, 0]) < 0  # carried over


@pytest.mark.slow
def test_stochastic_gradient_descent_is_noisier_than_batch(tmp_path, monkeypatch):
    """Like with like: over 3 epochs every run computes the same 768 per-sample gradients (256
    digits); batch GD turns them into 3 steps, mini-batch 32 into 24, stochastic GD into 768.
    The notes' claims, per seed: batch GD's loss falls at every step ("reduces smoothly"),
    mini-batch 32's rises at some; SGD's is far rougher than mini-batch's (median |change of
    the log loss| per step over the second half, the report's measure); the fewer samples per
    step, the lower the mean training loss of each epoch. (The report's batch-vs-mini-batch
    ordering on that measure needs its 15 epochs: over 3, batch GD's steady descent changes
    the log loss as much per step as mini-batch's wobble.)"""
    t, curves = sweep(monkeypatch, tmp_path, "gradient_descent_variants",
                      "data.batch_size=full,1,32", "seed=0,1", "trainer.max_epochs=3")

    def rough(job):
        v = torch.tensor(reporting.curve(curves, job, "train/loss_step").value.to_numpy())
        v = (v + 1e-6).log()  # a single sample's loss can round to 0
        return float(v[len(v) // 2:].diff().abs().median())

    def rises(job):
        v = torch.tensor(reporting.curve(curves, job, "train/loss_step").value.to_numpy())
        return float((v.diff() > 0).float().mean())

    t["rough"], t["rises"] = [rough(j) for j in t.job], [rises(j) for j in t.job]
    t["steps"] = [len(reporting.curve(curves, j, "train/loss_step")) for j in t.job]
    steps = {bs: each(t, "steps", **{"data.batch_size": bs}) for bs in ("full", 1, 32)}
    assert steps == {"full": [3, 3], 1: [768, 768], 32: [24, 24]}, steps
    epochs = {bs: [reporting.curve(curves, j, "train/loss_epoch").value.tolist()
                   for j in t[t["data.batch_size"] == bs].sort_values("seed").job]
              for bs in ("full", 1, 32)}
    noise = {bs: each(t, "rough", **{"data.batch_size": bs}) for bs in epochs}
    up = {bs: each(t, "rises", **{"data.batch_size": bs}) for bs in epochs}
    for s in range(2):
        assert up["full"][s] == 0 < 0.1 < up[32][s], up
        assert noise[1][s] > 10 * noise[32][s], noise
        assert all(len(epochs[bs][s]) == 3 for bs in epochs), epochs
        for e in range(3):  # the full batch takes one step per epoch, SGD 256
            assert epochs[1][s][e] < epochs[32][s][e] < epochs["full"][s][e], epochs


@pytest.mark.slow
def test_regularization_closes_the_gap(tmp_path, monkeypatch):
    """40 of the 80 epochs, seed 0 of the 3 (each regime's run takes minutes on 2 CPU cores),
    against no regularization: the net memorises its 500 signals (train - val accuracy above
    0.3); dropout, DropConnect, input noise, hidden noise and augmentation shrink that gap by
    more than 0.02 (one seed: a fixed margin stands in for the report's spread over 3 seeds),
    augmentation also raises the validation accuracy; L2 at 1e-3 changes neither (the report:
    inside the spread)."""
    closing = ("dropout", "dropconnect", "input_noise", "hidden_noise", "augmentation")
    t, _ = sweep(monkeypatch, tmp_path, "regularization",
                 f"regime=none,l2,{','.join(closing)}", "seed=0", "trainer.max_epochs=40")
    t["gap"] = t["train/acc"] - t["val/acc"]
    gap = {r: one(t, "gap", regime=r) for r in ("none", "l2", *closing)}
    acc = {r: one(t, "val/acc", regime=r) for r in ("none", "l2", "augmentation")}
    assert gap["none"] > 0.3, gap
    assert [r for r in closing if not gap[r] < gap["none"] - 0.02] == [], gap
    assert acc["augmentation"] > acc["none"] + 0.05, acc
    assert abs(gap["l2"] - gap["none"]) < 0.05 and abs(acc["l2"] - acc["none"]) < 0.03, (gap, acc)


@pytest.mark.slow
def test_batch_norm_faster_higher_rates_less_sensitive_less_drift(tmp_path, monkeypatch):
    """The report's four claims over 5 of the 10 epochs, seed by seed: at lr 0.1 and gain 1
    batch norm reaches 0.8 validation accuracy within 3 epochs and the plain sigmoid net never
    does; at lr 1 batch norm ends higher; going from gain 1 to 4 moves batch norm's accuracy
    less than the plain net's; and a hidden unit's input drifts less with batch norm."""
    m = report_module("batch_norm")
    runs = {}
    for lr, gains in ((0.1, "1.0,4.0"), (1.0, "1.0")):
        d = tmp_path / f"lr{lr}"
        d.mkdir()
        t, curves = sweep(monkeypatch, d, "batch_norm", "model.norm=null,batch", f"optim.lr={lr}",
                          f"init.kwargs.gain={gains}", "seed=0,1", "trainer.max_epochs=5")
        t["to_target"] = [m.first_epoch(reporting.curve(curves, j, "val/acc").value.tolist(),
                                        m.TARGET) for j in t.job]
        for norm in (None, "batch"):
            for gain in t["init.kwargs.gain"].unique():
                w = {"model.norm": norm, "init.kwargs.gain": gain}
                runs[norm, lr, gain] = {c: each(t, c, **w) for c in ("val/acc", "to_target")}
    assert all(e <= 3 for e in runs["batch", 0.1, 1.0]["to_target"]), runs
    assert all(math.isnan(e) for e in runs[None, 0.1, 1.0]["to_target"]), runs
    for s in range(2):
        acc = {k: v["val/acc"][s] for k, v in runs.items()}
        assert acc["batch", 1.0, 1.0] > acc[None, 1.0, 1.0] + 0.02, runs
        assert (abs(acc["batch", 0.1, 4.0] - acc["batch", 0.1, 1.0])
                < abs(acc[None, 0.1, 4.0] - acc[None, 0.1, 1.0]) / 2), runs
    for seed in range(3):  # the report's drift verdict reads 3 seeds
        move = {}
        for norm in (None, "batch"):  # the report's measure: spread of the percentiles after
            p = m.drift(norm, seed=seed)  # the first 100 steps over their final 15-85 spread
            late = p[10:]
            move[norm] = float((late.amax(0) - late.amin(0)).max() / (p[-1, 2] - p[-1, 0]))
        assert move["batch"] < move[None] / 3, (seed, move)


@pytest.mark.slow
def test_universal_approximation_error_falls_with_width(tmp_path, monkeypatch):
    """|x| with 1 and 16 tanh units, seed by seed: 16 units reach a fifth of one unit's
    validation MSE and within 4 times the noise floor; the checkpoint the report draws its
    fitted curves from fits as well (within 4 times the floor, and within a factor 1.5 of the
    logged MSE: the checkpoint is taken at the last step, the MSE at the last validation)."""
    t, _ = sweep(monkeypatch, tmp_path, "universal_approximation", "data=abs",
                 "model.width=1,16", "seed=0,1")
    floor = float(reporting.job_config(t.dir.iloc[0]).data.noise_std) ** 2
    mse = {w: each(t, "val/loss", **{"model.width": w}) for w in (1, 16)}
    for s in range(2):
        assert mse[16][s] < min(mse[1][s] / 5, 4 * floor), (mse, floor)
    m = report_module("universal_approximation")
    for _, row in t[t["model.width"] == 16].iterrows():
        net = m.fitted(row.dir, 16)
        x, y = reporting.job_data(row.dir).splits["val"]
        with torch.no_grad():
            redrawn = float(((net(x) - y) ** 2).mean())
        logged = row["val/loss"]
        assert redrawn < 4 * floor and 1 / 1.5 < redrawn / logged < 1.5, (redrawn, logged)


@pytest.mark.slow
def test_basics_xor_needs_a_hidden_nonlinearity(tmp_path, monkeypatch):
    """Seed by seed: on XOR the linear model stays near chance and 8 tanh units beat it by 0.3
    (the report's 0.9 is for the median of 3 seeds: seed 1 alone reaches 0.89); on moons the
    tanh units beat the line too. The perceptron converges on separable data and
    not on XOR (a line gets at most 3 of its 4 quadrants right); softmax over two classes is
    the sigmoid of the logit difference."""
    t, _ = sweep(monkeypatch, tmp_path, "basics", "data=xor,moons",
                 "model.activation=identity,tanh", "seed=0,1")
    acc = {(d, a): each(t, "val/acc", data=d, **{"model.activation": a})
           for d in ("xor", "moons") for a in ("identity", "tanh")}
    for s in range(2):
        assert acc["xor", "identity"][s] < 0.7 and acc["xor", "tanh"][s] > 0.85, acc
        assert acc["xor", "tanh"][s] > acc["xor", "identity"][s] + 0.3, acc
        assert acc["moons", "tanh"][s] > acc["moons", "identity"][s] + 0.05, acc
    m = report_module("basics")
    x, y = m.separable()
    *_, errors = m.perceptron(x, y)
    assert errors[-1] == 0  # converges on separable data
    dm = reporting.job_data(t[(t.data == "xor") & (t.seed == 0)].dir.iloc[0], standardize=False)
    x, y = dm.splits["train"][0][:400], dm.splits["train"][1][:400, 0]
    *_, errors = m.perceptron(x, y)
    assert len(errors) == m.PERCEPTRON_EPOCHS and min(errors) > 0.2 * len(y), errors
    z = torch.randn(1000, 2, dtype=torch.float64) * 10
    torch.testing.assert_close(m.softmax(z, dim=1)[:, 1], torch.sigmoid(z[:, 1] - z[:, 0]))


@pytest.mark.slow
def test_mnist1d_cnn_beats_mlp_beats_linear(tmp_path, monkeypatch):
    t, _ = sweep(monkeypatch, tmp_path, "mnist1d_baselines", "model=mlp,cnn",
                 "model.activation=identity,relu", "seed=0", "trainer.max_steps=600")
    acc = {(m, a): v for m, a, v in zip(t.model, t["model.activation"], t["test/acc"],
                                        strict=True)}
    assert acc["cnn", "relu"] > acc["mlp", "relu"] + 0.1 > acc["mlp", "identity"] + 0.1, acc
    assert math.isclose(acc["mlp", "identity"], 0.32, abs_tol=0.1), acc  # published: 32%


def test_sweep_grid_sizes_fit_the_budget():
    """The number of jobs per experiment (a guard against a sweep growing by accident: the
    whole set must run in under 45 minutes on 2 CPU cores)."""
    sizes = {n: math.prod(len(v) for v in sweep_params(n).values()) for n in NAMES}
    assert sum(sizes.values()) <= 600 and max(sizes.values()) <= 100, sizes


# --- options of the training stack that the regularization experiment adds -----------------

def test_classic_dropout_scales_at_inference_and_inverted_in_training():
    from nnref.experiment.models import MLP

    torch.manual_seed(0)
    x = torch.randn(4000, 6)
    nets = {m: MLP(6, 2, width=5, depth=1, dropout=0.25, dropout_mode=m) for m in
            ("inverted", "classic")}
    nets["classic"].load_state_dict(nets["inverted"].state_dict())
    for net in nets.values():
        net.eval()
    act = nets["inverted"].hidden1.act(nets["inverted"].hidden1.linear(x))
    torch.testing.assert_close(nets["inverted"].hidden1(x), act)
    torch.testing.assert_close(nets["classic"].hidden1(x), act * 0.75)
    nets["classic"].train()
    kept = nets["classic"].hidden1(x)
    assert set(torch.unique(kept[act != 0] / act[act != 0]).tolist()) <= {0.0, 1.0}


def test_hidden_noise_only_in_training():
    from nnref.experiment.models import MLP

    net = MLP(3, 1, width=4, depth=2, noise=0.5)
    x = torch.randn(2000, 3)
    net.eval()
    clean = net.hidden1(x)
    torch.testing.assert_close(net.hidden1(x), clean)
    net.train()
    diff = net.hidden1(x) - clean
    assert abs(float(diff.std()) - 0.5) < 0.02  # N(0, 0.5^2) added to every unit


def test_max_norm_constraint_projects_every_unit_after_each_step():
    from nnref.experiment.lit import MaxNormConstraint

    model = torch.nn.Sequential(torch.nn.Linear(10, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(10)
    small = model[2].weight[0].clone() / model[2].weight[0].norm() * 0.5
    with torch.no_grad():
        model[2].weight[0] = small
    constraint = MaxNormConstraint(2.0)
    constraint.on_fit_start(None, model)  # Lightning's order: the layers are found once
    constraint.on_train_batch_end(None, model, None, None, 0)
    for layer in (model[0], model[2]):
        norms = layer.weight.norm(dim=1)
        assert float(norms.max()) <= 2.0 + 1e-5
    torch.testing.assert_close(model[2].weight[0], small)  # inside the ball: untouched
    with pytest.raises(ValueError, match="max_norm"):
        MaxNormConstraint(0.0)


@pytest.mark.parametrize("override, key", [("model.dropout_mode=scaled", "model.dropout_mode"),
                                           ("model.noise=-1", "model.noise")])
def test_bad_regularization_options_are_one_line_config_errors(override, key):
    from nnref.experiment.training import ConfigError

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=[override])
    with pytest.raises(ConfigError, match=key):
        validate(cfg)


# --- verdicts the seeds can carry -------------------------------------------------------------

def test_a_verdict_needs_a_difference_beyond_the_spread_over_seeds():
    wide = reporting.compare([0.90, 0.70, 0.95], [0.80, 0.82, 0.81])
    assert wide.spread == pytest.approx(0.25) and wide.difference == pytest.approx(0.09)
    assert not wide.settled and wide.a_better is None and "inconclusive" in str(wide)
    clear = reporting.compare([0.90, 0.91, 0.92], [0.80, 0.82, 0.81])
    assert clear.settled and clear.a_better is True
    assert reporting.compare([3, 4, 5], [30, 31, 29], higher_is_better=False).a_better is True
    two = reporting.compare([0.9, 0.91], [0.1, 0.11])  # far apart, but two seeds cannot tell
    assert two.a_better is None and "fewer than 3 seeds" in str(two)
    assert reporting.claim(clear, clear) is True
    assert reporting.claim(clear, wide) is None
    assert reporting.claim(clear, reporting.compare([0.1, 0.1, 0.1], [0.5, 0.5, 0.5])) is False
    assert reporting.verdict(None).startswith("**Inconclusive")
    assert reporting.verdict(True) == "**Agrees with the lecture notes:**"
    with pytest.raises(ValueError, match="a number per seed"):
        reporting.compare([], [1.0])


@pytest.mark.slow
def test_tuned_momentum_needs_about_sqrt_kappa_steps_and_gd_about_kappa():
    m = report_module("optimizers")
    steps = {}
    for name in ("sgd", "momentum"):
        for k in (10, 1000):
            r = m.tune(m.quadratic(k), name)
            assert not r["edge"], (name, k, r)
            steps[name, k] = float(sorted(r["steps"])[1])
    gd, hb = (math.log(steps[n, 1000] / steps[n, 10]) / math.log(100) for n in ("sgd", "momentum"))
    assert 0.8 < gd < 1.2 and 0.3 < hb < 0.7, (gd, hb, steps)
    # the theory is the worst start: all the error along the flattest direction, where GD at
    # lr 2/(L+mu) shrinks f by exactly rho^2 a step; random starts need fewer steps
    from nnref import registry

    a = m.quadratic(1000)
    eig, vec = torch.linalg.eigh(a)
    worst = m.steps_to_tol(a, registry.get("optim", "sgd", lr=float(2 / (eig[0] + eig[-1]))),
                           vec[:, 0].contiguous(), 10**5)
    theory = m.theory_steps(1000)["sgd"]
    assert abs(worst - theory) <= 1, (worst, theory)
    assert steps["sgd", 1000] < worst


@pytest.mark.slow
def test_mnist1d_paper_loop_logistic_regression_reaches_the_published_level():
    path = ROOT / "experiments" / "mnist1d_baselines" / "paper_loop.py"
    spec = importlib.util.spec_from_file_location("paper_loop", path)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    r = m.run("logistic, paper's loop", seed=0, steps=1000)
    assert r["train_size"] == 4000 and len(r["test_acc"]) == 1000 // m.EVAL_EVERY + 1
    assert abs(r["test_acc"][-1] - 0.32) <= 0.02, r["test_acc"]  # published: 32%
    held = m.run("CNN + 10% held out (3600 train)", seed=0, steps=0)
    assert held["train_size"] == 3600
