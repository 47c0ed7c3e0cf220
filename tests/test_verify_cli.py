"""``python -m nnref verify``: a table and exit 0 for a passing component, one line and exit 2
for an unknown name, and ``--import`` for a user's module that registers its own component."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import write_user_module


def _nnref(*args, cwd=None, pythonpath=None):
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath),
                                                          env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "nnref", *args], capture_output=True,
                          text=True, timeout=600, cwd=cwd, env=env)


def test_verify_one_name_prints_a_table_and_exits_0():
    out = _nnref("verify", "--name", "elu", "--device", "cpu")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "| kind | name | case |" in out.stdout
    assert "| activation | elu | alpha=0.5 | cpu |" in out.stdout
    assert out.stdout.rstrip().endswith("4 passed, 0 failed")


def test_thorough_adds_torchs_sample_database_cases_after_the_normal_checks():
    out = _nnref("verify", "--name", "elu", "--device", "cpu", "--thorough")
    assert out.returncode == 0, out.stdout + out.stderr
    rows = [line.split("|")[3].strip() for line in out.stdout.splitlines()
            if line.startswith("| activation | elu | ")]
    from_db = [c.split()[0] in ("op", "module") for c in rows]  # torchdb's "<db> <entry> <dtype>"
    normal = [i for i, db in enumerate(from_db) if not db]
    database = [i for i, db in enumerate(from_db) if db]
    assert len(normal) == 4 and database, out.stdout
    assert max(normal) < min(database)  # after the normal checks
    assert "FAIL" not in out.stdout
    passed = len(normal) + len(database)
    assert out.stdout.rstrip().endswith(f"{passed} passed, 0 failed")


def test_unknown_name_is_one_line_with_did_you_mean_and_choices_and_exit_2():
    out = _nnref("verify", "--name", "elo")
    assert out.returncode == 2
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "unknown --name 'elo' (did you mean 'elu'?); choices:" in lines[0]
    assert "choices: identity, binary_step" in lines[0] and "batch_norm2d" in lines[0]
    out = _nnref("verify", "--name", "nope")
    assert out.returncode == 2 and "choices:" in out.stderr


def test_import_a_user_module_then_verify_its_component(tmp_path):
    write_user_module(tmp_path, "my_acts", "scaled_tanh")
    out = _nnref("verify", "--import", "my_acts", "--name", "scaled_tanh", "--device", "cpu",
                 cwd=tmp_path, pythonpath=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "| activation | scaled_tanh | default | cpu |" in out.stdout
    wrong = write_user_module(tmp_path, "my_wrong", "wrong_tanh", grad_scale=0.9)
    assert wrong.exists()
    out = _nnref("verify", "--import", "my_wrong", "--name", "wrong_tanh", "--device", "cpu",
                 cwd=tmp_path, pythonpath=tmp_path)
    assert out.returncode == 1 and "FAIL" in out.stdout


def test_import_of_a_missing_module_is_one_line_and_exit_2():
    out = _nnref("verify", "--import", "no_such_module_here", "--name", "elu")
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1
    assert "no_such_module_here" in out.stderr
