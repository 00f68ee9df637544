#!/usr/bin/env bash
# Run test tiers side by side, each its own process with its own log (tiers that share
# nothing: no Docker engine, no sandbox's rollout driver). Each log is printed whole, in
# the order given, once its tier has ended; the exit code is non-zero if any tier failed.
#
#   scripts/tiers.sh "CMD1" "CMD2" ...
set -u
# Job control: each tier runs in a process group of its own, with SIGINT as a foreground
# command has it (a non-interactive shell's background jobs would ignore it, and so
# would Python in them: no KeyboardInterrupt, a CLI under test deaf to Ctrl-C). A Ctrl-C
# or kill of this script is passed on to every tier.
set -m
logs=$(mktemp -d)
pids=()
stop() {
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null; done
  exit 130
}
trap stop INT TERM
trap 'rm -rf "$logs"' EXIT
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
