"""The experiments of the notes (conf/experiment/*.yaml, experiments/<name>/).

Fast: every value each sweep tries composes into a valid config, and every experiment has its
report script and is run by scripts/run_experiments.sh. (That each config trains is
tests/test_training.py::test_every_experiment_runs_with_fast_dev_run.)

Slow (``-m slow``): one test per experiment runs a reduced sweep of the experiment's own config
through the Hydra app and asserts the effect the notes claim, on the numbers read back from
TensorBoard by the report tooling.
"""

from __future__ import annotations

import importlib.util
import math
import re
import sys

import pytest
import torch
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf
from test_training import CONF, EXPERIMENTS, ROOT, run_in_process

from nnref.experiment import surfaces
from nnref.experiment.training import validate

NAMES = ("vanishing_gradient", "exploding_gradient", "initialization", "activations",
         "optimizers", "gradient_descent_variants", "regularization", "batch_norm",
         "universal_approximation", "basics", "mnist1d_baselines")

GROUPS = {p.name for p in CONF.iterdir() if p.is_dir()}

sys.path.insert(0, str(ROOT / "experiments"))
import analysis  # noqa: E402

sys.path.pop(0)


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
    path = ROOT / "experiments" / name / "make_report.py"
    spec = importlib.util.spec_from_file_location(f"make_report_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- fast ------------------------------------------------------------------------------------

def test_the_eleven_experiments_exist_with_reports_and_are_all_run():
    assert set(NAMES) <= set(EXPERIMENTS)
    script = (ROOT / "scripts" / "run_experiments.sh").read_text()
    listed = re.search(r"ALL=\(([^)]*)\)", script).group(1).split()
    assert listed == list(NAMES)
    for name in NAMES:
        assert (ROOT / "experiments" / name / "make_report.py").is_file(), name


@pytest.mark.parametrize("name", NAMES)
def test_every_swept_value_composes_and_validates(name):
    """Each value of each swept key (the others at their defaults) gives a valid config: a
    typo in a sweep list or a missing interpolation target fails here, not 20 minutes in."""
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
    md = analysis.seeds_table(t, ["a"], {"m": "metric"})
    assert "| x | 3 | **3** (1, 10, 3) |" in md  # median 3, seeds in order 0, 1, 2
    assert "| y | 1 | **5** |" in md


def test_params_parse_dict_arms(tmp_path):
    job = tmp_path / "0"
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(
        ["arm={activation:relu,depth:40,lr:0.001}", "seed=2", "regularization.clip_grad_norm=null",
         "experiment=activations"]))
    assert analysis.params(job) == {"arm.activation": "relu", "arm.depth": 40, "arm.lr": 0.001,
                                    "seed": 2, "regularization.clip_grad_norm": None}


def test_only_complete_sweeps_feed_the_default_report(tmp_path):
    """scripts/run.sh runs a reduced vanishing-gradient sweep; make_report without a sweep
    argument must not pick it up."""
    def multirun(task):
        d = tmp_path / str(len(list(tmp_path.iterdir())))
        d.mkdir()
        (d / "multirun.yaml").write_text(yaml.safe_dump({"hydra": {
            "sweeper": {"params": {"model.depth": "2,10", "seed": "0,1"}},
            "overrides": {"task": task}}}))
        return d

    assert analysis._full(multirun(["experiment=vanishing_gradient", "hydra.sweep.dir=x"]))
    assert not analysis._full(multirun(["experiment=vanishing_gradient", "model.depth=2,5"]))


# --- slow: the effects ------------------------------------------------------------------------

def sweep(monkeypatch, tmp_path, name, *overrides):
    d = run_in_process(monkeypatch, tmp_path, f"experiment={name}", *overrides)
    table, curves = analysis.load(d)
    assert len(table) > 0 and (table["hp/failed"] == 0).all()
    return table, curves


def one(table, col, **where):
    return analysis.median(table, col, **where)


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
        v = torch.tensor(analysis.curve(curves, j, "train/loss_step").value.to_numpy()).log()
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
