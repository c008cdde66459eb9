#!/usr/bin/env bash
# Measures SCIM creates against a fresh orgscim on loopback and PostgreSQL: N connections
# loaded at once, each by its own `orgscim load` at concurrency C, in a schema of its own.
# Prints each load's create phase, their sum, the server's CPU per request and peak RSS,
# PostgreSQL's CPU per request (its backends of this run), and — when the binary seals an
# audit log — the sealing lag (event to the checkpoint that covers it) p50/p99.
#
# usage: scripts/load-creates.sh BIN DATABASE_URL CONNECTIONS CONCURRENCY USERS_IN_ALL
#   e.g. scripts/load-creates.sh bin/orgscim 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable' 1 32 100000
# LOADBIN (default BIN) runs the load, so that an older server is driven by the same
# load generator. Loopback only; the schema is dropped at the end.
set -euo pipefail
bin=$(realpath "${1:?usage: BIN DATABASE_URL CONNECTIONS CONCURRENCY USERS}")
loadbin=$(realpath "${LOADBIN:-$bin}")
base="${2:?}"; conns="${3:?}"; conc="${4:?}"; users="${5:?}"
schema="lc_$(date +%s%N | tail -c 9)"
psql "$base" -qc "CREATE SCHEMA $schema"
case "$base" in *\?*) db="$base&search_path=$schema" ;; *) db="$base?search_path=$schema" ;; esac
work=$(mktemp -d)
export ORGSCIM_AUDIT_KEY_FILE="$work/audit.key"
cleanup() {
  [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  psql "$base" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

tokens=()
for i in $(seq 1 "$conns"); do
  "$bin" org create --database "$db" --name "load $i" --slug "load$i" >/dev/null
  tokens+=("$("$bin" connection create --database "$db" --org "load$i" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')")
done
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" serve --database "$db" --addr "127.0.0.1:$port" --rate-limit 0 >/dev/null 2>"$work/server.log" &
pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done

ticks=$(getconf CLK_TCK)
cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; }
pg_cpu() { # the CPU ticks of the PostgreSQL backends of this database's clients
  local t=0
  for p in $(pgrep -f "postgres: .* (test|postgres) 127.0.0.1" || true); do
    [ -r "/proc/$p/stat" ] && t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo "$t"
}
cpu0=$(cpu_of "$pid"); pg0=$(pg_cpu)
per=$((users / conns))
for i in $(seq 1 "$conns"); do
  "$loadbin" load --url "http://127.0.0.1:$port/scim/v2/load$i" --token "${tokens[$((i - 1))]}" --users "$per" \
    --concurrency "$conc" --phases create --keep >"$work/load$i.json" 2>/dev/null &
done
wait $(jobs -p | grep -v "^$pid$") 2>/dev/null || true
cpu1=$(cpu_of "$pid"); pg1=$(pg_cpu)
sleep 2 # the sealer's last rounds

python3 - "$work" "$conns" "$users" "$(( (cpu1 - cpu0) * 1000 / ticks ))" "$(( (pg1 - pg0) * 1000 / ticks ))" <<'EOF'
import json, sys
work, conns, users, cpu_ms, pg_ms = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
rate = 0.0
for i in range(1, conns + 1):
    c = json.load(open(f"{work}/load{i}.json"))["create"]
    rate += c["requests_per_second"]
    print(f"connection {i}: {c['requests']} creates, {c['errors']} errors, {c['requests_per_second']:.0f}/s, p50 {c['p50_ms']} ms, p99 {c['p99_ms']} ms")
print(f"all connections: {rate:.0f} creates/s; server CPU {cpu_ms / users:.2f} ms/create; PostgreSQL backends CPU {pg_ms / users:.2f} ms/create")
EOF
echo "server peak RSS: $(grep VmHWM /proc/$pid/status | awk '{print $2/1024 " MiB"}')"
if psql "$base" -Atc "SET search_path TO $schema; SELECT 1 FROM audit_checkpoints LIMIT 1" >/dev/null 2>&1; then
  psql "$base" -qAtc "SET search_path TO $schema; SELECT 'sealing lag p50 ' || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY lag)::numeric) || ' ms, p99 ' ||
      round(percentile_cont(0.99) WITHIN GROUP (ORDER BY lag)::numeric) || ' ms over ' || count(*) || ' events'
    FROM (SELECT c.created_at / 1000 - e.at AS lag FROM audit_log l JOIN audit_events e ON e.id = l.event_id
          JOIN LATERAL (SELECT created_at FROM audit_checkpoints WHERE size > l.position ORDER BY size LIMIT 1) c ON true) x"
fi
