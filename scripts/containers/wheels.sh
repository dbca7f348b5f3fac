#!/usr/bin/env bash
# Fills wheels/ (the images' local wheel folder) for the given roles: `wheels.sh worker asr`.
# The worker image's build also runs its Flower stage (the classic builder builds every
# stage above its target): `wheels.sh worker flower`.
# Every wheel the role's lock names, downloaded with its hash checked, plus the build
# backend the project's own install needs (setuptools, at the dev lock's version), plus the
# CPU torch wheel for the inference roles at the dev lock's version, copied from the local
# folder TORCH_WHEELS where it is there (see scripts/uv.sh), else downloaded from PyTorch's
# CPU index. Run where the package index is reachable; carry wheels/ to the air-gapped
# builder with the repository.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=wheels
python=${PYTHON:-.venv/bin/python}
# This machine's pip may name extra find-links folders that do not exist: not our news.
download() { "$python" -m pip download -q --disable-pip-version-check --no-deps "$@" -d "$out" \
  2> >(grep -v '^WARNING: Location .* is ignored' >&2); }
setuptools=$(grep -o '^setuptools==[^ ]*' requirements/dev.txt)
torch_pin=$(grep -o '^torch==[^ ]*' requirements/dev.txt)  # torch==2.13.0+cpu
for role in "$@"; do
  # Wheels where the index has them; an sdist (openai-whisper has none) is built in the image.
  download --require-hashes -r "requirements/$role.txt"
  case $role in
    asr | ocr | triton)
      torch=$(compgen -G "${TORCH_WHEELS:-/opt/wheels}/torch-${torch_pin#torch==}-*.whl" | head -1 || true)
      if [ -n "$torch" ]; then
        cp -u "$torch" "$out/"
      else
        # The lock's own entry (pin and hashes), so the download is checked like the rest.
        awk '/^torch==/{on=1} on{print} on && !/\\$/{exit}' requirements/dev.txt >"$out/.torch.txt"
        download --require-hashes --index-url https://download.pytorch.org/whl/cpu -r "$out/.torch.txt"
        rm -f "$out/.torch.txt"
      fi
      ;;
  esac
done
download --only-binary :all: "$setuptools"
