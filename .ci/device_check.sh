#!/usr/bin/env bash
# Run ON THE GPU MACHINE from the repository root, after .ci/device_prepare.sh ran on a machine with network
# and .ci/wheels/ came along. Needs only what that machine has: CUDA (nvcc), Python 3 with numpy, cmake and
# ninja; no network, no Paddle, no OpenCV. Installs the build requirements and pytest from .ci/wheels only
# (--no-index), builds faceid with the CUDA kernels required (FACEID_CUDA=ON), runs the tests marked `cuda`
# (those that need Paddle skip with a reason where it is absent) and prints the GPU kernel's timings next to
# the CPU kernel's. Exit status: the build's or the tests'.
set -euo pipefail
cd "$(dirname "$0")/.."
wheels="${FACEID_DEVICE_WHEELS:-.ci/wheels}"
if ! [ -d "$wheels" ]; then
  echo "device_check: no $wheels: run .ci/device_prepare.sh first (where there is network)" >&2
  exit 2
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || echo "device_check: no nvidia-smi"

venv="${FACEID_DEVICE_VENV:-$(mktemp -d)/venv}"
python3 -m venv --system-site-packages "$venv"  # the machine's numpy
# shellcheck disable=SC1091
source "$venv/bin/activate"
# --ignore-installed: everything but numpy comes from the wheels, even where the system has a copy.
python -m pip install -q --no-index --find-links "$wheels" --ignore-installed scikit-build-core pybind11 pytest
FACEID_CUDA=ON python -m pip install -q --no-index --no-deps --no-build-isolation -Cbuild-dir=build/device .
python -c "import faceid, json; print(json.dumps(faceid.info(), indent=1))"

# The GPU tests, chosen by marker: the files that use it, then -m cuda within them.
mapfile -t files < <(grep -rlE --include='test_*.py' 'pytest\.mark\.cuda' tests | sort)
python -m pytest -m cuda -q -rs -p no:cacheprovider "${files[@]}"

python - <<'PY'
import time

import numpy as np

import faceid
from faceid.ops.image import cuda_flip_normalize, hwc_to_chw

info = faceid.info()
if info["cuda_devices"] == 0:
    print(f"no timings: no CUDA device ({info['cuda_reason']})")
    raise SystemExit(0)
for batch in (32, 256):
    images = np.random.default_rng(0).integers(0, 256, size=(batch, 112, 112, 3), dtype=np.uint8)
    flips = np.arange(batch) % 2
    assert cuda_flip_normalize(images, flips).tobytes() == hwc_to_chw(images, flips).tobytes()
    medians = {}
    for name, fn in (("cpu hwc_to_chw", hwc_to_chw), ("cuda_flip_normalize", cuda_flip_normalize)):
        fn(images, flips)
        times = []
        for _ in range(20):
            started = time.perf_counter()
            fn(images, flips)
            times.append(time.perf_counter() - started)
        medians[name] = float(np.median(times))
        print(f"batch {batch:4d} {name:22s} {medians[name] * 1e6 / batch:8.2f} us/img (host to host)")
    print(f"batch {batch:4d} cuda / cpu time: {medians['cuda_flip_normalize'] / medians['cpu hwc_to_chw']:.2f}")
PY
