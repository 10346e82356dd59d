"""`faceid models list|get`."""

from __future__ import annotations

from pathlib import Path

import pytest

from faceid.cli.main import main


def test_models_list_shows_every_record_with_licence_and_hash(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    for name in (
        "blazeface_short",
        "mobileface_v2",
        "mtcnn_onet",
        "mobileface_v1.0_infer",
        "arcface_iresnet50_v1.0_infer",
    ):
        assert name in out
    assert "sha256 bbff11cebd1e" in out and "sha256 unknown" in out and "non-commercial" in out


def test_models_get_converts_into_the_cache(
    shared_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FACEID_HOME", str(tmp_path))
    assert main(["models", "get", "mobileface_v2", "--model-source", str(shared_models)]) == 0
    assert (tmp_path / "models" / "mobileface_v2" / "faceid.json").is_file()
    assert main(["models", "get", "blazeface_short", "--model-source", str(shared_models)]) == 0
    assert main(["models", "get", "mtcnn_onet", "--model-source", str(shared_models)]) == 0
    capsys.readouterr()
    assert main(["models", "get", "mobileface_v1.0_infer", "--model-source", str(shared_models)]) == 0
    folder = Path(capsys.readouterr().out.split(": ", 1)[1].strip())
    assert {"inference.pdmodel", "inference.pdiparams"} <= {path.name for path in folder.iterdir()}
    assert main(["models", "get", "no_such_model"]) == 2
    assert "unknown pretrained model 'no_such_model'" in capsys.readouterr().err
    assert main(["models", "get", "mobileface_v2", "--model-source", str(tmp_path / "nowhere")]) == 0  # cached
