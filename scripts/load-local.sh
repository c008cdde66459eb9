#!/usr/bin/env bash
# Starts a fresh orgscim on loopback, runs `orgscim load` against it and prints the
# load tool's JSON plus the server's peak resident memory. Loopback only. On PostgreSQL
# the server connects with an application_name of its own, which the load tool's
# --postgres uses to find its backends and report their CPU per request.
#
# usage: scripts/load-local.sh DATABASE_URL [load flags...]
#   e.g. scripts/load-local.sh 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable&search_path=load' --users 100000
# IDP (default generic) is the connection's IdP: a PATCH on an entra connection answers
# 204, on okta and generic 200 with the resource (a group's answer lists every member).
set -euo pipefail
cd "$(dirname "$0")/.."
db="${1:?usage: scripts/load-local.sh DATABASE_URL [load flags...]}"; shift
bin=bin/orgscim
# The audit log's signing key: kept by the caller's ORGSCIM_AUDIT_KEY_FILE, else one next
# to this run's data (a PostgreSQL deployment must name one).
export ORGSCIM_AUDIT_KEY_FILE="${ORGSCIM_AUDIT_KEY_FILE:-${TMPDIR:-/tmp}/orgscim-load-audit.key}"
[ -x "$bin" ] || CGO_ENABLED=0 go build -o "$bin" ./cmd/orgscim
slug="load$(date +%s)"
"$bin" org create --database "$db" --name "$slug" --slug "$slug" >/dev/null
token=$("$bin" connection create --database "$db" --org "$slug" --idp "${IDP:-generic}" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
case "$db" in
  postgres://*|postgresql://*)
    case "$db" in *\?*) db="$db&application_name=$slug" ;; *) db="$db?application_name=$slug" ;; esac
    set -- --postgres "$db" "$@" ;;
esac
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" serve --database "$db" --addr "127.0.0.1:$port" --rate-limit 0 >/dev/null 2>/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
"$bin" load --url "http://127.0.0.1:$port/scim/v2/$slug" --token "$token" "$@"
echo "server peak RSS: $(grep VmHWM /proc/$pid/status | awk '{print $2/1024 " MiB"}')"
