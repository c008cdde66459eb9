#!/usr/bin/env bash
# Runs Microsoft's SCIM conformance collection (../shared/conformance) against a fresh
# orgscim server and a fresh connection.
#
# usage: scripts/conformance.sh [DATABASE_URL]
#   DATABASE_URL  defaults to a new SQLite file; CI passes a PostgreSQL URL, in which the
#                 run gets a schema of its own (dropped at the end): one deployment, with its
#                 own audit log and signing key (in the work directory).
# Env: CONFORMANCE_DIR (default ../shared/conformance), ORGSCIM_BIN (default bin/orgscim).
# Prints the collection's "N passed, N failed" line; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${CONFORMANCE_DIR:-../shared/conformance}"
bin="${ORGSCIM_BIN:-bin/orgscim}"
work=$(mktemp -d)
db="${1:-sqlite:$work/orgscim.db}"
[ -x "$bin" ] || CGO_ENABLED=0 go build -o "$bin" ./cmd/orgscim
export ORGSCIM_AUDIT_KEY_FILE="$work/audit.key"
schema=""
drop_schema() { if [ -n "$schema" ]; then psql "$base" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true; fi; }
case "$db" in
postgres://*|postgresql://*)
  schema="conf_$(date +%s%N | tail -c 9)"
  psql "$db" -qc "CREATE SCHEMA $schema"
  base="$db"
  case "$db" in *\?*) db="$db&search_path=$schema" ;; *) db="$db?search_path=$schema" ;; esac
  trap 'drop_schema' EXIT
  ;;
esac

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 18080)
suffix=$(date +%s%N | tail -c 9)
org="conf-$suffix"
"$bin" org create --database "$db" --name "Conformance $suffix" --slug "$org" >/dev/null
token=$("$bin" connection create --database "$db" --org "$org" --slug "$org" --idp entra --json \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')

"$bin" serve --database "$db" --addr "127.0.0.1:$port" >"$work/server.out" 2>"$work/server.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true; drop_schema' EXIT
for _ in $(seq 1 50); do
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
  sleep 0.2
done

bash "$dir/run-microsoft.sh" "http://127.0.0.1:$port/scim/v2/$org" "$token" "$work/result"
