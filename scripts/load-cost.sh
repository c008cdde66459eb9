#!/usr/bin/env bash
# What a request costs: starts SERVERBIN on loopback against a fresh schema of a local
# PostgreSQL, with an application_name of its own (see scripts/lib/orgscim-server.sh), and
# runs this tree's `orgscim load` (LOADBIN, default bin/orgscim) against it with
# --postgres, so that every phase reports requests/s, the server's CPU, its PostgreSQL
# backends' CPU and its statements per request. A server built before the statement counter reports no statements. Prints one
# line per phase and the one-minute load average at the start and the end.
#
# usage: scripts/load-cost.sh SERVERBIN DATABASE_URL [load flags...]
#   e.g. scripts/load-cost.sh bin/orgscim 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable' --users 5000
set -euo pipefail
srv=$(realpath "${1:?usage: SERVERBIN DATABASE_URL [load flags...]}")
base="${2:?}"; shift 2
load=$(realpath "${LOADBIN:-bin/orgscim}")
work=$(mktemp -d)
. "$(dirname "$0")/lib/orgscim-server.sh"
cleanup() {
  orgscim_server_stop "$base"
  rm -rf "$work"
}
trap cleanup EXIT
orgscim_server_start "$srv" "$base" "$work"
echo "start: $(cut -d' ' -f1 /proc/loadavg) load average"
"$load" load --url "$ORGSCIM_URL" --token "$ORGSCIM_TOKEN" --postgres "$ORGSCIM_DB" --json "$@" >"$work/load.json"
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
