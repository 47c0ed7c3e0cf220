"""Data sets for the experiments, torch alone (training wraps them in
:class:`nnref.experiment.lit.DataModule`).

- :class:`ToyClassification`: 2-D toys ``moons``, ``circles``, ``xor`` (binary), ``spirals``,
  ``blobs``;
- :class:`Regression1D`: 1-D regression ``sine``, ``abs``, ``step``, ``polynomial``;
- :class:`Digits` (scikit-learn's 8x8 digits), :class:`MNIST1D` (generated and cached locally),
  :class:`IDXImages` (MNIST / Fashion-MNIST IDX files in ``root``).

Configs pick one by ``_target_`` (``conf/data/*.yaml``). All keep the whole set on the device
and batch by shuffled index (:class:`IndexBatches`).
"""

from __future__ import annotations

from nnref.experiment.data.base import TASKS, IndexBatches, TensorData, parse_batch_size
from nnref.experiment.data.real import IDX_FILES, MNIST1D, Digits, IDXImages, read_idx
from nnref.experiment.data.synthetic import (
    CLASSIFICATION,
    REGRESSION,
    Regression1D,
    ToyClassification,
)

__all__ = [
    "TASKS", "IndexBatches", "TensorData", "parse_batch_size", "IDX_FILES", "MNIST1D",
    "Digits", "IDXImages", "read_idx", "CLASSIFICATION", "REGRESSION", "Regression1D",
    "ToyClassification",
]
