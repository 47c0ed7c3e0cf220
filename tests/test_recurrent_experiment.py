"""The recurrent experiment's parts: the memory task, the recurrent classifier, the side-study
scripts on tiny budgets, and the tracked report's claims against the tracked JSON."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch
from conftest import ROOT

from nnref import recurrent as R
from nnref import swap
from nnref.experiment.data.synthetic import SymbolRecall
from nnref.experiment.errors import ArgumentError
from nnref.experiment.models import RecurrentClassifier, set_spectral_radius

HERE = ROOT / "experiments" / "recurrent"


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_symbol_recall_target_is_the_first_symbol_behind_distractors():
    x, y = SymbolRecall(length=30, symbols=5, n_samples=400, standardize=False).load()
    assert x.shape == (400, 30, 6) and y.shape == (400,)
    assert torch.equal(x.sum(-1), torch.ones(400, 30))  # one-hot at every step
    assert torch.equal(x[:, 0, :5].argmax(-1), y)
    assert bool((x[:, -1, 5] == 1).all()) and not bool(x[:, :-1, 5].any())
    # the distractors are the same alphabet, drawn independently of the target
    middle = x[:, 1:-1, :5].argmax(-1)
    assert set(middle.unique().tolist()) == set(range(5))
    agree = (middle == y[:, None]).float().mean()
    assert abs(float(agree) - 1 / 5) < 0.02


@pytest.mark.parametrize(("key", "kwargs"), [("length", {"length": 1}),
                                             ("symbols", {"symbols": 1}),
                                             ("n_samples", {"n_samples": 2})])
def test_symbol_recall_refuses_bad_values_naming_the_key(key, kwargs):
    with pytest.raises(ArgumentError) as e:
        SymbolRecall(**kwargs)
    assert e.value.name == key


@pytest.mark.parametrize("cell", ["rnn", "rnn_relu", "lstm", "gru"])
def test_classifier_reads_sequences_and_swaps_to_torch_with_the_same_output(cell):
    torch.manual_seed(0)
    net = RecurrentClassifier((12, 3), 4, cell=cell, hidden=5).double()
    x = torch.randn(6, 12, 3, dtype=torch.float64)
    want = net(x)
    assert want.shape == (6, 4)
    assert isinstance(net.rnn, (R.RNN, R.LSTM, R.GRU))
    swap.to_builtin(net)
    assert type(net.rnn).__module__.startswith("torch")
    torch.testing.assert_close(net(x), want)


def test_classifier_paper_gru_reads_every_step():
    net = RecurrentClassifier((40,), 10, cell="gru", hidden=6, bidirectional=True,
                              readout="all")
    assert net.out.in_features == 2 * 6 * 40  # GRUBase's flat_size
    assert net(torch.randn(3, 40)).shape == (3, 10)


@pytest.mark.parametrize(("key", "kwargs"), [("cell", {"cell": "transformer"}),
                                             ("readout", {"readout": "mean"}),
                                             ("radius", {"radius": -1.0}),
                                             ("hidden", {"hidden": 0})])
def test_classifier_refuses_bad_values_naming_the_key(key, kwargs):
    with pytest.raises(ArgumentError) as e:
        RecurrentClassifier((5, 2), 3, **kwargs)
    assert e.value.name == key


@pytest.mark.parametrize("radius", [0.5, 1.0, 1.5])
def test_spectral_radius_is_set_on_every_gate_block(radius):
    for layer in (R.RNN(3, 8, num_layers=2), R.LSTM(3, 8), R.GRU(3, 8, bidirectional=True)):
        set_spectral_radius(layer, radius)
        for name, w in layer.named_parameters():
            if name.startswith("weight_hh"):
                for block in w.split(8, 0):
                    rho = torch.linalg.eigvals(block.detach().double()).abs().max()
                    assert abs(float(rho) - radius) < 1e-5, (name, float(rho))


def test_bptt_script_writes_every_arm_and_every_step(tmp_path, monkeypatch):
    bptt = _script("bptt")
    monkeypatch.setattr(bptt, "GRADIENT_LENGTH", 12)
    out = tmp_path / "bptt.json"
    assert bptt.main(["--seeds", "0", "--lengths", "6", "--steps", "3", "--out", str(out)]) == 0
    rec = json.loads(out.read_text())
    assert [g["arm"] for g in rec["gradients"]] == list(bptt.GRADIENT_ARMS)
    for g in rec["gradients"]:
        assert set(g["norms"]) == {"0", "1", "2", "3"}
        assert all(len(v) == 12 for v in g["norms"].values())
    assert [r["arm"] for r in rec["remedies"]] == list(bptt.REMEDY_ARMS)
    assert all(r["length"] == 6 and not r["diverged"] for r in rec["remedies"])


def test_gradient_through_time_is_the_cells_own_backward():
    # the norms the study plots equal an independent computation: the total derivative of the
    # loss with respect to h_t, obtained by perturbing h_t inside torch's own cell's loop
    bptt = _script("bptt")
    torch.manual_seed(0)
    net = bptt.Net("gru", None)
    x = torch.randn(4, 7, bptt.SYMBOLS + 1)
    y = torch.randint(0, bptt.SYMBOLS, (4,))
    norms = bptt.gradient_through_time(net, "gru", x, y)
    cell = torch.nn.GRUCell(bptt.SYMBOLS + 1, bptt.HIDDEN).double()
    cell.load_state_dict({k.removesuffix("_l0"): v for k, v in net.rnn.state_dict().items()})
    for t in (0, 3, 6):
        def loss(delta, t=t):
            h = torch.zeros(4, bptt.HIDDEN, dtype=torch.float64)
            for s in range(7):
                h = cell(x[:, s].double(), h)
                h = h + delta if s == t else h
            logits = torch.nn.functional.linear(h, net.out.weight.double(),
                                                net.out.bias.double())
            return torch.nn.functional.cross_entropy(logits, y)
        grad = torch.func.grad(loss)(torch.zeros(4, bptt.HIDDEN, dtype=torch.float64))
        assert abs(float(grad.detach().norm()) - norms[t]) <= 1e-12 * max(norms[t], 1e-300)


def test_mnist1d_script_trains_the_papers_gru_shape(tmp_path):
    m = _script("mnist1d_rnn")
    out = tmp_path / "m.json"
    assert m.main(["--steps", "2", "--seeds", "0", "--models", "GRU", "--out", str(out)]) == 0
    rec = json.loads(out.read_text())
    assert rec["hidden"] == 6 and len(rec["runs"]) == 1 and len(rec["runs"][0]["test_acc"]) == 1


# --- the tracked report against the tracked JSON ---------------------------------------------
# Every number the report states about the side study is recomputed here from bptt.json with
# plain Python, so a sentence that stops matching its data fails.

def _tracked():
    path = HERE / "bptt.json"
    if not path.is_file():
        pytest.fail("experiments/recurrent/bptt.json is tracked: run bptt.py")
    return json.loads(path.read_text())


def test_tracked_study_shows_the_vanishing_and_exploding_regimes():
    rec = _tracked()
    first = {}
    for g in rec["gradients"]:
        n = g["norms"]["0"]
        first.setdefault(g["arm"], []).append(n[0] / n[-1])
    from statistics import median

    assert len(first["RNN, radius 0.5"]) >= 3
    assert median(first["RNN, radius 0.5"]) < 1e-3  # vanishes
    assert median(first["RNN, radius 1.5"]) > 1  # grows going back in time
    readme = (HERE / "README.md").read_text()
    assert "**The two regimes** (shown, medians over 3 seeds)" in readme
    n = len(first["RNN, radius 1.5"])
    grows = sum(r > 1 for r in first["RNN, radius 1.5"])
    assert f"it grows going back in time; {grows} of {n} seeds" in readme


def _judged(acc) -> list:
    """The T where the report judges the remedies: the plain RNN's median accuracy below 0.99
    and some arm's 0.5 or more."""
    from statistics import median

    lengths = sorted({t for _, t in acc})
    return [t for t in lengths if median(acc["RNN", t]) < 0.99
            and max(median(v) for (_, u), v in acc.items() if u == t) >= 0.5]


def test_tracked_report_states_the_remedy_verdicts_of_its_json():

    from nnref.experiment import reporting

    rec = _tracked()
    acc = {}
    for r in sorted(rec["remedies"], key=lambda r: r["seed"]):
        acc.setdefault((r["arm"], r["length"]), []).append(r["test_acc"])
    failing = _judged(acc)
    assert failing, "no T where the plain RNN leaves something to remedy and an arm learns"
    readme = (HERE / "README.md").read_text()
    for arms, source in ((["LSTM"], "the lecture notes"), (["GRU"], "the same claim for the GRU"),
                         (["RNN + clip 0.1", "RNN + clip 1", "RNN + clip 10"],
                          "the lecture notes on clipping"),
                         (["RNN + L2 1e-3"], "the lecture notes on L2")):
        held = reporting.claim(*(reporting.compare(acc[a, t], acc["RNN", t], paired=True)
                                 for a in arms for t in failing)) if failing else None
        assert reporting.verdict(held, source) in readme, arms


def test_tracked_report_states_the_verdicts_at_the_larger_budget():
    from nnref.experiment import reporting

    path = HERE / "bptt_budget.json"
    if not path.is_file():
        pytest.fail("experiments/recurrent/bptt_budget.json is tracked: run bptt.py "
                    "--remedies-only --lengths 30 --steps 1000")
    rec = json.loads(path.read_text())
    acc = {}
    for r in sorted(rec["remedies"], key=lambda r: r["seed"]):
        acc.setdefault((r["arm"], r["length"]), []).append(r["test_acc"])
    lengths = _judged(acc)
    readme = (HERE / "README.md").read_text()
    tail = readme[readme.index(f"At {rec['steps']} steps (T = "):]
    for arms, source in ((["LSTM"], "the lecture notes"), (["GRU"], "the same claim for the GRU"),
                         (["RNN + clip 0.1", "RNN + clip 1", "RNN + clip 10"],
                          "the lecture notes on clipping"),
                         (["RNN + L2 1e-3"], "the lecture notes on L2")):
        held = reporting.claim(*(reporting.compare(acc[a, t], acc["RNN", t], paired=True)
                                 for a in arms for t in lengths)) if lengths else None
        assert reporting.verdict(held, source) in tail, arms


def test_tracked_report_states_the_mnist1d_gru_of_its_json():
    from statistics import median

    from nnref.experiment import reporting

    rec = json.loads((HERE / "mnist1d_rnn.json").read_text())
    finals = [r["test_acc"][-1] for r in rec["runs"] if r["model"] == "GRU"]
    assert len(finals) >= 3 and rec["steps"] == 6000  # the notebooks' budget
    gru = median(finals)
    held = abs(gru - 0.91) <= 0.02
    readme = (HERE / "README.md").read_text()
    assert (f"{reporting.verdict(held, 'the MNIST-1D paper')} the GRU baseline: median final "
            f"test accuracy {reporting.fmt(gru)} after 6000 steps") in readme
