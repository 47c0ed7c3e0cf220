"""nnref: deep-learning building blocks written out by hand and proven equal to torch.

The library imports without Lightning or Hydra. Submodules mirror ``torch.nn``:
``nnref.activations`` (and, as they land, losses, init, dropout, normalization, optim,
recurrent).
"""

from nnref import (
    activations,
    dropout,
    init,
    losses,
    normalization,
    optim,
    recurrent,
    registry,
    regularization,
)
from nnref.fusion import fused

__all__ = [
    "activations", "dropout", "init", "losses", "normalization", "optim", "recurrent", "registry",
    "regularization", "fused",
]
__version__ = "0.1.0"
