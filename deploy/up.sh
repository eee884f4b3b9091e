#!/usr/bin/env bash
# The multi-replica stand on one machine, all on 127.0.0.1: PostgreSQL, the S3 stand-in (moto's server),
# two autoquote replicas sharing them, and nginx in front.
#
#   deploy/up.sh RUN_DIR        start; writes RUN_DIR/stand.env (the addresses) and RUN_DIR/pids
#   deploy/down.sh RUN_DIR      stop what up.sh started
#
# nginx listens on two ports: NGINX_URL balances over both replicas, NGINX_ONE_URL sends everything to
# replica 1 (to measure one replica against two through the same proxy).
# AUTOQUOTE_DATABASE_URL: an empty PostgreSQL database to use; without it a private cluster is created in
# RUN_DIR (Debian's postgresql package). PYTHON: the interpreter with autoquote and its scale extra.
set -euo pipefail
run=$(realpath -m "${1:?usage: deploy/up.sh RUN_DIR}")
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
py=${PYTHON:-python3}
export PATH="$PATH:/usr/sbin:/sbin"
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$run/logs" "$run/registry"
: > "$run/pids"

port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_for() {  # URL [seconds]
  "$py" - "$1" "${2:-180}" <<'PY'
import sys, time, urllib.request
url, limit = sys.argv[1], float(sys.argv[2])
deadline = time.monotonic() + limit
while True:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            if r.status == 200:
                break
    except Exception:
        pass
    if time.monotonic() > deadline:
        sys.exit(f"{url} did not answer 200 within {limit:.0f} s")
    time.sleep(0.5)
PY
}

# PostgreSQL
if [ -z "${AUTOQUOTE_DATABASE_URL:-}" ]; then
  pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  pgport=$(port)
  mkdir -p "$run/postgres"
  as_pg=()
  if [ "$(id -u)" = 0 ]; then chown postgres "$run/postgres"; as_pg=(runuser -u postgres --); fi
  "${as_pg[@]}" "$pgbin/initdb" -D "$run/postgres/data" -U autoquote --auth=trust -E UTF8 >/dev/null
  "${as_pg[@]}" "$pgbin/pg_ctl" -D "$run/postgres/data" -l "$run/postgres/server.log" -w \
    -o "-p $pgport -k $run/postgres -c listen_addresses=127.0.0.1" start >/dev/null
  echo "pg_ctl ${as_pg[*]} $pgbin/pg_ctl -D $run/postgres/data" > "$run/postgres.stop"
  "$pgbin/createdb" -h 127.0.0.1 -p "$pgport" -U autoquote autoquote
  export AUTOQUOTE_DATABASE_URL="postgresql+psycopg://autoquote@127.0.0.1:$pgport/autoquote"
fi

# The S3 stand-in and a bucket
s3port=$(port)
"$py" -m moto.server -H 127.0.0.1 -p "$s3port" >"$run/logs/s3.log" 2>&1 </dev/null &
echo "$!" >> "$run/pids"
wait_for "http://127.0.0.1:$s3port/moto-api/" 60
"$py" -c "import boto3; boto3.client('s3', endpoint_url='http://127.0.0.1:$s3port', region_name='us-east-1',
aws_access_key_id='stand', aws_secret_access_key='stand').create_bucket(Bucket='autoquote-photos')"

export AUTOQUOTE_ENVIRONMENT=production AUTOQUOTE_PHOTO_STORE=s3 AUTOQUOTE_S3_BUCKET=autoquote-photos \
  AUTOQUOTE_S3_ENDPOINT_URL="http://127.0.0.1:$s3port" AUTOQUOTE_S3_ACCESS_KEY_ID=stand \
  AUTOQUOTE_S3_SECRET_ACCESS_KEY=stand AUTOQUOTE_REGISTRY_DIR="$run/registry" \
  AUTOQUOTE_MODEL_POLL_SECONDS="${AUTOQUOTE_MODEL_POLL_SECONDS:-1}"
AUTOQUOTE_DATA_DIR="$run/migrate" "$py" -m serve.cli migrate >/dev/null  # once, before the replicas start

# The replicas: each its own data folder (nothing in it is shared), one uvicorn worker each.
replica_urls=()
upstream=""
for i in 1 2; do
  p=$(port)
  AUTOQUOTE_DATA_DIR="$run/replica-$i" "$py" -m serve.cli serve --host 127.0.0.1 --port "$p" --log-level warning \
    >"$run/logs/replica-$i.log" 2>&1 &
  echo "$!" >> "$run/pids"
  replica_urls+=("http://127.0.0.1:$p")
  upstream+="    server 127.0.0.1:$p max_fails=3 fail_timeout=5s;"$'\n'
  if [ "$i" = 1 ]; then one="    server 127.0.0.1:$p;"; fi
done

# nginx (Debian's package) in front, configured and run from RUN_DIR.
nginx_port=$(port)
nginx_one_port=$(port)
mkdir -p "$run/nginx/tmp"
user_line=""
if [ "$(id -u)" = 0 ]; then user_line="user root;"; fi
cat > "$run/nginx/nginx.conf" <<CONF
$user_line
worker_processes 1;
daemon off;
pid $run/nginx/nginx.pid;
error_log $run/logs/nginx-error.log warn;
events { worker_connections 512; }
http {
  access_log $run/logs/nginx-access.log;
  client_body_temp_path $run/nginx/tmp/body;
  proxy_temp_path $run/nginx/tmp/proxy;
  fastcgi_temp_path $run/nginx/tmp/fastcgi;
  uwsgi_temp_path $run/nginx/tmp/uwsgi;
  scgi_temp_path $run/nginx/tmp/scgi;
  client_max_body_size 80m;
  upstream replicas {
    least_conn;
$upstream    keepalive 32;
  }
  upstream replica_one {
$one
    keepalive 32;
  }
  proxy_http_version 1.1;
  proxy_set_header Connection "";
  proxy_set_header Host \$host;
  proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
  proxy_read_timeout 120s;
  proxy_next_upstream error timeout;
  server { listen 127.0.0.1:$nginx_port; location / { proxy_pass http://replicas; } }
  server { listen 127.0.0.1:$nginx_one_port; location / { proxy_pass http://replica_one; } }
}
CONF
for url in "${replica_urls[@]}"; do wait_for "$url/readyz" 300; done
nginx -p "$run/nginx" -e "$run/logs/nginx-error.log" -c "$run/nginx/nginx.conf" >"$run/logs/nginx.log" 2>&1 </dev/null &
echo "$!" >> "$run/pids"
wait_for "http://127.0.0.1:$nginx_port/healthz" 60

cat > "$run/stand.env" <<ENV
NGINX_URL=http://127.0.0.1:$nginx_port
NGINX_ONE_URL=http://127.0.0.1:$nginx_one_port
REPLICA_URLS=${replica_urls[*]}
S3_ENDPOINT=http://127.0.0.1:$s3port
AUTOQUOTE_DATABASE_URL=$AUTOQUOTE_DATABASE_URL
AUTOQUOTE_REGISTRY_DIR=$run/registry
ENV
echo "stand up: nginx http://127.0.0.1:$nginx_port (replica 1 alone: $nginx_one_port), replicas ${replica_urls[*]}"
