#!/usr/bin/env bash
# Prepares a local Triton Inference Server from the nvidia-pytriton wheel (see
# docs/triton.md). The wheel is unpacked, never installed: it pins numpy<2 and an old
# tritonclient, and we only want its tritonserver binary and python backend.
# Idempotent: a finished run leaves a stamp and later runs return at once.
set -euo pipefail
cd "$(dirname "$0")/.."

version=${PYTRITON_VERSION:-0.7.0}
tools=${TRITON_TOOLS_DIR:-.tools}
root="$tools/pytriton-$version"
stamp="$root/.ready"
pip=${PIP:-.venv/bin/pip}

if [ -f "$stamp" ]; then
  echo "triton-local: ready in $root"
  exit 0
fi

mkdir -p "$tools"
work=$(mktemp -d "$tools/.download.XXXXXX")
trap 'rm -rf "$work"' EXIT

"$pip" download -q --no-deps --only-binary=:all: --dest "$work" "nvidia-pytriton==$version"
wheel=$(ls "$work"/nvidia_pytriton-"$version"-*.whl)
rm -rf "$root.partial"
mkdir -p "$root.partial"
python3 - "$wheel" "$root.partial" <<'PY'
import sys, zipfile
# zipfile drops the executable bits; the binaries get them back below.
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])
PY

server="$root.partial/pytriton/tritonserver"
chmod +x "$server/bin/tritonserver" "$server"/python_backend_stubs/*/triton_python_backend_stub
# The python backend looks for its stub beside libtriton_python.so; this one embeds
# the system libpython3.11.
cp "$server/python_backend_stubs/3.11/triton_python_backend_stub" \
  "$server/backends/python/triton_python_backend_stub"

# triton_python_backend_utils was built against numpy 1.x: model.py puts this folder
# first on sys.path, ahead of the virtualenv (which has numpy 2).
"$pip" install -q --no-deps --target "$root.partial/numpy1" "numpy==1.26.4"

rm -rf "$root"
mv "$root.partial" "$root"
touch "$stamp"
echo "triton-local: ready in $root"
