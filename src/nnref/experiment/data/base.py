"""In-memory data sets: tensors on the device, batched by shuffled index.

The data sets of the experiments are small (at most tens of thousands of samples), so the whole
set lives on the training device and a batch is one fancy-indexing op. A ``DataLoader`` with a
per-sample ``collate_fn`` would spend more time than the model on an 8x8 MLP.

Nothing here imports Lightning: a config's data values are validated, and its shapes known,
before Lightning loads (:mod:`nnref.experiment.lit` wraps a :class:`TensorData` into a
LightningDataModule for training).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from nnref.experiment.errors import check, is_int, is_number

__all__ = ["IndexBatches", "TensorData", "TASKS", "parse_batch_size"]

TASKS = ("multiclass", "binary", "multilabel", "regression")


def parse_batch_size(batch_size: int | str, n: int) -> int:
    """``"full"`` means the whole training set (batch gradient descent), ``1`` is SGD."""
    if batch_size == "full":
        return n
    check("batch_size", batch_size, is_int(batch_size) and batch_size >= 1,
          "a positive integer or 'full'")
    return min(batch_size, n)


class IndexBatches:
    """Iterable of ``(x[idx], y[idx])`` batches over tensors that already sit on the device.

    Each pass draws a fresh permutation from its own generator (seeded, so a run is
    repeatable), optionally keeps only this process's shard (``rank::world_size``, truncated so
    every rank takes the same number of steps, as ``DistributedSampler(drop_last=True)``), and
    applies augmentation to training batches.

    Args:
        x, y: inputs and targets, first dim = samples.
        batch_size: samples per batch; the last batch may be smaller unless ``drop_last``.
        shuffle: draw a new order each pass.
        seed: seed of the shuffling generator (unless ``generator`` is given).
        generator: the generator to draw orders and augmentation from, shared with the
            caller (so its state can be saved and restored between passes).
        rank, world_size: shard for distributed training.
        augment: callable ``(x_batch, generator) -> x_batch`` applied per batch, or ``None``.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, shuffle: bool = False,
                 seed: int = 0, rank: int = 0, world_size: int = 1, drop_last: bool = False,
                 augment=None, generator: torch.Generator | None = None) -> None:
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.shuffle, self.drop_last, self.augment = shuffle, drop_last, augment
        self.rank, self.world_size = rank, world_size
        self.generator = generator if generator is not None else torch.Generator().manual_seed(
            seed)
        self.per_rank = len(x) // world_size if world_size > 1 else len(x)

    def __len__(self) -> int:
        if self.drop_last:
            return self.per_rank // self.batch_size
        return math.ceil(self.per_rank / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.x)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        if self.world_size > 1:
            order = order[self.rank::self.world_size][: self.per_rank]
        order = order.to(self.x.device)
        for b in range(len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            x = self.x[idx]
            if self.augment is not None:
                x = self.augment(x, self.generator)
            yield x, self.y[idx]


class TensorData:
    """In-memory tensors with train/val/test splits, served as :class:`IndexBatches`.

    Subclasses implement :meth:`load` returning ``(x, y)`` (all samples, CPU tensors) or
    ``((x_train, y_train), (x_test, y_test))`` when the data set comes with its own test split.
    This class then splits off validation (and test) sets with a seeded permutation, optionally
    subsamples the training set, standardises inputs with the training statistics (per
    feature; constant features are left unscaled), and serves :class:`IndexBatches`.

    Args:
        batch_size: int or ``"full"``. Default: 64.
        val_fraction / test_fraction: shares of the samples held out (``test_fraction`` is
            ignored when the data set has its own test split).
        subsample: keep only this many training samples (overfitting studies), or ``None``.
        standardize: standardise inputs (and regression targets' inputs). Default: ``True``.
        noise: std of Gaussian noise added to training inputs per batch (augmentation / the
            notes' noise injection on inputs). Default: 0.
        shift: maximum circular shift (in samples/pixels along the last dim) of training
            inputs per batch (augmentation). Default: 0.
        shuffle: draw a new order of the training set every epoch. ``False``: the loaded
            order every epoch, as a loop that walks a fixed array. Default: ``True``.
        seed: seed of the split, the subsample, shuffling and augmentation.
        data_dir: where data sets that need files find or cache them.
    """

    task: str = "multiclass"

    def __init__(self, batch_size: int | str = 64, val_fraction: float = 0.15,
                 test_fraction: float = 0.15, subsample: int | None = None,
                 standardize: bool = True, noise: float = 0.0, shift: int = 0, seed: int = 0,
                 data_dir: str = "data", shuffle: bool = True) -> None:
        for key, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
            check(key, value, is_number(value) and 0.0 <= value < 1.0, "in [0, 1)")
        check("test_fraction", test_fraction, val_fraction + test_fraction < 1.0,
              f"< 1 - val_fraction = {1 - val_fraction:g}")
        check("subsample", subsample, subsample is None or (is_int(subsample) and subsample >= 1),
              "a positive integer or null")
        check("noise", noise, is_number(noise) and noise >= 0, ">= 0")
        check("shift", shift, is_int(shift) and shift >= 0, "an integer >= 0")
        if batch_size != "full":
            parse_batch_size(batch_size, 1)
        self.batch_size = batch_size
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.subsample, self.standardize = subsample, standardize
        check("shuffle", shuffle, isinstance(shuffle, bool), "true or false")
        self.noise, self.shift, self.seed, self.shuffle = noise, shift, seed, shuffle
        self.data_dir = str(data_dir)
        self.splits: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._train_generator: torch.Generator | None = None

    # -- to implement -------------------------------------------------------------------------
    def load(self):
        raise NotImplementedError

    @property
    def num_outputs(self) -> int:
        """Output units the model needs (classes, labels, targets; 1 for binary)."""
        self.setup()
        y = self.splits["train"][1]
        if self.task == "multiclass":
            return int(self.num_classes)
        return 1 if y.dim() == 1 else int(y.shape[1])

    @property
    def input_shape(self) -> tuple[int, ...]:
        self.setup()
        return tuple(self.splits["train"][0].shape[1:])

    # -- splits and batches -------------------------------------------------------------------
    def prepare_data(self) -> None:
        """Nothing to fetch: every data set is bundled, generated or read from ``data_dir``."""

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        g = torch.Generator().manual_seed(self.seed)
        loaded = self.load()
        if isinstance(loaded[0], tuple):
            (x, y), test = loaded
            n_val = round(len(x) * self.val_fraction)
            perm = torch.randperm(len(x), generator=g)
            train, val = (x[perm[n_val:]], y[perm[n_val:]]), (x[perm[:n_val]], y[perm[:n_val]])
        else:
            x, y = loaded
            perm = torch.randperm(len(x), generator=g)
            n_val = round(len(x) * self.val_fraction)
            n_test = round(len(x) * self.test_fraction)
            val_i, test_i = perm[:n_val], perm[n_val:n_val + n_test]
            train_i = perm[n_val + n_test:]
            train, val, test = ((x[i], y[i]) for i in (train_i, val_i, test_i))
        if self.task == "multiclass":
            self.num_classes = int(torch.cat([train[1], val[1], test[1]]).max()) + 1
        if self.subsample is not None:
            train = (train[0][: self.subsample], train[1][: self.subsample])
        if self.standardize:
            mean = train[0].mean(0, keepdim=True)
            std = train[0].std(0, keepdim=True)
            std = torch.where(std > 1e-8, std, torch.ones_like(std))
            train, val, test = (((s[0] - mean) / std, s[1]) for s in (train, val, test))
        self.splits = {"train": train, "val": val, "test": test}

    def to_device(self, device: torch.device | str) -> None:
        """Move every split to ``device`` once, so batches are sliced where the model is."""
        self.setup()
        self.splits = {k: (x.to(device), y.to(device)) for k, (x, y) in self.splits.items()}

    def _augment(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.shift:
            k = int(torch.randint(-self.shift, self.shift + 1, (), generator=generator))
            x = torch.roll(x, k, dims=-1)
        if self.noise:
            x = x + self.noise * torch.randn(x.shape, generator=generator).to(x)
        return x

    def loader(self, split: str, train: bool, rank: int = 0,
               world_size: int = 1) -> IndexBatches:
        """Batches of ``split`` (``train``: shuffled, augmented, the configured batch size;
        evaluation: in order, at least 1024 at a time), this process's shard of them."""
        self.setup()
        x, y = self.splits[split]
        n = len(x) // world_size
        bs = parse_batch_size(self.batch_size, max(n, 1)) if train else max(
            parse_batch_size(self.batch_size, max(n, 1)), min(n, 1024))
        augment = self._augment if train and (self.noise or self.shift) else None
        if train:
            # one generator for every training pass, kept across a resume (state_dict)
            if self._train_generator is None:
                self._train_generator = torch.Generator().manual_seed(self.seed)
            generator = self._train_generator
        else:
            generator = torch.Generator().manual_seed(self.seed)
        return IndexBatches(x, y, bs, shuffle=train and self.shuffle, generator=generator,
                            rank=rank,
                            world_size=world_size, augment=augment)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The training order's random state: a resumed run draws the batches the
        uninterrupted run would have drawn."""
        if self._train_generator is None:
            return {}
        return {"train_generator": self._train_generator.get_state()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        if "train_generator" in state:
            self._train_generator = torch.Generator()
            self._train_generator.set_state(state["train_generator"])
