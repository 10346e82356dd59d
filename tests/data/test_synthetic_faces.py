"""Synthetic face identities: determinism, files the loaders read, disjoint verification identities, difficulty."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from faceid.cli.main import main
from faceid.data import FaceDataset, FaceLoader
from faceid.data.label_file import read_label_file
from faceid.data.synthetic_faces import (
    VAL_IDENTITY_OFFSET,
    SyntheticFaces,
    encode_jpeg,
    verification_pairs,
    write_training_set,
)
from faceid.data.verification_set import load_verification_set
from faceid.eval import pixel_baseline_accuracy


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("synth")
    summary = write_training_set(root, num_identities=5, samples_per_identity=4, seed=3, val_pairs=12)
    return root, summary


def test_same_seed_identity_and_sample_give_the_same_pixels() -> None:
    image = SyntheticFaces(7).sample(3, 5)
    assert image.shape == (112, 112, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image, SyntheticFaces(7).sample(3, 5))
    params = SyntheticFaces(7).identity(3)
    np.testing.assert_array_equal(image, SyntheticFaces.render(params, SyntheticFaces(7).sample_rng(3, 5)))


def test_samples_identities_and_seeds_differ() -> None:
    generator = SyntheticFaces(0)
    base = generator.sample(0, 0).astype(np.int16)
    for other in (generator.sample(0, 1), generator.sample(1, 0), SyntheticFaces(1).sample(0, 0)):
        assert np.abs(base - other).mean() > 5
    first, second = generator.identity(0), generator.identity(1)
    assert first.face != second.face and first.eyes != second.eyes


def test_negative_indices_are_rejected() -> None:
    with pytest.raises(ValueError, match="identity index"):
        SyntheticFaces(0).identity(-1)
    with pytest.raises(ValueError, match="sample index"):
        SyntheticFaces(0).sample(0, -1)


def test_training_set_is_read_by_the_dataset_and_loader(written: tuple[Path, dict]) -> None:
    root, summary = written
    assert summary["num_images"] == 20 and summary["num_identities"] == 5
    entries = read_label_file(root / "label.txt")
    assert [entry.label for entry in entries] == [i for i in range(5) for _ in range(4)]
    assert all(entry.path.startswith("images/") and entry.path.endswith(".bin") for entry in entries)
    dataset = FaceDataset.from_folder(root)
    assert dataset.num_classes == 5 and len(dataset) == 20
    loader = FaceLoader(dataset, 4, to_tensor=False, shuffle=False)
    seen = []
    for images, labels in loader:
        assert images.shape == (4, 3, 112, 112) and np.isfinite(images).all()
        assert -1 <= images.min() < images.max() <= 1
        seen.extend(labels.tolist())
    assert sorted(seen) == sorted(dataset.labels.tolist())


def test_verification_set_mixes_pairs_of_unseen_identities(written: tuple[Path, dict]) -> None:
    root, summary = written
    verification = load_verification_set(root / "lfw.bin")
    assert len(verification) == 12 and summary["val_pairs"] == 12
    assert verification.issame.sum() == summary["val_genuine"] == 6
    assert not (verification.issame[:6].all() and not verification.issame[6:].any())  # shuffled, not in blocks
    first, stop = summary["val_identities"]
    assert first >= summary["train_identities"][1]
    pairs = verification_pairs(12, seed=3, identity_offset=first)
    assert [pair[4] for pair in pairs] == verification.issame.tolist()
    for a, _, b, _, same in pairs:
        assert first <= a < stop and first <= b < stop and (a == b) == same
    generator = SyntheticFaces(3)  # the same generator and nuisance distribution as the training images
    first_pair = encode_jpeg(generator.sample(*pairs[0][:2])), encode_jpeg(generator.sample(*pairs[0][2:4]))
    assert verification.pair(0)[:2] == first_pair
    decoded = cv2.imdecode(np.frombuffer(verification.images[0], np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == (112, 112, 3)


def test_overlapping_verification_identities_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="overlaps"):
        write_training_set(tmp_path, num_identities=5, samples_per_identity=1, val_pairs=4, val_identity_offset=3)


def test_raw_pixels_do_not_solve_verification() -> None:
    generator = SyntheticFaces(0)
    pairs = verification_pairs(200, seed=0, identity_offset=VAL_IDENTITY_OFFSET)
    first = np.stack([generator.sample(a, sa) for a, sa, _, _, _ in pairs])
    second = np.stack([generator.sample(b, sb) for _, _, b, sb, _ in pairs])
    issame = np.array([pair[4] for pair in pairs])
    assert issame.sum() == 100
    for options in ({}, {"size": 16, "gray": True}):
        accuracy = pixel_baseline_accuracy(first, second, issame, **options)
        assert accuracy < 0.85, f"raw-pixel cosine {options} verifies {accuracy:.3f} of the pairs: too easy"


def test_cli_synth_writes_a_jpg_set(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "synth"
    argv = ["data", "synth", "--output", str(out), "--identities", "3", "--samples", "2", "--val_pairs", "4"]
    argv += ["--format", "jpg", "--seed", "1", "--no_progress"]
    assert main(argv) == 0
    assert "num_image: 6" in capsys.readouterr().out
    assert sorted(path.name for path in (out / "images").iterdir())[:2] == ["000000_000.jpg", "000000_001.jpg"]
    assert len(load_verification_set(out / "lfw.bin")) == 4
    assert FaceDataset.from_folder(out).num_classes == 3
