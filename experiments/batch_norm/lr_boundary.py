"""Batch norm's learning-rate claim swept to divergence:
``python experiments/batch_norm/lr_boundary.py [--gains 1 2 4] [--seeds 0 1 2]
[--lrs 0.03 0.1 ...] [--out FILE]``.

Ioffe & Szegedy (2015) say batch norm lets a network train at higher learning rates. The sweep
of experiment=batch_norm tries two rates; here the rate grows half a decade at a time until
the network no longer trains, with and without batch norm, at several initial gains (the gain
decides how saturated the plain sigmoid net starts, so it could flip the verdict): the same
3 x 100 sigmoid MLP on the 8x8 digits, Glorot-normal weights times the gain, plain SGD, batch
64, 10 epochs, each seed with its own data split and batch order shared by both arms. A run
*trains* when its final validation accuracy reaches 0.8 (a loss that turns non-finite ends the
run, which then does not train). Plain loop (no Lightning), one thread, a few seconds a run.
The JSON is written after every run, so an interrupted sweep keeps what it has and a rerun with
the same ``--out`` only runs what is missing.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch

from nnref import registry
from nnref.experiment.data import Digits
from nnref.experiment.models import MLP
from nnref.losses import cross_entropy

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
EPOCHS, BATCH, WIDTH, DEPTH = 10, 64, 100, 3
TRAINS_AT = 0.8  # final validation accuracy of a run that trains
LRS = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)


def run(norm: str | None, gain: float, lr: float, seed: int) -> dict:
    t0 = time.perf_counter()
    dm = Digits(seed=seed, batch_size=BATCH, data_dir=str(ROOT / "data"))
    dm.setup()
    (x, y), (xv, yv) = dm.splits["train"], dm.splits["val"]
    torch.manual_seed(seed)
    net = MLP(x.shape[1:], 10, width=WIDTH, depth=DEPTH, activation="sigmoid",
              init="xavier_normal", init_kwargs={"gain": gain}, norm=norm)
    opt = registry.get("optim", "sgd", lr=lr)(net.parameters())
    gen = torch.Generator().manual_seed(seed)
    finite, last = True, math.nan
    for _ in range(EPOCHS):
        net.train()
        order = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x), BATCH):
            idx = order[start:start + BATCH]
            loss = cross_entropy(net(x[idx]), y[idx])
            if not torch.isfinite(loss):
                finite = False
                break
            opt.zero_grad()
            loss.backward()
            opt.step()
            last = float(loss)
        if not finite:
            break
    net.eval()
    with torch.no_grad():
        out = net(xv)
    acc = float((out.argmax(-1) == yv).float().mean()) if finite else None
    return {"norm": norm or "none", "gain": gain, "lr": lr, "seed": seed, "finite": finite,
            "val_acc": acc, "last_loss": last if finite else None,
            "seconds": time.perf_counter() - t0}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--gains", type=float, nargs="+", default=[1.0, 2.0, 4.0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--lrs", type=float, nargs="+", default=list(LRS), help="the rate grid")
    p.add_argument("--out", type=Path, default=HERE / "lr_boundary.json")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    done = json.loads(args.out.read_text())["runs"] if args.out.is_file() else []
    have = {(r["norm"], r["gain"], r["lr"], r["seed"]) for r in done}
    grid = [(n, g, lr, s) for g in args.gains for n in (None, "batch") for lr in args.lrs
            for s in args.seeds if (n or "none", g, lr, s) not in have]
    for i, (n, g, lr, s) in enumerate(grid, 1):
        r = run(n, g, lr, s)
        done.append(r)
        lrs = sorted({*args.lrs, *(d["lr"] for d in done)})
        args.out.write_text(json.dumps({"epochs": EPOCHS, "batch": BATCH, "width": WIDTH,
                                        "depth": DEPTH, "trains_at": TRAINS_AT, "lrs": lrs,
                                        "runs": done}))
        print(f"[{i}/{len(grid)}] BN {r['norm']} gain {g:g} lr {lr:g} seed {s}: val acc "
              f"{r['val_acc']} ({r['seconds']:.1f} s)", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
