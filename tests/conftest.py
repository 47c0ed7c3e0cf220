"""Shared pytest set-up: deterministic seeds and the CUDA device parameter."""

from __future__ import annotations

import pytest
import torch

CUDA = torch.cuda.is_available()

# Device parameter for tests that run everywhere the hardware allows: the CUDA variant is
# collected always and skipped, with the reason, on machines without a GPU.
CUDA_MARKS = [pytest.mark.cuda, pytest.mark.skipif(not CUDA, reason="no CUDA device here")]
DEVICES = ["cpu", pytest.param("cuda", marks=CUDA_MARKS)]


def device_marks(check) -> list:
    """Marks of an nnref.testing check: the CUDA ones (see DEVICES) for a check on CUDA."""
    return CUDA_MARKS if check.device == "cuda" else []


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


# --- registry and verification cases ----------------------------------------------------------
# Parity tests are generated from registry.names(kind) and each component's cases, never from
# name lists, so a new component is tested the moment it has a Spec and a cases entry.
from nnref import registry  # noqa: E402
from nnref.verify import cases as verify_cases  # noqa: E402


def specs_of(kind: str) -> list[registry.Spec]:
    """Every registered component of ``kind``."""
    return [registry.spec(kind, name) for name in registry.names(kind)]


def case_params(kind: str, *, first_only: bool = False, variants: bool = False) -> list:
    """``pytest.param(spec, kwargs)`` for every keyword set in the cases of every component of
    ``kind`` (only the first of each with ``first_only``; optimizers' variants appended with
    ``variants``)."""
    out = []
    for spec in specs_of(kind):
        c = verify_cases.of(spec)
        kwargs = (c.kwargs[:1] if first_only else c.kwargs) + (c.variants if variants else ())
        out += [pytest.param(spec, kw, id=spec.name if first_only else f"{spec.name}-{i}")
                for i, kw in enumerate(kwargs)]
    return out


def invalid_params(kind: str) -> list:
    """``pytest.param(spec, kwargs, exception type)`` for every invalid argument set."""
    return [pytest.param(spec, kw, exc, id=f"{spec.name}-{kw}") for spec in specs_of(kind)
            for kw, exc in verify_cases.of(spec).invalid]


@pytest.fixture
def scratch_registry():
    """Registry and cases tables restored after the test, for tests that register their own
    components."""
    tables = {kind: dict(table) for kind, table in registry.KINDS.items()}
    cases = {kind: dict(verify_cases.table(kind)) for kind in registry.KINDS}
    yield
    for kind, table in registry.KINDS.items():
        table.clear()
        table.update(tables[kind])
        verify_cases.table(kind).clear()
        verify_cases.table(kind).update(cases[kind])


# --- the experiment stack: composing conf/ and running experiments/train.py -----------------
# (Hydra is imported inside the helpers: core tests run without the sweeps extra.)
import os  # noqa: E402
import runpy  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))
# conf/paths derives every path from it, as experiments/train.py sets it
os.environ.setdefault("NNREF_ROOT", str(ROOT))


def make_cfg(tmp_path, overrides=()):
    """``conf/train.yaml`` composed with ``overrides``, writing under ``tmp_path``, as a job's
    config (Hydra's own node removed, HydraConfig set for the ``${hydra:...}`` resolvers)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=[f"paths.log_dir={tmp_path}",
                                          f"paths.data_dir={tmp_path / 'data'}",
                                          f"paths.output_dir={tmp_path / 'run'}", *overrides],
                      return_hydra_config=True)
    HydraConfig().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


def app_argv(tmp_path, overrides, multirun):
    """``experiments/train.py`` and its arguments, logging and sweeping under ``tmp_path``."""
    return [str(ROOT / "experiments" / "train.py"), *(["-m"] if multirun else []),
            f"paths.log_dir={tmp_path}", f"paths.data_dir={tmp_path / 'data'}",
            f"hydra.sweep.dir={tmp_path / 'sweep'}", *overrides]


def run_in_process(monkeypatch, tmp_path, *overrides, multirun=True):
    """Run the entry point as ``python experiments/train.py ...`` would, in this process (the
    launchers that run jobs in-process: basic, and the Optuna sweeper on top of it)."""
    monkeypatch.setattr(sys, "argv", app_argv(tmp_path, overrides, multirun))
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(ROOT / "experiments" / "train.py"), run_name="__main__")
    return tmp_path / "sweep"


def run_app(tmp_path, *overrides, multirun=True, timeout=420):
    """Run the entry point in a subprocess (launchers that start their own processes); the
    sweep directory and the finished process."""
    proc = subprocess.run([sys.executable, *app_argv(tmp_path, overrides, multirun)],
                          capture_output=True, text=True, timeout=timeout, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp_path / "sweep", proc


# A user's own activation, as a user would write it in a module of their own: a Function, a
# Module, one Spec and its cases, registered on import. {name} and {grad_scale} are filled in
# (grad_scale != 1 gives a deliberately wrong derivative the harness must catch).
USER_ACTIVATION = '''
import torch
from nnref import registry, verify
from nnref.verify.cases.activation import ActivationCases


class _ScaledTanh(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        return 1.7159 * torch.tanh(x * (2 / 3))

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        t = torch.tanh(x * (2 / 3))
        return grad * (1.7159 * 2 / 3 * {grad_scale}) * (1 - t * t)


class ScaledTanh(torch.nn.Module):
    def forward(self, x):
        return _ScaledTanh.apply(x)


verify.register(
    registry.Spec("{name}", "activation", ScaledTanh, None, output_range=(-1.7159, 1.7159),
                  family="sigmoid", note="LeCun's 1.7159 tanh(2x/3)"),
    ActivationCases(oracle=lambda module, x: 1.7159 * torch.tanh(x * (2 / 3))),
)
'''


def write_user_module(directory, module: str, name: str, grad_scale: float = 1.0):
    """Write :data:`USER_ACTIVATION` as ``directory/module.py``; returns its path."""
    path = directory / f"{module}.py"
    path.write_text(USER_ACTIVATION.format(name=name, grad_scale=grad_scale))
    return path


# --- Hypothesis profiles -----------------------------------------------------------------------
# "default" is derandomized: the same draws every run, so a run cannot fail on a rare draw;
# HYPOTHESIS_PROFILE=explore draws afresh each run to look for new counterexamples.
from hypothesis import settings as hypothesis_settings  # noqa: E402

hypothesis_settings.register_profile("default", derandomize=True)
hypothesis_settings.register_profile("explore", derandomize=False)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
