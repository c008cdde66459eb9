#!/usr/bin/env bash
# Time to revoke, end to end: starts a fresh orgscim on loopback with its Shared Signals
# transmitter, registers a receiver, and runs `orgscim load --ssf-token` (create, then
# deactivate every user at --concurrency), which runs a push receiver on 127.0.0.1 and
# reports "time_to_revoke": from each SCIM PATCH active=false to its RISC
# account-disabled SET received and verified. Prints the load tool's JSON and the load
# average. Loopback only.
#
# usage: scripts/ssf-time-to-revoke.sh DATABASE_URL [load flags...]
#   e.g. scripts/ssf-time-to-revoke.sh sqlite:/tmp/ttr/orgscim.db --users 2000 --concurrency 16
set -euo pipefail
cd "$(dirname "$0")/.."
db="${1:?usage: scripts/ssf-time-to-revoke.sh DATABASE_URL [load flags...]}"; shift
bin=bin/orgscim
tmp="${TMPDIR:-/tmp}"
export ORGSCIM_AUDIT_KEY_FILE="${ORGSCIM_AUDIT_KEY_FILE:-$tmp/orgscim-load-audit.key}"
export ORGSCIM_SSF_KEY_FILE="${ORGSCIM_SSF_KEY_FILE:-$tmp/orgscim-load-ssf.key}"
[ -x "$bin" ] || CGO_ENABLED=0 go build -o "$bin" ./cmd/orgscim
slug="ttr$(date +%s)"
"$bin" org create --database "$db" --name "$slug" --slug "$slug" >/dev/null
token=$("$bin" connection create --database "$db" --org "$slug" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
receiver=$("$bin" ssf receiver add --database "$db" --name "$slug" --connection "$slug" --json)
ssf_token=$(printf %s "$receiver" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
receiver_id=$(printf %s "$receiver" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" serve --database "$db" --addr "127.0.0.1:$port" --rate-limit 0 >/dev/null 2>/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true; "$bin" ssf receiver revoke --database "$db" --id "$receiver_id" >/dev/null 2>&1 || true' EXIT
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
"$bin" load --url "http://127.0.0.1:$port/scim/v2/$slug" --token "$token" --ssf-token "$ssf_token" \
  --phases create,deactivate --json "$@"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
