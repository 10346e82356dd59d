#!/usr/bin/env bash
# Run HERE (with network) before the GPU check: downloads into .ci/wheels/ (ignored by git) the wheels that
# .ci/device_check.sh installs on the GPU machine, which has CUDA, Python 3.12, numpy, cmake and ninja but
# no network and no Paddle. That is the build requirements (pyproject's [build-system] requires: pure-Python
# scikit-build-core and pybind11) and pytest, with their dependencies, as wheels for Python 3.12
# (FACEID_DEVICE_PYTHON_VERSION to change); a few MB, well inside the 64 MiB the device takes along.
set -euo pipefail
cd "$(dirname "$0")/.."
wheels="${FACEID_DEVICE_WHEELS:-.ci/wheels}"
python_version="${FACEID_DEVICE_PYTHON_VERSION:-3.12}"

# The requirements come from pyproject.toml, so that the device builds with what a normal install uses.
mapfile -t requirements < <(python3 - <<'PY'
import tomllib

with open("pyproject.toml", "rb") as f:
    project = tomllib.load(f)
for requirement in project["build-system"]["requires"]:
    print(requirement)
for requirement in project["project"]["optional-dependencies"]["test"]:
    if requirement.split(">")[0].split("=")[0].strip() == "pytest":
        print(requirement)
PY
)
rm -rf "$wheels"
mkdir -p "$wheels"
python3 -m pip download -q --dest "$wheels" --only-binary=:all: --python-version "$python_version" "${requirements[@]}"
echo "device_prepare: ${requirements[*]} -> $wheels ($(du -sh "$wheels" | cut -f1)):"
ls "$wheels"
