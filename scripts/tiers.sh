#!/usr/bin/env bash
# Run test tiers side by side, each its own process with its own log (tiers that share
# nothing: no Docker engine, no sandbox's rollout driver). Each log is printed whole, in
# the order given, once its tier has ended; the exit code is non-zero if any tier failed.
#
#   scripts/tiers.sh "CMD1" "CMD2" ...
set -u
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
pids=()
i=0
for cmd in "$@"; do
  bash -c "$cmd" >"$logs/$i.log" 2>&1 &
  pids+=("$!")
  i=$((i + 1))
done
rc=0
i=0
for cmd in "$@"; do
  if wait "${pids[$i]}"; then state=passed; else state=FAILED; rc=1; fi
  echo "=== $cmd: $state"
  cat "$logs/$i.log"
  i=$((i + 1))
done
exit "$rc"
