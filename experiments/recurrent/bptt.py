"""Gradients through time and their remedies:
``python experiments/recurrent/bptt.py [--out FILE] [--seeds 0 1 2] [--lengths 10 30 100 200]
[--steps 300] [--remedies-only]``.

Two studies on the memory task (``SymbolRecall``: copy the first of T one-hot symbols over
T - 1 distractors; 8 symbols, chance 0.125), one JSON file that the report reads.

1. The gradient through time. A tanh RNN of 32 units whose W_hh is scaled to spectral radius
   0.5, 1 and 1.5, an LSTM and a GRU read T = 100 steps; the loss (cross-entropy of a linear
   readout of h_T) is backpropagated and the norm of dL/dh_t is recorded for every t, at
   initialisation and after every ``--steps``/3 training steps (Adam 3e-3, batch 64). The
   norms come from nnref's own cells (``RNNCell``, ``LSTMCell``, ``GRUCell``) stepped by hand
   to keep every h_t; training between the measurements runs the layer on torch's built-in,
   which the parity tests hold equal to the reference (the cells take the layer's weights).
2. The remedies. The tanh RNN (torch's initialisation), with gradient-norm clipping at 0.1, 1
   and 10 and with L2 (1e-3 on the weights), against the LSTM and GRU, at each T of
   ``--lengths``: test accuracy after ``--steps`` steps of Adam 3e-3 and whether training
   diverged (a non-finite loss). Every arm of a seed shares its data and batch order; the RNN
   arms also their initial weights.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch
from torch import nn

from nnref import recurrent as R
from nnref import registry
from nnref.experiment.data.synthetic import SymbolRecall
from nnref.experiment.models import set_spectral_radius

HERE = Path(__file__).resolve().parent
HIDDEN, SYMBOLS, BATCH, LR = 32, 8, 64, 3e-3
GRADIENT_LENGTH = 100
GRADIENT_ARMS = {  # name -> (registry name, spectral radius of W_hh or None)
    "RNN, radius 0.5": ("rnn", 0.5),
    "RNN, radius 1": ("rnn", 1.0),
    "RNN, radius 1.5": ("rnn", 1.5),
    "LSTM": ("lstm", None),
    "GRU": ("gru", None),
}
REMEDY_ARMS = {  # name -> (registry name, max gradient norm or None, L2)
    "RNN": ("rnn", None, 0.0),
    "RNN + clip 0.1": ("rnn", 0.1, 0.0),
    "RNN + clip 1": ("rnn", 1.0, 0.0),
    "RNN + clip 10": ("rnn", 10.0, 0.0),
    "RNN + L2 1e-3": ("rnn", None, 1e-3),
    "LSTM": ("lstm", None, 0.0),
    "GRU": ("gru", None, 0.0),
}
CELLS = {"rnn": R.RNNCell, "lstm": R.LSTMCell, "gru": R.GRUCell}


def task(length: int, seed: int):
    """(train, test) tensors of the memory task: 2000 sequences, 15% held out for test."""
    data = SymbolRecall(length=length, symbols=SYMBOLS, n_samples=2000, standardize=False,
                        val_fraction=0.0, test_fraction=0.15, seed=seed)
    data.setup()
    return data.splits["train"], data.splits["test"]


class Net(nn.Module):
    """A recurrent layer (batch first, torch's built-in for speed) and a linear readout of
    h_T."""

    def __init__(self, name: str, radius: float | None):
        super().__init__()
        self.rnn = registry.get("recurrent", name, impl="torch", input_size=SYMBOLS + 1,
                                hidden_size=HIDDEN, batch_first=True)
        if radius is not None:
            set_spectral_radius(self.rnn, radius)
        self.out = nn.Linear(HIDDEN, SYMBOLS)

    def forward(self, x):
        return self.out(self.rnn(x)[0][:, -1])


def gradient_through_time(net: Net, name: str, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """||dL/dh_t|| for t = 1..T, from nnref's cell holding the layer's weights, in float64 (a
    vanishing gradient reaches 1e-60 and below, under float32's smallest number)."""
    cell = CELLS[name](SYMBOLS + 1, HIDDEN).double()
    cell.load_state_dict({k.removesuffix("_l0"): v for k, v in net.rnn.state_dict().items()})
    state, hs = None, []
    for t in range(x.shape[1]):
        state = cell(x[:, t].double(), state)
        h = state[0] if isinstance(state, tuple) else state
        h.retain_grad()
        hs.append(h)
    logits = nn.functional.linear(hs[-1], net.out.weight.double(), net.out.bias.double())
    nn.functional.cross_entropy(logits, y).backward()
    return [float(h.grad.norm()) for h in hs]


def batches(n: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    while True:
        for idx in torch.randperm(n, generator=g).split(BATCH):
            if len(idx) == BATCH:
                yield idx


def train(net: Net, train_set, steps: int, seed: int, clip: float | None = None,
          l2: float = 0.0, every: int | None = None, probe=None) -> dict:
    """``steps`` of Adam; ``probe(step)`` every ``every`` steps (and at 0). Returns the
    final loss and whether it diverged."""
    x, y = train_set
    opt = registry.get("optim", "adam", lr=LR)(net.parameters())
    order = batches(len(x), seed)
    loss = torch.tensor(0.0)
    for step in range(steps + 1):
        if probe is not None and every and step % every == 0:
            probe(step)
        if step == steps:
            break
        idx = next(order)
        loss = nn.functional.cross_entropy(net(x[idx]), y[idx])
        if l2:
            loss = loss + l2 * sum((p * p).sum() for n, p in net.named_parameters()
                                   if "weight" in n)
        if not torch.isfinite(loss):
            return {"final_loss": float(loss.detach()), "diverged": True}
        opt.zero_grad()
        loss.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(net.parameters(), clip)
        opt.step()
    return {"final_loss": float(loss.detach()), "diverged": False}


def accuracy(net: Net, test_set) -> float:
    x, y = test_set
    with torch.no_grad():
        return float((net(x).argmax(-1) == y).float().mean())


def gradient_study(seed: int, steps: int) -> list[dict]:
    train_set, test_set = task(GRADIENT_LENGTH, seed)
    probe_x, probe_y = test_set[0][:BATCH], test_set[1][:BATCH]
    out = []
    for arm, (name, radius) in GRADIENT_ARMS.items():
        torch.manual_seed(seed)
        net = Net(name, radius)
        norms: dict[str, list[float]] = {}

        def probe(step, net=net, name=name, norms=norms):
            norms[str(step)] = gradient_through_time(net, name, probe_x, probe_y)

        train(net, train_set, steps, seed, every=max(steps // 3, 1), probe=probe)
        out.append({"arm": arm, "seed": seed, "length": GRADIENT_LENGTH, "norms": norms,
                    "test_acc": accuracy(net, test_set)})
    return out


def remedy_study(seed: int, lengths, steps: int) -> list[dict]:
    out = []
    for length in lengths:
        train_set, test_set = task(length, seed)
        for arm, (name, clip, l2) in REMEDY_ARMS.items():
            torch.manual_seed(seed)
            net = Net(name, None)
            t0 = time.perf_counter()
            result = train(net, train_set, steps, seed, clip=clip, l2=l2)
            acc = accuracy(net, test_set) if not result["diverged"] else math.nan
            out.append({"arm": arm, "seed": seed, "length": length, "test_acc": acc, **result})
            print(f"T={length} {arm} seed {seed}: accuracy {acc:.3f}"
                  f"{' DIVERGED' if result['diverged'] else ''} "
                  f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--lengths", type=int, nargs="+", default=[10, 30, 100, 200])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--out", type=Path, default=HERE / "bptt.json")
    p.add_argument("--remedies-only", action="store_true",
                   help="skip the gradient study (a remedies run at another budget)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    gradients, remedies = [], []
    for seed in [] if args.remedies_only else args.seeds:
        t0 = time.perf_counter()
        gradients += gradient_study(seed, args.steps)
        print(f"gradients seed {seed}: {time.perf_counter() - t0:.0f} s", file=sys.stderr,
              flush=True)
    for seed in args.seeds:
        remedies += remedy_study(seed, args.lengths, args.steps)
    args.out.write_text(json.dumps({
        "steps": args.steps, "lengths": args.lengths, "seeds": args.seeds, "hidden": HIDDEN,
        "symbols": SYMBOLS, "batch": BATCH, "lr": LR, "gradients": gradients,
        "remedies": remedies}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
