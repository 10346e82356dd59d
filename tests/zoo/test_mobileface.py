"""MobileFace V2: the MXNet ``.params`` reader, the symbol-graph interpreter, the export and the registry record."""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from faceid.zoo import export_dir, get_record
from faceid.zoo.mxnet_params import NDARRAY_V1_MAGIC, NDARRAY_V2_MAGIC, read_params

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "mobileface" / "expected.npz"
_FLAGS = {np.dtype("float32"): 0, np.dtype("float64"): 1, np.dtype("float16"): 2, np.dtype("uint8"): 3}
_FLAGS |= {np.dtype("int32"): 4, np.dtype("int8"): 5, np.dtype("int64"): 6}
# Pairs 2k, 2k+1 of small_lfw.bin show these people (../shared/data/README.md).
PERSON_OF_PAIR = [0, 1, 1, 2, 3, 3, 4, 4, 4, 5]


def _array_v2(array: np.ndarray, stype: int = 0, flag: int | None = None) -> bytes:
    """One dense NDArray record, V2 layout (independent of the reader)."""
    out = struct.pack("<Ii", NDARRAY_V2_MAGIC, stype) + struct.pack("<I", array.ndim)
    out += struct.pack(f"<{array.ndim}q", *array.shape)
    out += struct.pack("<iii", 1, 0, _FLAGS[array.dtype] if flag is None else flag)
    return out + array.astype(array.dtype.newbyteorder("<")).tobytes()


def _array_v1(array: np.ndarray) -> bytes:
    out = struct.pack("<Ii", NDARRAY_V1_MAGIC, array.ndim) + struct.pack(f"<{array.ndim}q", *array.shape)
    return out + struct.pack("<iii", 1, 0, _FLAGS[array.dtype]) + array.astype("<f4").tobytes()


def _array_legacy(array: np.ndarray) -> bytes:
    """Pre-V1: no magic, ``uint32`` ndim and dimensions."""
    out = struct.pack(f"<I{array.ndim}I", array.ndim, *array.shape)
    return out + struct.pack("<iii", 1, 0, _FLAGS[array.dtype]) + array.astype("<f4").tobytes()


def _write(records: list[bytes], names: list[str]) -> bytes:
    out = struct.pack("<QQQ", 0x112, 0, len(records)) + b"".join(records)
    out += struct.pack("<Q", len(names))
    for name in names:
        out += struct.pack("<Q", len(name.encode())) + name.encode()
    return out


def _params_file(tmp_path: Path, data: bytes, name: str = "tiny.params") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_the_writer_matches_the_format_byte_for_byte() -> None:
    data = _write([_array_v2(np.array([1.0, 2.0], dtype=np.float32))], ["arg:w"])
    expected = bytes.fromhex(
        "1201000000000000" "0000000000000000" "0100000000000000"  # list magic, reserved, 1 array
        "c9fa93f9" "00000000" "01000000" "0200000000000000"  # V2 magic, dense, ndim 1, dim 2 (int64)
        "01000000" "00000000" "00000000"  # cpu, device 0, float32
        "0000803f" "00000040"  # 1.0, 2.0
        "0100000000000000" "0500000000000000"  # 1 name of 5 bytes
    ) + b"arg:w"  # fmt: skip
    assert data == expected


def test_reads_arrays_of_every_layout_and_dtype(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    arrays = {
        "arg:conv_weight": rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
        "arg:fc_weight": rng.standard_normal((5, 7)).astype(np.float64),
        "aux:half": rng.standard_normal(6).astype(np.float16),
        "aux:bytes": rng.integers(0, 255, 9).astype(np.uint8),
        "aux:ints": rng.integers(-100, 100, (2, 2)).astype(np.int64),
    }
    records = [_array_v2(a) for a in arrays.values()]
    v1, legacy = rng.standard_normal((2, 3)).astype(np.float32), rng.standard_normal(4).astype(np.float32)
    records += [_array_v1(v1), _array_legacy(legacy), struct.pack("<IiI", NDARRAY_V2_MAGIC, 0, 0)]  # + a none array
    names = [*arrays, "arg:v1", "arg:legacy", "arg:none"]
    loaded = read_params(_params_file(tmp_path, _write(records, names)))
    assert sorted(loaded) == sorted([*arrays, "arg:v1", "arg:legacy"])
    for name, array in [*arrays.items(), ("arg:v1", v1), ("arg:legacy", legacy)]:
        assert loaded[name].dtype == array.dtype and loaded[name].flags.writeable
        np.testing.assert_array_equal(loaded[name], array)


def test_every_truncation_is_a_clear_error(tmp_path: Path) -> None:
    data = _write([_array_v2(np.arange(6, dtype=np.float32).reshape(2, 3))], ["arg:w"])
    for size in range(len(data)):
        path = _params_file(tmp_path, data[:size])
        with pytest.raises(ValueError, match=r"tiny\.params: .*(truncated|names)"):
            read_params(path)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: b"\x13" + d[1:], "not an MXNet NDArray list"),
        (lambda d: d + b"\0", "unexpected bytes after the name list"),
        (lambda d: d[:24] + struct.pack("<I", NDARRAY_V2_MAGIC) + struct.pack("<i", 1) + d[32:], "sparse storage"),
        (lambda d: d[:16] + struct.pack("<Q", 1 << 40) + d[24:], "implausible array count"),
        (lambda d: d[:32] + struct.pack("<I", 99) + d[36:], "implausible ndim"),
    ],
)
def test_corrupt_files_are_rejected_with_the_file_name(tmp_path: Path, mutate, message: str) -> None:
    data = _write([_array_v2(np.ones(2, dtype=np.float32))], ["arg:w"])
    with pytest.raises(ValueError, match=rf"bad\.params: .*{message}"):
        read_params(_params_file(tmp_path, mutate(data), "bad.params"))


@pytest.mark.parametrize(
    ("records", "names", "message"),
    [
        ([_array_v2(np.ones(1, np.float32), flag=42)], ["arg:w"], "unknown dtype flag 42"),
        ([_array_v2(np.ones(1, np.float32))] * 2, ["arg:w"], "1 names for 2 arrays"),
        ([_array_v2(np.ones(1, np.float32))] * 2, ["arg:w", "arg:w"], "duplicate array names"),
        ([_array_v2(np.ones(1, np.float32))], [], "no names"),
    ],
)
def test_bad_contents_are_rejected(tmp_path: Path, records: list[bytes], names: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        read_params(_params_file(tmp_path, _write(records, names)))


def test_unsupported_operators_are_named() -> None:
    from faceid.zoo.mobileface import parse_symbol

    symbol = {
        "nodes": [
            {"op": "null", "name": "data", "inputs": []},
            {"op": "SoftmaxOutput", "name": "sm", "inputs": [[0, 0]]},
        ],
        "heads": [[1, 0, 0]],
    }
    with pytest.raises(ValueError, match=r"g\.json: operator 'SoftmaxOutput' \(sm\) is not supported"):
        parse_symbol(symbol, set(), source="g.json")


# --- the real model (skipped without ../shared) -----------------------------------------------------------------


def test_record_hashes_match_the_shared_files(shared_models: Path, shared_sha256sums: dict[str, str]) -> None:
    record = get_record("mobileface_v2")
    for entry in record.files:
        assert hashlib.sha256((shared_models / entry.path).read_bytes()).hexdigest() == entry.sha256, entry.path
    if shared_sha256sums:  # ../shared/SHA256SUMS lists them as ./models/<path>
        assert all(shared_sha256sums[f"./models/{entry.path}"] == entry.sha256 for entry in record.files)
    symbol = json.loads((shared_models / record.files[0].path).read_text())
    (head,) = [node for node in symbol["nodes"] if node["op"] == "FullyConnected"]
    assert int(head["attrs"]["num_hidden"]) == record.extra["embedding_size"]  # what the graph itself outputs


def test_a_tampered_source_file_is_refused(shared_models: Path, tmp_path: Path) -> None:
    from faceid.zoo.mobileface import build_mobileface_v2

    shutil.copytree(shared_models / "mobileface", tmp_path / "mobileface")
    params = tmp_path / "mobileface" / "MobileFace_Identification_V2-0000.params"
    params.chmod(0o644)
    params.write_bytes(params.read_bytes()[:-1] + b"x")
    with pytest.raises(ValueError, match="does not match the registry"):
        build_mobileface_v2(tmp_path)


@pytest.fixture(scope="module")
def faces_bgr(shared_data: Path) -> np.ndarray:
    from faceid.data.verification_set import load_verification_set
    from faceid.eval.verification import decode_verification_images

    return decode_verification_images(load_verification_set(shared_data / "verification" / "small_lfw.bin"))


@pytest.fixture(scope="module")
def dygraph(shared_models: Path):
    from faceid.zoo.mobileface import build_mobileface_v2

    return build_mobileface_v2(shared_models)


@pytest.fixture(scope="module")
def converted(shared_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from faceid.zoo.mobileface import convert_mobileface_v2

    return convert_mobileface_v2(shared_models, tmp_path_factory.mktemp("mf") / "mobileface_v2")


def _embed(model, faces_bgr: np.ndarray) -> np.ndarray:
    import paddle

    x = (faces_bgr[..., ::-1].astype(np.float32) - 127.5) / 127.5  # the export convention: RGB, [-1, 1]
    with paddle.no_grad():
        out = model(paddle.to_tensor(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))).numpy()
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def test_same_and_different_people_are_separated(dygraph, faces_bgr: np.ndarray) -> None:
    emb = _embed(dygraph, faces_bgr)
    assert emb.shape == (20, 256)
    sim = emb @ emb.T
    positives = [sim[2 * k, 2 * k + 1] for k in range(10)]
    person = [PERSON_OF_PAIR[i // 2] for i in range(20)]
    negatives = [sim[i, j] for i in range(20) for j in range(i + 1, 20) if person[i] != person[j]]
    assert min(positives) >= 0.5, positives
    assert max(negatives) <= 0.2, max(negatives)


def test_matches_embeddings_computed_by_mxnet(dygraph, faces_bgr: np.ndarray) -> None:
    expected = np.load(FIXTURE)  # MXNet 1.9.1 Module on raw RGB pixels of small_lfw images `indices`
    reference = expected["embeddings"] / np.linalg.norm(expected["embeddings"], axis=1, keepdims=True)
    cosines = (_embed(dygraph, faces_bgr[expected["indices"]]) * reference).sum(axis=1)
    assert cosines.min() >= 0.999, cosines


@pytest.mark.parametrize("backend", ["python", "auto"])
def test_the_export_loads_in_the_recognizer_and_matches(converted: Path, dygraph, faces_bgr, backend: str) -> None:
    import faceid
    from faceid.export import read_export_meta

    meta = read_export_meta(converted)
    assert (meta["network"], meta["embedding_size"], meta["input"]["color"]) == ("mobileface_v2", 256, "RGB")
    recognizer = faceid.Recognizer(converted, backend=backend)
    np.testing.assert_allclose(recognizer.embed_normalized(faces_bgr), _embed(dygraph, faces_bgr), atol=1e-4)


def test_export_dir_converts_once_into_faceid_home(
    converted: Path, shared_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACEID_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FACEID_MODEL_SOURCE", raising=False)
    with pytest.raises(FileNotFoundError, match="no model source"):
        export_dir("mobileface_v2")
    first = export_dir("mobileface_v2", source=shared_models)
    assert first == tmp_path / "home" / "models" / "mobileface_v2"
    assert sorted(p.name for p in first.iterdir()) == sorted(p.name for p in converted.iterdir())
    assert not [p for p in first.parent.iterdir() if p.name.startswith(".")]  # no staging folder left behind
    assert export_dir("mobileface_v2") == first  # cached: no source needed any more
    with pytest.raises(ValueError, match="no pretrained export named 'nope'"):
        export_dir("nope")
