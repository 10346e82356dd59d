"""Model fingerprints: the digest of an export's faceid.json, or of inference.pdiparams for a reference folder."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from faceid.errors import InputError
from faceid.export.fingerprint import model_fingerprint


def test_fingerprint_is_the_digest_of_faceid_json_or_the_params(tmp_path: Path, exported_model) -> None:
    export, _ = exported_model
    assert model_fingerprint(export) == hashlib.sha256((export / "faceid.json").read_bytes()).hexdigest()
    reference = tmp_path / "reference"
    reference.mkdir()
    (reference / "inference.pdiparams").write_bytes(b"weights")
    (reference / "inference.pdmodel").write_bytes(b"program")
    assert model_fingerprint(reference) == hashlib.sha256(b"weights").hexdigest()
    other = tmp_path / "exported"  # same folder name, another export
    shutil.copytree(export, other)
    meta = json.loads((other / "faceid.json").read_text())
    (other / "faceid.json").write_text(json.dumps({**meta, "source": "another run"}))
    assert model_fingerprint(other) != model_fingerprint(export)
    with pytest.raises(InputError) as error:
        model_fingerprint(tmp_path / "empty_dir_that_is_missing")
    assert "empty_dir_that_is_missing" in str(error.value)


def test_recognizer_exposes_its_fingerprint(exported_model) -> None:
    from faceid.pipeline.recognizer import Recognizer

    export, _ = exported_model
    assert Recognizer(export, backend="python").fingerprint == model_fingerprint(export)
