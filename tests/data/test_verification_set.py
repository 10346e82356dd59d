"""insightface verification sets: the real small_lfw.bin, round trips, hostile and ill-shaped pickles."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest

from faceid.data.verification_set import VerificationSet, load_verification_set, write_verification_set
from faceid.io.safe_pickle import UnsafePickleError


@pytest.fixture(scope="module")
def small_lfw(shared_data: Path) -> Path:
    return shared_data / "verification" / "small_lfw.bin"


def test_small_lfw(small_lfw: Path) -> None:
    dataset = load_verification_set(small_lfw)
    assert dataset.name == "small_lfw"
    assert len(dataset) == 10 and len(dataset.images) == 20
    assert dataset.issame.dtype == np.bool_ and dataset.issame.all()
    for image in dataset.images:
        decoded = cv2.imdecode(np.frombuffer(image, np.uint8), cv2.IMREAD_COLOR)
        assert decoded is not None and decoded.shape == (112, 112, 3)
    # Independent reference: the trusted test file through plain pickle.
    bins, issame = pickle.loads(small_lfw.read_bytes())
    assert [np.asarray(b).tobytes() for b in bins] == dataset.images
    assert list(issame) == dataset.issame.tolist()
    first, second, same = dataset.pair(3)
    assert (first, second, same) == (dataset.images[6], dataset.images[7], True)


def test_write_and_reload(tmp_path: Path, small_lfw: Path) -> None:
    source = load_verification_set(small_lfw)
    flags = [bool(i % 2) for i in range(10)]
    target = tmp_path / "copy.bin"
    write_verification_set(target, source.images, flags)
    reloaded = load_verification_set(target)
    assert reloaded.images == source.images and reloaded.issame.tolist() == flags
    raw = pickle.loads(target.read_bytes())  # the written format, checked with plain pickle
    assert raw == (source.images, flags)
    assert target.read_bytes()[:2] == b"\x80\x04"


def test_write_validates_inputs(tmp_path: Path) -> None:
    target = tmp_path / "x.bin"
    with pytest.raises(ValueError, match=r"3 images for 1 pairs \(expected 2\)"):
        write_verification_set(target, [b"a", b"b", b"c"], [True])
    with pytest.raises(TypeError, match=r"images\[1\] must be bytes"):
        write_verification_set(target, [b"a", "b"], [True])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"issame\[0\] must be a bool"):
        write_verification_set(target, [b"a", b"b"], [2])  # type: ignore[list-item]
    with pytest.raises(ValueError, match=r"images\[0\] is empty"):
        write_verification_set(target, [b"", b"b"], [True])
    assert not target.exists()


def test_python2_str_elements_load_as_bytes(tmp_path: Path) -> None:
    # As Python 2's cPickle (protocol 2) wrote lfw.bin: str images (U / T / S opcodes) and bool flags.
    payload = (
        b"\x80\x02]q\x01(U\x04\xff\xd8\xff\x00q\x02T\x05\x00\x00\x00\xff\xd8\xff\x01\x02q\x03"
        b"S'\\xff\\xd8\\xff\\n'\np4\nU\x03abcq\x05e]q\x06(\x88\x89e\x86q\x07."
    )
    path = tmp_path / "py2.bin"
    path.write_bytes(payload)
    dataset = load_verification_set(path)
    assert dataset.images == [b"\xff\xd8\xff\x00", b"\xff\xd8\xff\x01\x02", b"\xff\xd8\xff\n", b"abc"]
    assert dataset.images == pickle.loads(payload, encoding="bytes")[0]
    assert dataset.issame.tolist() == [True, False]


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_accepted_variants(tmp_path: Path, protocol: int) -> None:
    path = tmp_path / "v.bin"
    img2 = bytearray(b"img2") if protocol == 5 else b"img2"  # protocol 5 has a bytearray opcode
    images = [np.frombuffer(b"img0", np.uint8).reshape(4, 1), b"img1", img2, np.frombuffer(b"i3", np.uint8)]
    for issame in ([1, 0], np.array([True, False])):
        path.write_bytes(pickle.dumps([images, issame], protocol=protocol))
        dataset = load_verification_set(path)
        assert dataset.images == [b"img0", b"img1", b"img2", b"i3"]
        assert dataset.issame.tolist() == [True, False]


class _Touch:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


def test_hostile_pickle_is_rejected(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.bin"
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        path.write_bytes(pickle.dumps(([_Touch(marker), b"x"], [True]), protocol=protocol))
        with pytest.raises(UnsafePickleError, match=rf"^{path}: pickle refers to \w+\.system, which is not"):
            load_verification_set(path)
    assert not marker.exists()


ILL_SHAPED = {
    "dict": ({"bins": [], "issame": []}, r"expected a pickled \(bins, issame\) pair, got dict"),
    "3-tuple": (([], [], []), r"expected a pickled \(bins, issame\) pair, got tuple of length 3"),
    "bins a tuple": (((b"a", b"b"), [True]), r"bins must be a list"),
    "too few images": (([b"a"], [True]), r"1 images for 1 pairs \(expected 2\)"),
    "issame a str": (([b"a", b"b"], "1"), r"issame must be a list of bools, got str"),
    "issame of 2": (([b"a", b"b"], [2]), r"issame\[0\] must be a bool \(or 0/1\), got int"),
    "issame of None": (([b"a", b"b"], [None]), r"issame\[0\] must be a bool"),
    "image a str": ((["a", b"b"], [True]), r"image 0 must be bytes or a uint8 vector, got str"),
    "image 2-D": (([np.zeros((3, 3), np.uint8), b"b"], [True]), r"image 0 must be bytes or a uint8 vector"),
    "image empty": (([b"", b"b"], [True]), r"image 0 is empty"),
    "issame 2-D": (([b"a", b"b"], np.zeros((1, 1), bool)), r"issame array must be 1-D bool"),
}


@pytest.mark.parametrize("name", sorted(ILL_SHAPED))
def test_ill_shaped_pickles_are_rejected(tmp_path: Path, name: str) -> None:
    value, message = ILL_SHAPED[name]
    path = tmp_path / "ill.bin"
    path.write_bytes(pickle.dumps(value, protocol=4))
    with pytest.raises(ValueError, match=rf"^{path}: {message}"):
        load_verification_set(path)


def test_other_arrays_are_not_unpickled(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(pickle.dumps(([np.zeros(4, np.float32), b"b"], [True]), protocol=4))
    with pytest.raises(UnsafePickleError, match=rf"^{path}: numpy.dtype is allowed only"):
        load_verification_set(path)


def test_dataclass_is_frozen(small_lfw: Path) -> None:
    dataset = load_verification_set(small_lfw)
    assert isinstance(dataset, VerificationSet)
    with pytest.raises(AttributeError):
        dataset.name = "x"  # type: ignore[misc]
