# shellcheck shell=bash
# Apache Kafka broker (KRaft combined mode, one process) and the Kafka Connect distributed worker
# running the real Debezium PostgreSQL connector. Both run from the jars in $KAFKA_LIBS.

KAFKA_JVM=(-Xms256m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
  -XX:+ExplicitGCInvokesConcurrent -XX:ReservedCodeCacheSize=64m -XX:MaxMetaspaceSize=256m
  -Djava.awt.headless=true)

kafka_dir() { printf '%s/kafka\n' "$STATE"; }
connect_dir() { printf '%s/debezium\n' "$STATE"; }

# A log4j2 configuration: everything to stdout (the service log), INFO with the noisy parts quieter.
write_log4j2() {
  cat >"$1" <<'EOF'
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = out
logger.kafka_request.name = kafka.request.logger
logger.kafka_request.level = warn
logger.state_change.name = state.change.logger
logger.state_change.level = warn
logger.reflections.name = org.reflections
logger.reflections.level = error
logger.plugins.name = org.apache.kafka.connect.runtime.isolation
logger.plugins.level = warn
EOF
}

kafka_write_config() {
  local d
  d=$(kafka_dir)
  mkdir -p "$d/data"
  cat >"$d/server.properties" <<EOF
# Written by dev/stack. KRaft combined mode: this one process is broker and controller.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$PORT_KAFKA_CONTROLLER
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:$PORT_KAFKA,SASL_PLAINTEXT://127.0.0.1:$PORT_KAFKA_SASL,CONTROLLER://127.0.0.1:$PORT_KAFKA_CONTROLLER
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT_KAFKA,SASL_PLAINTEXT://127.0.0.1:$PORT_KAFKA_SASL
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
sasl.enabled.mechanisms=PLAIN
listener.name.sasl_plaintext.sasl.enabled.mechanisms=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$KAFKA_SASL_USER="$KAFKA_SASL_PASSWORD";
log.dirs=$d/data
# Topics are created explicitly, as production needs them.
auto.create.topics.enable=false
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
EOF
  write_log4j2 "$d/log4j2.properties"
}

# A KRaft cluster id: 16 random bytes, base64url without padding (not starting with '-').
kafka_cluster_id() {
  base_python -c '
import base64, uuid
while True:
    s = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not s.startswith("-"):
        print(s)
        break'
}

kafka_healthy() {
  pid_matches "$(read_pid kafka)" "$(kafka_dir)/server.properties" && port_open "$PORT_KAFKA"
}

# kafka_start: format the log dir once, then launch the broker (readiness: kafka_wait).
kafka_start() {
  local d log
  d=$(kafka_dir)
  log=$(log_file kafka)
  if kafka_healthy; then
    say "kafka already up (port $PORT_KAFKA)"
    return 0
  fi
  if pid_matches "$(read_pid kafka)" "$d/server.properties"; then
    say "kafka (pid $(read_pid kafka)) is running but not answering yet; waiting for it"
    KAFKA_STARTED=1
    return 0
  fi
  [[ -n $(ls "$KAFKA_LIBS"/kafka_2.13-*.jar 2>/dev/null) ]] || service_failed kafka "jars missing in $KAFKA_LIBS" "dev/stack install"
  local p
  for p in "$PORT_KAFKA" "$PORT_KAFKA_SASL" "$PORT_KAFKA_CONTROLLER"; do
    port_open "$p" && service_failed kafka "port $p is taken by another process" "dev/stack down && dev/stack up"
  done
  kafka_write_config
  if [[ ! -f $d/data/meta.properties ]]; then
    java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto -Dlog4j2.configurationFile="$d/log4j2.properties" \
      -cp "$KAFKA_LIBS/*" kafka.tools.StorageTool format -t "$(kafka_cluster_id)" -c "$d/server.properties" \
      >>"$log" 2>&1 || service_failed kafka "storage format failed" "dev/stack down && dev/stack up"
  fi
  start_background kafka "$d" java "${KAFKA_JVM[@]}" -Dlog4j2.configurationFile="$d/log4j2.properties" \
    -Dkafka.logs.dir="$d" -cp "$KAFKA_LIBS/*" kafka.Kafka "$d/server.properties"
  KAFKA_STARTED=1
}

kafka_ready() {
  pid_matches "$(read_pid kafka)" "$(kafka_dir)/server.properties" || return 2
  "$VENV/bin/python" "$DEV_DIR/lib/kafka_ready.py" "127.0.0.1:$PORT_KAFKA" "127.0.0.1:$PORT_KAFKA_SASL" \
    "$KAFKA_SASL_USER" "$KAFKA_SASL_PASSWORD" 2>>"$(log_file kafka-ready)"
}

kafka_wait() {
  [[ ${KAFKA_STARTED:-0} == 1 ]] || return 0
  local deadline=$(($(date +%s) + 90)) rc
  while :; do
    rc=0
    kafka_ready || rc=$?
    ((rc == 0)) && break
    ((rc == 2)) && service_failed kafka "exited during startup" "read the log, then dev/stack down && dev/stack up"
    (($(date +%s) < deadline)) || service_failed kafka "not ready within 90s" "read the log, then dev/stack down && dev/stack up"
    sleep 0.3
  done
  say "kafka up (port $PORT_KAFKA, sasl $PORT_KAFKA_SASL, pid $(read_pid kafka))"
}

kafka_stop() {
  stop_service kafka "$(read_pid kafka)" "$(kafka_dir)/server.properties" 30
}

# --- Kafka Connect worker with Debezium --------------------------------------------------------

connect_write_config() {
  local d
  d=$(connect_dir)
  mkdir -p "$d"
  cat >"$d/worker.properties" <<EOF
# Written by dev/stack: a Kafka Connect distributed worker for the reference Debezium connector.
bootstrap.servers=127.0.0.1:$PORT_KAFKA
group.id=$CONNECT_GROUP
key.converter=org.apache.kafka.connect.json.JsonConverter
value.converter=org.apache.kafka.connect.json.JsonConverter
key.converter.schemas.enable=true
value.converter.schemas.enable=true
# Connect creates its internal topics through the admin API (broker auto-create is off).
config.storage.topic=_pgcdc_connect_configs
offset.storage.topic=_pgcdc_connect_offsets
status.storage.topic=_pgcdc_connect_status
config.storage.replication.factor=1
offset.storage.replication.factor=1
status.storage.replication.factor=1
offset.storage.partitions=1
status.storage.partitions=1
offset.flush.interval.ms=1000
listeners=http://127.0.0.1:$PORT_CONNECT
rest.advertised.host.name=127.0.0.1
rest.advertised.port=$PORT_CONNECT
plugin.path=$DEBEZIUM_PLUGIN_PATH,$DEBEZIUM_JDBC_PLUGIN_PATH
# Debezium ships ServiceLoader manifests: skip the slow reflective classpath scan.
plugin.discovery=service_load
topic.creation.enable=true
EOF
  write_log4j2 "$d/log4j2.properties"
}

connect_healthy() {
  pid_matches "$(read_pid debezium)" "$(connect_dir)/worker.properties" && port_open "$PORT_CONNECT"
}

connect_plugin_listed() {
  pid_matches "$(read_pid debezium)" "$(connect_dir)/worker.properties" || return 2
  curl -fsS --max-time 3 "http://127.0.0.1:$PORT_CONNECT/connector-plugins" 2>/dev/null |
    grep -q 'io.debezium.connector.postgresql.PostgresConnector'
}

connect_ensure() {
  local d
  d=$(connect_dir)
  touch "$STATE/debezium.enabled"
  if connect_healthy; then
    say "debezium already up (port $PORT_CONNECT)"
    return 0
  fi
  if pid_matches "$(read_pid debezium)" "$d/worker.properties"; then
    say "debezium (pid $(read_pid debezium)) is running but not answering yet; waiting for it"
  else
    [[ -d $DEBEZIUM_PLUGIN_PATH/debezium-connector-postgres ]] || service_failed debezium "connector jars missing in $DEBEZIUM_PLUGIN_PATH" "dev/stack install"
    port_open "$PORT_CONNECT" && service_failed debezium "port $PORT_CONNECT is taken by another process" "dev/stack down && dev/stack up --with-debezium"
    connect_write_config
    start_background debezium "$d" java "${KAFKA_JVM[@]}" -Dlog4j2.configurationFile="$d/log4j2.properties" \
      -cp "$KAFKA_LIBS/*" org.apache.kafka.connect.cli.ConnectDistributed "$d/worker.properties"
  fi
  local deadline=$(($(date +%s) + 120)) rc
  while :; do
    rc=0
    connect_plugin_listed || rc=$?
    ((rc == 0)) && break
    ((rc == 2)) && service_failed debezium "worker exited during startup" "read the log, then dev/stack up --with-debezium"
    (($(date +%s) < deadline)) || service_failed debezium "PostgresConnector not listed by GET /connector-plugins within 120s" "read the log, then dev/stack down && dev/stack up --with-debezium"
    sleep 0.5
  done
  say "debezium up (port $PORT_CONNECT, pid $(read_pid debezium))"
}

connect_stop() {
  stop_service debezium "$(read_pid debezium)" "$(connect_dir)/worker.properties" 30
}
