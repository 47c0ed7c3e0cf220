"""The researcher's loop through ``experiments/train.py``: a user's component in a sweep (by
``+imports`` and by an installed entry point), resume by one command after a SIGKILL, sweeps a
script can trust, messages, and a quick report that understands any sweep."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from conftest import CONF, ROOT, app_argv, run_in_process

from nnref.experiment import cli, reporting, suite

TRAIN = ROOT / "experiments" / "train.py"
QUICK = ["trainer.max_epochs=1", "trainer.limit_train_batches=3", "callbacks.gradient_flow=null"]


def _run(tmp_path, *args, timeout=420, env=None, python=sys.executable):
    return subprocess.run([python, str(TRAIN), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=tmp_path, env=env)


def _readme_block(first_line: str) -> str:
    """The README's code block that starts with ``first_line``: the test runs what the README
    shows, so the README cannot drift from what works."""
    for block in re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S):
        if block.startswith(first_line):
            return block
    raise AssertionError(f"README.md has no python block starting with {first_line!r}")


def _results(sweep: Path) -> dict[str, dict]:
    return {p.parent.name: yaml.safe_load(p.read_text()) for p in sweep.glob("*/result.yaml")}


# --- a user's component, everywhere ----------------------------------------------------------

def test_readme_component_runs_in_a_two_job_sweep_through_imports(tmp_path):
    (tmp_path / "my_acts.py").write_text(_readme_block("# my_acts.py"))
    proc = _run(tmp_path, "-m", f"paths.log_dir={tmp_path}", f"hydra.sweep.dir={tmp_path / 's'}",
                "+imports=[my_acts]", "model.activation=scaled_tanh,relu", *QUICK)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = _results(tmp_path / "s")
    assert sorted(results) == ["activation=relu", "activation=scaled_tanh"]
    assert {r["status"] for r in results.values()} == {"ok"}


def _venv_with_project(tmp_path: Path) -> Path:
    """A new virtual environment that sees the project's packages (a .pth file naming its
    site-packages) and nothing else of it; its python."""
    env = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    [site] = env.glob("lib/python*/site-packages")
    [ours] = [p for p in map(Path, sys.path) if p.name == "site-packages" and
              (p / "torch").is_dir()]
    # an "import" line: the directory becomes a site directory, its own .pth files (the
    # editable install of nnref) processed too
    (site / "project.pth").write_text(f"import site; site.addsitedir({str(ours)!r})\n")
    return env / "bin" / "python"


def test_readme_component_runs_through_an_installed_entry_point(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "my_acts.py").write_text(_readme_block("# my_acts.py"))
    (pkg / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "my-acts"\nversion = "0.1"\n[tool.setuptools]\npy-modules = '
        '["my_acts"]\n[project.entry-points."nnref.components"]\nmy_acts = "my_acts"\n')
    python = _venv_with_project(tmp_path)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--no-index", str(pkg)], check=True, cwd=tmp_path,
                   capture_output=True)
    run = tmp_path / "elsewhere"  # no my_acts.py in the working directory, no +imports
    run.mkdir()
    proc = _run(run, "-m", f"paths.log_dir={tmp_path}", f"hydra.sweep.dir={tmp_path / 's'}",
                "model.activation=scaled_tanh,relu", *QUICK, python=str(python))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert {r["status"] for r in _results(tmp_path / "s").values()} == {"ok"}
    assert len(_results(tmp_path / "s")) == 2


def test_a_module_that_cannot_be_imported_is_a_config_error(tmp_path):
    proc = _run(tmp_path, f"paths.log_dir={tmp_path}", "+imports=[no_such_module_here]")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"config error: imports: 'no_such_module_here' cannot be imported: ModuleNotFoundError:"
        f" No module named 'no_such_module_here' (searched PYTHONPATH and {tmp_path})"]
    assert not any(tmp_path.iterdir())


# --- resume by one command -------------------------------------------------------------------

RESUMED = ["model.dropout=0.2", "data.noise=0.1", "optim.scheduler=step",
           "+optim.scheduler_kwargs.step_size=2", "callbacks.gradient_flow=null"]


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]


def test_killed_run_resumed_by_one_command_ends_with_the_same_weights(tmp_path):
    """Mini-batches, dropout, noise augmentation and a schedule: every random draw after the
    checkpoint must be the one the uninterrupted run made."""
    args = [f"paths.log_dir={tmp_path}", *RESUMED, "trainer.max_epochs=6"]
    straight = _run(tmp_path, *args, f"hydra.run.dir={tmp_path / 'straight'}")
    assert straight.returncode == 0, straight.stderr[-3000:]
    # the run's own directory, named by its overrides: '=' and ',' in the path
    proc = subprocess.Popen([sys.executable, str(TRAIN), *args, "seed=0"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not list(tmp_path.glob("train/runs/*/*/*/checkpoints/last.ckpt")):
        assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    [run] = tmp_path.glob("train/runs/*/*/*")
    assert "=" in run.name and "," in run.name
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)["epoch"] < 5
    resumed = _run(tmp_path, f"resume={run}")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a, b = _weights(tmp_path / "straight"), _weights(run)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # the saved overrides are kept, so the run's record still says what it ran with
    saved = yaml.safe_load((run / ".hydra" / "overrides.yaml").read_text())
    assert "model.dropout=0.2" in saved and "seed=0" in saved


@pytest.fixture(scope="module")
def one_epoch_run(tmp_path_factory):
    """A run of one epoch with its checkpoint, made once; tests resume copies of it."""
    tmp = tmp_path_factory.mktemp("one_epoch")
    run = tmp / "run"
    proc = _run(tmp, f"paths.log_dir={tmp}", "trainer.max_epochs=1",
                "callbacks.gradient_flow=null", f"hydra.run.dir={run}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run


def _copy_run(run: Path, to: Path) -> Path:
    import shutil

    shutil.copytree(run, to, symlinks=True)
    return to


def test_resume_takes_overrides_on_top_and_continues_in_its_directory(tmp_path,
                                                                      one_epoch_run):
    run = _copy_run(one_epoch_run, tmp_path / "run")
    more = _run(tmp_path, f"resume={run}", "trainer.max_epochs=3")
    assert more.returncode == 0, more.stderr[-3000:]
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)["epoch"] == 2
    assert more.stdout.strip().splitlines()[-2].endswith(f"-> {run}")


def test_truncated_checkpoint_on_resume_is_one_line_naming_it_exit_1(tmp_path, one_epoch_run):
    run = _copy_run(one_epoch_run, tmp_path / "run")
    ckpt = (run / "checkpoints" / "last.ckpt").resolve()
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    proc = _run(tmp_path, f"resume={run}", "trainer.max_epochs=2")
    assert proc.returncode == 1
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith(f"resume failed: checkpoint {run / 'checkpoints' / 'last.ckpt'} "
                           "cannot be read") and "delete it" in line


def test_resume_of_a_directory_that_is_no_run_is_one_line_exit_2(tmp_path):
    proc = _run(tmp_path, f"resume={tmp_path}")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"resume={tmp_path} is not a run directory (no .hydra/overrides.yaml there); give the "
        "directory a run printed at its end"]


def test_resume_overrides_quote_any_path():
    run = Path("/x/it's a=b,c")
    assert cli.quote(run) == "'/x/it\\'s a=b,c'"
    from hydra.core.override_parser.overrides_parser import OverridesParser

    [o] = OverridesParser.create().parse_overrides([f"hydra.run.dir={cli.quote(run)}"])
    assert o.value() == str(run)


# --- sweeps a script can trust ---------------------------------------------------------------

def test_bad_swept_values_exit_2_before_any_job(tmp_path):
    proc = _run(tmp_path, *app_argv(tmp_path, ["model.depth=2,0", "model.activation=relu,sigmod"],
                                    multirun=True)[1:])
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[0] == "config error: model.depth=0 is out of range; must be an integer >= 1"
    assert lines[1].startswith("config error: model.activation='sigmod' is not valid; choose "
                               "one of: ") and lines[1].endswith("(did you mean 'sigmoid'?)")
    assert len(lines) == 2 and not any(tmp_path.iterdir())


def test_experiment_grid_values_are_checked_too(tmp_path, monkeypatch):
    # a sweeper param of the experiment, overridden to hold one bad value among good ones
    with pytest.raises(cli.UsageError, match=r"^config error: model.depth=-1 is out of range"):
        cli.prepare(["-m", "experiment=vanishing_gradient", "model.depth=2,-1"], CONF)


CRASHY = '''
import torch
from nnref import registry


class Crashy(torch.nn.Module):
    """ReLU that raises after a few training steps: a job that fails while training."""

    calls = 0

    def forward(self, x):
        if self.training:
            Crashy.calls += 1
            if Crashy.calls > 3:
                raise RuntimeError("crashy gave up")
        return torch.relu(x)


registry.register(registry.Spec("crashy", "activation", Crashy, None, family="rectifier"))
'''


@pytest.fixture
def user_modules(scratch_registry):
    """For tests that import a user's module in this process: its registrations and the
    module itself are forgotten afterwards."""
    yield
    for name in ("my_acts", "crashy"):
        sys.modules.pop(name, None)


def test_a_job_failing_in_training_lets_the_others_finish_and_exits_1(tmp_path, monkeypatch,
                                                                      capsys, user_modules):
    (tmp_path / "crashy.py").write_text(CRASHY)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(SystemExit) as e:
        run_in_process(monkeypatch, tmp_path, "+imports=[crashy]",
                       "model.activation=crashy,relu", *QUICK)
    assert e.value.code == 1
    results = _results(tmp_path / "sweep")
    assert results["activation=relu"]["status"] == "ok"
    assert results["activation=crashy"] == {**results["activation=crashy"], "status": "failed",
                                            "reason": "RuntimeError: crashy gave up"}
    err = capsys.readouterr()
    assert "job activation=crashy failed: RuntimeError: crashy gave up" in err.out + err.err
    md = (tmp_path / "sweep" / "report.md").read_text()
    assert "1 of 2 jobs failed: activation=crashy (failed: RuntimeError: crashy gave up)" in md
    assert "| activation |" in md.splitlines()[md.splitlines().index("## Jobs") + 2]


# --- messages and defaults -------------------------------------------------------------------

@pytest.mark.parametrize("override, line", [
    ("optim.lr=abc", "optim.lr='abc' is not a number; must be a finite number >= 0"),
    ("model.activation=elu +model.activation_kwargs.alpah=0.5",
     "model.activation_kwargs={'alpah': 0.5} is not valid: 'alpah' is not an argument of elu; "
     "its arguments: alpha, inplace (did you mean 'alpha'?)"),
    ("trainer.max_epochs=0", "trainer.max_epochs=0 is out of range; must be an integer >= 1"),
    ("trainer.max_steps=0", "trainer.max_steps=0 is out of range; must be an integer >= 1, "
                            "or -1 for no limit"),
    ("loss.name=mse", "loss.name='mse' is not valid: mse does not take the multiclass task's "
                      "targets (int64 of shape (1257,))"),
    ("threads=0", "threads=0 is out of range; must be auto or an integer >= 1"),
])
def test_config_values_are_one_line_before_any_directory(tmp_path, override, line):
    with pytest.raises(cli.UsageError) as e:
        cli.prepare([f"paths.log_dir={tmp_path}", *override.split()], CONF)
    assert str(e.value).startswith(f"config error: {line}") and "\n" not in str(e.value)
    assert not any(tmp_path.iterdir())


def test_config_errors_come_before_lightning_loads():
    """Checked with torch alone: the error must not wait for Lightning's import."""
    code = ("import sys\nfrom pathlib import Path\nfrom nnref.experiment import cli\n"
            "try:\n    cli.prepare(['optim.lr=abc'], Path(sys.argv[1]))\n"
            "except cli.UsageError as e:\n    print(e)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('lightning', 'pytorch_lightning', 'torchmetrics', 'tensorboard')))\n")
    proc = subprocess.run([sys.executable, "-c", code, str(CONF)], capture_output=True,
                          text=True, timeout=120)
    assert proc.stdout.splitlines() == [
        "config error: optim.lr='abc' is not a number; must be a finite number >= 0", "[]"]


def test_threads_default_to_one_on_the_cpu_and_the_log_says_so(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    proc = _run(tmp_path, f"paths.log_dir={tmp_path}", *QUICK, f"hydra.run.dir={tmp_path / 'r'}",
                env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "threads: 1 (auto: small models train fastest on one CPU thread; threads=N for " \
           "more)" in (tmp_path / "r" / "train.log").read_text()


def test_generic_leaves_keep_their_group_in_run_names():
    from nnref.experiment.naming import run_name

    assert run_name(["init.name=xavier_normal", "loss.name=nll", "model.depth=3"]) == \
        "init=xavier_normal,loss=nll,depth=3"


# --- the quick report of any sweep -----------------------------------------------------------

def test_quick_report_flags_growth_as_divergence_and_pools_no_swept_value(tmp_path, monkeypatch):
    # the guard off: the flag must come from the report's own reading of the losses
    run_in_process(monkeypatch, tmp_path, "optim=sgd", "optim.lr=0.01,1e4", "model.depth=4",
                   "trainer.max_epochs=2", "callbacks.divergence_guard=null",
                   "callbacks.gradient_flow.every_n_steps=5")
    t, _, keys = reporting._jobs_table(tmp_path / "sweep")
    assert keys == ["optim.lr"] and list(t.status) == ["ok", "ok"]
    assert list(t.diverged) == [0, 1]
    md = (tmp_path / "sweep" / "report.md").read_text()
    assert md.startswith("# Sweep report: sweep\n") and str(tmp_path) not in md
    acc = t.set_index("optim.lr")["val/acc"]
    assert f"lr=0.01: {reporting.fmt(float(acc[0.01]))}" in md  # each point its own value
    assert f"lr=1e+04: {reporting.fmt(float(acc[1e4]))}" in md
    assert "1 of 2 jobs diverged" in md and "| lr |" in md
    assert "chance:" in md


def test_quick_report_gives_no_verdict_without_a_measurement_after_training_began(tmp_path,
                                                                                  monkeypatch):
    run_in_process(monkeypatch, tmp_path, "model.activation=sigmoid,relu", "model.depth=3",
                   "trainer.max_epochs=1", "trainer.limit_train_batches=3",
                   "callbacks.gradient_flow.every_n_steps=50")
    md = (tmp_path / "sweep" / "report.md").read_text()
    shows = md.split("## What it shows")[1].split("## Jobs")[0]
    assert "No gradient was measured after training began" in shows
    assert not any(w in shows for w in ("vanishes (", "explodes (", "keeps its size ("))


# --- the experiment list ---------------------------------------------------------------------

def test_run_experiments_takes_its_list_from_the_experiment_configs(tmp_path):
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "run_experiments.sh"), "no_such"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        f"unknown experiment: no_such (choose from: {' '.join(suite.names())})")


def test_every_train_command_of_help_runs_as_written(tmp_path, monkeypatch, user_modules,
                                                     one_epoch_run):
    """Each example line of ``--help`` passes everything the entry point checks before a run
    (groups, keys, every value, imports, the resume directory), with ``<run dir>`` standing
    for a real run's directory and ``my_acts`` for the README's module."""
    proc = _run(tmp_path, "--help")
    assert proc.returncode == 0, proc.stderr[-2000:]
    commands = [line.split("#")[0].split()[2:] for line in proc.stdout.splitlines()
                if line.strip().startswith("python experiments/train.py")]
    assert len(commands) >= 10
    run = _copy_run(one_epoch_run, tmp_path / "run")
    (tmp_path / "my_acts.py").write_text(_readme_block("# my_acts.py"))
    monkeypatch.chdir(tmp_path)
    for args in commands:
        args = [f"resume={run}" if a == "resume=<run" else a for a in args if a != "dir>"]
        assert cli.prepare([*args, f"paths.log_dir={tmp_path}"], CONF), args


def test_the_readme_counts_the_suite():
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert f"runs one of the {len(suite.names())} experiments of the notes" in readme
