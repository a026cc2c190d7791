#!/usr/bin/env bash
# A real Apache Kafka broker for the tests: one KRaft node acting as broker and
# controller, run from the Maven Central jars named in .ci/kafka/pom.xml.
#
#   .ci/kafka.sh fetch    download the jars once (cached under .cache/kafka/<version>/libs)
#   .ci/kafka.sh start    fetch if needed, format a fresh log dir, start, wait until ready
#   .ci/kafka.sh stop     stop the broker and delete its data
#   .ci/kafka.sh restart  kill -9 the broker and start it again (same port, same data)
#   .ci/kafka.sh status   print the bootstrap address; exit 1 when not running
#   .ci/kafka.sh tool CLASS ARGS...
#                         run a Kafka tool class against the jars, e.g.
#                         tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$(cat .cache/kafka/bootstrap)" --list
#
# After `start`: the bootstrap address (127.0.0.1:PORT) is in
# $KAFKA_STATE_DIR/bootstrap, the pid in $KAFKA_STATE_DIR/kafka.pid and the
# broker log in $KAFKA_STATE_DIR/broker.log.
#
# Environment:
#   KAFKA_VERSION     Kafka release to run (default below; needs Java 17+)
#   KAFKA_STATE_DIR   where bootstrap/pid/log live (default .cache/kafka); give
#                     each concurrent broker its own
#   KAFKA_HEAP        JVM heap options (default -Xms256m -Xmx512m)
#   KAFKA_START_TIMEOUT  seconds to wait for readiness (default 120)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KAFKA_VERSION="${KAFKA_VERSION:-4.2.2}"
CACHE="$ROOT/.cache/kafka"
DIST="$CACHE/$KAFKA_VERSION"
LIBS="$DIST/libs"
STATE="${KAFKA_STATE_DIR:-$CACHE}"
PIDFILE="$STATE/kafka.pid"
BOOTFILE="$STATE/bootstrap"
RUNDIRFILE="$STATE/rundir"
LOGFILE="$STATE/broker.log"
CONF_SRC="$ROOT/.ci/kafka"
M2="$ROOT/.cache/m2"
HEAP="${KAFKA_HEAP:--Xms256m -Xmx512m}"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-120}"

log() { echo "[kafka.sh] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# On a bare Debian machine, missing tools are installed when we may (root +
# apt-get): Java 17+ to run Kafka and Maven to fetch its jars (README, Tests,
# lists everything the test setup may install outside .cache/).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

java_bin() {
  if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
    echo "$JAVA_HOME/bin/java"
  else
    command -v java || true
  fi
}

# Kafka 4.x brokers and tools need Java 17 or newer.
check_java() {
  local java major
  java="$(java_bin)"
  if [[ -z "$java" ]] && apt_install openjdk-17-jre-headless; then java="$(java_bin)"; fi
  [[ -n "$java" ]] || die "java not found (need Java 17+; set JAVA_HOME)"
  major="$("$java" -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2; exit}')"
  major="${major%%.*}"
  [[ "$major" =~ ^[0-9]+$ ]] || die "cannot tell the version of $java"
  (( major >= 17 )) || die "Kafka $KAFKA_VERSION needs Java 17+, $java is Java $major (set JAVA_HOME)"
  JAVA="$java"
}

fetch() {
  if [[ -f "$DIST/.complete" ]] && compgen -G "$LIBS/kafka_2.13-$KAFKA_VERSION.jar" >/dev/null; then
    return 0
  fi
  mkdir -p "$CACHE"
  # one download at a time (several test runs may share the checkout)
  if command -v flock >/dev/null; then
    exec 9>"$CACHE/fetch-$KAFKA_VERSION.lock"
    flock 9
    if [[ -f "$DIST/.complete" ]]; then exec 9>&-; return 0; fi
  fi
  command -v mvn >/dev/null || apt_install maven || true
  command -v mvn >/dev/null || die "mvn not found: Maven is needed once to fetch the Kafka jars"
  log "fetching Apache Kafka $KAFKA_VERSION jars with Maven (once)"
  rm -rf "$DIST"
  mkdir -p "$DIST"
  local tmp="$DIST/libs.partial"
  # Maven's local repository under .cache too, not ~/.m2
  mvn -q -B -Dstyle.color=never -Dmaven.repo.local="$M2" -f "$CONF_SRC/pom.xml" \
    -Dkafka.version="$KAFKA_VERSION" -DincludeScope=runtime \
    -DoutputDirectory="$tmp" dependency:copy-dependencies </dev/null 2>&1 \
    | sed $'s/\x1b\\[[0-9;]*m//g' >&2 \
    || die "mvn could not fetch Kafka $KAFKA_VERSION"
  compgen -G "$tmp/kafka_2.13-$KAFKA_VERSION.jar" >/dev/null || die "kafka_2.13-$KAFKA_VERSION.jar missing after mvn"
  mv "$tmp" "$LIBS"
  touch "$DIST/.complete"
  exec 9>&-
  log "jars in ${LIBS#"$ROOT"/}"
}

pid_alive() {
  local pid
  [[ -f "$PIDFILE" ]] || return 1
  pid="$(cat "$PIDFILE")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # guard against a recycled pid
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka\.Kafka' || return 1
}

free_port() {
  python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# Kafka cluster ids are 16 random bytes in URL-safe base64 without padding,
# never starting with "-" (as Kafka's own Uuid.randomUuid): the storage
# tool's argument parser takes such an id for an option, and one start in
# 64 failed with "argument --cluster-id/-t: expected one argument".
cluster_id() {
  python3 -c 'import base64, os
while True:
    cid = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
    if not cid.startswith("-"):
        print(cid)
        break'
}

port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

run_tool() {
  "$JAVA" -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$CONF_SRC/tools-log4j2.properties" \
    -cp "$LIBS/*" "$@"
}

tail_log() {
  if [[ -f "$LOGFILE" ]]; then
    log "last lines of ${LOGFILE#"$ROOT"/}:"
    tail -n 40 "$LOGFILE" >&2
  fi
}

start() {
  check_java
  fetch
  mkdir -p "$STATE"
  if pid_alive; then
    log "already running (pid $(cat "$PIDFILE")) at $(cat "$BOOTFILE")"
    cat "$BOOTFILE"
    return 0
  fi
  # leftovers of a broker that died without `stop`
  cleanup_files

  local rundir bport cport cid
  rundir="$(mktemp -d "$STATE/run.XXXXXX")"
  echo "$rundir" >"$RUNDIRFILE"
  bport="$(free_port)"
  cport="$(free_port)"
  while [[ "$cport" == "$bport" ]]; do cport="$(free_port)"; done
  sed -e "s|@BROKER_PORT@|$bport|g" -e "s|@CONTROLLER_PORT@|$cport|g" -e "s|@DATA_DIR@|$rundir/data|g" \
    "$CONF_SRC/server.properties.in" >"$rundir/server.properties"

  cid="$(cluster_id)"
  : >"$LOGFILE"
  run_tool kafka.tools.StorageTool format -t "$cid" -c "$rundir/server.properties" --ignore-formatted \
    >>"$LOGFILE" 2>&1 || { tail_log; die "formatting the log dir failed"; }

  launch "$rundir" "$bport"
  echo "127.0.0.1:$bport" >"$BOOTFILE"
  log "ready at 127.0.0.1:$bport (pid $(cat "$PIDFILE"), log ${LOGFILE#"$ROOT"/})"
  echo "127.0.0.1:$bport"
}

# launch RUNDIR PORT: run the broker of an already formatted log dir and wait
# until it answers metadata requests.
launch() {
  local rundir="$1" bport="$2"
  log "starting Kafka $KAFKA_VERSION (KRaft broker+controller) on 127.0.0.1:$bport"
  # shellcheck disable=SC2086
  nohup "$JAVA" -server $HEAP -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
    -Dkafka.logs.dir="$rundir" -Dkafka.logs.file="$LOGFILE" \
    -Dlog4j2.configurationFile="$CONF_SRC/log4j2.properties" \
    -cp "$LIBS/*" kafka.Kafka "$rundir/server.properties" \
    </dev/null >>"$LOGFILE" 2>&1 &
  local pid=$!
  echo "$pid" >"$PIDFILE"

  # 1. the process is up and the broker port accepts connections
  local deadline=$((SECONDS + START_TIMEOUT))
  until port_open "$bport" && grep -q 'Kafka Server started' "$LOGFILE"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail_log; rm -f "$PIDFILE"; die "broker exited during start"
    fi
    if (( SECONDS > deadline )); then
      tail_log; stop >/dev/null 2>&1 || true; die "broker not listening after ${START_TIMEOUT}s"
    fi
    sleep 0.2
  done
  # 2. a real metadata request answers (broker registered and unfenced)
  printf 'request.timeout.ms=5000\ndefault.api.timeout.ms=10000\n' >"$rundir/admin.properties"
  until run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$bport" \
      --command-config "$rundir/admin.properties" --list >/dev/null 2>>"$rundir/probe.err"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail_log; rm -f "$PIDFILE"; die "broker exited during start"
    fi
    if (( SECONDS > deadline )); then
      tail -n 20 "$rundir/probe.err" >&2 || true
      tail_log; stop >/dev/null 2>&1 || true; die "broker not answering metadata requests after ${START_TIMEOUT}s"
    fi
    sleep 1
  done

}

# restart: crash the broker (SIGKILL, as a machine failure would) and start
# it again on the same port and log dir, for fault tests.
restart() {
  check_java
  pid_alive || die "not running"
  local pid rundir bport i
  pid="$(cat "$PIDFILE")"
  rundir="$(cat "$RUNDIRFILE")"
  bport="$(cat "$BOOTFILE")"
  bport="${bport##*:}"
  log "killing Kafka (pid $pid) for a restart"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  # the port stays taken until the kernel releases it
  for ((i = 0; i < 100; i++)); do
    port_open "$bport" || break
    sleep 0.1
  done
  launch "$rundir" "$bport"
  echo "127.0.0.1:$bport"
}

cleanup_files() {
  local rundir=""
  [[ -f "$RUNDIRFILE" ]] && rundir="$(cat "$RUNDIRFILE")"
  if [[ -n "$rundir" && -d "$rundir" && "$rundir" == "$STATE"/run.* ]]; then
    rm -rf "$rundir"
  fi
  rm -f "$PIDFILE" "$BOOTFILE" "$RUNDIRFILE"
}

stop() {
  if pid_alive; then
    local pid i
    pid="$(cat "$PIDFILE")"
    log "stopping Kafka (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 300; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "still running after 30s; killing"
      kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
    fi
  else
    log "not running"
  fi
  cleanup_files
}

status() {
  if pid_alive && [[ -f "$BOOTFILE" ]]; then
    echo "running pid=$(cat "$PIDFILE") bootstrap=$(cat "$BOOTFILE")"
  else
    echo "not running"
    return 1
  fi
}

cmd="${1:-}"
shift || true
case "$cmd" in
  fetch) check_java; fetch ;;
  start) start ;;
  stop) stop ;;
  restart) restart ;;
  status) status ;;
  tool)
    [[ $# -ge 1 ]] || die "usage: $0 tool CLASS [ARGS...]"
    check_java; fetch; run_tool "$@" ;;
  *)
    echo "usage: $0 fetch|start|stop|restart|status|tool CLASS [ARGS...]" >&2
    exit 2 ;;
esac
