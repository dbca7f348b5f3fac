#!/usr/bin/env bash
# Base images made here, for a build that can reach no image registry (air-gapped, or CI):
# a minimal Debian bookworm from the apt mirror this machine already uses (debootstrap
# --variant=minbase), imported into the engine of DOCKER_HOST as study-savvy/base:bookworm,
# with Python 3.11 from Debian. Then local stand-ins are tagged for the images that the
# Dockerfiles name by default, so that `FROM ${PYTHON_IMAGE}` finds one:
#   python:3.11.13-slim-bookworm   <- study-savvy/base:bookworm
#   ghcr.io/astral-sh/uv:0.8.22     <- /uv from the uv wheel on PyPI (inference/Dockerfile)
# Existing images are kept (delete them to rebuild). Needs root (debootstrap).
set -euo pipefail
BASE=study-savvy/base:bookworm
STANDINS=(python:3.11.13-slim-bookworm)

if ! docker image inspect "$BASE" >/dev/null 2>&1; then
  command -v debootstrap >/dev/null 2>&1 \
    || DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null
  # The mirror apt uses here (deb822 sources first, then the classic list).
  mirror=$(grep -h -m1 -o '^URIs: *\S*debian\b' /etc/apt/sources.list.d/*.sources 2>/dev/null \
    | awk '{print $2}' | head -1 || true)
  if [ -z "$mirror" ]; then
    mirror=$(grep -h -m1 -o '^deb \S*debian\b' /etc/apt/sources.list | awk '{print $2}' | head -1)
  fi
  root=$(mktemp -d /tmp/study-savvy-rootfs.XXXXXX)
  trap 'rm -rf "$root"' EXIT
  debootstrap --variant=minbase \
    --include=python3,python3-venv,python-is-python3,ca-certificates,passwd \
    bookworm "$root" "$mirror" >/dev/null
  # No package lists or caches in the image; apt in a later layer updates its own.
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb
  tar -C "$root" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' - "$BASE" >/dev/null
fi
for image in "${STANDINS[@]}"; do
  docker image inspect "$image" >/dev/null 2>&1 || docker tag "$BASE" "$image"
done

# uv's image holds one file, /uv; the wheel on PyPI carries the same binary.
UV_IMAGE=ghcr.io/astral-sh/uv:0.8.22
if ! docker image inspect "$UV_IMAGE" >/dev/null 2>&1; then
  context=$(mktemp -d /tmp/study-savvy-uv.XXXXXX)
  python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary :all: \
    --platform manylinux_2_17_x86_64 --python-version 3.11 "uv==${UV_IMAGE##*:}" -d "$context"
  python3 -m zipfile -e "$context"/uv-*.whl "$context/wheel"
  install -m 0755 "$context"/wheel/uv-*.data/scripts/uv "$context/uv"
  printf 'FROM scratch\nCOPY uv /uv\n' >"$context/Dockerfile"
  docker build -q -t "$UV_IMAGE" "$context" >/dev/null
  rm -rf "$context"
fi
