"""Whether SELU's fixed point attracts: ``python experiments/initialization/selu_attraction.py
[--depth 64] [--width 256] [--seeds 0 1 2] [--out FILE]``.

Klambauer et al. (2017), "Self-normalizing neural networks", show that under weights of mean 0
and variance 1/fan_in (LeCun normal) the map from one layer's activation mean and variance
(mu, nu) to the next layer's has a stable fixed point at (0, 1): started away from it, the
statistics converge towards it with depth. Here, without training: inputs drawn i.i.d. from
N(mu0, nu0) with mu0 in {-1, 0, 1} and nu0 in {0.25, 1, 4} (nine starts), pushed through
``--depth`` random layers of ``--width`` units; the mean and variance of each layer's
activations (pooled over units and samples) are recorded. The same starts go through ReLU
under He normal and tanh under Glorot normal for contrast: each has its own gain, derived
for its own activation. Forward passes only (seconds). One JSON file, read by report.py.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from nnref.experiment.models import MLP

HERE = Path(__file__).resolve().parent
ARMS = {"selu": "lecun_normal", "relu": "he_normal", "tanh": "xavier_normal"}
MEANS, VARIANCES = (-1.0, 0.0, 1.0), (0.25, 1.0, 4.0)
SAMPLES = 1000


@torch.no_grad()
def trajectories(activation: str, init: str, depth: int, width: int, seed: int) -> list[dict]:
    """Per start, every layer's pooled activation mean and variance; the input is layer 0."""
    torch.manual_seed(seed)
    net = MLP(width, 10, width=width, depth=depth, activation=activation, init=init)
    g = torch.Generator().manual_seed(seed)
    out = []
    for mu in MEANS:
        for nu in VARIANCES:
            h = mu + nu ** 0.5 * torch.randn(SAMPLES, width, generator=g)
            means, variances = [float(h.mean())], [float(h.var())]
            for block in net.hidden():
                h = block(h)
                means.append(float(h.mean()))
                variances.append(float(h.var()))
            out.append({"activation": activation, "init": init, "seed": seed, "mu0": mu,
                        "nu0": nu, "mean": means, "var": variances})
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--depth", type=int, default=64)
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--out", type=Path, default=HERE / "selu_attraction.json")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    runs = [r for a, i in ARMS.items() for s in args.seeds
            for r in trajectories(a, i, args.depth, args.width, s)]
    args.out.write_text(json.dumps({"depth": args.depth, "width": args.width,
                                    "samples": SAMPLES, "runs": runs}))
    print(f"wrote {args.out} ({len(runs)} trajectories)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
