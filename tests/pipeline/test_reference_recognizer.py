"""Arcface-Paddle's published MobileFaceNet (``mobileface_v1.0_infer``) in everything that takes a recogniser: by
name and as a reference-style folder (``inference.pdmodel`` + ``inference.pdiparams``, no ``faceid.json``)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from faceid.pipeline import Recognizer

NAME = "mobileface_v1.0_infer"
# ../shared/data/README.md: the people of the 10 pairs of small_lfw.bin (image 2k and 2k+1 form pair k)
PAIR_PERSON = [0, 1, 1, 2, 3, 3, 4, 4, 4, 5]


@pytest.fixture(scope="module")
def seed_folder(shared_models: Path) -> Path:
    return shared_models / "seed" / NAME


@pytest.fixture(scope="module")
def by_name(shared_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Recognizer:
    with pytest.MonkeyPatch.context() as patch:  # an empty cache: the name resolves to the source's seed/ folder
        patch.setenv("FACEID_HOME", str(tmp_path_factory.mktemp("home")))
        return Recognizer(NAME, model_source=shared_models, threads=2)


@pytest.fixture(scope="module")
def lfw_faces(shared_data: Path) -> np.ndarray:
    from faceid.data.verification_set import load_verification_set

    vset = load_verification_set(shared_data / "verification" / "small_lfw.bin")
    return np.stack([cv2.imdecode(np.frombuffer(bytes(b), np.uint8), cv2.IMREAD_COLOR) for b in vset.images])


def _reference_embeddings(folder: Path, faces_bgr: np.ndarray) -> np.ndarray:
    """The published model run on its own files, fed as Arcface-Paddle documents: RGB, (x - 127.5) / 127.5, NCHW."""
    from faceid.infer import PaddlePredictor

    predictor = PaddlePredictor(folder / "inference.pdmodel", folder / "inference.pdiparams", threads=2)
    batch = ((faces_bgr[..., ::-1].astype(np.float32) - 127.5) / 127.5).transpose(0, 3, 1, 2)
    return predictor.run(np.ascontiguousarray(batch))


@pytest.fixture
def empty_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``FACEID_HOME`` set to an empty folder (the model cache)."""
    monkeypatch.setenv("FACEID_HOME", str(tmp_path))
    return tmp_path


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_by_name_it_is_the_hash_checked_seed_folder_with_the_records_preprocessing(
    by_name: Recognizer, seed_folder: Path
) -> None:
    assert by_name.model_dir == seed_folder
    assert by_name.embedding_size == 128 and by_name.meta["record"] == NAME
    assert by_name.mean == (127.5, 127.5, 127.5) and by_name.std == (127.5, 127.5, 127.5)
    assert by_name.backend == "native", by_name.backend_reason


def test_by_name_and_as_a_folder_it_embeds_like_the_reference_preprocessing(
    by_name: Recognizer, seed_folder: Path, lfw_faces: np.ndarray
) -> None:
    expected = _reference_embeddings(seed_folder, lfw_faces)
    as_folder = Recognizer(seed_folder, threads=2, backend="python")
    for got in (by_name.embed(lfw_faces, color="bgr"), as_folder.embed(lfw_faces, color="bgr")):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    rgb = by_name.embed(np.ascontiguousarray(lfw_faces[..., ::-1]), color="rgb")
    np.testing.assert_allclose(rgb, expected, rtol=1e-4, atol=1e-4)


def test_it_separates_the_small_lfw_people(by_name: Recognizer, lfw_faces: np.ndarray) -> None:
    normed = by_name.embed_normalized(lfw_faces)
    sims = normed @ normed.T
    same = [sims[2 * k, 2 * k + 1] for k in range(10)]
    person = [PAIR_PERSON[i // 2] for i in range(20)]
    different = [sims[i, j] for i in range(20) for j in range(i + 1, 20) if person[i] != person[j]]
    assert min(same) > 0.5 and max(different) < 0.3  # measured: 0.545 and 0.247


def test_a_folder_no_record_knows_takes_the_default_preprocessing_and_its_own_output_size(
    exported_model, tmp_path: Path
) -> None:
    export, _ = exported_model
    folder = tmp_path / "reference_style"
    folder.mkdir()
    for name in ("inference.pdmodel", "inference.pdiparams"):
        shutil.copy(export / name, folder / name)
    recognizer = Recognizer(folder, backend="python")
    assert recognizer.embedding_size == 64 and recognizer.meta["record"] is None
    faces = np.random.default_rng(1).integers(0, 256, size=(3, 112, 112, 3), dtype=np.uint8)
    np.testing.assert_allclose(
        recognizer.embed(faces), Recognizer(export, backend="python").embed(faces), rtol=1e-5, atol=1e-5
    )


def test_preprocessing_given_for_a_reference_folder_is_what_the_model_is_fed(
    exported_model, tmp_path: Path, seed_folder: Path
) -> None:
    from faceid.infer import PaddlePredictor

    export, _ = exported_model
    folder = tmp_path / "reference_style"
    folder.mkdir()
    for name in ("inference.pdmodel", "inference.pdiparams"):
        shutil.copy(export / name, folder / name)
    mean, std = (120.0, 110.0, 100.0), (60.0, 64.0, 70.0)
    recognizer = Recognizer(folder, backend="python", preprocess={"mean": mean, "std": std})
    faces = np.random.default_rng(2).integers(0, 256, size=(2, 112, 112, 3), dtype=np.uint8)
    batch = ((faces[..., ::-1].astype(np.float32) - mean) / np.array(std, np.float32)).transpose(0, 3, 1, 2)
    expected = PaddlePredictor(folder / "inference.pdmodel", folder / "inference.pdiparams").run(
        np.ascontiguousarray(batch, dtype=np.float32)
    )
    np.testing.assert_allclose(recognizer.embed(faces, color="bgr"), expected, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="a faceid export states its own preprocessing"):
        Recognizer(export, preprocess={"std": std})


def test_the_detector_folder_is_refused_as_a_recogniser(shared_models: Path) -> None:
    with pytest.raises(ValueError, match=r"blazeface_fpn_ssh_1000e_v1\.0_infer, a detection model, not a recogniser"):
        Recognizer(shared_models / "seed" / "blazeface_fpn_ssh_1000e_v1.0_infer")


def test_bf16_runs_its_weights_in_faceids_graph_and_keeps_its_fingerprint(
    seed_folder: Path,
    by_name: Recognizer,
    lfw_faces: np.ndarray,
    cpu_has_bf16: bool,
    empty_home: Path,
) -> None:
    """On the legacy program Paddle 3.3.1's oneDNN bf16 gives NaN, so bf16 runs the same weights in faceid's
    MobileFaceNet graph (exported once into the cache), checked against fp32 at load; the fingerprint (what a
    gallery was enrolled with) is still that of the published weights."""
    recognizer = Recognizer(seed_folder, threads=2, precision="bf16")
    cosine = _cosine(recognizer.embed(lfw_faces), by_name.embed(lfw_faces))
    assert cosine.min() >= 0.99
    assert recognizer.fingerprint == by_name.fingerprint
    if not cpu_has_bf16:
        assert recognizer.precision == "fp32"
        return
    assert recognizer.precision == "bf16" and recognizer.backend == "native"
    assert recognizer.program.parent == empty_home / "models" / f"{NAME}.faceid", recognizer.program
    assert cosine.max() < 1.0 - 1e-6  # really bf16: not the fp32 numbers


def test_auto_precision_tries_bf16_only_on_a_cpu_with_bf16(
    seed_folder: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import faceid.pipeline.recognizer as recognizer_module

    monkeypatch.setattr(recognizer_module, "cpu_has_bf16", lambda: False)
    with caplog.at_level(logging.INFO, logger="faceid.pipeline.recognizer"):
        recognizer = Recognizer(seed_folder, threads=1, precision="auto", backend="python")
    assert recognizer.precision == "fp32" and "bf16" not in caplog.text  # not tried at all
    with pytest.raises(ValueError, match=r"precision must be one of fp32, bf16, auto, fp16, got 'int8'"):
        Recognizer(seed_folder, precision="int8")


@pytest.mark.parametrize("name", ["mobileface_v2", NAME])
def test_each_recognisersdefault_rec_thresh_separates_the_small_lfw_people(
    name: str, shared_models: Path, lfw_faces: np.ndarray, by_name: Recognizer
) -> None:
    """The per-recogniser threshold in its zoo record (the FaceAnalysis default) lies between the different-person
    and the same-person similarities that recogniser gives on small_lfw."""
    from faceid.gallery import DEFAULT_REC_THRESH
    from faceid.pipeline.analysis import default_rec_thresh
    from faceid.zoo import get_record

    recognizer = by_name if name == NAME else Recognizer(name, model_source=shared_models, threads=2)
    normed = recognizer.embed_normalized(lfw_faces)
    sims = normed @ normed.T
    person = [PAIR_PERSON[i // 2] for i in range(20)]
    same = [sims[i, j] for i in range(20) for j in range(i + 1, 20) if person[i] == person[j]]
    different = [sims[i, j] for i in range(20) for j in range(i + 1, 20) if person[i] != person[j]]
    threshold = get_record(name).extra["rec_thresh"]
    assert max(different) < threshold < min(same)
    assert default_rec_thresh(name) == threshold  # what FaceAnalysis uses when no rec_thresh is given
    assert default_rec_thresh("/some/export") == DEFAULT_REC_THRESH
