#!/usr/bin/env bash
# Fast native rebuild for development: builds rbic_fast._core into build/dev and links it into
# python/rbic_fast so that `PYTHONPATH=python pytest` runs against the working tree.
# Usage: tools/dev_build.sh [extra cmake -D options], e.g. tools/dev_build.sh -DRBIC_CUDA=OFF
set -euo pipefail
cd "$(dirname "$0")/.."
build=${RBIC_BUILD_DIR:-build/dev}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=${RBIC_BUILD_TYPE:-Release} \
  -Dpybind11_DIR="$(python -m pybind11 --cmakedir)" -DPython_EXECUTABLE="$(command -v python)" "$@" >/dev/null
cmake --build "$build" -j "${RBIC_JOBS:-2}"
so=$(ls "$build"/_core*.so)
ln -sf "$(realpath "$so")" python/rbic_fast/
echo "built $so -> python/rbic_fast/"
