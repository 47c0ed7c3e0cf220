"""Every code block of the README and of the book runs as written.

The documents: README.md, the book's hand-written pages (scripts/docs/*.md) and the experiment
reports the book shows (experiments/*/README.md). A ``python`` block runs in a fresh
interpreter after the blocks before it on the same page, in order (a book page reads as one
session); a README block runs alone, since a reader pastes it alone, so it carries its own
set-up lines. A block that starts with ``# name.py`` is a file: it is written to the working
folder, where later blocks and commands import it. Each
line of a ``bash`` block (or of an unlabelled block of commands) runs as a command; where a
real run would take long it runs shortened, by the rules of :func:`runnable`, and a command may
hold no ``<placeholder>`` but the few of :data:`STAND_INS` (a run to resume, a Slurm
partition, a database server), replaced by a local stand-in. Python blocks are in the default run;
commands train or verify, so they are ``slow``.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# testing.md's examples are doctests on tests/testing_examples, run by tests/test_testing.py
DOCUMENTS = [ROOT / "README.md", *sorted(p for p in (ROOT / "scripts" / "docs").glob("*.md")
                                         if p.name != "testing.md"),
             *sorted((ROOT / "experiments").glob("*/README.md"))]
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```\s*$", re.M | re.S)
LANGUAGES = {"python", "bash", "text", "yaml", "console"}
# placeholder -> what stands in for it here ({tmp}: the working folder; {run}: a finished run)
STAND_INS = {"<run dir>": "{run}", "<partition>": "debug",
             "postgresql://<user>@<host>:5432/<db>": "sqlite:///{tmp}/study.db"}
# launching these needs a cluster, or trains for minutes: compose the config instead
COMPOSE_ONLY = re.compile(r"hydra/launcher=(submitit_slurm|slurm)|^experiment=")


def blocks(path: Path) -> list[tuple[str, str, int]]:
    """``(language, code, line)`` of every fenced block at the top level of ``path``."""
    text = path.read_text(encoding="utf-8")
    out = []
    for m in FENCE.finditer(text):
        lang, code = m.group(1), m.group(2)
        if not lang and all(ln.split()[0] in ("python", "bash", "tensorboard")
                            for ln in code.splitlines() if ln.strip()):
            lang = "bash"  # an experiment report's unlabelled commands
        out.append((lang or "text", code, text.count("\n", 0, m.start()) + 1))
    return out


def _id(path: Path, line: int) -> str:
    return f"{path.relative_to(ROOT)}:{line}"


def _python_blocks(path: Path):
    """``(code to run, line)`` per python block: the block after the page's earlier ones."""
    before = []
    for lang, code, line in blocks(path):
        if lang != "python":
            continue
        if m := re.match(r"# (\w+)\.py\n", code):  # a file: it must import
            yield f"import {m.group(1)}", line
            continue
        yield "\n".join([*before, code]), line
        if path.name != "README.md" or path.parent != ROOT:
            before.append(code)


PYTHON = [pytest.param(p, code, id=_id(p, line)) for p in DOCUMENTS
          for code, line in _python_blocks(p)]
def _commands(code: str) -> list[str]:
    """The block's commands: one a line, a line ending in a backslash continued on the next."""
    joined = re.sub(r"\\\n\s*", " ", code)
    return [ln for ln in joined.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def _distinct_commands():
    """Each distinct command once, at its first place (the README and the home page share
    some)."""
    seen = set()
    for p in DOCUMENTS:
        for lang, code, line in blocks(p):
            for ln in _commands(code) if lang == "bash" else ():
                key = ln.split("#")[0].strip()
                if key not in seen:
                    seen.add(key)
                    yield pytest.param(p, ln, id=f"{_id(p, line)}:{key[:60]}")


COMMANDS = list(_distinct_commands())


def runnable(argv: list[str], tmp: Path) -> list[str]:
    """The command as written, shortened where a real run would be long:

    - ``bash scripts/test.sh ...``: the set-up, then pytest collecting every test;
    - ``bash scripts/run.sh ...`` and ``experiments/train.py`` runs and sweeps: one batch per
      job (``debug=fast_dev_run``), logs in a temporary folder; an Optuna search: 2 trials;
    - a sweep on a Slurm cluster or a whole experiment's sweep: its configuration composed
      (``--cfg job`` without ``-m``, a swept list standing for its first value: every group,
      key and value is checked, nothing trains);
    - ``resume=<run dir>``: as written (a run of one epoch is what it resumes);
    - ``experiments/<name>/*.py`` (a report, a study on a paper's terms): ``--help`` (a report
      reads a finished sweep; a study runs for half an hour);
    - ``tensorboard --logdir DIR``: ``--inspect`` (reads the logs and exits instead of serving).
    """
    fast = ["debug=fast_dev_run", f"paths.log_dir={tmp / 'logs'}"]
    if argv[:2] == ["bash", "scripts/test.sh"]:
        return argv + ["--collect-only", "-q"]
    if argv[:2] == ["bash", "scripts/run.sh"]:
        return argv + fast
    if argv[0] == "tensorboard":
        return argv + ["--inspect"]
    if (argv[0] == "python" and len(argv) > 1 and argv[1].startswith("experiments/")
            and argv[1] != "experiments/train.py"):
        return argv + ["--help"]
    if argv[0] == "python" and argv[1:2] == ["experiments/train.py"]:
        if any(a in ("--help", "-h") or a.startswith(("--cfg", "resume=")) for a in argv):
            return argv
        if any(COMPOSE_ONLY.search(a) for a in argv) and "-m" in argv:
            # one job's configuration: a swept value list stands for its first value
            one = [re.sub(r"=([^\[\](),]+),[^\[\]]*$", r"=\1", a) for a in argv if a != "-m"]
            return one + ["--cfg", "job"]
        if "hparams_search=optuna" in argv:
            return [a for a in argv if not a.startswith("hydra.sweeper.n_trials=")] + fast + [
                "hydra.sweeper.n_trials=2"]
        return argv + fast
    return argv


def _env(tmp: Path) -> dict:
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(
        [str(tmp), str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A working folder holding every file block of the documents (``# my_acts.py``)."""
    tmp = tmp_path_factory.mktemp("blocks")
    for path in DOCUMENTS:
        for lang, code, _ in blocks(path):
            if lang == "python" and (m := re.match(r"# (\w+\.py)\n", code)):
                (tmp / m.group(1)).write_text(code, encoding="utf-8")
    return tmp


def test_every_block_is_labelled():
    """A block is code (and runs) or says it is not: no block escapes by having no label."""
    bad = [f"{_id(p, line)}: ```{lang}" for p in DOCUMENTS for lang, _, line in blocks(p)
           if lang not in LANGUAGES]
    assert not bad, bad
    assert len(PYTHON) >= 4 and len(COMMANDS) >= 8


def test_readme_fits_one_screen_of_links():
    """The README stays short: the rest is in the book, which it links."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    for target in re.findall(r"\]\(([^)#]+)\)", text):
        if "://" not in target:
            assert (ROOT / target).exists(), target


@pytest.mark.parametrize("path, code", PYTHON)
def test_python_block_runs(path, code, workdir):
    result = subprocess.run([sys.executable, "-c", code], cwd=workdir, env=_env(workdir),
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.fixture(scope="module")
def finished_run(workdir) -> Path:
    """A run of one epoch with its checkpoints: what ``resume=<run dir>`` continues."""
    logs = workdir / "finished"
    result = subprocess.run([sys.executable, "experiments/train.py", "trainer.max_epochs=1",
                             f"paths.log_dir={logs}"], cwd=ROOT, env=_env(workdir),
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    (last,) = logs.rglob("last.ckpt")
    return last.parent.parent


@pytest.mark.slow
@pytest.mark.parametrize("path, line", COMMANDS)
def test_command_runs(path, line, workdir, request):
    for placeholder, stand_in in STAND_INS.items():
        if placeholder in line:
            run = request.getfixturevalue("finished_run") if "{run}" in stand_in else None
            line = line.replace(placeholder, stand_in.format(tmp=workdir, run=run))
    argv = shlex.split(line, comments=True)
    assert not any("<" in a and ">" in a for a in argv), f"a placeholder in a command: {line}"
    argv = runnable(argv, workdir)
    # paths in the documents are relative to the repository root; run there with python = .venv
    # python is the environment's; so are its console scripts (tensorboard, optuna, nnref)
    scripts = Path(sys.executable).parent
    cmd = [sys.executable if a == "python" else a for a in argv]
    if (scripts / cmd[0]).is_file():
        cmd[0] = str(scripts / cmd[0])
    result = subprocess.run(cmd, cwd=ROOT, env=_env(workdir), capture_output=True, text=True,
                            timeout=1200)
    assert result.returncode == 0, (f"{' '.join(argv)}\n" + result.stdout[-3000:]
                                    + result.stderr[-3000:])
