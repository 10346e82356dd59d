"""MTCNN ONet from a legacy torch.save file, read without torch: safe reading, sensible landmarks."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from faceid.io.safe_pickle import UnsafePickleError
from faceid.pipeline.align import ARCFACE_TEMPLATE
from faceid.zoo import get_record
from faceid.zoo.mtcnn import load_onet, onet_landmarks
from faceid.zoo.torch_legacy import MAGIC, PROTOCOL, read_legacy_state_dict


@pytest.fixture(scope="module")
def onet(shared_models: Path):
    return load_onet(source=shared_models)


def _rgb(path: Path) -> np.ndarray:
    return np.ascontiguousarray(cv2.imread(str(path))[:, :, ::-1])


def test_state_dict_has_the_onet_layers(shared_models: Path) -> None:
    state = read_legacy_state_dict(shared_models / get_record("mtcnn_onet").files[0].path)
    assert state["conv1.weight"].shape == (32, 3, 3, 3) and state["dense5.weight"].shape == (256, 1152)
    assert state["dense6_3.bias"].shape == (10,) and all(v.dtype == np.float32 for v in state.values())


def test_landmarks_of_an_aligned_face_fall_on_the_arcface_template(onet, shared_data: Path) -> None:
    points, prob = onet_landmarks(
        onet, _rgb(shared_data / "faces" / "tom_hanks_aligned_112.png"), np.array([0, 0, 112, 112])
    )
    assert prob > 0.99
    assert np.abs(points - ARCFACE_TEMPLATE).mean() < 5.0  # pixels, in a 112x112 crop
    _, background = onet_landmarks(onet, _rgb(shared_data / "faces" / "no_face.png"), np.array([0, 0, 100, 100]))
    assert background < 0.1


def _legacy_file(path: Path, state_pickle: bytes, keys: list[str], storages: list[np.ndarray]) -> None:
    parts = [
        pickle.dumps(MAGIC, 2),
        pickle.dumps(PROTOCOL, 2),
        pickle.dumps({"little_endian": True}, 2),
        state_pickle,
        pickle.dumps(keys, 2),
    ]
    for array in storages:
        parts.append(struct.pack("<q", array.size) + array.astype("<f4").tobytes())
    path.write_bytes(b"".join(parts))


def test_code_in_a_legacy_file_is_refused_and_truncation_is_reported(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    _legacy_file(tmp_path / "evil.pt", pickle.dumps({"w": Evil()}, 2), [], [])
    with pytest.raises(
        UnsafePickleError, match=r"(__builtin__|builtins)\.print, which is not allowed"
    ):  # protocol 2: __builtin__
        read_legacy_state_dict(tmp_path / "evil.pt")
    (tmp_path / "short.pt").write_bytes(pickle.dumps(MAGIC, 2)[:-3])
    with pytest.raises(ValueError, match=r"short\.pt"):
        read_legacy_state_dict(tmp_path / "short.pt")
    (tmp_path / "zip.pt").write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(ValueError, match=r"zip\.pt"):
        read_legacy_state_dict(tmp_path / "zip.pt")
