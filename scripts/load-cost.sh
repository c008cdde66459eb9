#!/usr/bin/env bash
# What a request costs: starts SERVERBIN on loopback against a fresh schema of a local
# PostgreSQL, with an application_name of its own, and runs this tree's `orgscim load`
# (LOADBIN, default bin/orgscim) against it with --postgres, so that every phase reports
# requests/s, the server's CPU, its PostgreSQL backends' CPU and its statements per
# request. A server built before the statement counter reports no statements. Prints one
# line per phase and the one-minute load average at the start and the end.
#
# usage: scripts/load-cost.sh SERVERBIN DATABASE_URL [load flags...]
#   e.g. scripts/load-cost.sh bin/orgscim 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable' --users 5000
set -euo pipefail
srv=$(realpath "${1:?usage: SERVERBIN DATABASE_URL [load flags...]}")
base="${2:?}"; shift 2
load=$(realpath "${LOADBIN:-bin/orgscim}")
schema="lc_$(date +%s%N | tail -c 9)"
export PGOPTIONS='-c client_min_messages=warning'
psql "$base" -qc "CREATE SCHEMA $schema"
case "$base" in *\?*) db="$base&search_path=$schema&application_name=$schema" ;; *) db="$base?search_path=$schema&application_name=$schema" ;; esac
work=$(mktemp -d)
export ORGSCIM_AUDIT_KEY_FILE="$work/audit.key"
cleanup() {
  [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  psql "$base" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
"$srv" org create --database "$db" --name load --slug load >/dev/null
token=$("$srv" connection create --database "$db" --org load --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$srv" serve --database "$db" --addr "127.0.0.1:$port" --rate-limit 0 >/dev/null 2>"$work/server.log" &
pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
echo "start: $(cut -d' ' -f1 /proc/loadavg) load average"
"$load" load --url "http://127.0.0.1:$port/scim/v2/load" --token "$token" --postgres "$db" --json "$@" >"$work/load.json"
echo "end:   $(cut -d' ' -f1 /proc/loadavg) load average"
python3 - "$work/load.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(f"{'phase':11} {'req/s':>7} {'server ms':>10} {'PG ms':>7} {'stmts':>6}")
for p in ["create", "get", "filter", "page", "groupadd", "deactivate", "delete"]:
    if p in d:
        r = d[p]
        print(f"{p:11} {r['requests_per_second']:7.0f} {r.get('server_cpu_ms_per_request', 0):10.3f} "
              f"{r.get('postgres_cpu_ms_per_request', 0):7.3f} {r.get('statements_per_request', 0):6.2f}")
PY
