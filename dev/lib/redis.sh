# shellcheck shell=bash
# Redis (Debian redis-server): in memory only, no persistence, loopback only.

redis_ping() {
  local reply
  # shellcheck disable=SC2016 # $1 expands in the inner bash
  reply=$(timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"; printf "PING\r\n" >&3; head -c 5 <&3' _ "$PORT_REDIS" 2>/dev/null) || return 1
  [[ $reply == "+PONG" ]]
}

redis_alive() { pid_matches "$(read_pid redis)" "redis-server"; }
redis_healthy() { redis_alive && redis_ping; }

redis_ensure() {
  if redis_healthy; then
    say "redis already up (port $PORT_REDIS)"
    return 0
  fi
  if redis_alive; then
    wait_for 15 redis_ping || service_failed redis "(pid $(read_pid redis)) is running but does not answer PING" "dev/stack down && dev/stack up"
    say "redis up (port $PORT_REDIS, pid $(read_pid redis))"
    return 0
  fi
  command -v redis-server >/dev/null || service_failed redis "redis-server not installed" "dev/stack install"
  port_open "$PORT_REDIS" && service_failed redis "port $PORT_REDIS is taken by another process" "dev/stack down && dev/stack up"
  mkdir -p "$STATE/redis"
  start_background redis "$STATE/redis" redis-server --port "$PORT_REDIS" --bind 127.0.0.1 \
    --save '' --appendonly no --daemonize no --dir "$STATE/redis"
  wait_for 15 redis_healthy || {
    redis_alive || service_failed redis "exited during startup" "read the log, then dev/stack down && dev/stack up"
    service_failed redis "did not answer PING within 15s" "read the log, then dev/stack down && dev/stack up"
  }
  say "redis up (port $PORT_REDIS, pid $(read_pid redis))"
}

redis_stop() {
  stop_service redis "$(read_pid redis)" "redis-server" 10
}
