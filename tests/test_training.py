"""nnref.experiment.training and the Hydra app: configs compose and run, bad configs give one
line, runs repeat bit for bit, diverge cleanly, resume; sweeps run under each launcher."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from conftest import CONF, DEVICES, EXPERIMENTS, app_argv, make_cfg, run_app, run_in_process
from hydra import compose, initialize_config_dir

from nnref.experiment.lit import LitModel
from nnref.experiment.training import ConfigError, flatten, train

# Short runs: a few steps, no per-step figures.
QUICK = ["trainer.max_epochs=2", "trainer.limit_train_batches=5", "trainer.log_every_n_steps=1",
         "callbacks.gradient_flow.every_n_steps=2"]


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_runs_with_fast_dev_run(tmp_path, experiment):
    metrics = train(make_cfg(tmp_path, [f"experiment={experiment}", "debug=fast_dev_run"]))
    assert metrics["failed"] == 0 and metrics["steps"] == 1
    assert torch.isfinite(torch.tensor([metrics["train/loss_epoch"], metrics["val/loss"]])).all()


DATA = sorted(p.stem for p in (CONF / "data").glob("*.yaml")
              if p.stem not in ("mnist", "fashion_mnist"))  # those need the user's IDX files


@pytest.mark.parametrize("data", DATA)
def test_every_data_config_trains_an_mlp(tmp_path, data):
    extra = ["data.num_samples=200"] if data == "mnist1d" else []
    metrics = train(make_cfg(tmp_path, [f"data={data}", "debug=fast_dev_run", *extra]))
    assert metrics["failed"] == 0 and metrics["steps"] == 1


@pytest.mark.parametrize("data", ["digits", "mnist1d"])
def test_cnn_config_on_images_and_signals(tmp_path, data):
    extra = ["data.num_samples=200"] if data == "mnist1d" else []
    metrics = train(make_cfg(tmp_path, [f"data={data}", "model=cnn", "model.norm=batch",
                                        "debug=fast_dev_run", *extra]))
    assert metrics["failed"] == 0 and metrics["steps"] == 1


@pytest.mark.parametrize("device", DEVICES)
def test_trainer_config_per_device(tmp_path, device):
    trainer = "gpu" if device == "cuda" else "cpu"
    for impl in ("reference", "torch"):
        metrics = train(make_cfg(tmp_path / impl, [f"trainer={trainer}", f"impl={impl}",
                                                   "model.norm=batch", "model.dropout=0.1",
                                                   "debug=fast_dev_run"]))
        assert metrics["failed"] == 0 and metrics["steps"] == 1


def test_slurm_launcher_config_composes():
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=["hydra/launcher=slurm",
                                          "hydra.launcher.partition=gpu"],
                      return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert launcher.partition == "gpu" and launcher.timeout_min == 60


def test_early_stopping_and_progress_bar_from_config(tmp_path):
    metrics = train(make_cfg(tmp_path, ["callbacks=[default,early_stopping,progress_bar]",
                                        "callbacks.early_stopping.patience=1",
                                        "+callbacks.early_stopping.min_delta=10.0",
                                        "trainer.enable_progress_bar=true",
                                        "trainer.max_epochs=30"]))
    # no epoch improves val/loss by 10: stops after patience + 1 epochs of 20 steps
    assert metrics["failed"] == 0 and metrics["steps"] == 2 * 20


@pytest.mark.parametrize("override, key, choice", [
    ("model.activation=relu7", "model.activation", "leaky_relu"),
    ("optim.name=adamx", "optim.name", "adamw"),
    ("loss.name=hinge", "loss.name", "cross_entropy"),
    ("init.name=orthogonal", "init.name", "he_normal"),
    ("optim.lr=-0.1", "optim.lr", ">= 0"),
    ("model.dropout=1.5", "model.dropout", "[0, 1)"),
    ("model.depth=0", "model.depth", ">= 1"),
    ("data.batch_size=0", "data.batch_size", "'full'"),
    ("impl=numpy", "impl", "reference"),
    ("data.name=circle", "data.name", "did you mean 'circles'"),
    ("regularization.l2=-1", "regularization.l2", ">= 0"),
    ("optim.lr=inf", "optim.lr", "finite"),
    ("optim.lr=nan", "optim.lr", "finite"),
    ("model.noise=inf", "model.noise", ">= 0"),
    ("model.activation=nope", "model.activation", "relu"),
    ("model.activation=tanhh", "model.activation", "did you mean 'tanh'"),
    ("+model.widht=3", "model.widht", "did you mean 'width'"),
    ("+optim.kwargs.betas=[2.0,0.9]", "optim.kwargs", "beta"),
    ("data.val_fraction=1.5", "data.val_fraction", "[0, 1)"),
    ("ckpt_path=/nonexistent/x.ckpt", "ckpt_path", "not a file"),
])
def test_bad_config_is_one_line_naming_key_and_choices(tmp_path, override, key, choice):
    if override.startswith("data.name"):
        override = "data=circles " + override
    with pytest.raises(ConfigError) as e:
        train(make_cfg(tmp_path, override.split()))
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith((key + "=", key + " ")) and choice in msg


def test_missing_idx_files_are_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="train-images-idx3-ubyte") as e:
        train(make_cfg(tmp_path, ["data=mnist", f"data.root={tmp_path}"]))
    assert "\n" not in str(e.value)


def test_cli_bad_config_prints_one_line(tmp_path, monkeypatch, capsys):
    with pytest.raises(SystemExit) as e:
        run_in_process(monkeypatch, tmp_path, "model.dropout=1.5", multirun=False)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines() == [
        "config error: model.dropout=1.5 is out of range; must be in [0, 1)"]


@pytest.mark.parametrize("override, line", [
    ("model=mpl", "config error: model='mpl' is not valid; choose one of: "
                  + ", ".join(sorted(p.stem for p in (CONF / "model").glob("*.yaml")))
                  + " (did you mean 'mlp'?)"),
    ("model.widht=3", "config error: model.widht is not a key of model; its keys: _target_, "
                      "width, depth"),
    ("optim.lr=inf", "config error: optim.lr=inf is out of range; must be a finite number"),
    ("model.activation=tanhh", "config error: model.activation='tanhh' is not valid"),
    ("ckpt_path=missing.ckpt", "config error: ckpt_path='missing.ckpt' is not a file"),
    pytest.param("trainer=gpu", "config error: trainer.accelerator='gpu' needs a CUDA device",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is here")),
])
def test_cli_errors_are_one_line_exit_2_and_leave_no_run_dir(tmp_path, override, line):
    proc = subprocess.run([sys.executable, *app_argv(tmp_path, [override, "debug=fast_dev_run"],
                                                     multirun=False)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    out = (proc.stdout + proc.stderr).strip().splitlines()
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert len(out) <= 3 and out[-1].startswith(line), out
    assert not (tmp_path / "train").exists()


def test_cli_single_run_ends_with_its_metrics_dir_and_tensorboard_line(tmp_path):
    proc = subprocess.run([sys.executable, *app_argv(tmp_path, [
        "model.depth=1", "seed=2", "trainer.max_epochs=1", "trainer.limit_train_batches=2",
        "callbacks.gradient_flow=null"], multirun=False)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()  # Hydra's console log and the progress lines
    [run] = (tmp_path / "train" / "runs").glob("*/*/*")
    assert run.name == "gradient_flow=null,depth=1,limit_train_batches=2,max_epochs=1,seed=2"
    assert lines[-2].endswith(f"-> {run}") and "val/loss" in lines[-2]
    assert lines[-1].endswith(f"tensorboard --logdir {run.parent}  then open "
                              "http://localhost:6006/#custom_scalars")
    assert next(run.glob("events.out.tfevents.*"), None) is not None
    assert not any("Tip" in line or "LeafSpec" in line for line in lines)
    assert len(lines) == len(set(lines))  # no line printed twice
    assert [line for line in lines if line.startswith("epoch ")] == [
        line for line in lines if line.startswith("epoch 1/1  train/loss ")] != []


def test_help_describes_the_app_with_examples(tmp_path):
    proc = subprocess.run([sys.executable, str(CONF.parent / "experiments" / "train.py"),
                           "--help"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert out.startswith("experiments/train.py: train one model")
    assert "Examples:" in out and "python experiments/train.py -m experiment=" in out
    assert "experiment: activations, basics" in out and "== Config ==" in out


def test_cli_failed_single_run_is_one_line_exit_1(tmp_path):
    from test_cli import CRASHY

    (tmp_path / "crashy.py").write_text(CRASHY)  # an activation that raises in training
    proc = subprocess.run([sys.executable, *app_argv(tmp_path, ["+imports=[crashy]",
                                                                "model.activation=crashy",
                                                                "trainer.max_epochs=1"],
                                                     multirun=False)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("training failed: see ") and last.endswith("train.log")
    log = Path(last.removeprefix("training failed: see "))
    assert "Traceback" in log.read_text() and "crashy gave up" in log.read_text()


def test_seed_makes_a_cpu_run_repeatable(tmp_path):
    runs = [train(make_cfg(tmp_path / str(i), [*QUICK, "model.dropout=0.3"])) for i in range(2)]
    other = train(make_cfg(tmp_path / "s", [*QUICK, "model.dropout=0.3", "seed=1"]))
    assert runs[0]["val/loss"] == runs[1]["val/loss"]
    assert runs[0]["train/loss_epoch"] == runs[1]["train/loss_epoch"]
    assert other["val/loss"] != runs[0]["val/loss"]


def test_forced_divergence_is_reported_not_raised(tmp_path):
    metrics = train(make_cfg(tmp_path, ["optim=sgd", "optim.lr=1e3", "trainer.max_epochs=5"]))
    assert metrics["diverged"] == 1 and metrics["failed"] == 0
    assert metrics["steps"] < 5 * 20


def test_hparams_and_scalars_in_tensorboard(tmp_path):
    from tbparse import SummaryReader

    train(make_cfg(tmp_path, QUICK), hparams_first=["optim.lr", "seed"])
    reader = SummaryReader(str(tmp_path / "run"))
    hp = dict(zip(reader.hparams.tag, reader.hparams.value, strict=True))
    # the swept keys, then what follows them (data.seed: ${seed}); no constant, no path
    assert hp == {"1_swept/optim/lr": pytest.approx(1e-3), "1_swept/seed": 0,
                  "2_follows/data/seed": 0}
    tags = set(reader.scalars.tag)
    assert {"hp/val_loss", "hp/val_acc", "hp/diverged", "hp/steps", "val/loss",
            "grad_norm/model.hidden1.linear", "grad_norm_log10/model.hidden1.linear"} <= tags


def test_hparams_list_the_swept_keys_first(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    train(make_cfg(tmp_path, [*QUICK, "callbacks.gradient_flow=null", "experiment=activations",
                              "arm={activation:tanh,depth:2,lr:0.01}"]),
          hparams_first=["seed", "arm"])
    ev = EventAccumulator(str(tmp_path / "run"))
    ev.Reload()
    content = plugin_data_pb2.HParamsPluginData.FromString(
        ev.SummaryMetadata("_hparams_/experiment").plugin_data.content)
    names = [h.name for h in content.experiment.hparam_infos]
    assert names == ["1_swept/seed", "1_swept/arm/activation", "1_swept/arm/depth",
                     "1_swept/arm/lr", "2_follows/data/seed", "2_follows/init/name",
                     "2_follows/model/activation", "2_follows/model/depth", "2_follows/optim/lr"]
    metrics = [m.name.tag for m in content.experiment.metric_infos]
    assert metrics[:2] == ["hp/val_loss", "hp/val_acc"] and "hp/train_loss_step" not in metrics
    # TensorBoard's hparams tab sorts the names and checks the first few: the swept ones
    assert sorted(names)[:4] == sorted(names[:4])


def test_no_checkpoint_callback_writes_no_checkpoint(tmp_path):
    train(make_cfg(tmp_path, [*QUICK, "callbacks.model_checkpoint=null"]))
    assert not list(tmp_path.rglob("*.ckpt"))  # Lightning's own per-epoch one included


def test_final_only_checkpoint_holds_the_weights_per_epoch_saving_ends_with(tmp_path):
    # the setting of the experiments whose reports read only the trained weights
    final_only = ["experiment=universal_approximation", "trainer.max_steps=40",
                  "trainer.log_every_n_steps=10"]
    train(make_cfg(tmp_path / "end", final_only))
    train(make_cfg(tmp_path / "every", [*final_only, "callbacks.model_checkpoint.every_n_epochs=1",
                                        "callbacks.model_checkpoint.save_last=link"]))
    end = tmp_path / "end" / "run" / "checkpoints"
    assert [p.name for p in end.iterdir()] == ["last.ckpt"] and not (end / "last.ckpt").is_symlink()
    assert len(list((tmp_path / "every" / "run" / "checkpoints").iterdir())) == 2
    a, b = (torch.load(d / "run" / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
            for d in (tmp_path / "end", tmp_path / "every"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_flatten_drops_none_and_stringifies():
    assert flatten({"a": {"b": 1, "c": None}, "d": [1, 2], "e": "x"}) == {
        "a/b": 1, "d": "[1, 2]", "e": "x"}


def test_killed_run_resumes_from_its_last_checkpoint(tmp_path, monkeypatch):
    # batch_size=full: one step per epoch, so a resumed run sees exactly the batches it missed
    base = ["data.batch_size=full", "callbacks.gradient_flow=null", "trainer.max_epochs=8"]
    straight = train(make_cfg(tmp_path / "a", base))
    step = LitModel.training_step

    def crash_at_step_5(self, batch, batch_idx):
        if self.global_step == 5:
            raise RuntimeError("killed")
        return step(self, batch, batch_idx)

    monkeypatch.setattr(LitModel, "training_step", crash_at_step_5)
    killed = train(make_cfg(tmp_path / "b", base))
    monkeypatch.setattr(LitModel, "training_step", step)
    assert killed["failed"] == 1 and killed["steps"] == 5
    assert torch.load(tmp_path / "b" / "run" / "checkpoints" / "last.ckpt",
                      weights_only=False)["global_step"] == 5
    resumed = train(make_cfg(tmp_path / "b", [*base, "ckpt_path=last"]))
    assert resumed["failed"] == 0 and resumed["steps"] == straight["steps"] == 8
    torch.testing.assert_close(torch.tensor(resumed["val/loss"]),
                               torch.tensor(straight["val/loss"]))
    fresh = train(make_cfg(tmp_path / "c", [*base, "trainer.max_epochs=3"]))
    assert fresh["val/loss"] != straight["val/loss"]


# --- the Hydra app (experiments/train.py): single runs and sweeps ------------------------------

def report_rows(sweep):
    from nnref.experiment import reporting

    md = reporting.quick_report(sweep)
    assert (sweep / "loss_curves.png").is_file() and (sweep / "grad_norms.png").is_file()
    table, _ = reporting.load(sweep)
    return md, table


def test_sweep_survives_a_diverging_job_and_reports(tmp_path, monkeypatch):
    sweep = run_in_process(monkeypatch, tmp_path, "optim=sgd", "optim.lr=1e3,0.05",
                           "trainer.max_epochs=3")
    md, table = report_rows(sweep)
    assert list(table.diverged) == [1, 0] and list(table["optim.lr"]) == [1e3, 0.05]
    assert table["hp/steps"].iloc[1] == 3 * 20 and table["hp/steps"].iloc[0] < 60
    assert "1000" in md.read_text()


def test_sweep_jobs_are_named_by_their_swept_values(tmp_path, monkeypatch):
    sweep = run_in_process(monkeypatch, tmp_path, "model.activation=sigmoid,relu", "seed=3",
                           "trainer.max_epochs=1", "trainer.limit_train_batches=2",
                           "callbacks.gradient_flow=null")
    from nnref.experiment import reporting

    names = [p.name for p in reporting.jobs(sweep)]
    assert names == ["activation=sigmoid", "activation=relu"]  # launch order, fixed keys left out
    assert all(next((sweep / n).glob("events.out.tfevents.*"), None) for n in names)
    assert (sweep / "report.md").is_file()


def test_optuna_study_in_sqlite_resumes(tmp_path, monkeypatch):
    import optuna

    for run in ("a", "b"):  # the second search continues the first one's study
        sweep = run_in_process(monkeypatch, tmp_path, "hparams_search=optuna",
                               f"hydra.sweep.dir={tmp_path / run}", "hydra.sweeper.n_trials=2",
                               "hydra.sweeper.sampler.n_startup_trials=2", *QUICK,
                               "callbacks.gradient_flow=null", multirun=False)
        result = yaml.safe_load((tmp_path / run / "optimization_results.yaml").read_text())
        assert result["name"] == "optuna" and 0 < result["best_value"] < 10
    assert sweep == tmp_path / "sweep"  # the command-line sweep dir was replaced, not used
    study = optuna.load_study(study_name="train", storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    assert len(study.trials) == 4
    names = [d.name for d in (tmp_path / "b").iterdir() if d.is_dir()]
    assert len(names) == 2  # trials named by the search space's keys only
    assert {tuple(kv.split("=")[0] for kv in n.split(",")) for n in names} == {("width", "lr")}


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["joblib", "submitit_local"])
def test_two_job_sweep_under_parallel_launchers(tmp_path, launcher):
    sweep, _ = run_app(tmp_path, f"hydra/launcher={launcher}",
                       "model.activation=sigmoid,relu", *QUICK)
    _, table = report_rows(sweep)
    assert len(table) == 2 and list(table.diverged) == [0, 0]


@pytest.mark.slow
def test_parallel_jobs_give_the_numbers_of_sequential_ones(tmp_path, monkeypatch):
    # run_experiments.sh runs two jobs at once, each on one thread: a job's scalars must not
    # depend on whether it ran alone
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    sweeps = {}
    for launcher in ("basic", "joblib"):
        (tmp_path / launcher).mkdir()
        sweep, _ = run_app(tmp_path / launcher, f"hydra/launcher={launcher}",
                           "model.activation=sigmoid,relu", "model.depth=2,4", *QUICK)
        sweeps[launcher] = sweep
    from nnref.experiment import reporting

    jobs = {k: reporting.jobs(v) for k, v in sweeps.items()}
    assert [p.name for p in jobs["basic"]] == [p.name for p in jobs["joblib"]]
    for a, b in zip(jobs["basic"], jobs["joblib"], strict=True):
        sa, sb = (reporting.scalars(j).sort_values(["tag", "step"]).reset_index(drop=True)
                  for j in (a, b))
        assert len(sa) > 20 and sa.equals(sb), a.name
