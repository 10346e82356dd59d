"""Native tile preparation (``faceid.ops.detect.tile_batch``) against the OpenCV path (``tile_batch_reference``:
cv2.resize to uint8, crop, letterbox, normalise) and against a float64 numpy resampler written from the definitions
(area averaging as interval overlaps, bilinear with half-pixel centres). CI runs this file once more with
FACEID_FORCE_SCALAR=1 (the scalar kernels)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from faceid import _C
from faceid.ops.detect import _tile_plan, tile_batch, tile_batch_reference, tile_grid

# OpenCV rounds its resize to uint8 before normalising; tile_batch does not: at most one uint8 level apart.
ONE_LEVEL = 1 / 127.5 + 1e-5
# Against the float reference: OpenCV's area cells skip overlaps under 1e-3 of a pixel (tile_batch does the
# same, the reference does not), so up to 1e-3 * 255 / 127.5 apart, plus float32 rounding.
FLOAT_TOLERANCE = 2.5e-3

PHOTOS = ["faces/two_people.jpg", "gallery_dev/query/obama_and_biden.jpg", "faces/astronaut.png"]


def _area_matrix(src: int, dst: int) -> np.ndarray:
    """(dst, src) weights: output cell d spans [d * src / dst, (d + 1) * src / dst); each source pixel [s, s + 1)
    weighs its overlap with the cell, normalised."""
    edges = np.arange(dst + 1) * (src / dst)
    low, high = edges[:-1, None], np.minimum(edges[1:, None], src)
    pixels = np.arange(src)[None, :]
    overlap = np.clip(np.minimum(pixels + 1, high) - np.maximum(pixels, low), 0, None)
    return overlap / overlap.sum(axis=1, keepdims=True)


def _linear_matrix(src: int, dst: int) -> np.ndarray:
    """(dst, src) bilinear weights: output d samples source x = (d + 0.5) * src / dst - 0.5, clamped to the edge."""
    x = np.clip((np.arange(dst) + 0.5) * (src / dst) - 0.5, 0, src - 1)
    left = np.floor(x).astype(int)
    frac = x - left
    weights = np.zeros((dst, src))
    np.add.at(weights, (np.arange(dst), left), 1 - frac)
    np.add.at(weights, (np.arange(dst), np.minimum(left + 1, src - 1)), frac)
    return weights


def _float_reference(image: np.ndarray, tiles: list[tuple[int, int, int, int]], size: int) -> np.ndarray:
    """The tile batch in float64: separable resizes (no uint8 rounding), crops, RGB, x / 127.5 - 1, -1 padding."""
    height, width = image.shape[:2]
    plan = _tile_plan(height, width, tiles, size)
    rgb = image[:, :, ::-1].astype(np.float64)
    resized = []
    for new_h, new_w in plan.resizes:
        matrix = _area_matrix if new_h < height or new_w < width else _linear_matrix
        rows = (matrix(height, new_h) @ rgb.reshape(height, -1)).reshape(new_h, width, 3)
        resized.append(np.einsum("xw,ywc->cyx", matrix(width, new_w), rows) / 127.5 - 1)
    batch = np.full((len(tiles), 3, size, size), -1.0)
    for i, (index, rx0, ry0, tw, th, pad_x, pad_y) in enumerate(plan.crops):
        batch[i, :, pad_y : pad_y + th, pad_x : pad_x + tw] = resized[index][:, ry0 : ry0 + th, rx0 : rx0 + tw]
    return batch


def _check_against_references(image: np.ndarray, tiles: list, size: int, float_reference: bool = True) -> np.ndarray:
    got, placed = tile_batch(image, tiles, size, num_threads=2)
    expected, expected_placed = tile_batch_reference(image, tiles, size)
    assert got.shape == (len(tiles), 3, size, size) and got.dtype == np.float32 and got.flags.c_contiguous
    assert placed == expected_placed  # the same letterboxes and bounds
    assert np.abs(got - expected).max() <= ONE_LEVEL
    if float_reference:
        np.testing.assert_allclose(got, _float_reference(image, tiles, size), rtol=0, atol=FLOAT_TOLERANCE)
    return got


@pytest.mark.parametrize("name", PHOTOS)
@pytest.mark.parametrize("size", [128, 192])
def test_tile_batch_matches_opencv_on_photos(shared_data: Path, name: str, size: int) -> None:
    import cv2

    image = cv2.imread(str(shared_data / name), cv2.IMREAD_COLOR)
    tiles = tile_grid(*image.shape[:2])
    assert len(tiles) >= 22
    _check_against_references(image, tiles, size, float_reference=name == PHOTOS[0])


@pytest.mark.parametrize(
    "shape",
    [(1, 1), (1, 9), (9, 1), (1, 300), (300, 1), (5, 3), (40, 90), (90, 40), (127, 129), (300, 200), (333, 500),
     (719, 1283)],
)  # fmt: skip
@pytest.mark.parametrize("size", [128, 192])
def test_tile_batch_matches_references_on_odd_sizes(shape: tuple[int, int], size: int) -> None:
    """1x1 and 1-pixel-wide images, tiny ones that are enlarged, non-integer factors, portrait and landscape."""
    rng = np.random.default_rng(shape[0] * 1000 + shape[1])
    image = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    tiles = tile_grid(*shape, min_side=1)
    height, width = shape
    tiles.append((width // 3, 0, width, height))
    if max(shape) <= 10:  # 1x1 tiles (the image enlarged up to 128x: only where that stays small)
        tiles += [(0, 0, 1, 1), (width - 1, height - 1, width, height)]
    _check_against_references(image, tiles, size)


def test_tiny_tiles_of_a_larger_image_resample_only_their_crop() -> None:
    """A 1x1 tile enlarges the whole image 128x (a 38400x25600 resize): the op computes only the 128x128 crop."""
    image = np.random.default_rng(9).integers(0, 256, (300, 200, 3), dtype=np.uint8)
    tiles = [(0, 0, 1, 1), (199, 299, 200, 300), (120, 7, 121, 8)]
    batch, _ = tile_batch(image, tiles, 128)
    plan = _tile_plan(300, 200, tiles, 128)
    assert plan.resizes == [(38400, 25600)]
    rgb = image[:, :, ::-1].astype(np.float64)
    for i, (_, rx0, ry0, tw, th, _, _) in enumerate(plan.crops):
        assert (tw, th) == (128, 128)
        rows = _linear_matrix(300, 38400)[ry0 : ry0 + th] @ rgb.reshape(300, -1)
        cols = _linear_matrix(200, 25600)[rx0 : rx0 + tw]
        expected = np.einsum("xw,ywc->cyx", cols, rows.reshape(th, 200, 3)) / 127.5 - 1
        np.testing.assert_allclose(batch[i], expected, rtol=0, atol=FLOAT_TOLERANCE)


def test_integer_factors_average_blocks_exactly() -> None:
    """A 4x shrink is a plain mean of 4x4 blocks (OpenCV's fast area path): hand-checkable values."""
    image = np.zeros((512, 256, 3), dtype=np.uint8)
    image[:4, :4] = (0, 0, 255)  # one red (BGR) 4x4 block in the corner
    image[4:8, :4, 0] = np.arange(16, dtype=np.uint8).reshape(4, 4) * 16  # blue ramp, mean 120
    batch, placed = tile_batch(image, [(0, 0, 256, 512)], 128)
    box, bounds = placed[0]
    assert box.resized == (128, 64) and (box.pad_x, box.pad_y) == (32, 0) and bounds == (0.0, 0.0, 256.0, 512.0)
    np.testing.assert_allclose(batch[0, :, 0, 32], [1, -1, -1], atol=1e-6)  # RGB of the red block
    np.testing.assert_allclose(batch[0, :, 1, 32], [-1, -1, 120 / 127.5 - 1], atol=1e-6)
    assert (batch[0, :, :, :32] == -1).all() and (batch[0, :, :, 96:] == -1).all()  # letterbox padding


def test_tiles_of_one_side_share_one_resize_and_empty_tile_lists() -> None:
    image = np.random.default_rng(2).integers(0, 256, (400, 600, 3), dtype=np.uint8)
    tiles = [(0, 0, 300, 300), (150, 100, 450, 400), (300, 0, 600, 300)]
    batch, placed = tile_batch(image, tiles, 128)
    assert len(_tile_plan(400, 600, tiles, 128).resizes) == 1
    whole, _ = tile_batch(image, [(0, 0, 600, 400)], 128)
    for i, (_, bounds) in enumerate(placed):  # each tile is a crop of the same 256x171 resize
        assert bounds[2] - bounds[0] == pytest.approx(300, abs=2.5)
        assert np.abs(batch[i]).max() <= 1
    assert np.abs(whole).max() <= 1
    empty, none = tile_batch(image, [], 128)
    assert empty.shape == (0, 3, 128, 128) and none == []


@pytest.mark.parametrize("threads", [1, 2, 3, 8])
def test_thread_counts_give_identical_batches(threads: int) -> None:
    image = np.random.default_rng(4).integers(0, 256, (360, 640, 3), dtype=np.uint8)
    tiles = tile_grid(360, 640)
    one, _ = tile_batch(image, tiles, 128, num_threads=1)
    many, _ = tile_batch(image, tiles, 128, num_threads=threads)
    assert one.tobytes() == many.tobytes()


def test_non_contiguous_image() -> None:
    image = np.random.default_rng(6).integers(0, 256, (200, 300, 3), dtype=np.uint8)
    view = np.asfortranarray(image)
    tiles = tile_grid(200, 300)
    assert tile_batch(view, tiles, 128)[0].tobytes() == tile_batch(image, tiles, 128)[0].tobytes()


_SCALAR_SCRIPT = """
import sys
import numpy as np
import faceid
from faceid.ops.detect import tile_batch, tile_grid
with np.load(sys.argv[1]) as inputs:
    image = inputs["image"]
batch, _ = tile_batch(image, tile_grid(*image.shape[:2], min_side=1), 128)
np.save(sys.argv[2], batch)
print(faceid.info()["native"]["avx2_kernels"])
"""


def test_force_scalar_gives_the_same_batch(tmp_path: Path) -> None:
    # FACEID_FORCE_SCALAR=1 is read once at import, so the scalar run is a second process.
    image = np.random.default_rng(8).integers(0, 256, (243, 419, 3), dtype=np.uint8)
    np.savez(tmp_path / "in.npz", image=image)
    env = {**os.environ, "FACEID_FORCE_SCALAR": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _SCALAR_SCRIPT, str(tmp_path / "in.npz"), str(tmp_path / "out.npy")],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    assert done.stdout.strip() == "False"
    scalar = np.load(tmp_path / "out.npy")
    vector, _ = tile_batch(image, tile_grid(243, 419, min_side=1), 128)
    np.testing.assert_allclose(scalar, vector, rtol=0, atol=2e-6)  # FMAs round differently, nothing more


# --------------------------------------------------------------------------------------------- bad arguments
def test_tile_batch_argument_errors() -> None:
    image, whole = np.zeros((10, 20, 3), np.uint8), [(0, 0, 20, 10)]
    bad = [
        (lambda: tile_batch(image.astype(np.float32), whole, 128), "image: expected dtype uint8, got float32"),
        (lambda: tile_batch(image[:, :, 0], whole, 128), r"image: expected shape \(H, W, 3\), got \(10, 20\)"),
        (lambda: tile_batch(image[:, :, :2], whole, 128), r"expected shape \(H, W, 3\), got \(10, 20, 2\)"),
        (lambda: tile_batch(image[:0], [], 128), r"image: expected a non-empty image, got \(0, 20, 3\)"),
        (
            lambda: tile_batch(image, [*whole, (5, 0, 21, 10)], 128),
            r"tiles\[1\]: expected \(x0, y0, x1, y1\) with 0 <= x0 < x1 <= 20 and 0 <= y0 < y1 <= 10, "
            r"got \(5, 0, 21, 10\)",
        ),
        (lambda: tile_batch(image, [(4, 4, 4, 8)], 128), r"tiles\[0\].*got \(4, 4, 4, 8\)"),
        (lambda: tile_batch(image, [(-1, 0, 5, 5)], 128), r"tiles\[0\].*got \(-1, 0, 5, 5\)"),
        (lambda: tile_batch(image, whole, 0), "size: expected 1..4096, got 0"),
        (lambda: tile_batch(image, whole, -128), "size: expected 1..4096, got -128"),
        (lambda: tile_batch(image, whole, 128, num_threads=0), "num_threads: expected 1..256, got 0"),
    ]
    for call, message in bad:
        with pytest.raises(ValueError, match=message):
            call()


def test_native_op_checks_the_geometry_it_is_given() -> None:
    """The op's own checks, for callers that bypass tile_batch's geometry: crops inside their resize, placements
    inside the canvas, resize indices and array shapes."""
    image = np.zeros((10, 20, 3), np.uint8)
    resizes, tile = np.array([[64, 128]], np.int64), [0, 0, 0, 8, 8, 0, 0]

    def call(tiles, sizes=resizes):
        return _C.prepare_tiles(image, sizes, np.asarray(tiles, np.int64), 128, 1)

    assert call([[0, 0, 0, 128, 64, 0, 32]]).shape == (1, 3, 128, 128)
    bad = [
        (lambda: call([[1, 0, 0, 8, 8, 0, 0]]), r"tiles\[0\]: expected a resize index in \[0, 1\), got 1"),
        (
            lambda: call([[0, 121, 0, 8, 8, 0, 0]]),
            r"tiles\[0\]: expected a crop inside resize 0 \(128x64\), got 8x8 at \(121, 0\)",
        ),
        (lambda: call([[0, 0, -1, 8, 8, 0, 0]]), r"crop inside resize 0 .*at \(0, -1\)"),
        (lambda: call([[0, 0, 0, 0, 8, 0, 0]]), r"tiles\[0\]: expected a crop width and height in 1..128, got 0x8"),
        (
            lambda: call([[0, 0, 0, 8, 8, 121, 0]]),
            r"expected a placement inside the 128x128 canvas, got 8x8 at \(121, 0\)",
        ),
        (lambda: call([[0, 0, 0, 8]]), r"tiles: expected shape \(N, 7\)"),
        (
            lambda: call([tile], np.array([[0, 5]])),
            r"resizes\[0\]: expected a height and width in 1..65536, got \(0, 5",
        ),
        (lambda: call([tile], np.array([64.0, 128.0])), r"resizes: expected shape \(R, 2\)"),
        (lambda: call([tile], np.array([[64.0, 128.0]])), "resizes: expected an integer array, got float64"),
    ]
    for bad_call, message in bad:
        with pytest.raises(ValueError, match=message):
            bad_call()
