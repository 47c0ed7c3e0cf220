"""Recurrent cells and layers against torch.nn.RNN/LSTM/GRU and their cells, generated from the
registry (checks shared with ``python -m nnref verify`` live in nnref.verify.recurrent), plus
state dicts, swapping, refusals and an independent randomized comparison."""

from __future__ import annotations

import random

import pytest
import torch
from conftest import DEVICES, specs_of
from torch import nn

from nnref import recurrent as R
from nnref import registry, swap
from nnref.verify import cases
from nnref.verify import recurrent as V

SPECS = specs_of("recurrent")
CASES = [pytest.param(s, kw, id=f"{s.name}-{i}") for s in SPECS
         for i, kw in enumerate(cases.of(s).kwargs)]
LAYER_CASES = [p for p in CASES if not cases.of(p.values[0]).cell]
FIRST = [pytest.param(s, cases.of(s).kwargs[0], id=s.name) for s in SPECS]


def test_every_recurrent_component_has_cases_and_a_module_pair():
    assert set(cases.table("recurrent")) == set(registry.names("recurrent"))
    pairs = swap.pairs("reference")
    for builtin in (nn.RNN, nn.LSTM, nn.GRU, nn.RNNCell, nn.LSTMCell, nn.GRUCell):
        assert pairs[builtin].__module__ == "nnref.recurrent"
        assert pairs[builtin].__name__ == builtin.__name__


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize(("spec", "kwargs"), CASES)
def test_outputs_states_and_every_gradient_match_torch(spec, kwargs, dtype, device):
    # batched and unbatched, with and without an initial state, training (dropout with the
    # same seed) and eval: outputs, h_n (c_n) and the gradients of the input, hx and parameters
    for batched in (True, False):
        for with_state in (True, False):
            for training in (True, False):
                V.check_parity(spec, kwargs, dtype, device, batched=batched,
                               with_state=with_state, training=training)


@pytest.mark.parametrize(("spec", "kwargs"), FIRST)
def test_float64_within_a_few_ulps_of_torch_over_fifty_steps(spec, kwargs):
    fwd, grad = V.check_parity(spec, kwargs, torch.float64, seq_len=50)
    assert fwd < 1e-13 and grad < 1e-12


@pytest.mark.parametrize(("spec", "kwargs"), [p for p in FIRST if not cases.of(p.values[0]).cell])
def test_float32_over_two_hundred_steps_as_accurate_as_torch(spec, kwargs):
    V.check_accuracy(spec, kwargs, seeds=1)


@pytest.mark.slow
@pytest.mark.parametrize(("spec", "kwargs"), LAYER_CASES)
def test_float32_over_two_hundred_steps_as_accurate_as_torch_every_case(spec, kwargs):
    V.check_accuracy(spec, kwargs, seeds=2)


@pytest.mark.parametrize(("spec", "kwargs"), FIRST)
def test_gradcheck(spec, kwargs):
    assert V.check_gradcheck(spec, kwargs)


@pytest.mark.slow
@pytest.mark.parametrize(("spec", "kwargs"), CASES)
def test_gradcheck_and_gradgradcheck_every_case(spec, kwargs):
    assert V.check_gradcheck(spec, kwargs, second=True)


@pytest.mark.parametrize(("spec", "kwargs"), CASES)
def test_bad_inputs_raise_torchs_error_naming_the_argument(spec, kwargs):
    assert V.check_errors(spec, kwargs) >= 6


def test_bad_input_messages_name_the_argument():
    with pytest.raises(RuntimeError, match="input_size. Expected 4, got 5"):
        R.LSTM(4, 6)(torch.randn(3, 2, 5))
    with pytest.raises(RuntimeError, match=r"Expected hidden\[1\] size \(1, 2, 6\), got"):
        R.LSTM(4, 6)(torch.randn(3, 2, 4), (torch.zeros(1, 2, 6), torch.zeros(1, 2, 7)))
    with pytest.raises(RuntimeError, match="hidden0 has inconsistent hidden_size: got 7"):
        R.GRUCell(4, 6)(torch.randn(2, 4), torch.zeros(2, 7))


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_invalid_constructor_arguments_are_refused_as_torch(spec):
    V.check_invalid(spec)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_constructor_signature_is_torchs(spec):
    V.check_signature(spec)


def test_a_wrong_gate_is_caught(monkeypatch):
    # the checks can fail: the GRU's reset gate applied before W_hn (the paper's form, not
    # torch's) or a forget gate scaled by 1 + 1e-9 are both found in float64
    spec = registry.spec("recurrent", "gru")

    def paper_gru(gx, h, w_hh, b_hh):
        ir, iz, in_ = gx.chunk(3, 1)
        hr, hz, _ = R._linear(h, w_hh, b_hh).chunk(3, 1)
        r, z = R.A.sigmoid(hr + ir), R.A.sigmoid(hz + iz)
        w_hn = w_hh.chunk(3, 0)[2]
        b_hn = None if b_hh is None else b_hh.chunk(3, 0)[2]
        n = R.A.tanh(in_ + R._linear(r * h, w_hn, b_hn))
        return (h - n) * z + n

    monkeypatch.setattr(R, "_gru_step", paper_gru)
    with pytest.raises(AssertionError, match="output"):
        V.check_parity(spec, cases.of(spec).kwargs[0], torch.float64)
    monkeypatch.undo()

    real = R._lstm_step

    def leaky(gx, state, w_hh, b_hh, w_hr=None):
        return real(gx, (state[0], state[1] * (1 + 1e-9)), w_hh, b_hh, w_hr)

    monkeypatch.setattr(R, "_lstm_step", leaky)
    with pytest.raises(AssertionError):
        V.check_parity(registry.spec("recurrent", "lstm"), {"input_size": 4, "hidden_size": 6},
                       torch.float64)


@pytest.mark.parametrize(("spec", "kwargs"), CASES)
def test_same_seed_same_parameters_and_state_dicts_load_both_ways(spec, kwargs):
    kwargs = {**spec.defaults, **kwargs}
    torch.manual_seed(3)
    base = spec.builtin(**kwargs)
    torch.manual_seed(3)
    ref = spec.reference(**kwargs)
    assert repr(ref) == repr(base)
    assert list(ref.state_dict()) == list(base.state_dict())
    for k, v in base.state_dict().items():  # nnref.init draws torch's numbers in torch's order
        assert torch.equal(ref.state_dict()[k], v), k
    with torch.no_grad():
        for p in base.parameters():
            p.mul_(-2)
    ref.load_state_dict(base.state_dict(), strict=True)
    back = spec.builtin(**kwargs)
    back.load_state_dict(ref.state_dict(), strict=True)
    for k, v in base.state_dict().items():
        assert torch.equal(back.state_dict()[k], v), k


def test_swap_converts_a_model_both_ways_keeping_parameters():
    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(4, 6, num_layers=2, batch_first=True, bidirectional=True,
                                proj_size=3)
            self.gru = nn.GRU(6, 5)
            self.rnn = nn.RNN(5, 5, nonlinearity="relu", bias=False)
            self.cell = nn.GRUCell(5, 5)
            self.head = nn.Linear(5, 2)

        def forward(self, x):
            y, _ = self.lstm(x)
            y, _ = self.gru(y.transpose(0, 1))
            y, h = self.rnn(y)
            return self.head(self.cell(y[-1], h[0]))

    model = Tagger().double()
    x = torch.randn(3, 7, 4, dtype=torch.float64)
    want = model(x)
    weight = model.lstm.weight_hr_l1_reverse
    report = swap.to_reference(model)
    assert sorted(p for p, _, _ in report.replaced) == ["cell", "gru", "lstm", "rnn"], str(report)
    assert type(model.lstm) is R.LSTM and model.lstm.weight_hr_l1_reverse is weight
    assert model.rnn.nonlinearity == "relu" and model.lstm.proj_size == 3
    torch.testing.assert_close(model(x), want)
    swap.to_builtin(model)
    assert type(model.lstm) is nn.LSTM and type(model.cell) is nn.GRUCell
    torch.testing.assert_close(model(x), want)


def test_registry_builds_both_implementations():
    ref = registry.get("recurrent", "rnn_relu", input_size=3, hidden_size=4)
    base = registry.get("recurrent", "rnn_relu", impl="torch", input_size=3, hidden_size=4)
    assert type(ref) is R.RNN and type(base) is nn.RNN
    assert ref.nonlinearity == base.nonlinearity == "relu"
    assert registry.spec("recurrent", "elman").name == "rnn"


def test_packed_sequence_is_refused_naming_the_argument():
    packed = nn.utils.rnn.pack_padded_sequence(torch.randn(5, 2, 4), torch.tensor([5, 3]))
    for cls in (R.RNN, R.LSTM, R.GRU):
        with pytest.raises(TypeError, match="argument 'input' is a PackedSequence"):
            cls(4, 6)(packed)


def test_dropout_between_layers_draws_torchs_mask():
    torch.manual_seed(0)
    base = nn.LSTM(4, 6, num_layers=3, dropout=0.5)
    ref = R.LSTM(4, 6, num_layers=3, dropout=0.5)
    ref.load_state_dict(base.state_dict())
    x = torch.randn(5, 2, 4)
    torch.manual_seed(11)
    want = base(x)[0]
    torch.manual_seed(11)
    torch.testing.assert_close(ref(x)[0], want)
    torch.manual_seed(12)
    assert not torch.allclose(ref(x)[0], want)  # another seed, another mask


# --- independent check: random sizes, lengths, layers, directions and states ---------------
# A fixed list of seeds, each drawing a whole configuration: deterministic, never one lucky
# draw; the comparison is the one the generated tests use, on configurations nobody chose.
RANDOM_SEEDS = list(range(12))


@pytest.mark.parametrize("seed", RANDOM_SEEDS)
@pytest.mark.parametrize("name", ["lstm", "gru", "rnn"])
def test_random_configurations_match_torch(name, seed):
    rng = random.Random(1000 * seed + len(name))
    hidden = rng.randint(1, 12)
    kwargs = {"input_size": rng.randint(1, 9), "hidden_size": hidden,
              "num_layers": rng.randint(1, 3), "bias": rng.random() < 0.8,
              "batch_first": rng.random() < 0.5, "bidirectional": rng.random() < 0.5}
    if name == "rnn":
        kwargs["nonlinearity"] = rng.choice(["tanh", "relu"])
    if name == "lstm" and hidden > 1 and rng.random() < 0.3:
        kwargs["proj_size"] = rng.randint(1, hidden - 1)
    spec = registry.spec("recurrent", name)
    ref, base = V.build_pair(spec, kwargs, torch.float64, seed=seed)
    seq_len, batch = rng.randint(1, 40), rng.choice([None, 1, rng.randint(2, 6)])
    x, hx = V.make_inputs(base, seq_len, batch, rng.random() < 0.7, torch.float64, seed=seed)
    what = f"{name}{kwargs} L={seq_len} N={batch}"
    V.compare(what, V.run(ref, x, hx), V.run(base, x, hx), terms=seq_len * (batch or 1))
    ref32, base32 = V.build_pair(spec, kwargs, torch.float32, seed=seed)
    x32 = x.float()
    hx32 = None if hx is None else (tuple(h.float() for h in hx) if isinstance(hx, tuple)
                                    else hx.float())
    V.compare(what + " float32", V.run(ref32, x32, hx32), V.run(base32, x32, hx32))
