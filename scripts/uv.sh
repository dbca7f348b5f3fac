# Sourced by scripts/install.sh and scripts/lock.sh (from the repository root). Sets:
#   uv            the pinned uv, installed from PyPI into .tools/uv on first use;
#   torch_source  where the CPU torch wheel (torch==2.13.0+cpu) comes from: the local wheel
#                 folder TORCH_WHEELS where one is at hand (default /opt/wheels, as on
#                 these machines), else PyTorch's CPU index. Both serve the same file, so
#                 the lock's hash holds for either.
UV_VERSION=0.13.9
if [ "$(.tools/uv/bin/uv --version 2>/dev/null)" != "uv $UV_VERSION" ]; then
  python3.11 -m venv .tools/uv 2>/dev/null || python3 -m venv .tools/uv
  .tools/uv/bin/python -m pip install -q "uv==$UV_VERSION"
fi
uv=$PWD/.tools/uv/bin/uv
torch_source=(--index-strategy unsafe-best-match --extra-index-url https://download.pytorch.org/whl/cpu)
if compgen -G "${TORCH_WHEELS:-/opt/wheels}/torch-*.whl" >/dev/null; then
  torch_source=(--find-links "${TORCH_WHEELS:-/opt/wheels}")
fi
