"""What pyproject.toml declares agrees with the package."""

from __future__ import annotations

import importlib.metadata

import faceid


def test_the_installed_version_is_the_package_version() -> None:
    # pyproject.toml reads the version from faceid/__init__.py (scikit-build-core's regex provider).
    assert importlib.metadata.version("faceid") == faceid.__version__
