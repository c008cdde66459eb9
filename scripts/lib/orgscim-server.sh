# Sourced, not run: starts an orgscim server on loopback against a fresh schema of a
# local PostgreSQL, for the scripts that measure it (load-cost.sh, jackson-side-by-side.sh).
#
#   orgscim_server_start SERVERBIN DATABASE_URL WORKDIR
#     creates the schema lc_NNNNNNNN in DATABASE_URL's database, an org and a connection
#     "load" in it, and starts `SERVERBIN serve` on a free port of 127.0.0.1 with the rate
#     limit off and an application_name equal to the schema's name (so that the load tool's
#     --postgres tells its backends from other clients of the database). The audit key
#     and the server's log (server.log) go to WORKDIR. Waits until /readyz answers. Sets
#       ORGSCIM_SCHEMA  the schema
#       ORGSCIM_DB      the server's database URL (search_path and application_name set)
#       ORGSCIM_URL     the connection's SCIM base URL
#       ORGSCIM_TOKEN   its bearer token
#       ORGSCIM_PID     the server's process
#   orgscim_server_stop DATABASE_URL
#     stops the server and drops its schema; safe to call twice, or before a start.
#
# Needs psql, curl and python3. The caller sets `set -euo pipefail` and a trap that calls
# orgscim_server_stop.

orgscim_server_start() {
  local srv="$1" base="$2" work="$3"
  ORGSCIM_SCHEMA="lc_$(date +%s%N | tail -c 9)"
  PGOPTIONS='-c client_min_messages=warning' psql "$base" -qc "CREATE SCHEMA $ORGSCIM_SCHEMA"
  case "$base" in
    *\?*) ORGSCIM_DB="$base&search_path=$ORGSCIM_SCHEMA&application_name=$ORGSCIM_SCHEMA" ;;
    *) ORGSCIM_DB="$base?search_path=$ORGSCIM_SCHEMA&application_name=$ORGSCIM_SCHEMA" ;;
  esac
  export ORGSCIM_AUDIT_KEY_FILE="$work/audit.key"
  "$srv" org create --database "$ORGSCIM_DB" --name load --slug load >/dev/null
  ORGSCIM_TOKEN=$("$srv" connection create --database "$ORGSCIM_DB" --org load --json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$srv" serve --database "$ORGSCIM_DB" --addr "127.0.0.1:$port" --rate-limit 0 >/dev/null 2>"$work/server.log" &
  ORGSCIM_PID=$!
  local _
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || { echo "orgscim did not start; $work/server.log:" >&2; cat "$work/server.log" >&2; return 1; }
  ORGSCIM_URL="http://127.0.0.1:$port/scim/v2/load"
}

orgscim_server_stop() {
  local base="$1"
  if [ -n "${ORGSCIM_PID:-}" ]; then
    kill "$ORGSCIM_PID" 2>/dev/null && wait "$ORGSCIM_PID" 2>/dev/null || true
    ORGSCIM_PID=
  fi
  if [ -n "${ORGSCIM_SCHEMA:-}" ]; then
    PGOPTIONS='-c client_min_messages=warning' psql "$base" -qc "DROP SCHEMA IF EXISTS $ORGSCIM_SCHEMA CASCADE" >/dev/null 2>&1 || true
    ORGSCIM_SCHEMA=
  fi
}
