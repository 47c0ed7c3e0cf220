"""Swish vs ReLU in deep nets on the paper's terms:
``python experiments/activations/deep_swish.py [--depths 10 25 40 50] [--seeds 0 1 2]
[--lrs 0.001 0.003 ... 1] [--jobs 2] [--out FILE]``.

Ramachandran, Zoph & Le (2017) train fully connected nets of growing depth on MNIST with batch
normalization and SGD with momentum, a learning rate per depth, and find Swish ahead of ReLU past
about 40 layers. The same design as far as two CPU cores allow: the 8x8 digits (nothing is
downloaded), width 128, batch norm after every hidden linear layer, nnref's SGD with momentum 0.9,
batch 128, 50 epochs (500 steps); for each activation, depth and initialisation a grid of seven
learning rates half a decade apart (the report keeps the rate with the lowest median validation
loss, flags a best rate on the grid's edge, and compares test accuracy there); 3 seeds.
Initialisation is a factor: a normal law of standard deviation gain / sqrt(fan_in) with He's
gain sqrt(2), derived for ReLU, or with the gain matched to the activation's own second moment,
1 / sqrt(E[f(z)^2]) for z ~ N(0, 1) (sqrt(2) for ReLU, so ReLU runs once). The training loop is a
plain one (no Lightning): 252 short runs of one thread each, ``--jobs`` at once (about 20
minutes on two cores). One JSON file, read by report.py.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

from nnref import init, registry
from nnref.experiment.data import Digits
from nnref.experiment.models import MLP
from nnref.losses import CrossEntropyLoss

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
WIDTH, EPOCHS, BATCH, MOMENTUM = 128, 50, 128, 0.9
LRS = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
# (activation, initialisation) arms; ReLU's matched gain is He's, so it has one arm
ARMS = (("relu", "he"), ("swish", "he"), ("swish", "matched"))


def second_moment(activation: str) -> float:
    """E[f(z)^2] for z ~ N(0, 1), by the trapezoid rule on [-12, 12] in float64."""
    z = torch.linspace(-12, 12, 200_001, dtype=torch.float64)
    f = registry.get("activation", activation)(z)
    density = torch.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    return float(torch.trapezoid(f * f * density, z))


def gain(activation: str, how: str) -> float:
    return math.sqrt(2.0) if how == "he" else 1.0 / math.sqrt(second_moment(activation))


def splits() -> tuple:
    dm = Digits(batch_size=BATCH, seed=0, data_dir=str(ROOT / "data"))
    dm.setup()
    return tuple(dm.splits[k] for k in ("train", "val", "test"))


def run(activation: str, how: str, depth: int, lr: float, seed: int) -> dict:
    t0 = time.perf_counter()
    torch.set_num_threads(1)
    (x, y), (xv, yv), (xt, yt) = splits()
    torch.manual_seed(seed)
    net = MLP(x.shape[1:], 10, width=WIDTH, depth=depth, activation=activation, norm="batch")
    g = gain(activation, how)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if p.dim() >= 2:
                p.normal_(0.0, g / math.sqrt(init.fan_in_and_fan_out(p)[0]))
            elif name.endswith("bias"):
                p.zero_()
    opt = registry.get("optim", "sgd", lr=lr, momentum=MOMENTUM)(net.parameters())
    loss_fn = CrossEntropyLoss()
    gen = torch.Generator().manual_seed(seed)
    for _ in range(EPOCHS):
        net.train()
        order, losses = torch.randperm(len(x), generator=gen), []
        for start in range(0, len(x), BATCH):
            idx = order[start:start + BATCH]
            loss = loss_fn(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
    net.eval()
    with torch.no_grad():
        out_v, out_t = net(xv), net(xt)
        val_loss = float(loss_fn(out_v, yv))
    return {"activation": activation, "init": how, "gain": g, "depth": depth, "lr": lr,
            "seed": seed, "val_loss": val_loss if math.isfinite(val_loss) else None,
            "train_loss": sum(losses) / len(losses),  # the last epoch's mean
            "val_acc": float((out_v.argmax(-1) == yv).float().mean()),
            "test_acc": float((out_t.argmax(-1) == yt).float().mean()),
            "seconds": time.perf_counter() - t0}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--depths", type=int, nargs="+", default=[10, 25, 40, 50])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--lrs", type=float, nargs="+", default=list(LRS), help="the rate grid")
    p.add_argument("--out", type=Path, default=HERE / "deep_swish.json")
    p.add_argument("--jobs", type=int, default=2, help="runs at once, one thread each")
    args = p.parse_args(argv)
    grid = [(a, how, d, lr, s) for d in args.depths for a, how in ARMS for lr in args.lrs
            for s in args.seeds]
    with ProcessPoolExecutor(args.jobs) as pool:
        results = []
        for r in pool.map(run, *zip(*grid, strict=True)):
            results.append(r)
            print(f"[{len(results)}/{len(grid)}] depth {r['depth']} {r['activation']}/"
                  f"{r['init']} lr {r['lr']} seed {r['seed']}: val loss {r['val_loss']} "
                  f"test acc {r['test_acc']:.3f} ({r['seconds']:.1f} s)", file=sys.stderr,
                  flush=True)
    args.out.write_text(json.dumps({
        "width": WIDTH, "epochs": EPOCHS, "batch": BATCH, "momentum": MOMENTUM,
        "lrs": args.lrs, "runs": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
