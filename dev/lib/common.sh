# shellcheck shell=bash
# Shared helpers for dev/stack: paths, messages, pid files, ports and waits.
# Sourced by dev/stack (and its other dev/lib/*.sh files).
# shellcheck disable=SC2034 # the constants below are used by the other dev/lib files

# --- versions (the one place they are pinned; poms take them as -D properties) -------------
KAFKA_VERSION=4.3.1          # = version.kafka of debezium-build-parent 3.7.0.Final
DEBEZIUM_VERSION=3.7.0.Final # 3.7.1.Final is on Central but its debezium-build-parent pom is not
# The JDBC sink (benchmarks only) has its own pin: on 2026-12-07 the mirror refused
# debezium-connector-jdbc 3.7.0.Final, 3.6.1.Final and 3.6.4.Final; 3.5.0.Final resolves with its
# dependencies. It runs in its own plugin folder (own classloader) beside the 3.7.0 source.
DEBEZIUM_JDBC_VERSION=3.5.0.Final
PG_OS_USER=pgcdc             # unprivileged OS user that owns and runs the clusters when we are root
PG_ROLE=pgcdc
PG_PASSWORD=pgcdc            # also literal in pg_roles' SQL (dev/lib/postgres.sh)
KAFKA_SASL_USER=pgcdc
KAFKA_SASL_PASSWORD=pgcdc-secret
CONNECT_GROUP=pgcdc-stack-connect

# --- paths ---------------------------------------------------------------------------------
REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DEV_DIR=$REPO_DIR/dev
STATE=$(realpath -m "${PGCDC_STATE_DIR:-$REPO_DIR/.stack}")
if [[ -n ${PGCDC_CACHE_DIR:-} ]]; then
  CACHE=$(realpath -m "$PGCDC_CACHE_DIR")
elif [[ $EUID -eq 0 ]]; then
  CACHE=/var/cache/pgcdc
else
  CACHE=$HOME/.cache/pgcdc
fi
VENV=$CACHE/venv
M2_REPO=$CACHE/m2
KAFKA_LIBS=$CACHE/kafka-$KAFKA_VERSION/libs
DEBEZIUM_HOME=$CACHE/debezium-$DEBEZIUM_VERSION
DEBEZIUM_PLUGIN_PATH=$DEBEZIUM_HOME/connect-plugins          # holds debezium-connector-postgres/
DEBEZIUM_JDBC_PLUGIN_PATH=$DEBEZIUM_HOME/jdbc-plugins        # holds debezium-connector-jdbc/ (optional)
PG15_BIN=/usr/lib/postgresql/15/bin
RUN_DIR=$STATE/run     # unix sockets
PORTS_FILE=$STATE/ports
STATE_MARKER=$STATE/.pgcdc-stack

# --- messages ------------------------------------------------------------------------------
say() { printf 'stack: %s\n' "$*" >&2; }

# die MESSAGE: one line on stderr, exit 1.
die() {
  printf 'stack: error: %s\n' "$*" >&2
  exit 1
}

# service_failed SERVICE WHAT FIX: the one-line error for a service that did not come up.
service_failed() {
  die "$1 $2; log: $STATE/logs/$1.log; fix: $3"
}

now() { date +%s.%N; }
elapsed_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# --- running things as the PostgreSQL OS user ----------------------------------------------
# as_pg CMD...: run as the unprivileged cluster owner when we are root, else as ourselves.
# fds 8 and 9 hold dev/stack's flocks: a daemon must not inherit them.
as_pg() {
  if [[ $EUID -eq 0 ]]; then
    (cd "$STATE" && runuser -u "$PG_OS_USER" -- "$@" 8>&- 9>&-)
  else
    "$@" 8>&- 9>&-
  fi
}

# own_pg PATH...: hand paths to the cluster owner (no-op when not root).
own_pg() {
  if [[ $EUID -eq 0 ]]; then chown -R "$PG_OS_USER:" "$@"; fi
}

# --- pid files -----------------------------------------------------------------------------
pid_file() { printf '%s/pids/%s.pid' "$STATE" "$1"; }
log_file() { printf '%s/logs/%s.log' "$STATE" "$1"; }

read_pid() {
  local f
  f=$(pid_file "$1")
  [[ -s $f ]] && head -n1 "$f" | tr -dc '0-9'
  return 0
}

write_pid() { printf '%s\n' "$2" >"$(pid_file "$1")"; }

# pid_matches PID NEEDLE: the process exists and its command line contains NEEDLE
# (guards against acting on a recycled pid that is not ours).
pid_matches() {
  local pid=$1 needle=$2 cmdline
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 1
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmdline == *"$needle"* ]]
}

# stop_pid SERVICE PID NEEDLE TIMEOUT [SIGNAL]: SIGNAL (default TERM), wait up to TIMEOUT
# seconds, then KILL.
stop_pid() {
  local svc=$1 pid=$2 needle=$3 timeout=$4 sig=${5:-TERM} waited=0
  pid_matches "$pid" "$needle" || return 0
  kill "-$sig" "$pid" 2>/dev/null || true
  while pid_matches "$pid" "$needle"; do
    if ((waited >= timeout * 10)); then
      say "$svc (pid $pid) still running ${timeout}s after $sig; sending KILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
      break
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
}

# stop_service SERVICE PID NEEDLE TIMEOUT [SIGNAL]: stop_pid, and say so if it was running.
stop_service() {
  pid_matches "$2" "$3" || return 0
  stop_pid "$@"
  say "$1 stopped (pid $2)"
}

# --- ports ---------------------------------------------------------------------------------
# port_open PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
  # shellcheck disable=SC2016 # $1 expands in the inner bash
  timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}

# pick_ports: choose free loopback ports once per state dir and record them in $PORTS_FILE.
pick_ports() {
  [[ -s $PORTS_FILE ]] && return 0
  local names=(PORT_PG15 PORT_PG18 PORT_KAFKA PORT_KAFKA_SASL PORT_KAFKA_CONTROLLER PORT_REDIS PORT_CONNECT)
  local ports i
  mapfile -t ports < <(base_python "$DEV_DIR/lib/free_ports.py" "${#names[@]}")
  ((${#ports[@]} == ${#names[@]})) || die "could not pick ${#names[@]} free loopback ports"
  for i in "${!names[@]}"; do printf '%s=%s\n' "${names[$i]}" "${ports[$i]}"; done >"$PORTS_FILE.tmp"
  mv "$PORTS_FILE.tmp" "$PORTS_FILE"
}

load_ports() {
  [[ -s $PORTS_FILE ]] || return 1
  # shellcheck source=/dev/null
  source "$PORTS_FILE"
}

# base_python: the interpreter the venv is made from (Debian's, so a pyenv change cannot break it).
base_python() {
  if [[ -x /usr/bin/python3 ]]; then /usr/bin/python3 "$@"; else python3 "$@"; fi
}

# --- waits ---------------------------------------------------------------------------------
# wait_for TIMEOUT_S CHECK_FN [ARGS...]: poll CHECK_FN every 0.2 s; 0 when it succeeds, 1 on timeout.
wait_for() {
  local timeout=$1 deadline
  shift
  deadline=$(($(date +%s) + timeout))
  until "$@"; do
    (($(date +%s) < deadline)) || return 1
    sleep 0.2
  done
}

# start_background SERVICE DIR CMD...: start CMD detached (own session, stdin from /dev/null,
# output appended to the service log, without the lock fds 8/9), record its pid. The subshell
# is not a process-group leader, so setsid does not fork and $! is the service's own pid.
start_background() {
  local svc=$1 dir=$2 log
  shift 2
  log=$(log_file "$svc")
  printf '\n=== %s: dev/stack starting %s ===\n' "$(date -Is)" "$svc" >>"$log"
  (cd "$dir" && exec setsid "$@" </dev/null >>"$log" 2>&1 8>&- 9>&-) &
  write_pid "$svc" "$!"
}
