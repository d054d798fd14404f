#!/usr/bin/env bash
# Run a command with throwaway PostgreSQL, Redis, an IMAP server (Dovecot) and an
# S3-compatible object storage (moto's server, from the test extras) on 127.0.0.1, unless
# DATABASE_URL, REDIS_URL, TEST_IMAP_URL and TEST_S3_URL are already given. Everything lives
# in a temporary directory and is stopped (and removed) when the command ends, whatever its
# outcome.
#
#   scripts/test-services.sh .venv/bin/pytest
set -euo pipefail

need_pg=1; need_redis=1; need_imap=1; need_s3=1
[ -n "${DATABASE_URL:-}" ] && need_pg=0
[ -n "${REDIS_URL:-}" ] && need_redis=0
[ -n "${TEST_IMAP_URL:-}" ] && need_imap=0
[ -n "${TEST_S3_URL:-}" ] && need_s3=0

pg_bin() {
    local dir
    for dir in /usr/lib/postgresql/*/bin; do
        [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
    done
    return 1
}

install_missing() {
    local packages=()
    [ $need_pg = 1 ] && ! pg_bin >/dev/null && packages+=(postgresql)
    [ $need_redis = 1 ] && ! command -v redis-server >/dev/null && packages+=(redis-server)
    [ $need_imap = 1 ] && ! command -v dovecot >/dev/null && packages+=(dovecot-imapd)
    # The browser tests drive Debian's Chromium (never a downloaded browser build).
    [ -z "${CHROMIUM_PATH:-}" ] && ! command -v chromium >/dev/null && packages+=(chromium)
    [ ${#packages[@]} = 0 ] && return 0
    if [ "$(id -u)" != 0 ]; then
        echo "Missing: ${packages[*]}. Install them (apt-get install ${packages[*]}) or set" \
             "DATABASE_URL, REDIS_URL and TEST_IMAP_URL to running servers." >&2
        exit 1
    fi
    echo "Installing ${packages[*]} from Debian..." >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
    # Where an init system runs, Debian starts its own servers on install; we start our own.
    for service in postgresql redis-server dovecot; do
        command -v service >/dev/null && service "$service" stop >/dev/null 2>&1 || true
    done
}

# moto's server comes with the test extras (pyproject.toml): beside the command's Python
# (.venv/bin/pytest), in the project's .venv, or on PATH.
moto_server_bin() {
    local dir
    for dir in "$(dirname "$1")" "$(dirname "$0")/../.venv/bin"; do
        [ -x "$dir/moto_server" ] && { echo "$dir/moto_server"; return 0; }
    done
    command -v moto_server
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

install_missing
tmp=$(mktemp -d /tmp/crm-test-services.XXXXXX)
chmod 755 "$tmp"
pg_started=0; redis_started=0; imap_started=0; s3_started=0

cleanup() {
    local status=$?
    if [ $pg_started = 1 ]; then
        as_pg "$(pg_bin)/pg_ctl" -D "$tmp/pg" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    if [ $redis_started = 1 ]; then
        kill "$(cat "$tmp/redis.pid" 2>/dev/null)" 2>/dev/null || true
    fi
    if [ $imap_started = 1 ]; then
        dovecot -c "$tmp/dovecot/dovecot.conf" stop >/dev/null 2>&1 || true
    fi
    if [ $s3_started = 1 ]; then
        kill "$(cat "$tmp/moto.pid" 2>/dev/null)" 2>/dev/null || true
    fi
    rm -rf "$tmp"
    exit $status
}
trap cleanup EXIT INT TERM

# PostgreSQL refuses to run as root: run it as the unprivileged `postgres` system user.
as_pg() {
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

if [ $need_pg = 1 ]; then
    bin=$(pg_bin)
    port=$(free_port)
    mkdir -p "$tmp/pg"
    [ "$(id -u)" = 0 ] && chown postgres "$tmp/pg"
    as_pg "$bin/initdb" -D "$tmp/pg" -U crm --auth=trust -E UTF8 --locale=C.UTF-8 >"$tmp/initdb.log" 2>&1 \
        || { cat "$tmp/initdb.log" >&2; exit 1; }
    # Throwaway test cluster: durability off makes the suite several times faster.
    as_pg "$bin/pg_ctl" -D "$tmp/pg" -l "$tmp/pg/server.log" -w \
        -o "-h 127.0.0.1 -p $port -k $tmp/pg -F -c synchronous_commit=off -c full_page_writes=off" \
        start >/dev/null || { cat "$tmp/pg/server.log" >&2; exit 1; }
    pg_started=1
    export DATABASE_URL="postgres://crm@127.0.0.1:$port/postgres"
    # For a benchmark that restarts the server (bench/faults.py).
    export TEST_PG_DATA="$tmp/pg" TEST_PG_BIN="$bin"
    echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port" >&2
fi

if [ $need_redis = 1 ]; then
    port=$(free_port)
    redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
        --daemonize yes --pidfile "$tmp/redis.pid" --logfile "$tmp/redis.log" --dir "$tmp"
    redis_started=1
    for attempt in $(seq 50); do
        redis-cli -p "$port" ping >/dev/null 2>&1 && break
        if [ "$attempt" = 50 ]; then
            echo "Redis did not answer on 127.0.0.1:$port:" >&2
            cat "$tmp/redis.log" >&2
            exit 1
        fi
        sleep 0.1
    done
    export REDIS_URL="redis://127.0.0.1:$port/0"
    echo "Redis $(redis-server --version | awk '{print $3}') on 127.0.0.1:$port" >&2
fi

if [ $need_imap = 1 ]; then
    # Any user name logs in with the one password and gets a mailbox of its own (the tests'
    # workers and cases each take a fresh one). As root, mail is kept as `nobody`.
    port=$(free_port)
    dir="$tmp/dovecot"
    mkdir -p "$dir/mail" "$dir/run" "$dir/state"
    if [ "$(id -u)" = 0 ]; then
        chown nobody "$dir/mail"
        mail_owner="uid=nobody gid=$(id -gn nobody)"; login_user=dovenull; internal_user=dovecot
    else
        mail_owner="uid=$(id -u) gid=$(id -g)"; login_user=$(id -un); internal_user=$(id -un)
    fi
    cat >"$dir/dovecot.conf" <<EOF
protocols = imap
listen = 127.0.0.1
base_dir = $dir/run
state_dir = $dir/state
log_path = $dir/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = $login_user
default_internal_user = $internal_user
mail_location = maildir:~/Maildir
first_valid_uid = 1
passdb {
  driver = static
  args = password=test-password
}
userdb {
  driver = static
  args = $mail_owner home=$dir/mail/%u
}
service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = $port
  }
  inet_listener imaps {
    port = 0
  }
}
service anvil {
  chroot =
}
namespace inbox {
  inbox = yes
  mailbox Sent {
    special_use = \Sent
    auto = subscribe
  }
}
EOF
    dovecot -c "$dir/dovecot.conf" || { cat "$dir/dovecot.log" >&2 2>/dev/null; exit 1; }
    imap_started=1
    for attempt in $(seq 50); do
        python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" \
            2>/dev/null && break
        if [ "$attempt" = 50 ]; then
            echo "Dovecot did not answer on 127.0.0.1:$port:" >&2
            cat "$dir/dovecot.log" >&2
            exit 1
        fi
        sleep 0.1
    done
    export TEST_IMAP_URL="imap://127.0.0.1:$port" TEST_IMAP_PASSWORD=test-password
    echo "Dovecot $(dovecot --version | awk '{print $1}') on 127.0.0.1:$port" >&2
fi

if [ $need_s3 = 1 ]; then
    # Buckets and objects in memory, gone with the process; each test makes a bucket of its own.
    moto=$(moto_server_bin "$1") || {
        echo "moto_server is missing: install the test extras (pip install '.[test]')" \
             "or set TEST_S3_URL to a running S3-compatible server." >&2
        exit 1
    }
    port=$(free_port)
    "$moto" -H 127.0.0.1 -p "$port" >"$tmp/moto.log" 2>&1 &
    echo $! >"$tmp/moto.pid"
    s3_started=1
    for attempt in $(seq 100); do
        python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" \
            2>/dev/null && break
        if [ "$attempt" = 100 ] || ! kill -0 "$(cat "$tmp/moto.pid")" 2>/dev/null; then
            echo "moto's S3 server did not answer on 127.0.0.1:$port:" >&2
            cat "$tmp/moto.log" >&2
            exit 1
        fi
        sleep 0.1
    done
    export TEST_S3_URL="http://127.0.0.1:$port"
    echo "moto $("$(dirname "$moto")/python" -c 'import moto; print(moto.__version__)' \
        2>/dev/null || echo '') S3 on 127.0.0.1:$port" >&2
fi

"$@"
