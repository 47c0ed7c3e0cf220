"""The Lightning face of a :class:`~nnref.experiment.data.TensorData`.

The data sets themselves import torch alone, so a config is validated before Lightning loads;
training wraps one in :class:`DataModule`, which shards its batches by the trainer's rank and
keeps its random state in checkpoints.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch

from nnref.experiment.data import IndexBatches, TensorData

__all__ = ["DataModule"]


class DataModule(L.LightningDataModule):
    """``data`` as a LightningDataModule: its splits as loaders, this process's shard under a
    distributed strategy, its training order saved and restored with the checkpoint.

    Example::

        >>> from nnref.experiment.data import Digits
        >>> dm = DataModule(Digits(batch_size=64))
        >>> dm.input_shape, dm.num_outputs, dm.task
        ((1, 8, 8), 10, 'multiclass')
    """

    def __init__(self, data: TensorData) -> None:
        super().__init__()
        self.data = data

    def __getattr__(self, name: str) -> Any:
        # shapes, task, splits, to_device ...: the data set's own; Lightning's attributes and
        # this class's come first (``__getattr__`` runs only for names not found on self)
        if name == "data":
            raise AttributeError(name)
        return getattr(self.data, name)

    def _shard(self) -> tuple[int, int]:
        trainer = self.trainer
        if trainer is not None and trainer.world_size > 1:
            return trainer.global_rank, trainer.world_size
        return 0, 1

    def prepare_data(self) -> None:
        self.data.prepare_data()

    def setup(self, stage: str | None = None) -> None:
        self.data.setup(stage)

    def train_dataloader(self) -> IndexBatches:
        return self.data.loader("train", True, *self._shard())

    def val_dataloader(self) -> IndexBatches:
        return self.data.loader("val", False, *self._shard())

    def test_dataloader(self) -> IndexBatches:
        return self.data.loader("test", False, *self._shard())

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.data.state_dict()

    def load_state_dict(self, state_dict: dict[str, torch.Tensor]) -> None:
        self.data.load_state_dict(state_dict)
