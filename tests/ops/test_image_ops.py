"""Native image kernels against OpenCV and the numpy reference."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import faceid
from faceid import _C
from faceid.ops import (
    DecodeError,
    decode_jpeg,
    hwc_to_chw,
    hwc_to_chw_reference,
    warp_faces,
    warp_faces_reference,
)


def _photo_files(shared_data: Path) -> list[Path]:
    return sorted(p for p in shared_data.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))


def test_decode_matches_opencv_on_real_photos(shared_data: Path) -> None:
    files = _photo_files(shared_data)
    assert len(files) >= 20
    for path in files:
        data = path.read_bytes()
        ours = decode_jpeg(data)
        theirs = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]
        np.testing.assert_array_equal(ours, theirs, err_msg=str(path))


@pytest.mark.parametrize(
    "params",
    [
        [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444],
        [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422],
        [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420],
        [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_411],
        [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_440],
        [cv2.IMWRITE_JPEG_PROGRESSIVE, 1],
        [cv2.IMWRITE_JPEG_QUALITY, 30],
    ],
    ids=["444", "422", "420", "411", "440", "progressive", "q30"],
)
# 444/422/420 go through faceid's own upsampling and colour conversion (ycc_upsample.cpp), the
# others through libjpeg's; chroma 1 or 2 samples wide (width 3, 4) is libjpeg's too.
@pytest.mark.parametrize(
    "shape",
    [(112, 112, 3), (37, 53, 3), (1, 1, 3), (7, 3, 3), (5, 4, 3), (9, 5, 3), (64, 80)],
    ids=["112", "odd", "1px", "w3", "w4", "w5", "gray"],
)
def test_decode_matches_opencv_on_encoder_variants(params: list[int], shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(sum(shape))
    image = cv2.GaussianBlur(rng.integers(0, 256, shape, dtype=np.uint8), (5, 5), 0)
    ok, encoded = cv2.imencode(".jpg", image, params)
    assert ok
    data = encoded.tobytes()
    theirs = cv2.imdecode(encoded, cv2.IMREAD_COLOR)[:, :, ::-1]
    np.testing.assert_array_equal(decode_jpeg(data), theirs)


def _a_jpeg() -> bytes:
    image = np.random.default_rng(0).integers(0, 256, (112, 112, 3), dtype=np.uint8)
    return cv2.imencode(".jpg", image)[1].tobytes()


@pytest.mark.parametrize("cut", [0, 2, 3, 20, 200, 600, -200, -2])
def test_decode_rejects_truncated_jpeg(cut: int) -> None:
    data = _a_jpeg()
    with pytest.raises(DecodeError):
        decode_jpeg(data[:cut])


def test_decode_rejects_garbage_and_oversized_images() -> None:
    with pytest.raises(DecodeError, match="not a JPEG"):
        decode_jpeg(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(DecodeError, match="max_pixels"):
        decode_jpeg(_a_jpeg(), max_pixels=112 * 111)
    with pytest.raises(ValueError, match="single bytes"):
        decode_jpeg(np.zeros(10, dtype=np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.uint8])
@pytest.mark.parametrize("src_is_bgr", [True, False])
@pytest.mark.parametrize("width", [13, 16, 50, 112], ids=lambda w: f"w{w}")  # scalar only, vector, both
@pytest.mark.parametrize(
    ("mean", "std"), [((127.5,) * 3, (127.5,) * 3), ((123.675, 116.28, 103.53), (58.395, 57.12, 57.375))]
)
def test_hwc_to_chw_equals_numpy_reference(dtype: type, src_is_bgr: bool, width: int, mean, std) -> None:
    rng = np.random.default_rng(width)
    images = rng.integers(0, 256, (6, 11, width, 3), dtype=np.uint8)
    images[0, 0, :, :] = np.arange(width * 3).reshape(width, 3) % 256  # every value somewhere
    flips = np.array([1, 0, 1, 1, 0, 0], dtype=bool)
    ours = hwc_to_chw(images, flips, dtype=dtype, src_is_bgr=src_is_bgr, mean=mean, std=std)
    reference = hwc_to_chw_reference(images, flips, dtype=dtype, src_is_bgr=src_is_bgr, mean=mean, std=std)
    assert ours.dtype == reference.dtype and ours.shape == (6, 3, 11, width)
    assert ours.tobytes() == reference.tobytes()


def test_hwc_to_chw_float16_rounding_over_every_input_value() -> None:
    values = np.arange(256, dtype=np.uint8).reshape(1, 1, 256, 1).repeat(3, axis=3)
    for mean, std in [((127.5,) * 3, (127.5,) * 3), ((0.3, 1e-3, -100.0), (1e-4, 3e3, 1e-3))]:
        ours = hwc_to_chw(values, dtype=np.float16, mean=mean, std=std)
        with np.errstate(over="ignore"):
            reference = hwc_to_chw_reference(values, dtype=np.float16, mean=mean, std=std)
        assert ours.view(np.uint16).tolist() == reference.view(np.uint16).tolist()


def test_hwc_to_chw_flip_and_channel_order_by_hand() -> None:
    image = np.zeros((1, 1, 2, 3), dtype=np.uint8)
    image[0, 0, 0] = (10, 20, 30)  # BGR of the left pixel
    out = hwc_to_chw(image, [True], dtype=np.uint8)
    assert out[0, :, 0, 1].tolist() == [30, 20, 10]  # RGB, moved to the right by the flip
    assert out[0, :, 0, 0].tolist() == [0, 0, 0]


def test_hwc_to_chw_validates_arguments() -> None:
    images = np.zeros((2, 4, 4, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"expected shape \(N, H, W, 3\), got \(2, 4, 4\)"):
        hwc_to_chw(images[..., 0])
    with pytest.raises(ValueError, match="expected dtype uint8, got float32"):
        hwc_to_chw(images.astype(np.float32))
    with pytest.raises(ValueError, match=r"expected shape \(2, 3, 4, 4\), got \(2, 3, 4, 5\)"):
        hwc_to_chw(images, out=np.zeros((2, 3, 4, 5), np.float32))
    with pytest.raises(ValueError, match="expected dtype float32, float16 or uint8, got float64"):
        hwc_to_chw(images, out=np.zeros((2, 3, 4, 4), np.float64))
    with pytest.raises(ValueError, match=r"flips: expected shape \(2,\), got \(3,\)"):
        hwc_to_chw(images, [0, 1, 0])
    with pytest.raises(ValueError, match="non-zero"):
        hwc_to_chw(images, std=(1.0, 0.0, 1.0))


def test_stub_covers_every_native_symbol() -> None:
    stub = Path(faceid.__file__).with_name("_C.pyi")
    tree = ast.parse(stub.read_text())
    declared = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    exported = {name for name in dir(_C) if not name.startswith("__")}  # test hooks (one underscore) too
    assert exported == declared
    assert "typing_extensions" not in stub.read_text()  # not a dependency of faceid


def _maps() -> np.ndarray:
    """Source -> output maps: shift, a rotated/scaled similarity, a shear, one half off the image, one fully off."""
    angle = 0.4
    rot = 1.7 * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return np.array(
        [
            [[1, 0, -10.25], [0, 1, -20.5]],
            np.hstack([rot, [[-60.3], [-140.7]]]),
            [[0.8, 0.3, -5.0], [-0.1, 1.2, -30.0]],
            [[1, 0, 60.0], [0, 1, 70.0]],
            [[1, 0, 5000.0], [0, 1, -5000.0]],
        ],
        dtype=np.float64,
    )


@pytest.mark.parametrize("src_is_bgr", [True, False])
def test_warp_faces_matches_the_numpy_reference(src_is_bgr: bool) -> None:
    image = np.random.default_rng(5).integers(0, 256, (150, 200, 3), dtype=np.uint8)
    norm = {"mean": (120.0, 127.5, 130.0), "std": (60.0, 127.5, 70.0), "src_is_bgr": src_is_bgr}
    ours = warp_faces(image, _maps(), 112, **norm)
    reference = warp_faces_reference(image, _maps(), 112, **norm)
    assert ours.shape == (5, 3, 112, 112) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, reference, rtol=0, atol=2e-5)
    zero = (0.0 - np.array(norm["mean"])) / np.array(norm["std"])  # fully outside: border zeros
    np.testing.assert_allclose(ours[4], np.broadcast_to(zero[:, None, None], (3, 112, 112)), atol=1e-6)


def test_warp_faces_agrees_with_cv2_warp_then_normalise(shared_data: Path) -> None:
    # OpenCV quantises sample positions to 1/32 pixel and rounds to uint8; the difference stays small.
    image = cv2.imread(str(shared_data / "faces" / "two_people.jpg"))
    for matrix in _maps()[:4]:
        chip = cv2.warpAffine(image, matrix, (112, 112), flags=cv2.INTER_LINEAR, borderValue=0.0)
        theirs = hwc_to_chw_reference(chip[None])[0] * 127.5 + 127.5
        ours = warp_faces(image, matrix[None])[0] * 127.5 + 127.5
        difference = np.abs(ours - theirs)
        assert difference.mean() < 0.35 and np.percentile(difference, 99.9) < 2.5, difference.max()


def test_warp_faces_validates_its_arguments() -> None:
    image = np.zeros((20, 30, 3), np.uint8)
    good = _maps()[:1]
    with pytest.raises(ValueError, match=r"image: expected shape \(H, W, 3\), got \(20, 30\)"):
        warp_faces(image[:, :, 0], good)
    with pytest.raises(ValueError, match="image: expected dtype uint8, got float32"):
        warp_faces(image.astype(np.float32), good)
    with pytest.raises(ValueError, match="invertible map, determinant is 0"):
        warp_faces(image, np.zeros((1, 2, 3)))
    with pytest.raises(ValueError, match=r"matrices\[1\]: expected finite values, got nan"):
        warp_faces(image, np.concatenate([good, np.full((1, 2, 3), np.nan)]))
    with pytest.raises(ValueError, match=r"size: expected 1\.\.4096, got 0"):
        warp_faces(image, good, 0)
    with pytest.raises(ValueError, match="std"):
        warp_faces(image, good, std=(1.0, 0.0, 1.0))
    assert warp_faces(image, np.zeros((0, 2, 3))).shape == (0, 3, 112, 112)


_SCALAR_SCRIPT = """
import sys
import numpy as np
import faceid
from faceid.ops import decode_jpeg, hwc_to_chw, warp_faces

inputs = np.load(sys.argv[1])
info = faceid.info()["native"]
out = {"flags": np.array([info["force_scalar"], info["avx2_kernels"]])}
for dtype in ("float32", "float16", "uint8"):
    out[dtype] = hwc_to_chw(inputs["images"], inputs["flips"], dtype=np.dtype(dtype))
out["warp"] = warp_faces(inputs["photo"], inputs["maps"], size=112)
out["decoded"] = decode_jpeg(inputs["jpeg"].tobytes())
np.savez(sys.argv[2], **out)
"""


def _kernel_outputs(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = {d: hwc_to_chw(inputs["images"], inputs["flips"], dtype=np.dtype(d)) for d in ("float32", "float16", "uint8")}
    out["warp"] = warp_faces(inputs["photo"], inputs["maps"], size=112)
    out["decoded"] = decode_jpeg(inputs["jpeg"].tobytes())
    return out


_JPEG_420 = [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420]


def test_force_scalar_runs_the_scalar_paths_with_identical_results(tmp_path: Path) -> None:
    # FACEID_FORCE_SCALAR=1 is read once at import, so the scalar run is a second process.
    rng = np.random.default_rng(11)
    photo = cv2.GaussianBlur(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8), (5, 5), 1.5)
    inputs = {
        "images": rng.integers(0, 256, (4, 37, 112, 3), dtype=np.uint8),  # whole 16-pixel blocks and a tail
        "flips": np.array([0, 1, 1, 0], np.uint8),
        "photo": photo,
        "maps": _maps(),
        "jpeg": cv2.imencode(".jpg", photo, _JPEG_420)[1],
    }
    np.savez(tmp_path / "in.npz", **inputs)
    env = {**os.environ, "FACEID_FORCE_SCALAR": "1"}
    subprocess.run(
        [sys.executable, "-c", _SCALAR_SCRIPT, str(tmp_path / "in.npz"), str(tmp_path / "out.npz")], env=env, check=True
    )
    with np.load(tmp_path / "out.npz") as scalar:
        assert scalar["flags"].tolist() == [True, False]  # forced, and the AVX2 kernels are off
        vector = _kernel_outputs(inputs)
        for name in ("float32", "float16", "uint8", "decoded"):  # bit for bit by design
            assert scalar[name].tobytes() == vector[name].tobytes(), name
        # The warp's AVX2 block rounds differently (fused multiply-adds): both within the reference's tolerance.
        reference = warp_faces_reference(inputs["photo"], inputs["maps"], 112)
        if faceid.info()["native"]["avx2_kernels"]:
            assert not np.array_equal(scalar["warp"], vector["warp"])  # really two paths
        np.testing.assert_allclose(scalar["warp"], reference, rtol=0, atol=2e-5)
        np.testing.assert_allclose(vector["warp"], reference, rtol=0, atol=2e-5)
    if os.environ.get("FACEID_FORCE_SCALAR") != "1":
        native = faceid.info()["native"]
        assert native["force_scalar"] is False
        assert native["avx2_kernels"] == (native["simd_compiled"] and _cpu_has_avx2())


def _cpu_has_avx2() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return {"avx2", "fma", "f16c"} <= set(flags)
