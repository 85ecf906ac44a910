#!/usr/bin/env bash
# Single-node Ceph RADOS Gateway for opsledger's S3 contract tests.
#
# moto accepts things a real S3 refuses (bad signatures, Object Lock
# violations); this gives the same tests a real server to fail against.
# One monitor, one memstore OSD and one radosgw, all run directly (no systemd),
# all bound to 127.0.0.1, all state under one run directory.
#
# Usage: ceph-rgw.sh [--install] [--dir DIR] [--port PORT] [--timeout S] start|stop|env|status
#   start   bootstrap and start the daemons, wait until S3 answers, print
#           `export` lines on stdout (also written to DIR/env)
#   stop    stop the daemons and remove DIR
#   env     print the `export` lines of the running server
#   status  show the daemons, their RSS and whether S3 answers (exit 1 if not all up)
# Options (each also read from the environment):
#   --dir DIR     OPSLEDGER_CEPH_DIR      run directory (default /tmp/opsledger-ceph)
#   --port PORT   OPSLEDGER_CEPH_PORT     S3 port on 127.0.0.1 (default: a free port)
#   --timeout S   OPSLEDGER_CEPH_TIMEOUT  seconds allowed for start (default 90)
#   --install     apt-get install the Ceph packages when missing (needs root)
# Progress goes to stderr, so `eval "$(ceph-rgw.sh start)"` works.
# Exit codes: 0 ok, 1 failed / not running, 2 usage error, 130 start interrupted.

set -euo pipefail

readonly PACKAGES=(radosgw ceph-mon ceph-osd ceph-common)
readonly TOOLS=(ceph ceph-mon ceph-osd radosgw radosgw-admin monmaptool ceph-authtool)
readonly DAEMONS=(client.rgw.a osd.0 mon.a)
# Marks a directory as ours, so `stop` never deletes a directory it did not create.
readonly MARKER=.opsledger-ceph-rgw
# ceph-common pulls in python3; the first python3 on PATH may be some other interpreter.
readonly PY=/usr/bin/python3

run_dir=${OPSLEDGER_CEPH_DIR:-/tmp/opsledger-ceph}
port=${OPSLEDGER_CEPH_PORT:-}
timeout_s=${OPSLEDGER_CEPH_TIMEOUT:-90}
install=0
command=

say() { printf 'ceph-rgw: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
usage_error() {
    say "usage error: $*"
    say "usage: ceph-rgw.sh [--install] [--dir DIR] [--port PORT] [--timeout S] start|stop|env|status"
    exit 2
}

while (($#)); do
    case $1 in
        start|stop|env|status)
            [[ -z $command ]] || usage_error "more than one command given ($command, $1)"
            command=$1 ;;
        --install) install=1 ;;
        --dir|--port|--timeout)
            (($# >= 2)) || usage_error "$1 needs a value"
            case $1 in
                --dir) run_dir=$2 ;;
                --port) port=$2 ;;
                --timeout) timeout_s=$2 ;;
            esac
            shift ;;
        -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) usage_error "unknown argument '$1'" ;;
    esac
    shift
done
[[ -n $command ]] || usage_error "no command given"
[[ -n $run_dir ]] || usage_error "run directory is empty"
if [[ -n $port ]]; then
    [[ $port =~ ^[0-9]{1,5}$ ]] && ((10#$port >= 1 && 10#$port <= 65535)) \
        || usage_error "port must be an integer in 1..65535, got '$port'"
    port=$((10#$port))
fi
[[ $timeout_s =~ ^[0-9]{1,6}$ ]] && ((10#$timeout_s >= 1)) \
    || usage_error "timeout must be a positive integer of seconds, got '$timeout_s'"
timeout_s=$((10#$timeout_s))
run_dir=$(realpath -m -- "$run_dir")
[[ $run_dir != / ]] || usage_error "refusing to use / as the run directory"

conf=$run_dir/ceph.conf
env_file=$run_dir/env

# A zombie still has a /proc entry; where PID 1 does not reap (some CI
# containers) the daemons we killed would otherwise look alive forever.
is_running() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != Z ]]
}

pid_of() {  # prints the pid of daemon $1 if it is alive and really that daemon
    local pid_file=$run_dir/run/$1.pid pid comm
    [[ -s $pid_file ]] || return 1
    pid=$(<"$pid_file")
    [[ $pid =~ ^[0-9]+$ ]] && is_running "$pid" || return 1
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    case $1:$comm in
        mon.*:ceph-mon|osd.*:ceph-osd|client.rgw.*:radosgw) echo "$pid" ;;
        *) return 1 ;;  # stale pid file, pid reused by something else
    esac
}

any_alive() {
    local d
    for d in "${DAEMONS[@]}"; do pid_of "$d" >/dev/null && return 0; done
    return 1
}

stop_daemons() {
    # All state is thrown away with the run directory, so a graceful shutdown
    # buys nothing; radosgw alone takes ~6 s to drain. TERM, short grace, KILL.
    local d pid pids=() alive=() i
    for d in "${DAEMONS[@]}"; do
        if pid=$(pid_of "$d"); then pids+=("$pid"); fi
    done
    ((${#pids[@]})) || return 0
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        alive=()
        for pid in "${pids[@]}"; do
            if is_running "$pid"; then alive+=("$pid"); fi
        done
        ((${#alive[@]})) || return 0
        if ((i == 20)); then kill -KILL "${alive[@]}" 2>/dev/null || true; fi
        sleep 0.1
    done
    die "daemons ${alive[*]} still alive after SIGKILL"
}

remove_run_dir() {
    [[ -e $run_dir ]] || return 0
    [[ -e $run_dir/$MARKER ]] || die "$run_dir was not created by this script (no $MARKER); not removing it"
    rm -rf -- "$run_dir"
}

packages_missing() {
    local t
    for t in "${TOOLS[@]}"; do command -v "$t" >/dev/null || return 0; done
    [[ -x $PY ]] || return 0
    return 1
}

ensure_packages() {
    packages_missing || return 0
    ((install)) || die "Ceph is not installed (need: ${PACKAGES[*]}); rerun with --install or apt-get install them"
    ((EUID == 0)) || die "--install needs root to run apt-get"
    local t0=$SECONDS
    say "installing ${PACKAGES[*]} with apt-get"
    apt-get update -q >&2 || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" >&2 \
        || die "apt-get install ${PACKAGES[*]} failed"
    packages_missing && die "packages installed but a tool is still missing (${TOOLS[*]}, $PY)"
    say "installed in $((SECONDS - t0)) s"
}

free_port() {
    "$PY" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

port_is_free() {
    "$PY" -c 'import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)' "$1"
}

random_key() {  # $1 = length; upper-case alphanumerics like AWS access keys
    "$PY" -c 'import secrets, string, sys
alphabet = string.ascii_uppercase + string.digits
print("".join(secrets.choice(alphabet) for _ in range(int(sys.argv[1]))))' "$1"
}

s3_answers() {  # anonymous ListBuckets is answered with 200 once radosgw serves
    "$PY" -c 'import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception:
    sys.exit(1)' "$1"
}

remaining() {  # seconds left before the start deadline; fails when none
    local left=$((deadline - SECONDS))
    ((left > 0)) || return 1
    echo "$left"
}

# Runs a bootstrap step with the time left; its output goes to the setup log.
step() {
    local what=$1 left
    shift
    left=$(remaining) || fail_start "timed out after ${timeout_s} s before: $what"
    timeout "$left" "$@" >>"$run_dir/log/setup.log" 2>&1 \
        || fail_start "$what failed (exit $?)"
}

fail_start() {
    say "error: $*"
    local f
    for f in "$run_dir"/log/*.log; do
        [[ -s $f ]] || continue
        say "---- last lines of $f"
        tail -n 15 "$f" >&2
    done
    stop_daemons
    say "daemons stopped; logs kept in $run_dir/log (run 'stop' to remove)"
    exit 1
}

write_conf() {
    cat >"$conf" <<EOF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mon_port
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
ms bind msgr1 = false
# Without crc the monitor client in radosgw 16 never finishes connecting.
ms mon client mode = crc
auth cluster required = none
auth service required = none
auth client required = none
keyring = $run_dir/keyring
osd objectstore = memstore
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
# radosgw makes 6-7 pools; 32 PGs each nears the 250-per-OSD limit.
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
run dir = $run_dir/run
pid file = $run_dir/run/\$name.pid
admin socket = $run_dir/run/\$name.asok
log file = $run_dir/log/\$name.log
crash dir = $run_dir/crash

[mon.a]
mon data = $run_dir/mon/a

[osd.0]
osd data = $run_dir/osd/0

[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$port
rgw data = $run_dir/rgw
EOF
}

cmd_start() {
    local t0=$SECONDS
    deadline=$((SECONDS + timeout_s))
    if [[ -e $run_dir ]]; then
        if [[ -e $run_dir/$MARKER ]] && any_alive; then
            die "already running in $run_dir (use 'env' for its settings, 'stop' to stop it)"
        elif [[ -e $run_dir/$MARKER ]]; then
            say "removing stale $run_dir left by an earlier run"
            remove_run_dir
        elif [[ -n $(ls -A -- "$run_dir") ]]; then
            die "$run_dir exists, is not empty and was not made by this script"
        fi
    fi
    ensure_packages
    deadline=$((SECONDS + timeout_s))  # apt time does not count against readiness
    # Half-started daemons would outlive an interrupted start; take them down.
    trap 'say "interrupted"; stop_daemons; exit 130' INT TERM
    t0=$SECONDS

    if [[ -n $port ]]; then
        port_is_free "$port" || die "port $port on 127.0.0.1 is in use"
    else
        port=$(free_port)
    fi
    mon_port=$(free_port)
    while [[ $mon_port == "$port" ]]; do mon_port=$(free_port); done
    fsid=$(cat /proc/sys/kernel/random/uuid)
    local osd_uuid access_key secret_key
    osd_uuid=$(cat /proc/sys/kernel/random/uuid)
    access_key=$(random_key 20)
    secret_key=$(random_key 40)

    mkdir -p -- "$run_dir"
    touch "$run_dir/$MARKER"
    mkdir -p "$run_dir"/{mon/a,osd/0,run,log,rgw,crash}
    write_conf
    say "bootstrapping in $run_dir (S3 on 127.0.0.1:$port, mon on 127.0.0.1:$mon_port)"

    step "monmaptool" monmaptool --create --addv a "[v2:127.0.0.1:$mon_port]" --fsid "$fsid" "$run_dir/monmap"
    step "ceph-authtool" ceph-authtool --create-keyring "$run_dir/keyring" --gen-key -n mon. --cap mon 'allow *'
    step "ceph-mon --mkfs" ceph-mon -c "$conf" -i a --mkfs --monmap "$run_dir/monmap"
    step "ceph-mon start" ceph-mon -c "$conf" -i a
    step "ceph osd new" ceph -c "$conf" --connect-timeout "$(remaining || echo 1)" osd new "$osd_uuid" 0
    step "ceph-osd --mkfs" ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$osd_uuid"
    step "ceph-osd start" ceph-osd -c "$conf" -i 0
    # radosgw-admin creates the RGW pools, which waits for the OSD to be up.
    step "radosgw-admin user create" radosgw-admin -c "$conf" -n client.rgw.a user create \
        --uid opsledger-test --display-name "opsledger contract tests" \
        --access-key "$access_key" --secret "$secret_key"
    step "radosgw start" radosgw -c "$conf" -n client.rgw.a

    local endpoint=http://127.0.0.1:$port
    until s3_answers "$endpoint/"; do
        pid_of client.rgw.a >/dev/null || fail_start "radosgw exited before answering"
        remaining >/dev/null || fail_start "S3 endpoint $endpoint did not answer within ${timeout_s} s"
        sleep 0.5
    done

    cat >"$env_file" <<EOF
export OPSLEDGER_TEST_S3_ENDPOINT=$endpoint
export OPSLEDGER_TEST_S3_ACCESS_KEY=$access_key
export OPSLEDGER_TEST_S3_SECRET_KEY=$secret_key
EOF
    trap - INT TERM
    say "ready in $((SECONDS - t0)) s; daemon RSS $(total_rss_mib) MiB"
    cat "$env_file"
}

total_rss_mib() {
    local d pid kib total=0
    for d in "${DAEMONS[@]}"; do
        pid=$(pid_of "$d") || continue
        kib=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null) || kib=0
        total=$((total + ${kib:-0}))
    done
    echo $((total / 1024))
}

cmd_stop() {
    if [[ ! -e $run_dir ]]; then
        say "not running (no $run_dir)"
        return 0
    fi
    [[ -e $run_dir/$MARKER ]] || die "$run_dir was not created by this script (no $MARKER); not touching it"
    stop_daemons
    remove_run_dir
    say "stopped; removed $run_dir"
}

cmd_env() {
    [[ -s $env_file ]] && any_alive || die "not running in $run_dir (run 'start' first)"
    cat "$env_file"
}

cmd_status() {
    [[ -e $run_dir/$MARKER ]] || { say "not running (no $run_dir)"; exit 1; }
    local d pid kib ok=1
    for d in "${DAEMONS[@]}"; do
        if pid=$(pid_of "$d"); then
            kib=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
            printf '%-13s pid %-7s RSS %6d MiB\n' "$d" "$pid" $((kib / 1024))
        else
            printf '%-13s not running\n' "$d"
            ok=0
        fi
    done
    printf '%-13s %6d MiB\n' total "$(total_rss_mib)"
    if [[ -s $env_file ]]; then
        local endpoint
        endpoint=$(sed -n 's/^export OPSLEDGER_TEST_S3_ENDPOINT=//p' "$env_file")
        if [[ -x $PY ]] && s3_answers "$endpoint/"; then
            echo "S3 $endpoint answers"
        else
            echo "S3 $endpoint does not answer"
            ok=0
        fi
    else
        echo "S3 not ready (no $env_file)"
        ok=0
    fi
    ((ok)) || exit 1
}

"cmd_$command"
