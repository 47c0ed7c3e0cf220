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

from nnref.experiment import reporting, surfaces
from nnref.experiment.training import validate

NAMES = ("vanishing_gradient", "exploding_gradient", "initialization", "activations",
         "optimizers", "gradient_descent_variants", "regularization", "batch_norm",
         "universal_approximation", "basics", "mnist1d_baselines")

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

def test_the_eleven_experiments_exist_with_reports_and_are_all_run():
    assert set(NAMES) <= set(EXPERIMENTS)
    script = (ROOT / "scripts" / "run_experiments.sh").read_text()
    listed = re.search(r"ALL=\(([^)]*)\)", script).group(1).split()
    assert listed == list(NAMES)
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
    for act in ("sigmoid", "relu"):
        r = reporting.median(t, f"{reporting.RATIO}@first", **{"model.activation": act,
                                                                 "model.depth": 10})
        verdict = "vanishes" if r < 1e-2 else "explodes" if r > 1e2 else "keeps its size"
        assert f"{act}'s gradient at the first layer" in md
        assert f"{reporting.sci(r)} at depth 10" in md
        assert f"{act} {verdict}" in md
    assert (sweep / "loss_curves.png").is_file() and (sweep / "grad_norms.png").is_file()


FAST_REPORTS = ("vanishing_gradient", "exploding_gradient", "activations",
                "gradient_descent_variants", "regularization", "mnist1d_baselines")


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


@pytest.mark.slow
def test_vanishing_gradient_sigmoid_shrinks_relu_does_not(tmp_path, monkeypatch):
    t, _ = sweep(monkeypatch, tmp_path, "vanishing_gradient", "model.activation=sigmoid,relu",
                 "model.depth=20", "seed=0", "trainer.max_epochs=1")
    ratio = "grad_norm_ratio/first_over_last@first"
    sig = one(t, ratio, **{"model.activation": "sigmoid"})
    relu = one(t, ratio, **{"model.activation": "relu"})
    # sigma' <= 1/4 over 20 layers: at most ~(1/4)^20 ~ 1e-12 times the Glorot gains
    assert sig < 1e-8 and relu > 0.1, (sig, relu)


@pytest.mark.slow
def test_exploding_gradient_diverges_unless_clipped(tmp_path, monkeypatch):
    t, _ = sweep(monkeypatch, tmp_path, "exploding_gradient",
                 "init.kwargs.gain=1.4142135623730951,14.142135623730951",
                 "regularization.clip_grad_norm=null,1.0", "regularization.l2=0.0",
                 "model.depth=10", "seed=0", "trainer.max_epochs=1")
    t["big"] = t["init.kwargs.gain"] > 2
    t["clip"] = t["regularization.clip_grad_norm"].notna()
    assert one(t, "diverged", big=True, clip=False) == 1
    assert one(t, "diverged", big=True, clip=True) == 0
    assert one(t, "diverged", big=False, clip=False) == 0
    g_big = one(t, "grad_norm/model.hidden1.linear@first", big=True, clip=False)
    g_ok = one(t, "grad_norm/model.hidden1.linear@first", big=False, clip=False)
    assert g_big > 1e6 * g_ok  # 10^10 through 10 ReLU layers, at the first step


@pytest.mark.slow
def test_initialization_constant_weights_stay_symmetric(tmp_path, monkeypatch):
    t, _ = sweep(monkeypatch, tmp_path, "initialization", "init.name=zeros,constant,he_normal",
                 "model.activation=relu", "model.depth=10")
    m = report_module("initialization")
    units = {n: m.final_units(d) for n, d in zip(t["init.name"], t.dir, strict=True)}
    assert units == {"zeros": 1, "constant": 1, "he_normal": 32}
    acc = dict(zip(t["init.name"], t["val/acc"], strict=True))
    assert acc["he_normal"] > 0.5 and max(acc["zeros"], acc["constant"]) < 0.2, acc


@pytest.mark.slow
def test_initialization_signal_collapses_without_the_matching_scale():
    m = report_module("initialization")
    x = m.inputs(0)
    torch.manual_seed(0)
    stds = {}
    for init in ("he_normal", "uniform_fan_in"):
        net = m.MLP(64, 10, width=32, depth=30, activation="relu", init=init)
        outs = m.propagate(net, x)
        stds[init] = float(outs[-1].std() / outs[0].std())
    assert stds["he_normal"] > 0.05 and stds["uniform_fan_in"] < 1e-6, stds


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
    t, curves = sweep(monkeypatch, tmp_path, "gradient_descent_variants",
                      "data.batch_size=full,1", "seed=0", "trainer.max_epochs=3")
    noise = {}
    for bs, j in zip(t["data.batch_size"], t.job, strict=True):
        v = torch.tensor(reporting.curve(curves, j, "train/loss_step").value.to_numpy()).log()
        noise[bs] = float(v.diff().abs().median())
    loss = dict(zip(t["data.batch_size"], t["train/loss_epoch"], strict=True))
    assert noise[1] > 5 * noise["full"], noise
    assert loss[1] < loss["full"], loss  # 256 steps per epoch vs 1


@pytest.mark.slow
def test_regularization_closes_the_gap(tmp_path, monkeypatch):
    t, _ = sweep(monkeypatch, tmp_path, "regularization", "regime=none,dropout,l2",
                 "seed=0", "trainer.max_epochs=40")
    gap = dict(zip(t.regime, t["train/acc"] - t["val/acc"], strict=True))
    assert gap["none"] > 0.2, gap  # 500 samples, 80k weights: it memorises
    assert gap["dropout"] < gap["none"] - 0.05, gap


@pytest.mark.slow
def test_batch_norm_trains_where_the_plain_sigmoid_net_stalls(tmp_path, monkeypatch):
    t, _ = sweep(monkeypatch, tmp_path, "batch_norm", "model.norm=null,batch",
                 "optim.lr=0.1", "init.kwargs.gain=1.0", "seed=0", "trainer.max_epochs=5")
    acc = {("batch" if n == "batch" else "none"): v
           for n, v in zip(t["model.norm"], t["val/acc"], strict=True)}
    assert acc["batch"] > 0.8 and acc["batch"] > acc["none"] + 0.3, acc


@pytest.mark.slow
def test_universal_approximation_error_falls_with_width(tmp_path, monkeypatch):
    t, _ = sweep(monkeypatch, tmp_path, "universal_approximation", "data=abs",
                 "model.width=1,16")
    mse = dict(zip(t["model.width"], t["val/loss"], strict=True))
    assert mse[16] < mse[1] / 5, mse
    net = report_module("universal_approximation").fitted(
        t[t["model.width"] == 16].dir.iloc[0], 16)
    assert net is not None  # the report can redraw the fit from the checkpoint


@pytest.mark.slow
def test_basics_xor_needs_a_hidden_nonlinearity(tmp_path, monkeypatch):
    t, _ = sweep(monkeypatch, tmp_path, "basics", "data=xor", "model.activation=identity,tanh",
                 "seed=0")
    acc = dict(zip(t["model.activation"], t["val/acc"], strict=True))
    assert acc["tanh"] > 0.9 and acc["identity"] < 0.7, acc
    m = report_module("basics")
    x, y = m.separable()
    *_, errors = m.perceptron(x, y)
    assert errors[-1] == 0  # converges on separable data
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
    MaxNormConstraint(2.0).on_train_batch_end(None, model, None, None, 0)
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
