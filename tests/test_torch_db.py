"""nnref on torch's own sample databases (``op_db``, ``module_db``, ``optim_db``).

Generated from the registry by :mod:`nnref.verify.torchdb`: one test per (component, database
entry, dtype). The default run takes the first ``torchdb.DEFAULT_CAP`` samples of each entry and
dtype (optimizers: every configuration); ``-m slow`` runs every sample. A difference from torch
passes only when a row of the "Deviations from torch" table (src/nnref/verify/deviations.md, the
book's page of that name) covers it.
"""

from __future__ import annotations

import pytest
import torch

from nnref import activations, optim, registry
from nnref.verify import torchdb

try:
    CASES = torchdb.cases()
    UNAVAILABLE = ""
except torchdb.Unavailable as exc:  # a torch that moved its internal test databases
    CASES, UNAVAILABLE = [], str(exc)

needs_db = pytest.mark.skipif(bool(UNAVAILABLE), reason=UNAVAILABLE)
PARAMS = [pytest.param(c, id=c.id) for c in CASES]


def _assert_covered(case: torchdb.Case, cap: int | None) -> None:
    open_ = [f for f in case.run("cpu", cap) if not torchdb.covered(case.component, f.key)]
    assert not open_, (f"{len(open_)} differences from torch not in the deviations table "
                       "(src/nnref/verify/deviations.md):\n") + "\n".join(
        f"  {f.key}\n      {f.detail}" for f in open_)


def test_databases_available():
    if UNAVAILABLE:
        pytest.skip(UNAVAILABLE)
    assert {c.db for c in CASES} == {"op", "module", "optim"}


@needs_db
@pytest.mark.parametrize("case", PARAMS)
def test_db_case(case):
    _assert_covered(case, torchdb.DEFAULT_CAP)


@needs_db
@pytest.mark.slow
@pytest.mark.parametrize("case", PARAMS)
def test_db_case_every_sample(case):
    _assert_covered(case, None)


OPTIM_ENTRIES = [] if UNAVAILABLE else [
    pytest.param(s, info, option, id=f"{s.name}-{option}")
    for kind in ("optim",) for s in registry.KINDS[kind].values()
    for info in torchdb._optim_entries(s) for option in torchdb.unclaimed_options(info)]


@needs_db
@pytest.mark.parametrize(("spec", "info", "option"), OPTIM_ENTRIES)
def test_unclaimed_option_is_refused_by_name(spec, info, option):
    """What nnref does not claim is refused with the option's name, never run silently."""
    assert torchdb.check_unclaimed(spec.reference, option) == ""


def test_functional_names_resolve():
    """The name mapping is data that could rot: each entry names a registered component whose
    package has the functional form, and (with the databases) a database op of that name."""
    for name, fname in torchdb.FUNCTIONAL_NAMES.items():
        kind = next(k for k, table in registry.KINDS.items() if name in table)
        assert callable(getattr(torchdb.FUNCTIONAL_PACKAGES[kind], fname)), (name, fname)
        if not UNAVAILABLE:
            assert any(o.name == f"nn.functional.{fname}" for o in torchdb.database().op_db)


def test_deviation_table_rows():
    rows = torchdb.deviations()
    assert len(rows) >= 10
    known = {n for table in registry.KINDS.values() for n in table}
    for r in rows:
        assert r.component == "*" or r.component in known, r
        assert r.reason and r.case, r


def test_covered_matches_whole_keys_literally():
    table = torchdb.parse_deviations(
        "## Deviations from torch\n\n| component | case | nnref | torch | reason |\n"
        "|---|---|---|---|---|\n"
        "| `bce` `mse` | `forward: float32[0] * -> nnref raises ValueError` | a | b | c |\n"
        "## Next\n| `relu` | `*` | a | b | c |\n")
    assert [r.component for r in table] == ["bce", "mse"]
    key = "forward: float32[0] x -> nnref raises ValueError"
    assert torchdb.covered("mse", key, table)
    assert not torchdb.covered("relu", key, table)
    assert not torchdb.covered("mse", "forward: float32[1] x -> nnref raises ValueError", table)
    assert not torchdb.covered("mse", key + " later", table)


@needs_db
def test_a_wrong_reference_is_found():
    """The op and optimizer checks fail on a reference that is off by one part in 1e4."""
    op = next(o for o in torchdb.database().op_db if o.name == "nn.functional.elu")

    def elu(input, alpha=1.0, inplace=False):
        return activations.elu(input, alpha) * 1.0001

    keys = [f.key for f in torchdb._run_op("elu", elu, op, torch.float64, "cpu", 2)]
    assert any(k.startswith("forward:") and k.endswith("differs") for k in keys)

    class SlowSGD(optim.SGD):
        def step(self, closure=None):
            for group in self.param_groups:
                group["lr"] = group["lr"] * (1 - 1e-6)
            return super().step(closure)

    info = next(o for o in torchdb.database().optim_db if o.optim_cls is torch.optim.SGD)
    keys = [f.key for f in torchdb._run_optim(SlowSGD, info, torch.float64, "cpu", None)]
    assert any(k.startswith("lockstep:") for k in keys)


@needs_db
def test_run_rows():
    rows = torchdb.run(["cpu"], kinds=["activation"], names=["relu"], cap=1)
    assert rows and all(r.ok and r.kind == "activation" and r.name == "relu" for r in rows), rows
