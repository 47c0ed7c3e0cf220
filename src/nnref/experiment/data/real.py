"""Real data sets: scikit-learn's 8x8 digits, MNIST-1D (generated locally), MNIST from IDX."""

from __future__ import annotations

import gzip
import logging
import struct
from pathlib import Path

import numpy as np
import torch

from nnref.experiment.data.base import TensorData
from nnref.experiment.errors import check, is_int

__all__ = ["Digits", "MNIST1D", "IDXImages", "read_idx", "IDX_FILES"]

log = logging.getLogger(__name__)

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
# IDX type codes (third byte of the magic number) -> numpy dtype, big-endian
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4",
               0x0E: ">f8"}


def read_idx(path: str | Path) -> torch.Tensor:
    """Read one IDX file (the MNIST format; ``.gz`` is decompressed on the fly).

    Layout: 2 zero bytes, a type code, the number of dims ``d``, ``d`` big-endian uint32
    sizes, then the data in row-major order.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number)")
    ndim = raw[3]
    shape = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=_IDX_DTYPES[raw[2]], offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header says shape {shape}, file holds {data.size} values")
    return torch.from_numpy(data.reshape(shape).astype(np.float32 if raw[2] >= 0x0D else
                                                       np.int64))


class Digits(TensorData):
    """scikit-learn's bundled 8x8 handwritten digits (1797 samples, 10 classes), inputs of
    shape ``(1, 8, 8)``. Nothing is downloaded."""

    def load(self):
        # scikit-learn's own file, read as load_digits reads it (64 pixels, then the label),
        # without importing scikit-learn: its import takes seconds, and a config is checked
        # before anything heavy loads
        import importlib.util

        [pkg] = importlib.util.find_spec("sklearn").submodule_search_locations
        table = np.loadtxt(Path(pkg) / "datasets" / "data" / "digits.csv.gz", delimiter=",",
                           dtype=np.float32)
        x = torch.from_numpy(table[:, :-1].copy()).reshape(-1, 1, 8, 8)
        return x, torch.from_numpy(table[:, -1].astype(np.int64))


class MNIST1D(TensorData):
    """MNIST-1D (Greydanus 2020): 10 classes of 40-sample 1-D signals, inputs ``(1, 40)``.

    Generated with the ``mnist1d`` package's own generator (never downloaded) and cached as
    ``<data_dir>/mnist1d/mnist1d_<num_samples>_<gen_seed>.pt``; the package's 80/20 train/test
    split is kept.
    """

    def __init__(self, num_samples: int = 5000, gen_seed: int = 42, **kwargs) -> None:
        check("num_samples", num_samples, is_int(num_samples) and num_samples >= 10,
              "an integer >= 10")
        super().__init__(**kwargs)
        self.num_samples, self.gen_seed = num_samples, gen_seed

    @property
    def cache_path(self) -> Path:
        return Path(self.data_dir) / "mnist1d" / f"mnist1d_{self.num_samples}_{self.gen_seed}.pt"

    def prepare_data(self) -> None:
        if self.cache_path.exists():
            return
        from mnist1d.data import get_dataset_args, make_dataset

        args = get_dataset_args()
        args.num_samples, args.seed = self.num_samples, self.gen_seed
        log.info("generating MNIST-1D (%d samples) into %s", self.num_samples, self.cache_path)
        d = make_dataset(args)
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.cache_path.with_suffix(".tmp")
        torch.save({k: torch.as_tensor(d[k]) for k in ("x", "y", "x_test", "y_test")}, tmp)
        tmp.replace(self.cache_path)  # atomic, so parallel jobs never read half a file

    def load(self):
        self.prepare_data()
        d = torch.load(self.cache_path)
        f = torch.float32
        return ((d["x"].to(f).unsqueeze(1), d["y"].long()),
                (d["x_test"].to(f).unsqueeze(1), d["y_test"].long()))


class IDXImages(TensorData):
    """MNIST or Fashion-MNIST read from the four IDX files in ``root`` (plain or ``.gz``);
    pixels scaled to [0, 1], inputs ``(1, 28, 28)``. Nothing is downloaded: a missing file is
    a ``FileNotFoundError`` naming it and the directory searched.
    """

    def __init__(self, root: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.root = root

    def files(self) -> dict[str, Path]:
        root = Path(self.root) if self.root else Path(self.data_dir)
        found, missing = {}, []
        for key, stem in IDX_FILES.items():
            for name in (stem, stem + ".gz"):
                if (root / name).is_file():
                    found[key] = root / name
                    break
            else:
                missing.append(stem)
        if missing:
            raise FileNotFoundError(
                f"data.root={str(root)!r} is missing IDX file(s) {', '.join(missing)} "
                "(plain or .gz); download them and point data.root at their directory")
        return found

    def prepare_data(self) -> None:
        self.files()

    def load(self):
        f = self.files()
        scale = lambda t: (t.float() / 255.0).unsqueeze(1)  # noqa: E731
        return ((scale(read_idx(f["train_images"])), read_idx(f["train_labels"])),
                (scale(read_idx(f["test_images"])), read_idx(f["test_labels"])))
