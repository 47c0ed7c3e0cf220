"""The benchmark harness: its logic (intervals, bandwidth flags, pass counts, the JSON record)
on tiny sizes, and the sections end to end; no speed is asserted."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import nnref.bench
from nnref.bench import _harness, _passes, activations, dropout, models, normalization


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


def _interval(cell: str) -> tuple[float, float, float]:
    """``median (low–high)`` back to three numbers, in order."""
    median, rest = cell.split(" (")
    low, high = rest.rstrip(")").split("–")
    values = float(median), float(low), float(high)
    assert values[1] <= values[0] <= values[2], cell
    return values


def _run(capsys, monkeypatch, *argv: str, bandwidth: float = 1e15):
    # a fixed bandwidth: huge, so no tiny cache-resident row is flagged, unless a test asks
    monkeypatch.setattr(nnref.bench, "copy_bandwidth", lambda device, nbytes: bandwidth)
    assert nnref.bench.main(["--quick", "--no-compile", *argv]) == 0
    return _tables(capsys.readouterr().out)


# ----------------------------------------------------------------------------- the logic
def test_ratio_is_the_median_of_per_repetition_ratios_with_their_range():
    r = _harness.ratio([2.0, 3.0, 10.0, 4.0, 1.0], [1.0, 1.0, 2.0, 1.0, 1.0])
    # per repetition: 2, 3, 5, 4, 1 (not the ratio of medians 3 / 1 or of minima 1 / 1)
    assert r == {"ratio": 3.0, "low": 1.0, "high": 5.0, "n": 5}


def test_ratio_refuses_unpaired_repetitions():
    with pytest.raises(ValueError, match="3 and 2 repetitions"):
        _harness.ratio([1.0, 1.0, 1.0], [1.0, 1.0])
    with pytest.raises(ValueError):
        _harness.ratio([], [])


@pytest.mark.parametrize(("low", "high", "state"), [
    (0.9, 1.1, "ok"), (1.0, 1.3, "undecided"), (0.8, 1.11, "undecided"), (1.11, 2.0, "over")])
def test_verdict_judges_the_whole_interval(low, high, state):
    r = {"ratio": (low + high) / 2, "low": low, "high": high, "n": 5}
    assert _harness.verdict(r, 1.1) == f"1.1x {state}"
    assert _harness.verdict(r, None) == "-"


def test_a_row_faster_than_the_bandwidth_is_flagged_not_compared():
    bandwidth = 1e9  # bytes/s
    slow = _harness.throughput(10**6, [2e-3, 1e-3], bandwidth)  # fastest: 1 GB/s, at the limit
    fast = _harness.throughput(10**6, [5e-4, 9e-4], bandwidth)  # 2 GB/s: twice the limit
    assert slow == {"fraction": pytest.approx(1.0), "over": False}
    assert fast == {"fraction": pytest.approx(2.0), "over": True}
    cell = _harness.ratio_cell([1.0] * 5, [2.0] * 5, slow, fast)
    assert set(cell) == {"flag"} and "2.00x the limit" in cell["flag"]
    assert _harness.fmt(cell).startswith("FLAG")
    assert _harness.verdict(cell, 1.1) == "1.1x not judged"
    assert _harness.ratio_cell([1.0] * 5, [2.0] * 5, slow)["ratio"] == 0.5


def test_cells_format():
    fmt = _harness.fmt
    assert fmt({"ratio": 1.234, "low": 1.1, "high": 1.5, "n": 5}) == "1.23 (1.10–1.50)"
    assert fmt({"fraction": 0.456, "over": False}) == "0.46"
    assert fmt({"fraction": 1.2, "over": True}) == "1.20 OVER LIMIT"
    assert [fmt(v) for v in (3.14159, 12.345, 1234.5, 0.01234, "x", 7)] == [
        "3.14", "12.3", "1234", "0.012", "x", "7"]
    with pytest.raises(TypeError):
        fmt({"what": 1})


def test_table_rejects_a_short_row():
    t = _harness.Table("t", ["a", "b", "c"])
    with pytest.raises(ValueError, match="2 cells for 3 columns"):
        t.add("1", "2")
    with pytest.raises(ValueError, match="2 cells for 3 columns"):
        _harness.Table("t", ["a", "b", "c"], [["1", "2"]])


def test_measure_alternates_the_callables_in_every_repetition():
    calls = []
    times = _harness.measure([lambda: calls.append(0), lambda: calls.append(1)], "cpu", None,
                             reps=5)
    assert calls == [0, 1] + [0, 1] * 5  # one warm-up each, then alternating
    assert [len(t) for t in times] == [5, 5]
    assert all(math.isfinite(s) and s > 0 for t in times for s in t)


def test_copy_bandwidth_is_a_rate():
    # not a speed assertion: the probe returns bytes per second of a real copy
    assert _harness.copy_bandwidth("cpu", nbytes=1 << 16, min_run_time=0.001) > 0


def test_passes_count_the_full_size_tensors_each_op_touches():
    x = torch.randn(8, 8, requires_grad=True)
    fwd, bwd = _passes.fwd_bwd_passes(torch.relu, x)
    assert (fwd.kernels, fwd.reads, fwd.writes) == (1, 1, 1)
    assert (bwd.kernels, bwd.traffic) == (1, 3)  # threshold_backward(grad, y)
    # two elementwise ops and a view: two passes, the view costs nothing
    fwd, bwd = _passes.fwd_bwd_passes(lambda t: (t * 2).view(64) + 1, x)
    assert (fwd.kernels, fwd.reads, fwd.writes) == (2, 2, 2)
    assert (bwd.kernels, bwd.traffic) == (1, 2)  # grad * 2
    # a reduction to a small tensor reads a full-size tensor: one pass, no full-size write
    assert _passes.count_passes(lambda: x.sum(), x.numel()).traffic == 1
    # a factory reads only its argument's metadata: ones_like writes, new_ones(()) is tiny
    assert _passes.count_passes(lambda: torch.ones_like(x), x.numel()).traffic == 1
    assert _passes.count_passes(lambda: x.new_ones(()), x.numel()).kernels == 0


def test_backward_pass_counts_of_a_fused_builtin():
    from nnref import registry
    ref, base = activations.backward_passes(registry.spec("activation", "silu"), {})
    assert base == "1/3"  # silu_backward(grad, x) -> grad_input
    kernels = int(ref.split("/")[0])
    assert kernels > 1  # the composition: one pass per elementary op


def test_dropout_must_move_counts_the_mask_of_elementwise_variants_only():
    x = torch.empty(4, 8, 16)
    assert dropout.must_move("dropout", x) == 4 * 512 * 4 + 2 * 512
    assert dropout.must_move("dropout1d", x) == 4 * 512 * 4


# ------------------------------------------------------------------ record and rendering
def test_json_record_round_trips_into_the_printed_tables(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(normalization, "QUICK_SHAPE", (8, 4, 8, 8))
    path = tmp_path / "bench.json"
    monkeypatch.setattr(nnref.bench, "copy_bandwidth", lambda device, nbytes: 12.5e9)
    assert nnref.bench.main(["--quick", "--no-compile", "--section", "normalization",
                             "--json", str(path), "--note", "Loaded machine."]) == 0
    printed = capsys.readouterr().out
    record = nnref.bench.load(path)
    meta = record["meta"]
    assert meta["bandwidth"] == 12.5e9 and meta["device"] == "cpu"
    assert meta["torch"] == torch.__version__ and meta["reps"] == 5
    assert meta["commit"] and meta["date"].endswith("UTC")
    [table] = record["sections"]["normalization"]
    assert [len(r) for r in table["rows"]] == [len(table["head"])] * 2
    assert table["rows"][0][7]["n"] == 5  # the ratio cell keeps its numbers, not text
    # what was printed is the record rendered: the README/book tables come from the JSON
    rendered = nnref.bench.markdown(path)
    assert "copy bandwidth 12.5 GB/s, --quick sizes. Loaded machine." in rendered
    assert _harness.render(table) in printed and _harness.render(table) in rendered
    assert json.loads(json.dumps(record)) == record


def test_load_refuses_another_record_format(tmp_path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"format": 0, "meta": {}, "sections": {}}))
    with pytest.raises(ValueError, match="format 0"):
        nnref.bench.load(path)


def test_reps_under_five_are_refused(capsys):
    with pytest.raises(SystemExit):
        nnref.bench.main(["--reps", "4"])
    assert "--reps must be at least 5" in capsys.readouterr().err


# ------------------------------------------------------------------ sections end to end
def test_sections_headline_first():
    names = nnref.bench.sections()
    assert names[0] == "models"
    assert {"activations", "dropout", "losses", "normalization", "optim", "training"} <= set(names)
    assert not any(name.startswith("_") for name in names)


def test_normalization_section_table(capsys, monkeypatch):
    monkeypatch.setattr(normalization, "QUICK_SHAPE", (8, 4, 8, 8))
    [table] = _run(capsys, monkeypatch, "--section", "normalization", "--device", "cpu")
    head, *rows = table
    assert head == ["case", "shape", "MB moved", "reference ms", "torch ms", "ref / limit",
                    "torch / limit", "ratio", "bar"]
    assert [r[0] for r in rows] == ["eager (training)", "eager (eval)"]
    for _, shape, mb, ref_ms, base_ms, fr_ref, fr_base, cell, bar in rows:
        assert shape == "8x4x8x8"
        _positive(mb), _positive(ref_ms), _positive(base_ms), _interval(cell)
        assert float(fr_ref) >= 0 and float(fr_base) >= 0
        assert bar in ("2.0x ok", "2.0x over", "2.0x undecided")


def test_activation_rows_flag_what_beats_the_bandwidth(capsys, monkeypatch):
    monkeypatch.setattr(activations, "QUICK_SHAPE", (2, 6, 8))
    three = dict(list(activations.registry.ACTIVATIONS.items())[:3])
    monkeypatch.setattr(activations.registry, "ACTIVATIONS", three)
    # 1 byte/s: every row is faster than that "limit", so no ratio may be printed
    [table] = _run(capsys, monkeypatch, "--section", "activations", bandwidth=1.0)
    head, *rows = table
    col = head.index("eager ratio")
    assert len(rows) == 3
    assert all(r[col].startswith("FLAG: faster than copy bandwidth") for r in rows)
    assert all(r[head.index("ref / limit")].endswith("OVER LIMIT") for r in rows)


def test_activation_rows_without_flags(capsys, monkeypatch):
    monkeypatch.setattr(activations, "QUICK_SHAPE", (5, 6, 10))
    [table] = _run(capsys, monkeypatch, "--section", "activations")
    head, *rows = table
    from nnref import registry
    assert [r[0] for r in rows] == list(registry.ACTIVATIONS)
    col = head.index("eager ratio")
    for row in rows:
        _interval(row[col])
        assert row[head.index("MB moved")] == "0.006"  # 5 tensors of 300 float32


def test_models_section_tables(capsys, monkeypatch):
    cnn, mlp = models.cnn, models.mlp
    monkeypatch.setattr(models, "cnn", lambda act: cnn(act, width=4))
    monkeypatch.setattr(models, "mlp", lambda act: mlp(act, width=16))
    timing, memory = _run(capsys, monkeypatch, "--section", "models", "--device", "cpu")
    head, *rows = timing
    assert head[:5] == ["model", "optimizer", "reference ms", "torch ms", "eager ratio"]
    assert [r[:2] for r in rows] == [[m, o] for m in ("CNN relu", "MLP relu")
                                     for o in models.OPTIMIZERS]
    for row in rows:
        _positive(row[2]), _positive(row[3]), _interval(row[4])
        assert row[head.index("act bwd passes torch")] == "1/3"
    head, *rows = memory
    assert head == ["model", "reference MiB", "torch MiB", "ratio", "bar"]
    assert [r[0] for r in rows] == ["CNN relu"]
    for _, ref_mib, base_mib, r, bar in rows:
        _positive(ref_mib), _positive(base_mib), _positive(r)
        assert bar in ("1.0x ok", "1.0x over")


def test_models_are_the_same_model_on_both_sides():
    ref, base = models._pair(models.cnn, "silu", "cpu")
    swapped = {type(m).__name__ for m in ref.modules() if type(m).__module__.startswith("nnref.")}
    assert swapped >= {"Classifier", "BatchNorm2d", "SiLU", "Dropout", "CrossEntropyLoss"}
    assert [type(m).__name__ for m in ref.modules()] == [type(m).__name__ for m in base.modules()]
    for (name, p), (_, q) in zip(ref.state_dict().items(), base.state_dict().items(),
                                 strict=True):
        assert p.equal(q), name


def test_peak_memory_counts_what_a_call_allocates():
    kept = []
    peak = _harness.peak_memory(lambda: kept.append(torch.empty(1 << 20, dtype=torch.uint8)),
                                "cpu")
    assert peak >= 1 << 20


def test_script_is_an_alias():
    script = Path(__file__).resolve().parents[1] / "scripts" / "bench.py"
    out = subprocess.run([sys.executable, str(script), "--help"], capture_output=True,
                         text=True, check=True).stdout
    assert "--section" in out and "--json" in out and "models" in out
