#!/usr/bin/env bash
# Starts the local tritonserver (from `make triton-local`) in the foreground with
# explicit model control, on the ports given:
#   scripts/triton_start.sh --repository DIR [--address 127.0.0.1] [--http-port 8000] [--grpc-port 8001]
#       [--metrics-port 8002] [--load MODEL]... [-- extra tritonserver flags]
# The python stub ignores PYTHONPATH, so the models' own bootstrap reads
# STUDYSAVVY_TRITON_PYTHONPATH: numpy 1.x first, then the virtualenv, then this repo.
set -euo pipefail
repo_root=$(cd "$(dirname "$0")/.." && pwd)
tools=${TRITON_TOOLS_DIR:-$repo_root/.tools}
root="$tools/pytriton-${PYTRITON_VERSION:-0.7.0}"
venv=${VENV:-$repo_root/.venv}

repository="" address=127.0.0.1 http=8000 grpc=8001 metrics=8002
loads=()
while [ $# -gt 0 ]; do
  case "$1" in
    --repository) repository=$2; shift 2 ;;
    --address) address=$2; shift 2 ;;
    --http-port) http=$2; shift 2 ;;
    --grpc-port) grpc=$2; shift 2 ;;
    --metrics-port) metrics=$2; shift 2 ;;
    --load) loads+=("--load-model=$2"); shift 2 ;;
    --) shift; break ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[ -n "$repository" ] || { echo "--repository is required" >&2; exit 2; }
[ -f "$root/.ready" ] || bash "$repo_root/scripts/triton_local.sh"

site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
export STUDYSAVVY_TRITON_PYTHONPATH="$root/numpy1:$site:$repo_root"
export LD_LIBRARY_PATH="$root/nvidia_pytriton.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

exec "$root/pytriton/tritonserver/bin/tritonserver" \
  --model-repository="$repository" \
  --backend-directory="$root/pytriton/tritonserver/backends" \
  --model-control-mode=explicit \
  --strict-readiness=true \
  --exit-on-error=false \
  --http-address="$address" --http-port="$http" \
  --grpc-address="$address" --grpc-port="$grpc" \
  --metrics-port="$metrics" \
  "${loads[@]}" "$@"
