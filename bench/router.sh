#!/usr/bin/env bash
# Benchmark Cove's router against nginx, both proxying to the same upstream.
# (The whole suite, including this comparison, is `bench/run`; this script is the quick,
# standalone version. Both use bench/nginx.conf.in.)
#
#   bench/router.sh                  # wrk -t2 -c32 -d10s against direct / nginx / cove
#   DURATION=30s CONNS=64 bench/router.sh
#   NGINX_WORKERS=auto bench/router.sh  # nginx with one worker per core (default: 1, like Cove)
#   DYNO_NETNS=1 bench/router.sh     # upstreams in a dyno network namespace, as Cove runs
#                                    # dynos (root: cove.sandbox.netns makes it)
#
# Installs wrk and nginx with apt-get when missing. Everything listens on 127.0.0.1 only,
# on free ports picked at run time; all processes started here are stopped on exit.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-$ROOT/.venv/bin/python}
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
CONNS=${CONNS:-32}
NGINX_WORKERS=${NGINX_WORKERS:-1}
HOST_HEADER="bench.localhost"

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]}" >&2
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

WORK=$(mktemp -d)
PIDS=()
UP_HOST=127.0.0.1 # where the upstreams listen
IN_NS=()          # how they are started
NETWORKS="from pathlib import Path; from cove.sandbox.netns import DynoNetworks, Pool
n = DynoNetworks(Pool.parse('10.213.0.0/16'), Path('$WORK/networks'))"
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    if [ -d "$WORK/networks" ]; then
        PYTHONPATH="$ROOT/src" "$PY" -c "$NETWORKS
for r in Path('$WORK/networks').iterdir(): n.remove(n._load(r))" || true
    fi
    [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() {  # wait (up to 10 s) until something accepts on ${2:-127.0.0.1}:$1
    for _ in $(seq 100); do
        if "$PY" -c "import socket,sys; socket.create_connection(('${2:-127.0.0.1}',$1),0.2)" 2>/dev/null
        then return 0; fi
        sleep 0.1
    done
    echo "nothing listening on port $1" >&2
    return 1
}

start_nginx() {  # $1 = listen port, $2 = upstream port
    sed -e "s|@WORKERS@|$NGINX_WORKERS|" -e "s|@PREFIX@|$WORK|g" \
        -e "s|@LISTEN_PORT@|$1|" -e "s|@UPSTREAM_PORT@|$2|" -e "s|@UPSTREAM_HOST@|$UP_HOST|" \
        "$ROOT/bench/nginx.conf.in" >"$WORK/nginx-$1.conf"
    "$NGINX" -c "$WORK/nginx-$1.conf" -p "$WORK" -e "$WORK/nginx-error.log"
    wait_port "$1"
}

stop_nginx() {
    if [ -f "$WORK/nginx.pid" ]; then
        kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
        for _ in $(seq 50); do [ -f "$WORK/nginx.pid" ] || break; sleep 0.1; done
    fi
}

# run_wrk NAME PORT -> prints a table row
run_wrk() {  # NAME PORT [HOST]
    local out host=${3:-127.0.0.1}
    # A short warm-up fills the proxies' upstream pools before measuring.
    wrk -t"$THREADS" -c"$CONNS" -d2s -H "Host: $HOST_HEADER" "http://$host:$2/" >/dev/null
    out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -H "Host: $HOST_HEADER" \
        "http://$host:$2/")
    echo "$out" >"$WORK/wrk-$1.txt"
    local rps p50 p99 errs
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    p50=$(awk '$1=="50%" {print $2}' <<<"$out")
    p99=$(awk '$1=="99%" {print $2}' <<<"$out")
    errs=$(grep -E "Non-2xx|Socket errors" <<<"$out" | tr -s ' ' | paste -sd ';' - || true)
    printf "%-28s %12s %10s %10s  %s\n" "$1" "$rps" "$p50" "$p99" "${errs:-}"
}

header() {
    echo
    echo "== $1  (wrk -t$THREADS -c$CONNS -d$DURATION, nginx workers: $NGINX_WORKERS, $(nproc) cores)"
    printf "%-28s %12s %10s %10s\n" "target" "req/s" "p50" "p99"
}

# bench_upstream LABEL UPSTREAM_PORT
bench_upstream() {
    local up=$2 nginx_port cove_port
    nginx_port=$(free_port)
    cove_port=$(free_port)
    header "$1 (upstream on $UP_HOST)"
    run_wrk "direct" "$up" "$UP_HOST"

    start_nginx "$nginx_port" "$up"
    run_wrk "nginx" "$nginx_port"
    stop_nginx

    PYTHONPATH="$ROOT/src" "$PY" -m cove.router --port "$cove_port" --app bench \
        --backend "$UP_HOST:$up" >"$WORK/cove.log" 2>&1 &
    local cove_pid=$!
    PIDS+=("$cove_pid")
    wait_port "$cove_port"
    run_wrk "cove" "$cove_port"
    kill "$cove_pid"
    wait "$cove_pid" 2>/dev/null || true
}

if [ "${DYNO_NETNS:-}" = 1 ]; then
    read -r NS UP_HOST < <(PYTHONPATH="$ROOT/src" "$PY" -c "$NETWORKS
n.setup(); d = n.create('bench-router'); print(d.name, d.address)")
    IN_NS=(ip netns exec "$NS")
fi
export BIND_HOST=$UP_HOST

# 1. The trivial uvloop upstream.
UP=$(free_port)
"${IN_NS[@]}" "$PY" "$ROOT/bench/upstream_app.py" "$UP" >"$WORK/upstream.log" 2>&1 &
PIDS+=($!)
wait_port "$UP" "$UP_HOST"
bench_upstream "hello (uvloop upstream_app.py)" "$UP"

# 2. The same app spending 1 ms of CPU per request, like a small real handler.
WUP=$(free_port)
"${IN_NS[@]}" "$PY" "$ROOT/bench/upstream_app.py" "$WUP" 1000 >"$WORK/upstream-work.log" 2>&1 &
PIDS+=($!)
wait_port "$WUP" "$UP_HOST"
bench_upstream "1 ms/request app (upstream_app.py WORK_US=1000)" "$WUP"

# 3. A Flask hello app under gunicorn, when both are importable.
if "$PY" -c "import flask, gunicorn" 2>/dev/null; then
    GUP=$(free_port)
    cat >"$WORK/flask_app.py" <<'EOF'
from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello():
    return "Hello, world!"
EOF
    (cd "$WORK" && "${IN_NS[@]}" "$PY" -m gunicorn -w 2 -b "$UP_HOST:$GUP" flask_app:app \
        >"$WORK/gunicorn.log" 2>&1) &
    PIDS+=($!)
    wait_port "$GUP" "$UP_HOST"
    bench_upstream "flask hello (gunicorn -w 2)" "$GUP"
else
    echo
    echo "(flask/gunicorn not importable: skipping the gunicorn benchmark)"
fi
