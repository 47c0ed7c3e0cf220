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


def test_a_shallow_batch_norm_net_learns_the_digits():
    r = _script().run("relu", "he", depth=3, lr=0.03, seed=0)
    assert r["test_acc"] > 0.9 and r["val_loss"] < 0.5, r
