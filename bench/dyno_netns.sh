#!/usr/bin/env bash
# Prototype for docs/decisions.md "Network isolation between dynos": what a per-dyno
# network namespace costs on the router-to-dyno path, measured with wrk against a tiny
# HTTP server (a stand-in for a dyno), in three set-ups:
#
#   loopback  the server on the host's 127.0.0.1 (what Cove does today)
#   veth      the server in its own netns behind a veth pair (10.213.0.0/30), with nftables
#             rules: only the host may connect in; the netns reaches only one "add-on"
#             port on the host and, forwarded + masqueraded, the outside world
#   pasta     the server in a netns made by pasta (passt), the host's port forwarded in
#   slirp     the server in a netns served by slirp4netns, the port forwarded in (its API)
#
# Needs root, wrk, nft, pasta, slirp4netns (apt-get install wrk nftables passt slirp4netns).
# Nothing imports it. Everything it creates (the netns, the veth, the nft table, processes,
# ip_forward) is removed or restored on exit.
#
#   bench/dyno_netns.sh               # 5 s runs, wrk -t2 -c32
#   DURATION=10s CONNS=64 bench/dyno_netns.sh
#   MTU=65535 bench/dyno_netns.sh     # the veth at loopback-like MTU (default 1500)
set -euo pipefail

cd "$(dirname "$0")/.."
PY=${PYTHON:-$PWD/.venv/bin/python}
DURATION=${DURATION:-5s}
CONNS=${CONNS:-32}
NS=cove-bench-ns
VETH=cvbench0
HOST_IP=10.213.0.1
DYNO_IP=10.213.0.2
TABLE=cove_bench
WORK=$(mktemp -d)
PIDS=()
FORWARD_WAS=$(cat /proc/sys/net/ipv4/ip_forward)

cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    ip netns del "$NS" 2>/dev/null || true
    ip link del "$VETH" 2>/dev/null || true
    nft delete table inet "$TABLE" 2>/dev/null || true
    nft delete table ip "${TABLE}_nat" 2>/dev/null || true
    echo "$FORWARD_WAS" >/proc/sys/net/ipv4/ip_forward
    rm -rf "$WORK"
}
trap cleanup EXIT

# The stand-in dyno: answers every request with a fixed response, keep-alive, asyncio.
# BODY bytes of body (small: request rate and latency; large: throughput).
cat >"$WORK/server.py" <<'EOF'
import asyncio, os, sys
host, port, size = sys.argv[1], int(sys.argv[2]), int(os.environ.get("BODY", "12"))
body = b"x" * size
resp = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
class P(asyncio.Protocol):
    def connection_made(self, t): self.t, self.buf = t, b""
    def data_received(self, d):
        self.buf += d
        while b"\r\n\r\n" in self.buf:
            _, self.buf = self.buf.split(b"\r\n\r\n", 1)
            self.t.write(resp)
async def main():
    s = await asyncio.get_running_loop().create_server(P, host, port)
    print("ready", flush=True)
    await s.serve_forever()
asyncio.run(main())
EOF

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_http() {  # url
    for _ in $(seq 100); do
        curl -s -o /dev/null --max-time 1 "$1" && return 0
        sleep 0.1
    done
    echo "no answer from $1" >&2; return 1
}

measure() {  # label url
    for body in 12 1048576; do
        out=$(wrk -t2 -c"$CONNS" -d"$DURATION" --latency "$2" 2>&1)
        rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
        xfer=$(awk '/Transfer\/sec/ {print $2}' <<<"$out")
        p50=$(awk '$1=="50%" {print $2}' <<<"$out")
        p99=$(awk '$1=="99%" {print $2}' <<<"$out")
        printf '%-9s body=%-8s %10s req/s %10s/s  p50 %-8s p99 %s\n' "$1" "$body" "$rps" "$xfer" "$p50" "$p99"
        [ "$body" = 12 ] && { kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true; unset 'PIDS[-1]'; "$3" 1048576; }
    done
    kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true; unset 'PIDS[-1]'
}

# --- loopback (today) ----------------------------------------------------------------------
PORT=$(free_port)
start_loopback() { BODY=$1 "$PY" "$WORK/server.py" 127.0.0.1 "$PORT" >/dev/null & PIDS+=($!); wait_http "http://127.0.0.1:$PORT/"; }
start_loopback 12
measure loopback "http://127.0.0.1:$PORT/" start_loopback

# --- veth + nftables -----------------------------------------------------------------------
ip netns add "$NS"
ip link add "$VETH" mtu "${MTU:-1500}" type veth peer name eth0 mtu "${MTU:-1500}" netns "$NS"
ip addr add "$HOST_IP/30" dev "$VETH"
ip link set "$VETH" up
ip -n "$NS" addr add "$DYNO_IP/30" dev eth0
ip -n "$NS" link set lo up
ip -n "$NS" link set eth0 up
ip -n "$NS" route add default via "$HOST_IP"
echo 1 >/proc/sys/net/ipv4/ip_forward
ADDON_PORT=$(free_port)   # a stand-in add-on on the host, reachable from this dyno only
API_PORT=$(free_port)     # a stand-in for Cove's API, on the host's every address
nft -f - <<EOF
table inet $TABLE {
    chain input {   # dyno -> host: only its add-on port (and replies to the router)
        type filter hook input priority 0; policy accept;
        iifname "cvbench*" ct state established,related accept
        iifname "cvbench*" ip saddr $DYNO_IP tcp dport $ADDON_PORT accept
        iifname "cvbench*" drop
    }
    chain forward { # dyno -> dyno never; dyno -> outside world yes
        type filter hook forward priority 0; policy accept;
        iifname "cvbench*" oifname "cvbench*" drop
        oifname "cvbench*" ct state established,related accept
        oifname "cvbench*" drop
    }
}
table ip ${TABLE}_nat {
    chain postrouting {
        type nat hook postrouting priority 100;
        ip saddr 10.213.0.0/16 oifname != "cvbench*" masquerade
    }
}
EOF
"$PY" -m http.server --bind 0.0.0.0 "$ADDON_PORT" >/dev/null 2>&1 & PIDS+=($!)
"$PY" -m http.server --bind 0.0.0.0 "$API_PORT" >/dev/null 2>&1 & PIDS+=($!)
wait_http "http://127.0.0.1:$ADDON_PORT/"; wait_http "http://127.0.0.1:$API_PORT/"
probe() {  # label url expected(ok|refused)
    if ip netns exec "$NS" curl -s -o /dev/null --max-time 2 "$2"; then got=ok; else got=refused; fi
    printf 'isolation %-40s %-8s (want %s)\n' "$1" "$got" "$3"
}
probe "dyno -> host API on 127.0.0.1" "http://127.0.0.1:$API_PORT/" refused
probe "dyno -> host API on $HOST_IP" "http://$HOST_IP:$API_PORT/" refused
HOST_ETH=$(ip -4 -br addr show scope global | awk '$1!~/^cvbench/ {sub(/\/.*/,"",$3); print $3; exit}')
probe "dyno -> host API on $HOST_ETH" "http://$HOST_ETH:$API_PORT/" refused
probe "dyno -> its add-on on $HOST_IP" "http://$HOST_IP:$ADDON_PORT/" ok
start_veth() { BODY=$1 ip netns exec "$NS" "$PY" "$WORK/server.py" 0.0.0.0 "$PORT" >/dev/null & PIDS+=($!); wait_http "http://$DYNO_IP:$PORT/"; }
start_veth 12
measure veth "http://$DYNO_IP:$PORT/" start_veth
ip netns del "$NS"; nft delete table inet "$TABLE"; nft delete table ip "${TABLE}_nat"

# pasta and slirp4netns: only with USERSPACE=1. On the host this was written on (a
# container) both failed to open /dev/net/tun inside the new namespace.
[ "${USERSPACE:-0}" = 1 ] || exit 0

# --- pasta ---------------------------------------------------------------------------------
# -t 127.0.0.1/PORT: the host's loopback port forwarded into the netns; --no-map-gw: the
# netns's gateway is NOT the host's loopback (pasta's default maps it there).
start_pasta() {
    BODY=$1 pasta -q -f --config-net --no-map-gw -4 -t "127.0.0.1/$PORT" -u none -T none -U none \
        -- "$PY" "$WORK/server.py" 0.0.0.0 "$PORT" >/dev/null 2>&1 & PIDS+=($!)
    wait_http "http://127.0.0.1:$PORT/"
}
start_pasta 12
measure pasta "http://127.0.0.1:$PORT/" start_pasta

# --- slirp4netns ---------------------------------------------------------------------------
start_slirp() {
    [ -n "${SLIRP:-}" ] && { kill "$SLIRP" 2>/dev/null; wait "$SLIRP" 2>/dev/null || true; }
    rm -f "$WORK/slirp.sock"
    BODY=$1 unshare --net --fork sh -c 'ip link set lo up; exec "$0" "$@"' \
        "$PY" "$WORK/server.py" 0.0.0.0 "$PORT" >/dev/null 2>&1 & PIDS+=($!)
    local inner=""
    for _ in $(seq 50); do inner=$(pgrep -P "${PIDS[-1]}" || true); [ -n "$inner" ] && break; sleep 0.1; done
    slirp4netns --configure --mtu=65520 --disable-host-loopback -a "$WORK/slirp.sock" \
        "$inner" tap0 >/dev/null 2>&1 & SLIRP=$!
    for _ in $(seq 50); do [ -S "$WORK/slirp.sock" ] && break; sleep 0.1; done
    printf '{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_addr":"127.0.0.1","host_port":%s,"guest_port":%s}}' \
        "$PORT" "$PORT" | "$PY" -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.stdin.buffer.read()); s.shutdown(1); s.recv(4096)' "$WORK/slirp.sock"
    PIDS+=($SLIRP)
    # measure() kills the last pid: make it the server's, slirp4netns the one before.
    PIDS=("${PIDS[@]:0:${#PIDS[@]}-2}" "$SLIRP" "${PIDS[-2]}")
    wait_http "http://127.0.0.1:$PORT/"
}
start_slirp 12
measure slirp "http://127.0.0.1:$PORT/" start_slirp
