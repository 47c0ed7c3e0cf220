"""The experiment stack on real distributed parts, started here by the tests themselves: a
one-node Slurm cluster (``munged``, ``slurmctld``, ``slurmd`` from Debian's ``slurm-wlm`` and
``munge``) that a submitit sweep submits to, a throw-away PostgreSQL server whose Optuna study two
workers share, and a 2-process ``ddp_spawn`` run.

Marked ``cluster``: ``pytest -m cluster`` (``.ci/run`` installs the Debian packages first). Where
a package is missing or a daemon does not start, the test skips with that one reason — and fails
instead under ``NNREF_CLUSTER_REQUIRED=1``, which ``.ci/run`` sets, so CI cannot pass by skipping.
Every daemon is stopped by its PID when the test ends.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import app_argv, run_app

pytestmark = pytest.mark.cluster

# A short sweep whose jobs log every step (many scalars to compare) in a few seconds each.
QUICK = ["trainer.max_epochs=1", "trainer.limit_train_batches=5", "trainer.log_every_n_steps=1",
         "callbacks.gradient_flow.every_n_steps=2"]
SBIN = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


def unavailable(reason: str):
    """Skip with ``reason``; fail with it where CI requires the cluster tests to run."""
    if os.environ.get("NNREF_CLUSTER_REQUIRED") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def which(*names: str, package: str) -> list[str]:
    """Absolute paths of the programs ``names``, or a skip naming the Debian package."""
    paths = [shutil.which(n, path=SBIN) for n in names]
    missing = [n for n, p in zip(names, paths, strict=True) if p is None]
    if missing:
        unavailable(f"{', '.join(missing)} not installed (apt-get install -y {package})")
    return paths


def free_ports(n: int) -> list[int]:
    """``n`` distinct localhost ports free at this moment (all held open until all are
    picked)."""
    with contextlib.ExitStack() as stack:
        held = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in held:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in held]


def tail(path: Path, n: int = 3) -> str:
    lines = path.read_text(errors="replace").splitlines() if path.is_file() else []
    return " | ".join(lines[-n:]) or "(no log)"


@pytest.fixture
def daemons():
    """``start(argv, log, stop_signal, **popen_kwargs)`` runs a daemon in the foreground; each
    is stopped by its PID at teardown, last started first."""
    started: list[tuple[subprocess.Popen, int, object]] = []

    def start(argv, log: Path, stop_signal=signal.SIGTERM, **kwargs) -> subprocess.Popen:
        out = open(log, "ab")
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, **kwargs)
        started.append((proc, stop_signal, out))
        return proc

    yield start
    for proc, stop_signal, out in reversed(started):
        if proc.poll() is None:
            proc.send_signal(stop_signal)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        out.close()


@pytest.fixture
def short_tmp():
    """A directory directly under the system temp dir: short enough for Unix socket paths
    (≤ 107 bytes) and reachable by another user (pytest's own tmp_path is private to root).
    Requested before ``daemons``, so it is removed after they stop."""
    path = Path(tempfile.mkdtemp(prefix="nnref-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def wait_for(ready, seconds: float, **daemons: tuple[subprocess.Popen, Path]) -> None:
    """Poll ``ready()`` until true; skip, with the last lines of its log, if one of the
    ``daemons`` (name=(process, log)) exits first, or with the logs of all after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not ready():
        for name, (proc, log) in daemons.items():
            if proc.poll() is not None:
                unavailable(f"{name} exited with status {proc.returncode}: {tail(log)}")
        if time.monotonic() > deadline:
            logs = "; ".join(f"{name}: {tail(log, 1)}" for name, (_, log) in daemons.items())
            unavailable(f"{', '.join(daemons)} not ready after {seconds:.0f} s ({logs})")
        time.sleep(0.3)


# --- (a) Slurm ---------------------------------------------------------------------------------

SLURM_CONF = """\
ClusterName=nnref
SlurmctldHost=localhost
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser={user}
SlurmdUser={user}
AuthType=auth/munge
AuthInfo=socket={munge_socket}
CredType=cred/munge
StateSaveLocation={dir}/state
SlurmdSpoolDir={dir}/spool
SlurmctldPidFile={dir}/slurmctld.pid
SlurmdPidFile={dir}/slurmd.pid
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
{node}
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


@pytest.fixture
def slurm(short_tmp, daemons, monkeypatch) -> Path:
    """A one-node Slurm cluster on localhost ports, munge on its own key and socket; its
    ``slurm.conf`` is in ``SLURM_CONF`` for every Slurm command this test runs."""
    munged, slurmctld, slurmd, sinfo = which("munged", "slurmctld", "slurmd", "sinfo",
                                             package="slurm-wlm munge")
    # munged wants its key private and its socket's directories open to every user
    munge = short_tmp / "munge"
    munge.mkdir(mode=0o700)
    (munge / "munge.key").write_bytes(os.urandom(1024))
    (munge / "munge.key").chmod(0o400)
    short_tmp.chmod(0o755)
    socket_path = short_tmp / "munge.socket"
    log = short_tmp / "munged.log"
    proc = daemons([munged, "-F", f"--key-file={munge / 'munge.key'}",
                    f"--socket={socket_path}", f"--pid-file={munge / 'pid'}",
                    f"--seed-file={munge / 'seed'}", f"--log-file={log}"], log)
    wait_for(socket_path.exists, 15, munged=(proc, log))

    # this machine's CPUs and memory, as slurmd sees them (a node claiming more is drained)
    hardware = subprocess.run([slurmd, "-C"], capture_output=True, text=True).stdout
    node = next((ln for ln in hardware.splitlines() if ln.startswith("NodeName=")), None)
    if node is None:
        unavailable(f"slurmd -C printed no node line: {hardware!r}")
    node = "NodeName=localhost " + node.split(" ", 1)[1] + " State=UNKNOWN"
    for sub in ("state", "spool"):
        (short_tmp / sub).mkdir()
    conf = short_tmp / "slurm.conf"
    ctld_port, slurmd_port = free_ports(2)
    conf.write_text(SLURM_CONF.format(
        ctld_port=ctld_port, slurmd_port=slurmd_port, user=pwd.getpwuid(os.getuid()).pw_name,
        munge_socket=socket_path, dir=short_tmp, node=node))
    monkeypatch.setenv("SLURM_CONF", str(conf))

    # in the foreground (-D) both log to the files given here
    ctld = daemons([slurmctld, "-D", "-c", "-i"], short_tmp / "slurmctld.log")
    node_proc = daemons([slurmd, "-D", "-N", "localhost"], short_tmp / "slurmd.log")

    def idle() -> bool:
        state = subprocess.run([sinfo, "-h", "-N", "-o", "%T"], capture_output=True, text=True)
        return state.stdout.strip() == "idle"

    wait_for(idle, 60, slurmctld=(ctld, short_tmp / "slurmctld.log"),
             slurmd=(node_proc, short_tmp / "slurmd.log"))
    return short_tmp


def test_slurm_sweep_equals_the_basic_launchers(tmp_path, slurm):
    from nnref.experiment import reporting

    sweep = ["model.depth=1,2", *QUICK]
    for launcher in ("slurm", "basic"):
        (tmp_path / launcher).mkdir()
    submitted, proc = run_app(tmp_path / "slurm", "hydra/launcher=slurm",
                              "hydra.launcher.partition=debug", "hydra.launcher.timeout_min=5",
                              "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1",
                              *sweep, timeout=240)
    # both jobs went through the controller and ran on its node
    # (submitit keeps each array's submission script in a folder named by the array's job id)
    array = [p.name for p in (submitted / ".submitit").iterdir() if p.name.isdigit()]
    assert len(array) == 1, array
    shown = subprocess.run(["scontrol", "-o", "show", "job", array[0]], capture_output=True,
                           text=True, check=True).stdout.splitlines()
    assert len(shown) == 2 and all("JobState=COMPLETED" in ln and " NodeList=localhost " in ln
                                   for ln in shown), shown
    basic, _ = run_app(tmp_path / "basic", *sweep, timeout=240)

    table, curves = reporting.load(submitted)
    expected, expected_curves = reporting.load(basic)
    assert [Path(d).name for d in table.dir] == ["depth=1", "depth=2"]
    assert [Path(d).name for d in table.dir] == [Path(d).name for d in expected.dir]
    # final metrics and every logged scalar, bit for bit
    assert table.drop(columns="dir").equals(expected.drop(columns="dir"))
    for job, curve in curves.items():
        got, want = (c.sort_values(["tag", "step"]).reset_index(drop=True)
                     for c in (curve, expected_curves[job]))
        assert len(got) > 20 and got.equals(want), job


# --- (b) PostgreSQL ----------------------------------------------------------------------------

def postgres_bin() -> Path:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"),
                      key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    if not versions:
        unavailable("PostgreSQL server not installed (apt-get install -y postgresql)")
    return versions[-1].parent


@pytest.fixture
def postgres(short_tmp, daemons) -> str:
    """A throw-away PostgreSQL cluster on a free localhost port with an empty database
    ``optuna``; its SQLAlchemy URL. As root it runs as the ``postgres`` user (the server
    refuses root)."""
    bin_dir = postgres_bin()
    try:
        import psycopg2  # noqa: F401  (SQLAlchemy's postgresql:// driver)
    except ImportError:
        unavailable("psycopg2 not installed (the sweeps extra installs it)")
    as_user = {}
    if os.getuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            unavailable("no 'postgres' user to run the server as (root is refused)")
        as_user = {"user": owner.pw_uid, "group": owner.pw_gid}
        os.chown(short_tmp, owner.pw_uid, owner.pw_gid)
    data, log = short_tmp / "data", short_tmp / "postgres.log"
    init = subprocess.run([bin_dir / "initdb", "-D", data, "-A", "trust", "-U", "nnref",
                           "-E", "UTF8", "--no-sync"], capture_output=True, text=True,
                          cwd=short_tmp, **as_user)
    if init.returncode:
        unavailable(f"initdb failed: {init.stderr.strip().splitlines()[-1:]}")
    (port,) = free_ports(1)
    # fsync off: a throw-away cluster need not survive a power cut
    proc = daemons([bin_dir / "postgres", "-D", data, "-p", str(port), "-k", short_tmp,
                    "-c", "listen_addresses=localhost", "-c", "fsync=off"], log,
                   stop_signal=signal.SIGINT, cwd=short_tmp, **as_user)

    def ready() -> bool:
        return subprocess.run([bin_dir / "pg_isready", "-q", "-h", "localhost", "-p", str(port)]
                              ).returncode == 0

    wait_for(ready, 30, postgres=(proc, log))
    subprocess.run([bin_dir / "createdb", "-h", "localhost", "-p", str(port), "-U", "nnref",
                    "optuna"], check=True, capture_output=True)
    return f"postgresql://nnref@localhost:{port}/optuna"


def test_optuna_study_on_postgres_shared_by_two_workers(tmp_path, postgres):
    import optuna

    from nnref.experiment import reporting

    n_trials = 2
    # the study (and the storage's tables) first: two workers creating the tables at the same
    # moment collide in PostgreSQL's catalog (duplicate key on pg_type)
    subprocess.run([Path(sys.executable).parent / "optuna", "--storage", postgres,
                    "create-study", "--study-name", "train", "--direction", "minimize"],
                   check=True, capture_output=True)
    workers = []
    for seed in (1, 2):  # a seed per worker, else both draw the same start-up trials
        out = tmp_path / f"worker{seed}"
        out.mkdir()
        argv = app_argv(out, ["hparams_search=optuna", f"hydra.sweeper.storage={postgres}",
                              f"hydra.sweeper.n_trials={n_trials}",
                              f"hydra.sweeper.sampler.seed={seed}",
                              "hydra.sweeper.sampler.n_startup_trials=2", *QUICK], False)
        workers.append(subprocess.Popen([sys.executable, *argv], cwd=out, text=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    with contextlib.ExitStack() as stack:
        for w in workers:
            stack.callback(w.kill)
        logs = [w.communicate(timeout=240)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], [log[-2000:] for log in logs]

    study = optuna.load_study(study_name="train", storage=postgres)
    trials = study.get_trials(deepcopy=False)
    assert sorted(t.number for t in trials) == list(range(2 * n_trials))
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    # each trial is one job of one worker: its values, and the val/loss the job logged
    stored = sorted((t.params["optim.lr"], t.params["model.width"], t.value) for t in trials)
    ran = []
    for seed in (1, 2):
        table, _ = reporting.load(tmp_path / f"worker{seed}" / "sweep")
        assert len(table) == n_trials
        ran += zip(table["optim.lr"], table["model.width"], table["val/loss"], strict=True)
    assert len(set(stored)) == 2 * n_trials and stored == sorted(ran)


# --- (c) data-parallel training ----------------------------------------------------------------

def test_ddp_spawn_two_processes_on_cpu(tmp_path):
    import torch

    _, proc = run_app(tmp_path, "trainer=ddp_spawn", "trainer.max_steps=4",
                      "callbacks.gradient_flow=null", f"hydra.run.dir={tmp_path / 'run'}",
                      multirun=False, timeout=240)
    log = proc.stdout + proc.stderr
    assert "GLOBAL_RANK: 0, MEMBER: 1/2" in log and "GLOBAL_RANK: 1, MEMBER: 2/2" in log
    assert "distributed_backend=gloo" in log
    # the spawned processes trained: their checkpoint holds the steps asked for
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=False)
    assert ckpt["global_step"] == 4
    # and the parent says so: the steps come back with the spawned processes' metrics
    assert re.search(r"\(4 steps[,)]", log)
