#!/usr/bin/env bash
# A private PostgreSQL cluster with pg_stat_statements, for measuring what each statement
# of a request costs PostgreSQL (the machine's own cluster on 5432 has no
# pg_stat_statements, and is left alone). Settings follow the machine's cluster
# (shared_buffers 128 MB, autovacuum off, fsync and synchronous_commit on), plus
# pg_stat_statements with track_planning, so its figures compare with runs on 5432.
#
# usage: scripts/pg-stat-cluster.sh start|stop|url|reset|top [N]
#   start   initdb under $PGSTAT_DIR (default /tmp/orgscim-pgstat) if needed and start it
#           on 127.0.0.1:$PGSTAT_PORT (default 5433), trust auth, database "test" with
#           the pg_stat_statements extension
#   stop    stop it (the data directory stays; rm -rf it to start afresh)
#   url     print its database URL
#   reset   pg_stat_statements_reset() and pg_stat_reset() (index usage counters)
#   top N   the N statements with the most total (planning + execution) time
#
# e.g.  scripts/pg-stat-cluster.sh start
#       scripts/pg-stat-cluster.sh reset
#       scripts/load-cost.sh bin/orgscim "$(scripts/pg-stat-cluster.sh url)" --users 5000 --phases create
#       scripts/pg-stat-cluster.sh top 20
# (load-cost.sh drops its schema at the end; the statistics stay.)
set -euo pipefail
dir="${PGSTAT_DIR:-/tmp/orgscim-pgstat}"
port="${PGSTAT_PORT:-5433}"
bin=/usr/lib/postgresql/15/bin
url="postgres://postgres@127.0.0.1:$port/test?sslmode=disable"
# PostgreSQL refuses to run as root.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case "${1:-}" in
start)
  if [ ! -f "$dir/PG_VERSION" ]; then
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    as_pg "$bin/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >>"$dir/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
shared_buffers = 128MB
max_connections = 100
autovacuum = off
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = all
pg_stat_statements.track_planning = on
pg_stat_statements.max = 5000
track_io_timing = on
EOF
  fi
  as_pg "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w start >/dev/null
  psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -qAtc "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1 ||
    psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -qc 'CREATE DATABASE test'
  psql "$url" -qc 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements'
  echo "$url"
  ;;
stop) as_pg "$bin/pg_ctl" -D "$dir" -m fast -w stop >/dev/null ;;
url) echo "$url" ;;
reset) psql "$url" -qAtc 'SELECT pg_stat_statements_reset(); SELECT pg_stat_reset()' >/dev/null ;;
top)
  psql "$url" -P pager=off -c "
    SELECT calls, round((total_plan_time + total_exec_time)::numeric, 1) AS total_ms,
      round((total_plan_time / nullif(plans, 0))::numeric, 4) AS plan_ms, round((total_exec_time / nullif(calls, 0))::numeric, 4) AS exec_ms,
      plans, rows, left(regexp_replace(query, '\s+', ' ', 'g'), 160) AS query
    FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'test')
    ORDER BY total_plan_time + total_exec_time DESC LIMIT ${2:-20}"
  ;;
*) sed -n '2,21p' "$0" >&2; exit 2 ;;
esac
