"""experiments/activations/deep_swish.py: Swish vs ReLU on the paper's terms."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

from scipy import integrate

ROOT = Path(__file__).resolve().parents[1]


def _script():
    path = ROOT / "experiments" / "activations" / "deep_swish.py"
    spec = importlib.util.spec_from_file_location("deep_swish", path)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


def test_matched_gain_is_one_over_the_root_second_moment():
    m = _script()
    assert abs(m.gain("relu", "matched") - math.sqrt(2)) < 1e-9  # He's gain, E[relu^2] = 1/2
    assert m.gain("swish", "he") == math.sqrt(2)

    def swish_sq_density(z):
        s = z / (1 + math.exp(-z))
        return s * s * math.exp(-z * z / 2) / math.sqrt(2 * math.pi)

    moment, _ = integrate.quad(swish_sq_density, -40, 40)  # the density is 0 beyond
    assert abs(m.gain("swish", "matched") - 1 / math.sqrt(moment)) < 1e-9


def test_a_shallow_batch_norm_net_learns_the_digits_with_bn_on_either_side():
    for placement in ("before", "after"):
        r = _script().run(placement, "relu", "he", depth=3, lr=0.03, seed=0, steps=150)
        assert r["test_acc"] > 0.9 and r["val_loss"] < 0.5, r
        assert r["bn_stats"] == "recomputed" and r["test_acc_running"] > 0.9, r


def _scaled_outputs(placement: str, c: float):
    import torch

    m = _script()
    torch.manual_seed(0)
    net = m.network(placement, 64, 4, "swish")
    with torch.no_grad():
        for p in list(net.parameters())[:-2]:  # hidden layers (the output layer has no BN)
            if p.dim() >= 2:
                p.mul_(c)
    net.train()
    return net(torch.randn(128, 64, generator=torch.Generator().manual_seed(1)))


def test_the_gain_reaches_the_activation_only_with_batch_norm_after_it():
    import torch

    # before: BN(cWx) = BN(Wx) up to BN's eps, so a matched-gain arm could not differ there
    torch.testing.assert_close(_scaled_outputs("before", 1.2), _scaled_outputs("before", 1.0),
                               rtol=1e-4, atol=1e-4)
    after = (_scaled_outputs("after", 1.2) - _scaled_outputs("after", 1.0)).abs().max()
    assert after > 0.05


def test_recomputed_statistics_are_the_training_sets():
    import torch

    m = _script()
    torch.manual_seed(0)
    net = m.network("after", 64, 2, "relu")
    x = torch.randn(4 * m.BATCH, 64)
    m.recompute_bn(net, x)
    bn = net[3]  # flatten, linear, act, BN
    with torch.no_grad():
        h = net[2](net[1](net[0](x)))
    torch.testing.assert_close(bn.running_mean, h.mean(0), rtol=1e-5, atol=1e-6)
    assert not net.training
