"""nnref.experiment.data: splits, standardisation, batching by index, augmentation, IDX,
MNIST-1D cache."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import torch

from nnref.experiment.data import (
    CLASSIFICATION,
    IDX_FILES,
    MNIST1D,
    REGRESSION,
    Digits,
    IDXImages,
    IndexBatches,
    Regression1D,
    ToyClassification,
    parse_batch_size,
    read_idx,
)


def build_datamodule(name, **kwargs):
    cls = ToyClassification if name in CLASSIFICATION else Regression1D
    return cls(name, **kwargs)


@pytest.mark.parametrize("name", CLASSIFICATION + REGRESSION)
def test_synthetic_sets(name):
    dm = build_datamodule(name, n_samples=200, batch_size=16)
    dm.setup()
    x, y = dm.splits["train"]
    assert len(x) == 200 - 30 - 30
    assert x.shape[1] == (1 if name in REGRESSION else 2)
    torch.testing.assert_close(x.mean(0), torch.zeros(x.shape[1]), atol=1e-5, rtol=0)
    torch.testing.assert_close(x.std(0), torch.ones(x.shape[1]))
    if dm.task == "multiclass":
        assert y.dtype == torch.long and dm.num_outputs == int(y.max()) + 1
    else:
        assert y.shape == (len(x), 1) and y.dtype == torch.float32


def test_xor_and_regression_targets_follow_their_formula():
    dm = build_datamodule("xor", n_samples=100, standardize=False, noise_std=0.0)
    dm.setup()
    x, y = dm.splits["train"]
    torch.testing.assert_close(y[:, 0], ((x[:, 0] > 0) ^ (x[:, 1] > 0)).float())
    dm = build_datamodule("sine", n_samples=100, standardize=False, noise_std=0.0)
    dm.setup()
    x, y = dm.splits["train"]
    torch.testing.assert_close(y, torch.sin(np.pi * x))


def test_digits_split_seed_and_subsample():
    a, b, c = Digits(seed=0), Digits(seed=0), Digits(seed=1)
    for dm in (a, b, c):
        dm.setup()
    assert a.input_shape == (1, 8, 8) and a.num_outputs == 10
    sizes = [len(a.splits[s][0]) for s in ("train", "val", "test")]
    assert sum(sizes) == 1797 and sizes[1] == sizes[2] == round(1797 * 0.15)
    assert torch.equal(a.splits["val"][0], b.splits["val"][0])
    assert not torch.equal(a.splits["val"][1], c.splits["val"][1])
    small = Digits(subsample=100)
    small.setup()
    assert len(small.splits["train"][0]) == 100


def test_index_batches_cover_every_sample_once_per_pass():
    x = torch.arange(50.0).reshape(-1, 1)
    loader = IndexBatches(x, x.clone(), batch_size=8, shuffle=True, seed=3)
    assert len(loader) == 7
    for _ in range(2):
        seen = torch.cat([b for b, _ in loader])
        assert torch.equal(seen.sort(0).values, x)
    first, second = (torch.cat([b for b, _ in loader]) for _ in range(2))
    assert not torch.equal(first, second)  # a fresh order each epoch


def test_index_batches_shard_for_distributed_training():
    x = torch.arange(11.0).reshape(-1, 1)
    shards = [torch.cat([b for b, _ in IndexBatches(x, x, 2, shuffle=True, seed=0, rank=r,
                                                      world_size=2)]) for r in range(2)]
    assert len(shards[0]) == len(shards[1]) == 5
    assert not set(shards[0].flatten().tolist()) & set(shards[1].flatten().tolist())


@pytest.mark.parametrize("bs, batches", [("full", 1), (1, 1257), (100, 13)])
def test_batch_size_full_and_stochastic(bs, batches):
    dm = Digits(batch_size=bs)
    loader = dm.loader("train", True)
    assert len(loader) == batches
    assert len(next(iter(loader))[0]) == min(parse_batch_size(bs, 1257), 1257)


@pytest.mark.parametrize("kwargs, match", [
    ({"batch_size": 0}, "batch_size"), ({"batch_size": "half"}, "batch_size"),
    ({"val_fraction": 1.2}, "val_fraction"), ({"subsample": 0}, "subsample"),
    ({"noise": -1.0}, "noise"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Digits(**kwargs)
    with pytest.raises(ValueError, match=r"name='circle' is not valid; choose one of: .*spirals"
                                         r".*\(did you mean 'circles'\?\)"):
        ToyClassification("circle")
    with pytest.raises(ValueError, match=r"name='cifar' is not valid; .*polynomial"):
        Regression1D("cifar")


def test_augmentation_noise_and_shift_only_in_training():
    dm = build_datamodule("sine", n_samples=40, batch_size="full", noise=0.5, shift=0)
    xb, _ = next(iter(dm.loader("train", True)))
    x = dm.splits["train"][0]
    assert not torch.allclose(xb.sort(0).values, x.sort(0).values)
    xv, _ = next(iter(dm.loader("val", False)))
    torch.testing.assert_close(xv, dm.splits["val"][0])
    rolled = Digits(shift=2)
    x = torch.arange(12.0).reshape(2, 6)
    shifted = [rolled._augment(x, torch.Generator().manual_seed(s)) for s in range(20)]
    candidates = [torch.roll(x, k, dims=-1) for k in range(-2, 3)]
    assert all(any(torch.equal(a, c) for c in candidates) for a in shifted)
    assert len({tuple(a[0].tolist()) for a in shifted}) > 1


def _write_idx(path, array, gz=False):
    codes = {np.uint8: 0x08}
    header = bytes([0, 0, codes[array.dtype.type], array.ndim]) + struct.pack(
        f">{array.ndim}I", *array.shape)
    data = header + array.tobytes()
    (gzip.open if gz else open)(path, "wb").write(data)


def _fake_mnist(root, gz):
    rng = np.random.default_rng(0)
    images = {k: rng.integers(0, 256, (n, 28, 28), dtype=np.uint8) for k, n in
              (("train_images", 30), ("test_images", 10))}
    labels = {k: rng.integers(0, 10, n, dtype=np.uint8) for k, n in
              (("train_labels", 30), ("test_labels", 10))}
    for key, arr in {**images, **labels}.items():
        _write_idx(root / (IDX_FILES[key] + (".gz" if gz else "")), arr, gz)
    return images, labels


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_plain_and_gz(tmp_path, gz):
    images, labels = _fake_mnist(tmp_path, gz)
    suffix = ".gz" if gz else ""
    got = read_idx(tmp_path / (IDX_FILES["train_images"] + suffix))
    assert torch.equal(got, torch.from_numpy(images["train_images"].astype(np.int64)))
    dm = IDXImages(root=str(tmp_path), val_fraction=0.2, standardize=False)
    dm.setup()
    assert dm.input_shape == (1, 28, 28)
    assert len(dm.splits["train"][0]) == 24 and len(dm.splits["test"][0]) == 10
    assert float(dm.splits["test"][0].max()) <= 1.0


def test_missing_idx_files_are_named(tmp_path):
    _fake_mnist(tmp_path, gz=False)
    (tmp_path / IDX_FILES["test_labels"]).unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte") as e:
        IDXImages(root=str(tmp_path)).prepare_data()
    assert "train-images" not in str(e.value) and "\n" not in str(e.value)
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="magic"):
        read_idx(tmp_path / "bad")


def test_mnist1d_is_generated_once_and_cached(tmp_path, monkeypatch):
    dm = MNIST1D(num_samples=100, data_dir=str(tmp_path))
    dm.setup()
    assert dm.cache_path.is_file() and dm.input_shape == (1, 40) and dm.num_outputs == 10
    assert len(dm.splits["test"][0]) == 20  # the package's own 80/20 split
    import mnist1d.data

    def fail(*a, **k):
        raise AssertionError("regenerated instead of reading the cache")

    monkeypatch.setattr(mnist1d.data, "make_dataset", fail)
    again = MNIST1D(num_samples=100, data_dir=str(tmp_path))
    again.setup()
    assert torch.equal(again.splits["train"][0], dm.splits["train"][0])
