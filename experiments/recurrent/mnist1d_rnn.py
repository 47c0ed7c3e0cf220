"""MNIST-1D read as a sequence, on the paper's terms:
``python experiments/recurrent/mnist1d_rnn.py [--steps 6000] [--seeds 0 1 2] [--out FILE]``.

The MNIST-1D paper's fourth baseline is a GRU (Greydanus 2020: 91% test accuracy; the mnist1d
repository's saved runs 91.1% and 89.1%). Its code (``GRUBase``) reads the 40 samples of a
signal as 40 steps of one value with a bidirectional GRU of 6 units and classifies with one
linear map of all 40 steps' outputs. This script builds that model from nnref's ``GRU``
(:class:`~nnref.experiment.models.RecurrentClassifier` with ``readout="all"``), and the same
shape with an LSTM and a tanh RNN beside it, and trains them in the paper's loop (the one
``experiments/mnist1d_baselines/paper_loop.py`` re-writes: the 4000 training signals in one
fixed order, Adam 1e-2, batch 100, test accuracy every 250 steps). The layers are swapped to
torch's built-ins for training (``nnref.swap.to_builtin``; the parity tests hold the two equal)
because the reference's Python loop over 2 x 40 steps is several times slower.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

import torch

from nnref import registry, swap
from nnref.experiment.models import RecurrentClassifier
from nnref.losses import CrossEntropyLoss

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location(
    "paper_loop", HERE.parent / "mnist1d_baselines" / "paper_loop.py")
paper_loop = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(paper_loop)
MODELS = {"GRU": "gru", "LSTM": "lstm", "RNN (tanh)": "rnn"}
HIDDEN = 6  # GRUBase's hidden_size


def run(model: str, seed: int, steps: int) -> dict:
    (x, y), (xt, yt) = paper_loop.data(0.0, False)
    x, xt = x.flatten(1), xt.flatten(1)  # (N, 1, 40) signals as 40 steps of one value
    torch.manual_seed(seed)
    net = RecurrentClassifier((40,), 10, cell=MODELS[model], hidden=HIDDEN, bidirectional=True,
                              readout="all")
    swap.to_builtin(net)
    opt = registry.get("optim", "adam", lr=1e-2)(net.parameters())
    loss_fn = CrossEntropyLoss()
    every, n, acc = paper_loop.EVAL_EVERY, len(x), []
    for step in range(steps + 1):
        start = (step * 100) % n
        idx = torch.arange(start, min(start + 100, n))
        loss = loss_fn(net(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % every == 0:
            with torch.no_grad():
                acc.append(float((net(xt).argmax(-1) == yt).float().mean()))
    return {"model": model, "seed": seed, "test_acc": acc, "eval_every": every}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    p.add_argument("--out", type=Path, default=HERE / "mnist1d_rnn.json")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    runs = []
    for m in args.models:
        for s in args.seeds:
            t0 = time.perf_counter()
            runs.append(run(m, s, args.steps))
            print(f"{m} seed {s}: final {runs[-1]['test_acc'][-1]:.3f} "
                  f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
            # after every run: a long study stopped early keeps what it finished
            args.out.write_text(json.dumps({"steps": args.steps, "hidden": HIDDEN,
                                            "runs": runs}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
