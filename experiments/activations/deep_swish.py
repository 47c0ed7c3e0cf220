"""Swish vs ReLU in deep nets on the paper's terms, batch norm's placement a factor:
``python experiments/activations/deep_swish.py [--placements before after] [--inits he matched]
[--activations relu swish] [--depths ...] [--seeds 0 1 2] [--lrs 0.001 ... 1]
[--data digits|mnist1d] [--steps N] [--jobs 1] [--out FILE]``.

Ramachandran, Zoph & Le (2017, arXiv 1710.05941v1) train fully connected nets of growing depth
on MNIST with batch normalization and SGD with momentum, a learning rate per depth, and find
Swish ahead of ReLU past about 40 layers; where batch norm sits relative to the activation is
not stated in any copy that could be read, so it is a factor here:

* ``before``: linear (no bias: batch norm's shift replaces it) -> batch norm -> activation;
* ``after``: linear + bias -> activation -> batch norm.

The rest as far as two CPU cores allow: the 8x8 digits (or MNIST-1D, generated locally, a larger
training set), width 128, nnref's SGD with momentum 0.9, batch 128, a budget of ``--steps``
steps; for each placement, activation, depth and initialisation a grid of learning rates half a
decade apart (the report keeps the rate with the lowest median validation loss, flags a best rate
on the grid's edge, and compares test accuracy there); 3 seeds, each with its own initial
weights and batch order shared by every arm. Initialisation: a normal law of standard deviation
gain / sqrt(fan_in) with He's gain sqrt(2), or with the gain matched to the activation's own
second moment, 1 / sqrt(E[f(z)^2]) for z ~ N(0, 1) (sqrt(2) for ReLU, so ReLU runs once). The
matched gain runs only with batch norm after the activation: before it, batch norm divides
the gain out again (BN(cWx) = BN(Wx)), so that arm could not differ by construction.

Batch norm's running statistics after training are an exponential average over the last
batches of a moving network; before testing they are recomputed over the whole training set
(the network frozen), and the test accuracy with the running statistics is kept beside it.

The JSON file (read by report.py) also keeps the runs of this study's first version (batch norm
before the activation only, 50 epochs of partial and full batches = 500 steps, test accuracy with
the running statistics only: ``"bn_stats": "running"``). It is written after every run, so an
interrupted sweep keeps what it has, and a rerun with the same ``--out`` runs only what is
missing (another placement, depth, rate, seed, data set or budget adds to the same file).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import torch
from torch import nn

from nnref import init, registry
from nnref.experiment.data import MNIST1D, Digits
from nnref.losses import CrossEntropyLoss

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
WIDTH, BATCH, MOMENTUM, STEPS = 128, 128, 0.9, 500
LRS = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
PLACEMENTS = ("before", "after")
# (activation, initialisation) arms; ReLU's matched gain is He's, so it has one arm; the
# matched gain only where it reaches the activation
ARMS = {"before": (("relu", "he"), ("swish", "he")),
        "after": (("relu", "he"), ("swish", "he"), ("swish", "matched"))}
KEY = ("data", "steps", "placement", "activation", "init", "depth", "lr", "seed")
LONG_STEPS = 2000
# the whole study, when neither --data nor --steps picks one setting: the main grid, the
# larger data set (MNIST-1D: 4000 training signals against 1257 digits) and a budget four times
# longer, both at the depths of the claim
PLAN = (("digits", STEPS, (10, 25, 40, 50)), ("mnist1d", STEPS, (40, 50)),
        ("digits", LONG_STEPS, (40, 50)))


def second_moment(activation: str) -> float:
    """E[f(z)^2] for z ~ N(0, 1), by the trapezoid rule on [-12, 12] in float64."""
    z = torch.linspace(-12, 12, 200_001, dtype=torch.float64)
    f = registry.get("activation", activation)(z)
    density = torch.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    return float(torch.trapezoid(f * f * density, z))


def gain(activation: str, how: str) -> float:
    return math.sqrt(2.0) if how == "he" else 1.0 / math.sqrt(second_moment(activation))


def splits(data: str = "digits") -> tuple:
    kind = {"digits": Digits, "mnist1d": MNIST1D}[data]
    dm = kind(batch_size=BATCH, seed=0, data_dir=str(ROOT / "data"))
    dm.setup()
    return tuple(dm.splits[k] for k in ("train", "val", "test"))


def network(placement: str, in_features: int, depth: int, activation: str) -> nn.Sequential:
    """``depth`` hidden layers of WIDTH units with batch norm before or after the activation
    (nnref's BatchNorm1d and activation), then a linear output of 10 classes."""
    layers: list[nn.Module] = [nn.Flatten()]
    for i in range(depth):
        fan_in = in_features if i == 0 else WIDTH
        act = registry.get("activation", activation)
        bn = registry.get("norm", "batch_norm1d", num_features=WIDTH)
        if placement == "before":
            layers += [nn.Linear(fan_in, WIDTH, bias=False), bn, act]
        elif placement == "after":
            layers += [nn.Linear(fan_in, WIDTH), act, bn]
        else:
            raise ValueError(f"placement must be one of {PLACEMENTS}, got {placement!r}")
    layers.append(nn.Linear(WIDTH, 10))
    return nn.Sequential(*layers)


@torch.no_grad()
def recompute_bn(net: nn.Module, x: torch.Tensor) -> None:
    """Batch norm's statistics as the average over the training set's batches (the network
    frozen), replacing the running averages of the last training steps."""
    bns = [m for m in net.modules() if hasattr(m, "running_mean")]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    net.train()
    for start in range(0, len(x), BATCH):
        net(x[start:start + BATCH])
    net.eval()


def run(placement: str, activation: str, how: str, depth: int, lr: float, seed: int,
        data: str = "digits", steps: int = STEPS) -> dict:
    t0 = time.perf_counter()
    torch.set_num_threads(1)
    (x, y), (xv, yv), (xt, yt) = splits(data)
    torch.manual_seed(seed)
    net = network(placement, x[0].numel(), depth, activation)
    g = gain(activation, how)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if p.dim() >= 2:
                p.normal_(0.0, g / math.sqrt(init.fan_in_and_fan_out(p)[0]))
            elif name.endswith("bias"):  # linear layers' (batch norm's shift starts at 0)
                p.zero_()
    opt = registry.get("optim", "sgd", lr=lr, momentum=MOMENTUM)(net.parameters())
    loss_fn = CrossEntropyLoss()
    gen = torch.Generator().manual_seed(seed)
    step, losses = 0, []
    net.train()
    while step < steps:
        order = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x) - BATCH + 1, BATCH):  # full batches only, for BN
            idx = order[start:start + BATCH]
            loss = loss_fn(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            step += 1
            if step == steps:
                break

    def evaluate(xs, ys):
        with torch.no_grad():
            out = net(xs)
        loss = float(loss_fn(out, ys))
        return (loss if math.isfinite(loss) else None,
                float((out.argmax(-1) == ys).float().mean()))

    net.eval()
    val_loss_running, val_acc_running = evaluate(xv, yv)
    _, test_acc_running = evaluate(xt, yt)
    recompute_bn(net, x)
    val_loss, val_acc = evaluate(xv, yv)
    _, test_acc = evaluate(xt, yt)
    tail = losses[-max(1, len(x) // BATCH):]  # about the last epoch
    return {"data": data, "steps": steps, "placement": placement, "activation": activation,
            "bn_stats": "recomputed", "init": how, "gain": g, "depth": depth, "lr": lr,
            "seed": seed, "val_loss": val_loss, "val_acc": val_acc, "test_acc": test_acc,
            "val_loss_running": val_loss_running, "val_acc_running": val_acc_running,
            "test_acc_running": test_acc_running,
            "train_loss": sum(tail) / len(tail) if all(map(math.isfinite, tail)) else None,
            "seconds": time.perf_counter() - t0}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--placements", nargs="+", default=list(PLACEMENTS), choices=PLACEMENTS)
    p.add_argument("--inits", nargs="+", default=["he", "matched"], choices=["he", "matched"],
                   help="initialisations to run (the matched gain runs with BN after only)")
    p.add_argument("--activations", nargs="+", default=["relu", "swish"],
                   choices=["relu", "swish"], help="activations to run")
    p.add_argument("--depths", type=int, nargs="+",
                   help="default: each setting's depths (see PLAN)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--lrs", type=float, nargs="+", default=list(LRS), help="the rate grid")
    p.add_argument("--data", choices=("digits", "mnist1d"),
                   help="one data set (default: every setting of the plan)")
    p.add_argument("--steps", type=int, help=f"one training budget in steps (default: every "
                   f"setting of the plan, {STEPS} and {LONG_STEPS})")
    p.add_argument("--out", type=Path, default=HERE / "deep_swish.json")
    p.add_argument("--jobs", type=int, default=1, help="runs at once, one thread each")
    args = p.parse_args(argv)
    rec = json.loads(args.out.read_text()) if args.out.is_file() else {}
    runs = rec.get("runs", [])
    # runs kept from before the recomputed statistics ("bn_stats": "running") are run again
    have = {tuple(r[k] for k in KEY) for r in runs if r["bn_stats"] == "recomputed"}
    plan = PLAN
    if args.data or args.steps:
        plan = ((args.data or "digits", args.steps or STEPS, (10, 25, 40, 50)),)
    grid = [(pl, a, how, d, lr, s, data, steps) for data, steps, depths in plan
            for d in args.depths or depths for pl in args.placements for a, how in ARMS[pl]
            if how in args.inits and a in args.activations for lr in args.lrs
            for s in args.seeds]
    grid = [g for g in grid if (g[6], g[7], *g[:6]) not in have]

    def save():  # whole or not at all: an interrupted run never leaves half a file
        tmp = args.out.with_suffix(".tmp")
        tmp.write_text(json.dumps({
            "width": WIDTH, "batch": BATCH, "momentum": MOMENTUM, "default_steps": STEPS,
            "lrs": sorted({*rec.get("lrs", []), *args.lrs}), "runs": runs}))
        tmp.replace(args.out)

    with ProcessPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(run, *g) for g in grid]
        for i, f in enumerate(as_completed(futures), 1):
            r = f.result()
            runs.append(r)
            save()
            print(f"[{i}/{len(grid)}] {r['data']} {r['steps']} steps, BN {r['placement']}, "
                  f"depth {r['depth']} {r['activation']}/{r['init']} lr {r['lr']} seed "
                  f"{r['seed']}: val loss {r['val_loss']} test acc {r['test_acc']:.3f} "
                  f"(running stats {r['test_acc_running']:.3f}) ({r['seconds']:.1f} s)",
                  file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
