#!/usr/bin/env bash
# Installs, starts, stops and reports the backend servers the tests use, on
# loopback only. Starts only what is not already listening; stops only what
# it started itself. Data, pid files and logs live under one folder:
# $STATESTORE_SERVICES_DIR (default /tmp/statestore-services).
#
#   scripts/services.sh install   # apt packages of every backend (as root)
#   scripts/services.sh start     # Redis 6379, Redis Cluster 7000-7005
#   scripts/services.sh stop      # what this script started
#   scripts/services.sh status
set -euo pipefail

dir="${STATESTORE_SERVICES_DIR:-/tmp/statestore-services}"
cluster_ports=(7000 7001 7002 7003 7004 7005)
mkdir -p "$dir"

say() { printf '[services] %s\n' "$*" >&2; }
fail() { say "error: $*"; exit 1; }

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() { # description, seconds, command...
    local what=$1 secs=$2
    shift 2
    for _ in $(seq 1 $((secs * 10))); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    fail "$what not ready after ${secs}s (logs in $dir)"
}

install() {
    if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
        return 0
    fi
    [ "$(id -u)" = 0 ] || fail "redis-server is missing; run 'apt-get install redis-server redis-tools' as root"
    say "installing redis-server and redis-tools"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server redis-tools >/dev/null ||
        { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server redis-tools >/dev/null; } ||
        fail "apt-get could not install redis-server redis-tools"
}

# redis-server on a port, daemonised, without persistence.
redis_on() { # port, extra args...
    local port=$1
    shift
    mkdir -p "$dir/redis-$port"
    redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
        --daemonize yes --pidfile "$dir/redis-$port.pid" \
        --logfile "$dir/redis-$port.log" --dir "$dir/redis-$port" "$@"
}

cluster_ok() {
    for p in "${cluster_ports[@]}"; do
        redis-cli -p "$p" cluster info 2>/dev/null | grep -q 'cluster_state:ok' || return 1
    done
    # Every primary has its replica, in sync (the failover test needs one).
    [ "$(redis-cli -p 7000 cluster nodes | grep -c slave)" -ge 3 ] || return 1
    for p in "${cluster_ports[@]}"; do
        local repl
        repl=$(redis-cli -p "$p" info replication)
        if grep -q 'role:slave' <<<"$repl"; then
            grep -q 'master_link_status:up' <<<"$repl" || return 1
        fi
    done
}

start_redis() {
    if listening 6379; then
        say "Redis 6379 already listening"
    else
        install
        say "starting Redis on 127.0.0.1:6379"
        redis_on 6379
        wait_for "Redis 6379" 10 redis-cli -p 6379 ping
    fi
}

start_cluster() {
    local missing=()
    for p in "${cluster_ports[@]}"; do
        listening "$p" || missing+=("$p")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        say "Redis Cluster 7000-7005 already listening"
    else
        install
        local fresh=1
        # A node that was part of the cluster rejoins with its nodes.conf.
        [ ${#missing[@]} -lt ${#cluster_ports[@]} ] && fresh=0
        for p in "${missing[@]}"; do
            # A fresh node starts from an empty folder: a replica's full sync
            # leaves a dump.rdb that Redis loads even with --save '', and
            # `--cluster create` refuses a node that holds keys.
            [ $fresh = 1 ] && rm -rf "$dir/redis-$p"
            say "starting Redis Cluster node 127.0.0.1:$p"
            redis_on "$p" --cluster-enabled yes --cluster-config-file "$dir/redis-$p/nodes.conf" \
                --cluster-node-timeout 5000 --cluster-replica-validity-factor 0
        done
        for p in "${missing[@]}"; do wait_for "Redis $p" 10 redis-cli -p "$p" ping; done
        if [ $fresh = 1 ]; then
            say "creating the cluster: 3 primaries, 3 replicas"
            local nodes=()
            for p in "${cluster_ports[@]}"; do nodes+=("127.0.0.1:$p"); done
            if ! redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >"$dir/cluster-create.log" 2>&1; then
                grep -a -E 'ERR|rror' "$dir/cluster-create.log" | tail -5 >&2 || true
                fail "redis-cli --cluster create failed (see $dir/cluster-create.log)"
            fi
        fi
    fi
    wait_for "Redis Cluster (cluster_state:ok on every node)" 30 cluster_ok
}

stop() {
    for pidfile in "$dir"/redis-*.pid; do
        [ -e "$pidfile" ] || continue
        local pid
        pid=$(cat "$pidfile")
        if kill "$pid" 2>/dev/null; then say "stopped $(basename "$pidfile" .pid) (pid $pid)"; fi
        rm -f "$pidfile"
    done
}

status() {
    for p in 6379 "${cluster_ports[@]}"; do
        if listening "$p"; then echo "127.0.0.1:$p up"; else echo "127.0.0.1:$p down"; fi
    done
}

case "${1:-start}" in
install) install ;;
start) start_redis; start_cluster ;;
stop) stop ;;
status) status ;;
*) fail "usage: $0 install|start|stop|status" ;;
esac
