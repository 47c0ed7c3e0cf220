"""Synthetic data sets: 2-D classification toys and 1-D regression targets, all seeded."""

from __future__ import annotations

import math

import torch

from nnref.experiment.data.base import TensorData
from nnref.experiment.errors import check, choice, is_int, is_number

__all__ = ["ToyClassification", "Regression1D", "SymbolRecall", "CLASSIFICATION", "REGRESSION"]

CLASSIFICATION = ("moons", "circles", "spirals", "blobs", "xor")
REGRESSION = ("sine", "abs", "step", "polynomial")


def _moons(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    # scikit-learn's make_moons: two interleaved half circles
    n0 = n // 2
    t0 = torch.rand(n0, generator=g) * math.pi
    t1 = torch.rand(n - n0, generator=g) * math.pi
    a = torch.stack([torch.cos(t0), torch.sin(t0)], 1)
    b = torch.stack([1 - torch.cos(t1), 0.5 - torch.sin(t1)], 1)
    return torch.cat([a, b]), torch.cat([torch.zeros(n0), torch.ones(n - n0)])


def _circles(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    n0 = n // 2
    t = torch.rand(n, generator=g) * 2 * math.pi
    r = torch.cat([torch.ones(n0), torch.full((n - n0,), 0.5)])
    return torch.stack([r * torch.cos(t), r * torch.sin(t)], 1), (r < 1).float()


def _spirals(n: int, g: torch.Generator, classes: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    y = torch.arange(n) % classes
    r = torch.rand(n, generator=g)
    t = 4.0 * r + y * (2 * math.pi / classes)
    return torch.stack([r * torch.cos(t), r * torch.sin(t)], 1), y


def _blobs(n: int, g: torch.Generator, classes: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    centers = torch.rand(classes, 2, generator=g) * 8 - 4
    y = torch.arange(n) % classes
    return centers[y] + 0.5 * torch.randn(n, 2, generator=g), y


def _xor(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.rand(n, 2, generator=g) * 2 - 1
    return x, ((x[:, 0] > 0) != (x[:, 1] > 0)).float()


_MAKERS = {"moons": _moons, "circles": _circles, "spirals": _spirals, "blobs": _blobs,
           "xor": _xor}


class ToyClassification(TensorData):
    """2-D classification toys: ``moons``, ``circles``, ``xor`` (binary) and ``spirals``,
    ``blobs`` (multiclass), with Gaussian input noise of std ``noise_std``.

    Binary sets have float targets of shape ``(N, 1)`` for a logit output and BCE.
    """

    def __init__(self, name: str = "moons", n_samples: int = 1000, noise_std: float = 0.1,
                 **kwargs) -> None:
        choice("name", name, CLASSIFICATION)
        check("n_samples", n_samples, is_int(n_samples) and n_samples >= 4, "an integer >= 4")
        check("noise_std", noise_std, is_number(noise_std) and noise_std >= 0, ">= 0")
        super().__init__(**kwargs)
        self.name, self.n_samples, self.noise_std = name, n_samples, noise_std
        self.task = "multiclass" if name in ("spirals", "blobs") else "binary"

    def load(self):
        g = torch.Generator().manual_seed(self.seed + 1)
        x, y = _MAKERS[self.name](self.n_samples, g)
        x = x + self.noise_std * torch.randn(x.shape, generator=g)
        return x, (y.long() if self.task == "multiclass" else y.reshape(-1, 1))


_TARGETS = {
    "sine": lambda x: torch.sin(math.pi * x),
    "abs": torch.abs,
    "step": lambda x: (x >= 0).to(x),
    "polynomial": lambda x: x ** 3 - 0.5 * x ** 2 - x,
}


class Regression1D(TensorData):
    r"""1-D regression :math:`y = f(x) + \epsilon`, :math:`x \sim U[-2, 2]`,
    :math:`\epsilon \sim N(0, \text{noise\_std}^2)`, for the universal-approximation study:
    ``sine`` (:math:`\sin \pi x`), ``abs``, ``step`` (:math:`[x \ge 0]`) and ``polynomial``
    (:math:`x^3 - x^2/2 - x`). Targets have shape ``(N, 1)``.
    """

    task = "regression"

    def __init__(self, name: str = "sine", n_samples: int = 1000, noise_std: float = 0.05,
                 **kwargs) -> None:
        choice("name", name, REGRESSION)
        check("n_samples", n_samples, is_int(n_samples) and n_samples >= 4, "an integer >= 4")
        check("noise_std", noise_std, is_number(noise_std) and noise_std >= 0, ">= 0")
        super().__init__(**kwargs)
        self.name, self.n_samples, self.noise_std = name, n_samples, noise_std

    def load(self):
        g = torch.Generator().manual_seed(self.seed + 1)
        x = torch.rand(self.n_samples, 1, generator=g) * 4 - 2
        y = _TARGETS[self.name](x) + self.noise_std * torch.randn(x.shape, generator=g)
        return x, y


class SymbolRecall(TensorData):
    r"""Copy a symbol over ``length`` steps: the memory task of the recurrent experiment.

    Each sample is a sequence of ``length`` one-hot vectors over ``symbols + 1`` channels: at
    :math:`t = 0` the symbol to remember, at :math:`t = 1 \dots T - 2` distractor symbols
    drawn from the same alphabet, at :math:`t = T - 1` the recall marker (the extra channel).
    The target is the first symbol, so a network must carry it through :math:`T - 1` steps
    while the distractors write over its state; chance accuracy is ``1 / symbols``. The
    gradient of the loss with respect to :math:`x_0` travels back through every step: the
    signal that vanishes or explodes in a plain RNN (Hochreiter 1991; Bengio et al. 1994).

    Args:
        length (int): :math:`T \ge 2`, the steps from the symbol to the recall. Default: 50
        symbols (int): alphabet size :math:`\ge 2`. Default: 8
        n_samples (int): sequences generated (then split). Default: 2000
        **kwargs: :class:`TensorData`'s (``standardize`` should stay ``False``: the inputs are
            one-hot).

    Shape: inputs :math:`(N, T, \text{symbols} + 1)`, integer targets :math:`(N)`.

    Example::

        >>> d = SymbolRecall(length=5, symbols=3, n_samples=10, standardize=False)
        >>> x, y = d.load()
        >>> x.shape, bool((x[:, 0, :3].argmax(-1) == y).all()), bool((x[:, -1, 3] == 1).all())
        (torch.Size([10, 5, 4]), True, True)
    """

    task = "multiclass"

    def __init__(self, length: int = 50, symbols: int = 8, n_samples: int = 2000,
                 **kwargs) -> None:
        check("length", length, is_int(length) and length >= 2, "an integer >= 2")
        check("symbols", symbols, is_int(symbols) and symbols >= 2, "an integer >= 2")
        check("n_samples", n_samples, is_int(n_samples) and n_samples >= 4, "an integer >= 4")
        super().__init__(**kwargs)
        self.length, self.symbols, self.n_samples = length, symbols, n_samples

    def load(self):
        g = torch.Generator().manual_seed(self.seed + 1)
        seq = torch.randint(0, self.symbols, (self.n_samples, self.length), generator=g)
        seq[:, -1] = self.symbols  # the recall marker
        x = torch.nn.functional.one_hot(seq, self.symbols + 1).float()
        return x, seq[:, 0].clone()
