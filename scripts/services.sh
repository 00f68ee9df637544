#!/usr/bin/env bash
# Installs and starts what the test suite and the demo need on a fresh Debian
# machine: a Docker engine (vfs storage, host networking only), Debian's
# docker-registry program (the sandbox starts it on demand) and a static busybox
# (the test images are FROM scratch with /bin/busybox), and tmux (the terminal tier).
#
#   scripts/services.sh up     install what is missing, start dockerd if no engine answers
#   scripts/services.sh down   stop the dockerd this script started (by its PID)
set -euo pipefail
cd "$(dirname "$0")/.."
state=.cache/services
mkdir -p "$state"

need_packages() {
  local missing=()
  command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
  command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
  dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
  command -v tmux >/dev/null 2>&1 || missing+=(tmux)  # the terminal tier (tests/tty)
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
      echo "services: missing ${missing[*]}; install them as root: apt-get install -y ${missing[*]}" >&2
      exit 2
    fi
    echo "services: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >"$state/apt.log" 2>&1 || { cat "$state/apt.log" >&2; exit 2; }
  fi
}

engine_up() {
  docker info >/dev/null 2>&1
}

start_engine() {
  if engine_up; then
    echo "services: Docker engine already answering" >&2
    return 0
  fi
  echo "services: starting dockerd (vfs, no bridge, no iptables)" >&2
  nohup dockerd --storage-driver=vfs --iptables=false --ip6tables=false --bridge=none \
    --data-root /var/lib/docker >"$state/dockerd.log" 2>&1 &
  echo $! >"$state/dockerd.pid"
  for _ in $(seq 1 120); do
    engine_up && { echo "services: Docker engine ready" >&2; return 0; }
    sleep 0.5
  done
  echo "services: dockerd did not answer within 60 s; see $state/dockerd.log" >&2
  tail -n 20 "$state/dockerd.log" >&2 || true
  exit 2
}

case "${1:-up}" in
  up)
    need_packages
    start_engine
    ;;
  down)
    if [ -f "$state/dockerd.pid" ]; then
      pid=$(cat "$state/dockerd.pid")
      kill "$pid" 2>/dev/null || true
      rm -f "$state/dockerd.pid"
    fi
    ;;
  *)
    echo "usage: scripts/services.sh up|down" >&2
    exit 2
    ;;
esac
