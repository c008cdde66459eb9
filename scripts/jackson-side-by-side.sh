#!/usr/bin/env bash
# orgscim side by side with BoxyHQ Jackson's SCIM directory sync (@boxyhq/saml-jackson,
# pinned in scripts/jackson/package.json), driven by the same load tool in one run.
#
# Installs Jackson into bin/jackson (npm ci, once per package-lock.json), then starts
# both on loopback against the same local PostgreSQL: orgscim (bin/orgscim, built if
# missing) on a fresh schema of DATABASE_URL's database (scripts/lib/orgscim-server.sh),
# Jackson (scripts/jackson/server.js) on a fresh database of its own, since Jackson has
# no schema option. Then it runs the same `orgscim load` phases against each, ROUNDS
# times (default 2), interleaved: orgscim, Jackson, orgscim, Jackson, so that whatever
# else the machine does falls on both alike. orgscim's CPU is read from its /metrics,
# Jackson's from its process's /proc (--server-pid); PostgreSQL's CPU is that of each
# server's backends (--postgres, by database and application_name).
#
# Prints, per round and phase, requests/s and server + PostgreSQL CPU ms per request of
# both, and the ratios: req/s orgscim ÷ Jackson, and CPU (server + PostgreSQL) Jackson ÷
# orgscim (the issue's target: both ≥ 6); then the mean of the rounds; and the one-minute
# load average at the start and the end (the machine may be shared: read the figures with
# it). The load tool's JSON of every run stays in bin/jackson-side-by-side/.
#
# usage: scripts/jackson-side-by-side.sh DATABASE_URL [load flags...]
#   e.g. scripts/jackson-side-by-side.sh 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable' --users 5000 --concurrency 8
# `make bench-jackson` runs it with ORGSCIM_TEST_DATABASE_URL and BENCH_JACKSON_FLAGS.
set -euo pipefail
cd "$(dirname "$0")/.."
base="${1:?usage: scripts/jackson-side-by-side.sh DATABASE_URL [load flags...]}"; shift
rounds="${ROUNDS:-2}"
command -v npm >/dev/null || { echo "jackson-side-by-side.sh needs node and npm (apt-get install -y nodejs npm)" >&2; exit 1; }

# Jackson, installed as package-lock.json pins it.
if [ ! -f bin/jackson/.installed ] || [ scripts/jackson/package-lock.json -nt bin/jackson/.installed ]; then
  mkdir -p bin/jackson
  cp scripts/jackson/package.json scripts/jackson/package-lock.json bin/jackson/
  npm ci --prefix bin/jackson --no-audit --no-fund --loglevel=error
  touch bin/jackson/.installed
fi
cp scripts/jackson/server.js bin/jackson/server.js
[ -x bin/orgscim ] || CGO_ENABLED=0 go build -o bin/orgscim ./cmd/orgscim
load=bin/orgscim

out=bin/jackson-side-by-side
mkdir -p "$out"
rm -f "$out"/*.json
work=$(mktemp -d)
. scripts/lib/orgscim-server.sh
jdb=""
cleanup() {
  [ -n "${jpid:-}" ] && kill "$jpid" 2>/dev/null && wait "$jpid" 2>/dev/null || true
  orgscim_server_stop "$base"
  [ -n "$jdb" ] && PGOPTIONS='-c client_min_messages=warning' psql "$base" -qc "DROP DATABASE IF EXISTS $jdb WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

orgscim_server_start "$PWD/bin/orgscim" "$base" "$work"

# Jackson's database: DATABASE_URL with its database name replaced, and an application_name.
jdb="jk_$(date +%s%N | tail -c 9)"
PGOPTIONS='-c client_min_messages=warning' psql "$base" -qc "CREATE DATABASE $jdb"
jurl=$(python3 - "$base" "$jdb" <<'PY'
import sys, urllib.parse as u
p = u.urlsplit(sys.argv[1])
q = [kv for kv in u.parse_qsl(p.query) if kv[0] not in ("search_path", "application_name")] + [("application_name", sys.argv[2])]
print(u.urlunsplit((p.scheme, p.netloc, "/" + sys.argv[2], u.urlencode(q), "")))
PY
)
jport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
(cd bin/jackson && JACKSON_DB_URL="$jurl" JACKSON_PORT="$jport" exec node server.js >"$work/jackson.json" 2>"$work/jackson.log") &
jpid=$!
for _ in $(seq 1 300); do [ -s "$work/jackson.json" ] && break; kill -0 "$jpid" 2>/dev/null || break; sleep 0.2; done
[ -s "$work/jackson.json" ] || { echo "Jackson did not start; its log:" >&2; cat "$work/jackson.log" >&2; exit 1; }
jscim=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$work/jackson.json")
jtoken=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$work/jackson.json")

echo "load flags: $*"
echo "start: $(cut -d' ' -f1-3 /proc/loadavg) load average"
for r in $(seq 1 "$rounds"); do
  echo "round $r: orgscim" >&2
  "$load" load --url "$ORGSCIM_URL" --token "$ORGSCIM_TOKEN" --postgres "$ORGSCIM_DB" --json "$@" >"$out/orgscim-$r.json"
  echo "round $r: Jackson" >&2
  "$load" load --url "$jscim" --token "$jtoken" --postgres "$jurl" --server-pid "$jpid" --json "$@" >"$out/jackson-$r.json"
done
echo "end:   $(cut -d' ' -f1-3 /proc/loadavg) load average"

python3 - "$out" "$rounds" <<'PY'
import json, sys
out, rounds = sys.argv[1], int(sys.argv[2])
phases = ["create", "get", "filter", "page", "groupadd", "deactivate", "delete"]
runs = [(json.load(open(f"{out}/orgscim-{r}.json")), json.load(open(f"{out}/jackson-{r}.json"))) for r in range(1, rounds + 1)]

def figures(d, p):
    x = d[p]
    return x["requests_per_second"], x.get("server_cpu_ms_per_request", 0), x.get("postgres_cpu_ms_per_request", 0), x["errors"]

def ratio(a, b):
    return f"{a / b:6.1f}×" if b else "     -"

head = f"{'phase':11} {'orgscim req/s':>13} {'srv ms':>7} {'PG ms':>7}   {'Jackson req/s':>13} {'srv ms':>7} {'PG ms':>7}   {'req/s ×':>7} {'CPU ÷':>7}"
def rate(x):
    # A group add of 100 members runs at about one a second on Jackson: keep its decimals.
    return f"{x:13.0f}" if x >= 100 else f"{x:13.2f}"

def row(label, o, j):
    print(f"{label:11} {rate(o[0])} {o[1]:7.3f} {o[2]:7.3f}   {rate(j[0])} {j[1]:7.3f} {j[2]:7.3f}   "
          f"{ratio(o[0], j[0])} {ratio(j[1] + j[2], o[1] + o[2])}")

for r, (o, j) in enumerate(runs, 1):
    print(f"\nround {r}")
    print(head)
    for p in phases:
        if p in o and p in j:
            fo, fj = figures(o, p), figures(j, p)
            row(p, fo, fj)
            if fo[3] or fj[3]:
                print(f"{'':11} errors: orgscim {fo[3]} ({o[p].get('first_error', '')}), Jackson {fj[3]} ({j[p].get('first_error', '')})")
print(f"\nmean of {rounds} rounds")
print(head)
for p in phases:
    if all(p in o and p in j for o, j in runs):
        mean = lambda side: [sum(figures(run[side], p)[i] for run in runs) / rounds for i in range(3)]
        row(p, mean(0), mean(1))
print("\nreq/s ×: orgscim's requests/s ÷ Jackson's; CPU ÷: Jackson's server + PostgreSQL CPU per request ÷ orgscim's.")
PY
