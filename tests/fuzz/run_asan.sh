#!/usr/bin/env bash
# Long fuzzing run against an AddressSanitizer build of the extension (gcc's libasan).
#   bash tests/fuzz/run_asan.sh [RUNS]      (from the repository root, in the project's venv)
# Builds build/asan, stages a copy of the package with that extension under build/asan-pkg,
# then runs the native-code fuzz targets and the native unit tests under ASan.
set -euo pipefail
runs="${1:-200000}"
py="$(command -v python)"
cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFACEID_SANITIZE=address -DFACEID_CUDA=OFF \
  -DPython_EXECUTABLE="$py" -Dpybind11_DIR="$("$py" -m pybind11 --cmakedir)" >/dev/null
cmake --build build/asan -j"$(nproc)"
rm -rf build/asan-pkg && mkdir -p build/asan-pkg && cp -r python/faceid build/asan-pkg/
rm -f build/asan-pkg/faceid/_C*.so && cp build/asan/_C*.so build/asan-pkg/faceid/
# An editable install's import hook would otherwise win over PYTHONPATH and load the normal extension:
# sitecustomize (imported after the .pth hooks) removes it.
cat > build/asan-pkg/sitecustomize.py <<'PY'
import sys

sys.meta_path[:] = [f for f in sys.meta_path if not type(f).__module__.startswith("_editable")]
PY
# libstdc++ must be preloaded with libasan so that exceptions work; Paddle itself has an
# alloc/dealloc mismatch at exit, which is not ours.
export LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libstdc++.so)"
mkdir -p build/fuzz-artifacts  # crash-*/leak-* inputs land here, never in the working tree
export ASAN_OPTIONS=detect_leaks=0:alloc_dealloc_mismatch=0 PYTHONPATH=build/asan-pkg
python -c "from faceid import _C; assert _C.build_info()['sanitizer'] == 'address', _C.__file__"
for target in kvbin jpeg recordio unpickler; do
  python tests/fuzz/fuzz_targets.py "$target" "build/asan-corpus/$target" "-runs=$runs" -max_len=4096 \
    -timeout=10 -rss_limit_mb=4096 -artifact_prefix=build/fuzz-artifacts/ 2>&1 | tail -n 1
done
# The native op tests, less the one that runs a detector through Paddle (Paddle's own libraries, e.g.
# libmklml_intel.so, do not load under the ASan preload).
python -m pytest tests/ops tests/data/test_batch_reader.py tests/data/test_loader.py -q -p no:cacheprovider \
  --deselect tests/ops/test_detect.py::test_real_outputs_match_reference
