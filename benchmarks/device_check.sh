#!/usr/bin/env bash
# One prepared check for a machine with an NVIDIA GPU (run it from the repository root, wherever a GPU is
# available): builds faceid with the CUDA kernels required, runs every GPU test (the CUDA preprocessing
# kernel against the CPU kernel; fused margin loss and fp16 training too when Paddle itself has CUDA) and
# prints timings of the GPU preprocessing kernel next to the CPU one. Exit status: the tests'.
set -euo pipefail
cd "$(dirname "$0")/.."
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
venv="${FACEID_DEVICE_VENV:-$(mktemp -d)/venv}"
python3 -m venv "$venv"
# shellcheck disable=SC1091
source "$venv/bin/activate"
python -m pip install -q --upgrade pip
FACEID_CUDA=ON python -m pip install -q ".[test]"
python -c "import faceid, json; print(json.dumps(faceid.info(), indent=1))"
python -m pytest tests -q -rs -k "cuda or gpu or fused or fp16" --no-header
python - <<'PY'
import time

import numpy as np

from faceid.ops.image import cuda_flip_normalize, hwc_to_chw

for batch in (32, 256):
    images = np.random.default_rng(0).integers(0, 256, size=(batch, 112, 112, 3), dtype=np.uint8)
    flips = np.arange(batch) % 2
    assert cuda_flip_normalize(images, flips).tobytes() == hwc_to_chw(images, flips).tobytes()
    for name, fn in (("cpu hwc_to_chw", hwc_to_chw), ("cuda_flip_normalize", cuda_flip_normalize)):
        fn(images, flips)
        times = []
        for _ in range(20):
            started = time.perf_counter()
            fn(images, flips)
            times.append(time.perf_counter() - started)
        print(f"batch {batch:4d} {name:22s} {np.median(times) * 1e6 / batch:8.2f} us/img (host to host)")
PY
