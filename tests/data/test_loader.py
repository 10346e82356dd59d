"""Sharding, determinism, paddle output and corrupt-file behaviour of the training loader."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from faceid.data.batch_reader import PythonBatchReader
from faceid.data.dataset import FaceDataset
from faceid.data.images import CorruptImageError
from faceid.data.loader import FaceLoader, shard_indices


@pytest.mark.parametrize("world_size", [1, 2, 3, 4])
@pytest.mark.parametrize("num_samples", [96, 101])
def test_shards_are_disjoint_and_complete(world_size: int, num_samples: int) -> None:
    batch = 8
    shards = [shard_indices(num_samples, batch, rank=r, world_size=world_size, seed=3) for r in range(world_size)]
    sizes = {len(s) for s in shards}
    assert len(sizes) == 1 and sizes.pop() % batch == 0  # same whole number of batches everywhere
    union = np.concatenate(shards)
    assert len(np.unique(union)) == len(union)  # disjoint
    assert len(union) == (num_samples // (batch * world_size)) * batch * world_size
    padded = [
        shard_indices(num_samples, batch, rank=r, world_size=world_size, drop_last=False) for r in range(world_size)
    ]
    assert set(np.concatenate(padded).tolist()) == set(range(num_samples))  # complete
    assert len({len(s) for s in padded}) == 1


def test_shuffle_depends_on_seed_and_epoch_only() -> None:
    a = shard_indices(1000, 10, seed=1, epoch=0)
    assert np.array_equal(a, shard_indices(1000, 10, seed=1, epoch=0))
    assert not np.array_equal(a, shard_indices(1000, 10, seed=1, epoch=1))
    assert not np.array_equal(a, shard_indices(1000, 10, seed=2, epoch=0))
    assert np.array_equal(shard_indices(20, 4, shuffle=False), np.arange(20))


def test_shard_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match=r"rank must be in \[0, 2\), got 2"):
        shard_indices(10, 2, rank=2, world_size=2)
    with pytest.raises(ValueError, match="batch_size must be positive"):
        shard_indices(10, 0)


@pytest.fixture()
def train_root(tmp_path: Path, small_dataset: Path) -> Path:
    """small_dataset copied three times over: 30 images, 10 classes, label.txt written by hand."""
    (tmp_path / "images").mkdir()
    lines = []
    for source in sorted((small_dataset / "images").glob("*.jpg")):
        label = len(lines) % 10
        for copy in range(3):
            name = f"images/{source.stem}_{copy}.jpg"
            shutil.copy(source, tmp_path / name)
            lines.append(f"{name}\t{label}")
    (tmp_path / "label.txt").write_text("\n".join(lines))
    return tmp_path


def _epoch(loader: FaceLoader) -> tuple[np.ndarray, np.ndarray]:
    images, labels = zip(*[(x.copy(), y.copy()) for x, y in loader], strict=False)
    return np.concatenate(images), np.concatenate(labels)


def test_loader_batches_are_reproducible_and_backend_independent(train_root: Path) -> None:
    dataset = FaceDataset.from_folder(train_root)
    assert len(dataset) == 30 and dataset.num_classes == 10
    make = lambda backend: FaceLoader(dataset, 8, seed=5, backend=backend, to_tensor=False)  # noqa: E731
    native_images, native_labels = _epoch(make("native"))
    python_images, python_labels = _epoch(make("python"))
    assert native_images.shape == (24, 3, 112, 112)  # drop_last: 3 batches of 8
    assert native_images.tobytes() == python_images.tobytes()
    assert np.array_equal(native_labels, python_labels)
    order = shard_indices(30, 8, seed=5)
    assert np.array_equal(native_labels, dataset.labels[order])
    again = make("native")
    assert _epoch(again)[0].tobytes() == native_images.tobytes()
    again.set_epoch(1)
    assert _epoch(again)[0].tobytes() != native_images.tobytes()


def test_iterate_from_a_batch_resumes_the_epoch_exactly(train_root: Path) -> None:
    loader = FaceLoader(FaceDataset.from_folder(train_root), 4, seed=2, to_tensor=False, prefetch=1)
    loader.set_epoch(3)
    full = [(x.copy(), y.copy()) for x, y in loader]
    tail = [(x.copy(), y.copy()) for x, y in loader.iterate(start_batch=5)]
    assert len(full) == 7 and len(tail) == 2
    for (x, y), (tx, ty) in zip(full[5:], tail, strict=False):
        assert x.tobytes() == tx.tobytes() and np.array_equal(y, ty)
    assert list(loader.iterate(start_batch=7)) == []
    with pytest.raises(ValueError, match=r"start_batch must lie in \[0, 7\], got 8"):
        next(loader.iterate(start_batch=8))


def test_global_batches_and_flips_do_not_depend_on_the_world_size(train_root: Path) -> None:
    dataset = FaceDataset.from_folder(train_root)
    one = [(x.copy(), y.copy()) for x, y in FaceLoader(dataset, 6, seed=4, to_tensor=False)]
    ranks = [
        [(x.copy(), y.copy()) for x, y in FaceLoader(dataset, 2, rank=r, world_size=3, seed=4, to_tensor=False)]
        for r in range(3)
    ]
    assert len(one) == 5 and all(len(batches) == 5 for batches in ranks)
    for k, (images, labels) in enumerate(one):
        assert np.concatenate([ranks[r][k][0] for r in range(3)]).tobytes() == images.tobytes()
        assert np.array_equal(np.concatenate([ranks[r][k][1] for r in range(3)]), labels)


def test_loader_yields_paddle_tensors(train_root: Path) -> None:
    import paddle

    loader = FaceLoader(FaceDataset.from_folder(train_root), 4, world_size=2, rank=1, dtype="float16")
    assert len(loader) == 3  # 30 // (4 * 2) batches per rank
    batches = list(loader)
    assert len(batches) == 3
    images, labels = batches[0]
    assert isinstance(images, paddle.Tensor) and images.shape == [4, 3, 112, 112]
    assert images.dtype == paddle.float16 and labels.dtype == paddle.int64
    assert np.abs(images.numpy().astype(np.float32)).max() <= 1.0  # no float16 kernels on CPU


def test_corrupt_file_raises_with_its_path(train_root: Path) -> None:
    bad = train_root / "images" / "00000001_0.jpg"
    bad.write_bytes(bad.read_bytes()[:500])
    loader = FaceLoader(FaceDataset.from_folder(train_root), 30, drop_last=False, to_tensor=False)
    with pytest.raises(CorruptImageError, match=r"00000001_0\.jpg"):
        list(loader)


def test_skip_corrupt_substitutes_and_reports_once(train_root: Path, caplog: pytest.LogCaptureFixture) -> None:
    bad = train_root / "images" / "00000001_0.jpg"
    bad.write_bytes(b"garbage")
    dataset = FaceDataset.from_folder(train_root)
    loader = FaceLoader(dataset, 10, drop_last=False, skip_corrupt=True, to_tensor=False, seed=1)
    with caplog.at_level(logging.WARNING, logger="faceid.data.loader"):
        for epoch in range(2):
            loader.set_epoch(epoch)
            images, labels = _epoch(loader)
            assert len(images) == 30 and np.isfinite(images).all()
            assert np.abs(images).max() <= 1.0
    reports = [r for r in caplog.records if "00000001_0.jpg" in r.getMessage()]
    assert len(reports) == 1
    # Every slot holds a good file's decoding (flipped or not), labelled with that file's label.
    good = [i for i, p in enumerate(dataset.paths) if p != str(bad)]
    reference = {}
    for flip in (0, 1):
        out = np.empty((len(good), 3, 112, 112), np.float32)
        PythonBatchReader(dataset.paths).submit(np.array(good), np.full(len(good), flip), out).wait()
        reference.update({out[k].tobytes(): dataset.labels[i] for k, i in enumerate(good)})
    assert all(reference[image.tobytes()] == label for image, label in zip(images, labels, strict=False))


def test_synthetic_mode_needs_no_files() -> None:
    dataset = FaceDataset.synthetic_set(64, num_classes=7, seed=0)
    loader = FaceLoader(dataset, 16, to_tensor=False)
    images, labels = _epoch(loader)
    assert images.shape == (64, 3, 112, 112) and images.dtype == np.float32
    assert labels.max() < 7 and images.min() >= -1.0 and images.max() <= 1.0
    assert images.std() > 0.4  # random pixels, not a constant
