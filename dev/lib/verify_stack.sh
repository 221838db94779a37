#!/usr/bin/env bash
# Checks a running stack against its promises: auth methods and TLS on both PostgreSQL clusters,
# wal_level, pg_recvlogical from the PG 18 wheel, Kafka (PLAINTEXT and SASL), Redis.
#   dev/lib/verify_stack.sh            (reads $PGCDC_STATE_DIR/env, default <repo>/.stack/env)
# Prints one line per check and "N passed, N failed"; exit 1 if any failed.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
env_file=${PGCDC_STATE_DIR:-$repo/.stack}/env
[[ -f $env_file ]] || {
  echo "verify: no env file at $env_file; run dev/stack up" >&2
  exit 1
}
set -a
# shellcheck source=/dev/null
source "$env_file"
set +a

passed=0 failed=0
check() { # check NAME EXPECTED CMD...: CMD's trimmed stdout must equal EXPECTED
  local name=$1 want=$2 got
  shift 2
  got=$("$@" 2>&1 | tr -d '\r' | head -n1)
  if [[ $got == "$want" ]]; then
    printf 'ok    %s\n' "$name"
    passed=$((passed + 1))
  else
    printf 'FAIL  %s: got [%s], want [%s]\n' "$name" "$got" "$want"
    failed=$((failed + 1))
  fi
}
# check_plugin CLASS VERSION: the Connect worker lists CLASS at VERSION.
check_plugin() {
  check "debezium lists ${1##*.} $2" "$2" bash -c "curl -fsS '$PGCDC_DEBEZIUM_URL/connector-plugins' | '$PGCDC_PYTHON' -c 'import json,sys; print(next(p[\"version\"] for p in json.load(sys.stdin) if p[\"class\"] == \"$1\"))'"
}
# q PORT CONNINFO SQL: one value from psql (PG 15's client talks to both servers).
q() { PGCONNECT_TIMEOUT=5 "$PGCDC_PG15_BIN/psql" -X -At "host=127.0.0.1 port=$1 dbname=postgres $2" -c "$3"; }

for v in 15 18; do
  port_var=PGCDC_PG${v}_PORT
  port=${!port_var}
  check "pg$v scram as pgcdc, wal_level" "logical" q "$port" "user=pgcdc password=pgcdc sslmode=disable" "SHOW wal_level"
  check "pg$v server version" "$v" q "$port" "user=pgcdc password=pgcdc" "SELECT current_setting('server_version_num')::int / 10000"
  check "pg$v pgcdc password is SCRAM" "t" q "$port" "user=pgcdc password=pgcdc" "SELECT rolpassword LIKE 'SCRAM-SHA-256%' FROM pg_authid WHERE rolname = 'pgcdc'"
  check "pg$v md5 as pgcdc_md5" "t" q "$port" "user=pgcdc_md5 password=pgcdc sslmode=disable" "SELECT rolpassword LIKE 'md5%' FROM pg_authid WHERE rolname = 'pgcdc_md5'"
  check "pg$v trust as pgcdc_trust" "pgcdc_trust" q "$port" "user=pgcdc_trust sslmode=disable" "SELECT current_user"
  check "pg$v wrong password refused" "refused" bash -c "PGCONNECT_TIMEOUT=5 '$PGCDC_PG15_BIN/psql' -X -At 'host=127.0.0.1 port=$port dbname=postgres user=pgcdc password=nope' -c 'SELECT 1' >/dev/null 2>&1 && echo accepted || echo refused"
  check "pg$v replication as pgcdc_md5" "1" bash -c "'$PGCDC_PG15_BIN/psql' -X -At 'host=127.0.0.1 port=$port dbname=postgres user=pgcdc_md5 password=pgcdc replication=database' -c IDENTIFY_SYSTEM | cut -d'|' -f2"
  check "pg$v no replication for pgcdc_norepl" "refused" bash -c "'$PGCDC_PG15_BIN/psql' -X -At 'host=127.0.0.1 port=$port dbname=postgres user=pgcdc_norepl password=pgcdc replication=database' -c IDENTIFY_SYSTEM >/dev/null 2>&1 && echo accepted || echo refused"
  if [[ $v == 15 ]]; then
    check "pg$v TLS verify-full via localhost" "t" q "$port" "host=localhost user=pgcdc password=pgcdc sslmode=verify-full sslrootcert=$PGCDC_PG_SSL_ROOT_CERT" "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
    check "pg$v TLS verify-full via 127.0.0.1" "t" q "$port" "user=pgcdc password=pgcdc sslmode=verify-full sslrootcert=$PGCDC_PG_SSL_ROOT_CERT" "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
  else
    check "pg$v has no TLS (wheel built without OpenSSL)" "off" q "$port" "user=pgcdc password=pgcdc" "SHOW ssl"
  fi
done
check "pg18 pg_recvlogical runs" "pg_recvlogical (PostgreSQL) 18.6" "$PGCDC_PG18_BIN/pg_recvlogical" --version
check "pg18 postgres is 18" "postgres (PostgreSQL) 18.6" "$PGCDC_PG18_BIN/postgres" --version
check "kafka plaintext + sasl metadata" "ok" bash -c "'$PGCDC_PYTHON' '$repo/dev/lib/kafka_ready.py' '$PGCDC_KAFKA_BOOTSTRAP' '$PGCDC_KAFKA_SASL_BOOTSTRAP' '$PGCDC_KAFKA_SASL_USER' '$PGCDC_KAFKA_SASL_PASSWORD' && echo ok"
check "kafka sasl wrong password refused" "refused" bash -c "'$PGCDC_PYTHON' '$repo/dev/lib/kafka_ready.py' '$PGCDC_KAFKA_BOOTSTRAP' '$PGCDC_KAFKA_SASL_BOOTSTRAP' '$PGCDC_KAFKA_SASL_USER' wrong 2>/dev/null && echo accepted || echo refused"
redis_port=${PGCDC_REDIS_URL##*:}
check "redis PING" "+PONG" bash -c "exec 3<>/dev/tcp/127.0.0.1/$redis_port; printf 'PING\r\n' >&3; head -c 5 <&3"
check "python clients import" "ok" "$PGCDC_PYTHON" -c "import confluent_kafka, fastavro, requests; print('ok')"
if [[ -n ${PGCDC_DEBEZIUM_URL:-} ]]; then
  check_plugin io.debezium.connector.postgresql.PostgresConnector "$PGCDC_DEBEZIUM_VERSION"
  if [[ -n ${PGCDC_DEBEZIUM_JDBC_VERSION:-} ]]; then
    check_plugin io.debezium.connector.jdbc.JdbcSinkConnector "$PGCDC_DEBEZIUM_JDBC_VERSION"
  fi
fi

echo "$passed passed, $failed failed"
((failed == 0))
