"""An independent re-run of the Swish placement study (experiments/activations/deep_swish.py)
in plain torch: torch.nn.Linear / BatchNorm1d / ReLU / SiLU and torch.optim.SGD, the digits
read from scikit-learn and split here, no nnref module, loop or data class. At the depth of the
claim and each arm's best rate in the tracked JSON, it must reach the tracked verdict per
placement (Swish against ReLU, seed by seed)."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pytest
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
TRACKED = ROOT / "experiments" / "activations" / "deep_swish.json"


def digits():
    """The 8x8 digits split as nnref's Digits(seed=0) splits them: a seeded permutation, 15%
    validation, 15% test, the rest standardised per pixel with the training statistics."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).reshape(len(d.images), -1)
    y = torch.tensor(d.target)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    n_val = n_test = round(len(x) * 0.15)
    tr, te = perm[n_val + n_test:], perm[n_val:n_val + n_test]
    mean, std = x[tr].mean(0), x[tr].std(0)
    std = torch.where(std > 1e-8, std, torch.ones_like(std))
    return ((x[tr] - mean) / std, y[tr]), ((x[te] - mean) / std, y[te])


def train(placement: str, act: str, depth: int, lr: float, seed: int, steps: int = 500,
          width: int = 128, batch: int = 128) -> float:
    """Test accuracy after ``steps`` of momentum SGD, BN statistics recomputed on the training
    set."""
    torch.set_num_threads(1)
    (x, y), (xt, yt) = digits()
    torch.manual_seed(seed)
    layers = []
    for i in range(depth):
        fan_in = x.shape[1] if i == 0 else width
        f = nn.ReLU() if act == "relu" else nn.SiLU()
        if placement == "before":
            layers += [nn.Linear(fan_in, width, bias=False), nn.BatchNorm1d(width), f]
        else:
            layers += [nn.Linear(fan_in, width), f, nn.BatchNorm1d(width)]
    net = nn.Sequential(*layers, nn.Linear(width, 10))
    with torch.no_grad():
        for name, p in net.named_parameters():
            if p.dim() == 2:
                p.normal_(0, math.sqrt(2 / p.shape[1]))
            elif name.endswith("bias"):
                p.zero_()
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
    g = torch.Generator().manual_seed(seed)
    step = 0
    while step < steps:
        order = torch.randperm(len(x), generator=g)
        for s in range(0, len(x) - batch + 1, batch):
            idx = order[s:s + batch]
            loss = nn.functional.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            if step == steps:
                break
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm1d):
                m.reset_running_stats()
                m.momentum = None
        net.train()
        for s in range(0, len(x), batch):
            net(x[s:s + batch])
        net.eval()
        return float((net(xt).argmax(-1) == yt).float().mean())


def test_the_split_is_nnrefs():
    from nnref.experiment.data import Digits

    dm = Digits(seed=0)
    dm.setup()
    (x, y), (xt, yt) = digits()
    torch.testing.assert_close(dm.splits["train"][0].flatten(1), x)
    torch.testing.assert_close(dm.splits["test"][1], yt)


@pytest.mark.slow
@pytest.mark.parametrize("placement", ["after"])  # the placement rerun with recomputed BN stats
def test_plain_torch_reaches_the_tracked_verdict_at_depth_40(placement):
    from nnref.experiment import reporting as R

    runs = [r for r in json.loads(TRACKED.read_text())["runs"]
            if r["bn_stats"] == "recomputed" and r["placement"] == placement
            and r["depth"] == 40 and r["data"] == "digits" and r["steps"] == 500
            and r["init"] == "he"]
    if not runs:
        pytest.fail(f"no recomputed runs at depth 40, BN {placement}, in {TRACKED.name}")

    def best(act):
        rates = sorted({r["lr"] for r in runs if r["activation"] == act})
        med = {lr: statistics.median(r["val_loss"] if r["val_loss"] is not None else math.inf
                                     for r in runs if r["activation"] == act and r["lr"] == lr)
               for lr in rates}
        return min(rates, key=med.__getitem__)

    def tracked(act, lr):
        return [r["test_acc"] for r in sorted(runs, key=lambda r: r["seed"])
                if r["activation"] == act and r["lr"] == lr]

    seeds = sorted({r["seed"] for r in runs})
    lr_s, lr_r = best("swish"), best("relu")
    want = R.compare(tracked("swish", lr_s), tracked("relu", lr_r), paired=True).a_better
    got = R.compare([train(placement, "swish", 40, lr_s, s) for s in seeds],
                    [train(placement, "relu", 40, lr_r, s) for s in seeds], paired=True)
    assert got.a_better == want, (placement, str(got), want)
