#!/usr/bin/env bash
# Fills wheels/ (the images' local wheel folder) for the given roles: `wheels.sh worker asr`.
# Every wheel the role's lock names, downloaded with its hash checked, plus the build
# backend the project's own install needs (setuptools, at the dev lock's version), plus the
# CPU torch wheel for the inference roles, copied from the local folder TORCH_WHEELS (see
# scripts/uv.sh). Run where the package index is reachable; carry wheels/ to the
# air-gapped builder with the repository.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=wheels
python=${PYTHON:-.venv/bin/python}
setuptools=$(grep -o '^setuptools==[^ ]*' requirements/dev.txt)
for role in "$@"; do
  # Wheels where the index has them; an sdist (openai-whisper has none) is built in the image.
  "$python" -m pip download -q --disable-pip-version-check --no-deps --require-hashes \
    -r "requirements/$role.txt" -d "$out"
  case $role in
    asr | ocr | triton)
      torch=$(compgen -G "${TORCH_WHEELS:-/opt/wheels}/torch-2.13.0+cpu-*.whl" | head -1 || true)
      [ -n "$torch" ] || { echo "wheels.sh: no CPU torch wheel in ${TORCH_WHEELS:-/opt/wheels}" >&2; exit 1; }
      cp -u "$torch" "$out/"
      ;;
  esac
done
"$python" -m pip download -q --disable-pip-version-check --no-deps --only-binary :all: \
  "$setuptools" -d "$out"
