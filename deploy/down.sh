#!/usr/bin/env bash
# Stop what deploy/up.sh started in RUN_DIR (its own processes by id, newest first; the private PostgreSQL).
set -uo pipefail
run=$(realpath -m "${1:?usage: deploy/down.sh RUN_DIR}")
if [ -f "$run/pids" ]; then
  pids=$(tac "$run/pids")
  for pid in $pids; do kill -TERM "$pid" 2>/dev/null; done
  for _ in $(seq 40); do
    alive=0
    for pid in $pids; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.5
  done
  for pid in $pids; do kill -KILL "$pid" 2>/dev/null; done
  rm -f "$run/pids"
fi
if [ -f "$run/postgres.stop" ]; then
  read -r _ cmd < "$run/postgres.stop"
  $cmd -m fast stop >/dev/null 2>&1
  rm -f "$run/postgres.stop"
fi
