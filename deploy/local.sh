#!/usr/bin/env bash
# The production setup on this machine, with Debian's packages only: nginx terminating TLS (a self-signed
# certificate) in front of several `project.serve` processes with DJANGO_DEBUG=0, PostgreSQL and a Redis of
# its own. Everything it starts, and its files, live in the state directory ($DEPLOY_STATE, default
# .deploy-local/); `stop` stops only what `start` started.
#
#   deploy/local.sh start            `make deploy-local`: prints the site's address and its admin's password
#   deploy/local.sh stop             `make deploy-local-stop` (drops its database unless DEPLOY_KEEP_DB=1)
#   deploy/local.sh app-stop PORT    drain and stop one server process (SIGTERM, as systemd stops one)
#   deploy/local.sh app-start PORT   start it again
#   deploy/local.sh redis-stop | redis-start | status
#   deploy/local.sh nginx-config ADDRESS:PORT APP_ADDRESS:PORT...
#                                    only nginx's configuration and a certificate, in $DEPLOY_STATE, for
#                                    processes elsewhere (tests/deploy/ runs nginx with it on namespace hosts)
#
# DEPLOY_PROCESSES (2) server processes; PYTHON (.venv/bin/python); PostgreSQL at DEPLOY_PG (postgres://
# postgres@127.0.0.1:5432, a database chat_deploy_<port> is created), or an existing DEPLOY_DATABASE_URL.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
STATE="${DEPLOY_STATE:-$ROOT/.deploy-local}"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
PROCESSES="${DEPLOY_PROCESSES:-2}"
PG="${DEPLOY_PG:-postgres://postgres@127.0.0.1:5432}"
NGINX="${NGINX:-/usr/sbin/nginx}"

say() { echo "deploy-local: $*" >&2; }
die() { say "$*"; exit 1; }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Runs a command with nothing but chat.env (as systemd's EnvironmentFile would), in the project.
# With DETACH set, in a session of its own (a Ctrl-C in this terminal later does not reach it). With PIDFILE
# set, the command's process id is written there, by the process that then becomes the command.
with_env() {
    ${DETACH:+setsid} env -i PATH="$PATH" HOME="${HOME:-/root}" LANG=C.UTF-8 PYTHONUNBUFFERED=1 PIDFILE="${PIDFILE:-}" \
        bash -c 'set -a; . "$0"; set +a; cd "$1"; shift 2
                 if [ -n "$PIDFILE" ]; then echo $$ >"$PIDFILE"; fi; unset PIDFILE; exec "$@"' \
        "$STATE/chat.env" "$ROOT" -- "$@"
}

free_ports() {
    "$PY" - "$1" <<'EOF'
import socket, sys
held = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in held:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in held))
EOF
}

# Waits until URL answers 200 (curl -k: the certificate is self-signed).
wait_for() {
    local url="$1" pidfile="${2:-}"
    for _ in $(seq 1 300); do
        if curl -ksf -o /dev/null --max-time 2 "$url"; then return 0; fi
        if [ -n "$pidfile" ] && ! alive "$pidfile"; then return 1; fi
        sleep 0.1
    done
    return 1
}

load_ports() {
    [ -f "$STATE/ports" ] || die "not started (no $STATE/ports)"
    # shellcheck disable=SC1091
    . "$STATE/ports"
}

app_start() {
    local port="$1" pidfile="$STATE/run/app-$1.pid"
    alive "$pidfile" && die "process on port $port is running already"
    rm -f "$pidfile"
    DETACH=1 PIDFILE="$pidfile" with_env "$PY" -m project.serve -b 127.0.0.1 -p "$port" project.asgi:application \
        >>"$STATE/log/app-$port.log" 2>&1 </dev/null &
    for _ in $(seq 1 50); do [ -s "$pidfile" ] && break; sleep 0.05; done
    wait_for "http://127.0.0.1:$port/healthz" "$pidfile" || die "process on port $port did not start: $STATE/log/app-$port.log"
    say "server process on 127.0.0.1:$port (pid $(cat "$pidfile"))"
}

# SIGTERM, as systemd stops a unit: the process drains (project/drain.py) and exits within 5 s.
app_stop() {
    local port="$1" pidfile="$STATE/run/app-$1.pid" pid
    alive "$pidfile" || { rm -f "$pidfile"; return 0; }
    pid="$(cat "$pidfile")"
    kill -TERM "$pid"
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then say "port $port: still running after 15 s, killing"; kill -KILL "$pid"; fi
    rm -f "$pidfile"
    say "stopped the server process on port $port"
}

redis_start() {
    alive "$STATE/run/redis.pid" && return 0
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
        --pidfile "$STATE/run/redis.pid" --logfile "$STATE/log/redis.log" --dir "$STATE"
    for _ in $(seq 1 100); do [ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] && return 0; sleep 0.05; done
    die "redis did not start: $STATE/log/redis.log"
}

redis_stop() {
    alive "$STATE/run/redis.pid" || return 0
    local pid
    pid="$(cat "$STATE/run/redis.pid")"
    kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    rm -f "$STATE/run/redis.pid"
}

# A self-signed certificate for an address (the site's name here) and its key, in $STATE/tls.
make_certificate() {
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=$1" \
        -addext "subjectAltName=IP:$1" -keyout "$STATE/tls/key.pem" -out "$STATE/tls/cert.pem" 2>/dev/null
}

# nginx's configuration in $STATE/nginx: deploy/nginx-chat.conf listening on ADDRESS:PORT (TLS with $STATE/tls's
# certificate) in front of the server processes at each APP (ADDRESS:PORT).
write_nginx_config() {
    local listen="$1" upstreams="" app
    shift
    for app in "$@"; do upstreams+="server $app max_fails=0;"$'\n    '; done
    mkdir -p "$STATE/nginx/tmp"
    sed -e "s|@SERVER_NAME@|${listen%:*} localhost|" -e "s|@LISTEN@|$listen|" \
        -e "s|@CERT@|$STATE/tls/cert.pem|" -e "s|@KEY@|$STATE/tls/key.pem|" \
        -e "s|@STATIC_ROOT@|$STATE/static/|" -e "s|@MEDIA_ROOT@|$STATE/media/|" \
        "$ROOT/deploy/nginx-chat.conf" | "$PY" -c 'import sys; print(sys.stdin.read().replace("\n    @UPSTREAMS@", "\n    " + sys.argv[1].rstrip()), end="")' "$upstreams" \
        >"$STATE/nginx/chat.conf"
    # Debian's nginx.conf, cut to what this needs, with every path in the state directory.
    cat >"$STATE/nginx/nginx.conf" <<EOF
worker_processes 1;
pid $STATE/run/nginx.pid;
error_log $STATE/log/nginx-error.log warn;
$( [ "$(id -u)" = 0 ] && echo "user root;" )
events { worker_connections 4096; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    server_tokens off;
    access_log $STATE/log/nginx-access.log;
    client_body_temp_path $STATE/nginx/tmp/body;
    proxy_temp_path $STATE/nginx/tmp/proxy;
    fastcgi_temp_path $STATE/nginx/tmp/fastcgi;
    uwsgi_temp_path $STATE/nginx/tmp/uwsgi;
    scgi_temp_path $STATE/nginx/tmp/scgi;
    include $STATE/nginx/chat.conf;
}
EOF
}

start() {
    alive "$STATE/run/nginx.pid" && die "already running (deploy/local.sh stop first): $STATE"
    command -v redis-server >/dev/null || die "redis-server is missing (apt-get install redis-server)"
    [ -x "$NGINX" ] || die "nginx is missing (apt-get install nginx-light)"
    [ -x "$PY" ] || die "no $PY (make venv, or PYTHON=...)"
    mkdir -p "$STATE/run" "$STATE/log" "$STATE/tls" "$STATE/media" "$STATE/static"
    trap 'code=$?; if [ $code -ne 0 ]; then say "start failed: stopping what it started"; stop; fi' EXIT
    local ports
    read -r -a ports <<<"$(free_ports $((PROCESSES + 2)))"
    NGINX_PORT="${ports[0]}" REDIS_PORT="${ports[1]}" APP_PORTS="${ports[*]:2}"
    DB_NAME="" DATABASE_URL="${DEPLOY_DATABASE_URL:-}"
    if [ -z "$DATABASE_URL" ]; then
        DB_NAME="chat_deploy_$NGINX_PORT"
        psql "$PG/postgres" -qc "CREATE DATABASE $DB_NAME" >/dev/null || die "could not create $DB_NAME at $PG"
        DATABASE_URL="$PG/$DB_NAME"
    fi
    printf 'NGINX_PORT=%s\nREDIS_PORT=%s\nAPP_PORTS="%s"\nDB_NAME=%s\n' "$NGINX_PORT" "$REDIS_PORT" "$APP_PORTS" "$DB_NAME" >"$STATE/ports"
    local url="https://127.0.0.1:$NGINX_PORT"
    # deploy/chat.env.example, filled in for this machine. 127.0.0.1 and not localhost: browsers keep no
    # HSTS for an address, so the developer's http://localhost:8000 (make run) stays reachable.
    cat >"$STATE/chat.env" <<EOF
DJANGO_DEBUG=0
DJANGO_SECRET_KEY=$(openssl rand -hex 32)
DJANGO_ALLOWED_HOSTS=127.0.0.1
DATABASE_URL=$DATABASE_URL
REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
CHAT_TRUSTED_PROXIES=127.0.0.1
CHAT_FILES_SENDFILE=x-accel-redirect
DJANGO_STATIC_ROOT=$STATE/static
CHAT_MEDIA_ROOT=$STATE/media
EOF
    chmod 600 "$STATE/chat.env"
    redis_start
    make_certificate 127.0.0.1
    with_env "$PY" manage.py check --deploy --fail-level WARNING >/dev/null
    with_env "$PY" manage.py migrate --noinput -v0
    with_env "$PY" manage.py collectstatic --noinput --clear -v0
    local password
    password="$(openssl rand -base64 18)"
    with_env env CHAT_ADMIN_PASSWORD="$password" "$PY" manage.py chat_first_admin --username admin --url "$url" \
        | tee "$STATE/admin.txt"
    local port
    for port in $APP_PORTS; do app_start "$port"; done
    local upstreams=()
    for port in $APP_PORTS; do upstreams+=("127.0.0.1:$port"); done
    write_nginx_config "127.0.0.1:$NGINX_PORT" "${upstreams[@]}"
    "$NGINX" -t -q -p "$STATE/nginx" -c "$STATE/nginx/nginx.conf"
    "$NGINX" -p "$STATE/nginx" -c "$STATE/nginx/nginx.conf"
    wait_for "$url/readyz" || die "nginx does not answer: $STATE/log/nginx-error.log"
    "$PY" - "$STATE" "$url" "$NGINX_PORT" "$REDIS_PORT" "$password" $APP_PORTS <<'EOF'
import json, re, sys
state, url, nginx, redis, password, *apps = sys.argv[1:]
link = re.search(r"https://\S+/join/\S+", open(f"{state}/admin.txt").read()).group(0)
info = {"url": url, "nginx_port": int(nginx), "redis_port": int(redis), "app_ports": [int(p) for p in apps],
        "admin": {"username": "admin", "password": password}, "join_link": link, "state": state}
json.dump(info, open(f"{state}/deploy.json", "w"), indent=2)
EOF
    echo
    echo "The chat is at $url/ (a self-signed certificate: let the browser accept it)."
    echo "Sign in as admin with the password $password; the join link above is for everyone else."
    echo "Server processes on 127.0.0.1: $APP_PORTS (their /metrics: manage.py chat_stats --ports $APP_PORTS)."
    echo "Logs in $STATE/log; stop with: make deploy-local-stop"
    trap - EXIT
}

stop() {
    [ -f "$STATE/ports" ] || { say "nothing to stop in $STATE"; return 0; }
    load_ports
    if alive "$STATE/run/nginx.pid"; then
        "$NGINX" -q -p "$STATE/nginx" -c "$STATE/nginx/nginx.conf" -s quit 2>/dev/null
        for _ in $(seq 1 100); do alive "$STATE/run/nginx.pid" || break; sleep 0.05; done
    fi
    local port
    for port in $APP_PORTS; do app_stop "$port"; done
    redis_stop
    if [ -n "$DB_NAME" ] && [ -z "${DEPLOY_KEEP_DB:-}" ]; then
        psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null
    fi
    rm -f "$STATE/ports" "$STATE/deploy.json"
    say "stopped (logs kept in $STATE/log)"
}

status() {
    load_ports
    local name
    for name in nginx redis $(for p in $APP_PORTS; do echo "app-$p"; done); do
        if alive "$STATE/run/$name.pid"; then echo "$name: running (pid $(cat "$STATE/run/$name.pid"))"; else echo "$name: stopped"; fi
    done
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    app-start) load_ports; app_start "${2:?port}" ;;
    app-stop) load_ports; app_stop "${2:?port}" ;;
    redis-start) load_ports; redis_start ;;
    redis-stop) load_ports; redis_stop ;;
    nginx-config)
        [ $# -ge 3 ] || die "usage: $0 nginx-config ADDRESS:PORT APP_ADDRESS:PORT..."
        mkdir -p "$STATE/run" "$STATE/log" "$STATE/tls" "$STATE/media" "$STATE/static"
        make_certificate "${2%:*}"
        write_nginx_config "${@:2}" ;;
    *) die "usage: $0 start|stop|status|app-start PORT|app-stop PORT|redis-start|redis-stop|nginx-config ..." ;;
esac
