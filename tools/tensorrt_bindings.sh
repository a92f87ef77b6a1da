#!/usr/bin/env bash
# Dump the exact Python API of TensorRT's and cuda-python's real bindings to tests/data/tensorrt_api/.
#
# The bindings wheels (tensorrt-bindings 8.6, tensorrt-cu12-bindings 10.x/11.x, about 1 MB each)
# are real; only TensorRT's C libraries are missing here. tensorrt.so links about nine C entry
# points (readelf -d / nm -D --undefined-only on it); a stub defining them (returning NULL),
# compiled under each soname libnvinfer.so.N etc., lets the real module import without a GPU.
# cuda-python / cuda-bindings import without a driver. Usage: tools/tensorrt_bindings.sh [WORKDIR]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${1:-${TMPDIR:-/tmp}/edgekit-bindings}"
OUT="$ROOT/tests/data/tensorrt_api"
PY="${PYTHON:-python3}"
PYVER="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
TRT=("tensorrt-bindings==8.6.1" "tensorrt-cu12-bindings==10.3.0" "tensorrt-cu12-bindings==10.7.0"
     "tensorrt-cu12-bindings==10.13.3.9" "tensorrt-cu12-bindings==10.16.1.11"
     "tensorrt-cu12-bindings==11.4.0.106")
# module:package==version (cuda-python <= 12.6.0 is one wheel; later ones split into cuda-bindings)
CUDA=("cuda.cudart:cuda-bindings==11.8.7" "cuda.cudart:cuda-python==12.2.1"
      "cuda.cudart:cuda-python==12.6.0" "cuda.bindings.runtime:cuda-bindings==13.0.3")
mkdir -p "$WORK/wheels" "$WORK/stub" "$OUT"

fetch() {  # fetch SPEC DIR: download one wheel (no deps) for this Python and unpack it into DIR
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$PYVER" \
    --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 -d "$WORK/wheels/$2" "$1"
  mkdir -p "$WORK/site/$2"
  "$PY" -m zipfile -e "$WORK/wheels/$2"/*.whl "$WORK/site/$2"
}

cat > "$WORK/stub/stub.c" <<'C'
/* The C entry points tensorrt.so links (nm -D --undefined-only); all return NULL / 0. */
#define STUB(name) void *name(void) { return 0; }
STUB(createInferBuilder_INTERNAL) STUB(createInferRefitter_INTERNAL)
STUB(createInferRuntime_INTERNAL) STUB(createNvOnnxParser_INTERNAL)
STUB(createNvOnnxParserRefitter_INTERNAL) STUB(getBuilderPluginRegistry)
STUB(getPluginRegistry) STUB(initLibNvInferPlugins)
int getNvOnnxParserVersion(void) { return 0; }
int getInferLibVersion(void) { return 0; }
/* 8.6 only: the legacy UFF and Caffe parsers (C++ names, mangled) */
STUB(_ZN11nvuffparser15createUffParserEv)
STUB(_ZN11nvuffparser8FieldMapC1EPKcPKvNS_9FieldTypeEi)
STUB(_ZN14nvcaffeparser117createCaffeParserEv)
STUB(_ZN14nvcaffeparser123shutdownProtobufLibraryEv)
C
for major in 8 10 11; do
  mkdir -p "$WORK/stub/$major"
  for lib in nvinfer nvonnxparser nvinfer_plugin nvparsers; do
    ${CC:-cc} -shared -fPIC -o "$WORK/stub/$major/lib$lib.so.$major" -Wl,-soname,"lib$lib.so.$major" "$WORK/stub/stub.c"
  done
done

for spec in "${TRT[@]}"; do
  name="${spec%%==*}"; version="${spec##*==}"; major="${version%%.*}"
  fetch "$spec" "$name-$version"
  PYTHONPATH="$WORK/site/$name-$version" LD_LIBRARY_PATH="$WORK/stub/$major" \
    "$PY" "$ROOT/tools/dump_bindings_api.py" tensorrt_bindings "$name" "$version" "$OUT/tensorrt-$version.json"
done
fetch "cuda-pathfinder" cuda-pathfinder
for entry in "${CUDA[@]}"; do
  module="${entry%%:*}"; spec="${entry#*:}"; name="${spec%%==*}"; version="${spec##*==}"
  fetch "$spec" "$name-$version"
  PYTHONPATH="$WORK/site/$name-$version:$WORK/site/cuda-pathfinder" \
    "$PY" "$ROOT/tools/dump_bindings_api.py" "$module" "$name" "$version" "$OUT/cuda-$version.json" cuda
done
