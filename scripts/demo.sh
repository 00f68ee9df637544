#!/usr/bin/env bash
# The main job, end to end, on the embedded sandbox (what `make demo` runs):
# onboard a client, release v1 and v2, ship a broken v3 that is rolled back by
# itself, roll back explicitly, show status and history, stop the sandbox.
set -euo pipefail
cd "$(dirname "$0")/.."
export NO_COLOR=1 CHECKPOINT_DISABLE=1
export COSYDEPLOY_SANDBOX_STATE="$PWD/.cosydeploy/demo/sandbox.json"
cosy() { .venv/bin/cosydeploy "$@"; }
say() { printf '\n\033[1m### %s\033[0m\n' "$*" | sed 's/\x1b\[[0-9;]*m//g'; }
expect_exit() {  # expect_exit CODE cmd...: run, show, and insist on the documented exit code
  local want=$1; shift
  set +e; "$@"; local got=$?; set -e
  if [ "$got" != "$want" ]; then echo "demo: expected exit $want from '$*', got $got" >&2; exit 1; fi
  echo "(exit $got, as expected)"
}

rm -rf .cosydeploy/demo .cosydeploy/tf/example-dev
say "Start the sandbox: moto (AWS APIs), a registry standing in for ECR, and a rollout driver on the local Docker engine"
cosy sandbox up --detach
trap 'say "Stop the sandbox"; cosy sandbox down' EXIT
export COSYDEPLOY_SANDBOX=1

say "Validate the manifests and show what the example client resolves to in dev"
cosy validate
cosy clients show example --env dev

say "Onboard: manifest -> Terraform workspace example-dev -> infrastructure"
cosy onboard example --env dev --yes
say "Onboard again: nothing changes"
cosy onboard example --env dev --yes

say "A release refuses while required secrets have no value"
expect_exit 2 cosy secrets check example --env dev
for name in DISCORD_BOT_TOKEN ENCRYPTION_KEY GOOGLE_AI_API_KEY MONGO_URI OPENROUTER_API_KEY TELEGRAM_BOT_TOKEN; do
  printf 'demo-%s-value' "$name" | cosy secrets set example --env dev "$name"
done
cosy secrets list example --env dev

say "Release v1: build once, push to ECR, roll out, watch the deployment by id, verify /health/ready"
cosy release v1 --client example --env dev
say "Release v2"
cosy release v2 --client example --env dev
say "Release v2 again: the same digest is already serving, nothing changes"
cosy release v2 --client example --env dev

say "Release a broken v3 (crashes at start): the circuit breaker trips, cosydeploy rolls back to v2 and exits 1"
expect_exit 1 cosy release v3 --client example --env dev --build-arg BREAK=crash

say "Roll back explicitly to the release before the one serving (v1), watched the same way"
cosy rollback example --env dev

say "Status and history"
cosy status example --env dev
cosy history example --env dev
say "Demo finished: every step ended in the state it claimed"
