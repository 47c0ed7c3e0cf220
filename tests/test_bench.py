"""The benchmark harness runs end to end and prints well-formed tables; no speed is asserted."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

import nnref.bench
from nnref.bench import _harness, models, normalization


def _tables(text: str) -> list[list[list[str]]]:
    """Every markdown table in ``text`` as rows of cells, the header row first."""
    tables, current = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            if not line.startswith("|---"):
                current.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif current:
            tables.append(current)
            current = []
    return tables


def _positive(cell: str) -> float:
    value = float(cell)
    assert math.isfinite(value) and value > 0, cell
    return value


def _ratio(cell: str) -> float:
    # a ratio under 0.005 (one side stalled by other load) prints as 0.00
    value = float(cell)
    assert math.isfinite(value) and value >= 0, cell
    return value


def _run(capsys, *argv: str) -> list[list[list[str]]]:
    assert nnref.bench.main(["--quick", "--no-compile", *argv]) == 0
    return _tables(capsys.readouterr().out)


def test_sections_headline_first():
    names = nnref.bench.sections()
    assert names[0] == "models"
    assert {"activations", "dropout", "losses", "normalization", "optim", "training"} <= set(names)
    assert not any(name.startswith("_") for name in names)


def test_normalization_section_table(capsys, monkeypatch):
    monkeypatch.setattr(normalization, "QUICK_SHAPE", (8, 4, 8, 8))
    [table] = _run(capsys, "--section", "normalization", "--device", "cpu")
    head, *rows = table
    assert head == ["batch norm fwd+bwd", "shape", "reference ms", "torch ms", "ratio", "bar"]
    assert [r[0] for r in rows] == ["eager (training)", "eager (eval)"]
    for _, shape, ref_ms, base_ms, ratio, bar in rows:
        assert shape == "8x4x8x8"
        _positive(ref_ms), _positive(base_ms), _ratio(ratio)
        assert bar in ("2.0x ok", "2.0x over")


def test_models_section_tables(capsys, monkeypatch):
    cnn, mlp = models.cnn, models.mlp
    monkeypatch.setattr(models, "cnn", lambda act: cnn(act, width=4))
    monkeypatch.setattr(models, "mlp", lambda act: mlp(act, width=16))
    timing, memory = _run(capsys, "--section", "models", "--device", "cpu")
    head, *rows = timing
    assert head == ["model", "optimizer", "reference ms", "torch ms", "eager ratio"]
    assert [r[:2] for r in rows] == [[m, o] for m in ("CNN relu", "MLP relu")
                                     for o in models.OPTIMIZERS]
    for _, _, ref_ms, base_ms, ratio in rows:
        _positive(ref_ms), _positive(base_ms), _ratio(ratio)
    head, *rows = memory
    assert head == ["model", "reference MiB", "torch MiB", "ratio"]
    assert [r[0] for r in rows] == ["CNN relu"]
    for _, ref_mib, base_mib, ratio in rows:
        _positive(ref_mib), _positive(base_mib), _positive(ratio)


def test_models_are_the_same_model_on_both_sides():
    ref, base = models._pair(models.cnn, "silu", "cpu")
    swapped = {type(m).__name__ for m in ref.modules() if type(m).__module__.startswith("nnref.")}
    assert swapped >= {"Classifier", "BatchNorm2d", "SiLU", "Dropout", "CrossEntropyLoss"}
    assert [type(m).__name__ for m in ref.modules()] == [type(m).__name__ for m in base.modules()]
    for (name, p), (_, q) in zip(ref.state_dict().items(), base.state_dict().items(),
                                 strict=True):
        assert p.equal(q), name


def test_compare_times_every_callable():
    calls = [0, 0]

    def bump(i):
        def fn():
            calls[i] += 1
        return fn

    times = _harness.compare([bump(0), bump(1)], "cpu", None, rounds=3)
    assert calls == [4, 4]  # one warm-up and one call per round
    assert all(math.isfinite(t) and t > 0 for t in times)


def test_peak_memory_counts_what_a_call_allocates():
    import torch

    kept = []
    peak = _harness.peak_memory(lambda: kept.append(torch.empty(1 << 20, dtype=torch.uint8)),
                                "cpu")
    assert peak >= 1 << 20


def test_table_rejects_a_short_row():
    with pytest.raises(ValueError, match="2 cells for 3 columns"):
        _harness.table(["a", "b", "c"], [["1", "2"]])


def test_script_is_an_alias():
    script = Path(__file__).resolve().parents[1] / "scripts" / "bench.py"
    out = subprocess.run([sys.executable, str(script), "--help"], capture_output=True,
                         text=True, check=True).stdout
    assert "--section" in out and "models" in out
