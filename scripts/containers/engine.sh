#!/usr/bin/env bash
# A private Docker engine for the container tests: `engine.sh start` / `engine.sh stop`.
#
# Debian's docker.io (dockerd 20.10, overlay2, runc) is installed when no dockerd is found
# (as root, from the apt mirror this machine already uses). The daemon gets its own data
# root, exec root, pid file and socket, and touches no host networking: no bridge, no
# iptables rules, no masquerading. Containers run on the host network, so all traffic
# stays on loopback. `stop` kills that daemon by its pid and checks that it left no mount
# behind.
#
# Prints nothing on success; source `engine.env` (written by start) for DOCKER_HOST.
#   STUDY_SAVVY_DOCKER_STATE  run folder: pid, socket, exec root, log (default /tmp/study-savvy-docker)
#   STUDY_SAVVY_DOCKER_DATA   image store, kept between runs as a build cache
#                             (default ~/.cache/study-savvy/docker)
set -euo pipefail
state=${STUDY_SAVVY_DOCKER_STATE:-/tmp/study-savvy-docker}
data=${STUDY_SAVVY_DOCKER_DATA:-$HOME/.cache/study-savvy/docker}
pidfile=$state/dockerd.pid
socket=$state/docker.sock

need() {  # need <command> <debian package>...
  local cmd=$1
  shift
  command -v "$cmd" >/dev/null 2>&1 && return
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "engine.sh: $cmd is missing and cannot be installed here (needs root and apt)" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null \
    || { apt-get update -q >/dev/null \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null; }
}

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

start() {
  need dockerd docker.io
  mkdir -p "$state" "$data"
  if ! running; then
    dockerd --data-root "$data" --exec-root "$state/exec" --pidfile "$pidfile" \
      --host "unix://$socket" --iptables=false --ip-masq=false --ip6tables=false \
      --bridge=none --storage-driver overlay2 >"$state/dockerd.log" 2>&1 &
    for _ in $(seq 100); do
      [ -S "$socket" ] && DOCKER_HOST="unix://$socket" docker version >/dev/null 2>&1 && break
      sleep 0.2
    done
  fi
  DOCKER_HOST="unix://$socket" docker version >/dev/null \
    || { tail -20 "$state/dockerd.log" >&2; exit 1; }
  echo "export DOCKER_HOST=unix://$socket" >"$state/engine.env"
}

stop() {
  if running; then
    local pid
    pid=$(cat "$pidfile")
    kill "$pid"
    for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
  fi
  # dockerd unmounts its overlays on the way out but leaves the bind mount of its default
  # network namespace (exec/netns/default): unmount what is left under our folders, then
  # say so if anything stays.
  { grep -e " $data/" -e " $state/" /proc/mounts || true; } | awk '{print $2}' | sort -r | xargs -r umount
  if grep -q -e " $data/" -e " $state/" /proc/mounts; then
    echo "engine.sh: mounts left behind:" >&2
    grep -e " $data/" -e " $state/" /proc/mounts >&2
    exit 1
  fi
  rm -f "$state/engine.env"
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  *) echo "usage: engine.sh start|stop" >&2; exit 2 ;;
esac
