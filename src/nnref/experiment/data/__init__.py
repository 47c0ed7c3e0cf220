"""LightningDataModules for the experiments (needs the ``sweeps`` extra: Lightning).

``build_datamodule(name, **kwargs)`` maps a config name to its module:

- 2-D classification toys ``moons``, ``circles``, ``xor`` (binary), ``spirals``, ``blobs``;
- 1-D regression ``sine``, ``abs``, ``step``, ``polynomial``;
- ``digits`` (scikit-learn's 8x8 digits), ``mnist1d`` (generated and cached locally),
  ``mnist`` / ``fashion_mnist`` (IDX files in ``root``).

All keep the whole set on the device and batch by shuffled index (:class:`IndexBatches`).
"""

from __future__ import annotations

from nnref.experiment.data.base import TASKS, IndexBatches, TensorDataModule, parse_batch_size
from nnref.experiment.data.real import IDX_FILES, MNIST1D, Digits, IDXImages, read_idx
from nnref.experiment.data.synthetic import CLASSIFICATION, REGRESSION, Regression1D, ToyClassification

__all__ = [
    "TASKS", "IndexBatches", "TensorDataModule", "parse_batch_size", "IDX_FILES", "MNIST1D",
    "Digits", "IDXImages", "read_idx", "CLASSIFICATION", "REGRESSION", "Regression1D",
    "ToyClassification", "DATASETS", "build_datamodule",
]

DATASETS = CLASSIFICATION + REGRESSION + ("digits", "mnist1d", "mnist", "fashion_mnist")


def build_datamodule(name: str, **kwargs) -> TensorDataModule:
    """The data module for config name ``name``; ``kwargs`` go to its constructor."""
    if name in CLASSIFICATION:
        return ToyClassification(name, **kwargs)
    if name in REGRESSION:
        return Regression1D(name, **kwargs)
    if name == "digits":
        return Digits(**kwargs)
    if name == "mnist1d":
        return MNIST1D(**kwargs)
    if name in ("mnist", "fashion_mnist"):
        return IDXImages(**kwargs)
    raise ValueError(f"data.name must be one of {', '.join(DATASETS)}, got {name!r}")
