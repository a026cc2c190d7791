#!/usr/bin/env bash
# The test pipeline behind `make test` / `make lint` (see Makefile).
#
#   .ci/test.sh test    tools, gofmt, go vet, staticcheck, Kafka + chDB, go test
#   .ci/test.sh lint    tools, gofmt, go vet, staticcheck
#   .ci/test.sh tools   install the pinned staticcheck into .cache/bin
#   .ci/test.sh compose validate docker-compose.yml (no Docker needed)
#
# Environment (all optional):
#   RACE_PKGS          packages tested with -race (default below); the rest of
#                      `go list ./...` is tested without it
#   TEST_TIMEOUT       go test -timeout (default 20m)
#   PLAIN_FULL_RUN     -run pattern of RACE_PKGS tests that also run without
#                      -race at full size (default Property$; empty: none)
#   GOTESTFLAGS        extra go test flags, e.g. "-run TestFoo -v"
#   LEARNSTREAM_KAFKA_BROKERS  use this broker instead of starting one
#   LEARNSTREAM_REQUIRE_SERVICES=1  a broker or chDB that cannot be set up
#                      fails the run (CI sets it); otherwise tests skip them
#   STATICCHECK_VERSION  module version of honnef.co/go/tools
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1

CACHE="$ROOT/.cache"
GO="${GO:-go}"
STATICCHECK_VERSION="${STATICCHECK_VERSION:-v0.8.2}"
STATICCHECK="$CACHE/bin/staticcheck"
# cmd/learnstream is not among them: its tests run the learnstream binary,
# built without the detector, so -race there only instruments the test
# harness, at the price of compiling every dependency (ClickHouse client
# included) once more
RACE_PKGS="${RACE_PKGS:-./streams/... ./projections/... ./api/...}"
TEST_TIMEOUT="${TEST_TIMEOUT:-20m}"
# tests of RACE_PKGS that also run without -race, at full size (see go_tests)
PLAIN_FULL_RUN="${PLAIN_FULL_RUN:-Property\$}"
GOTESTFLAGS="${GOTESTFLAGS:-}"
REQUIRE="${LEARNSTREAM_REQUIRE_SERVICES:-}"
LOGDIR="$CACHE/test-logs"

mkdir -p "$CACHE/bin" "$LOGDIR"

# ---------------------------------------------------------------- reporting --
declare -a STEP_NAMES=() STEP_RESULTS=() STEP_TIMES=()
FAILED=0
T0=$SECONDS

banner() { printf '\n=== %s\n' "$*"; }
record() { # name result seconds
  STEP_NAMES+=("$1"); STEP_RESULTS+=("$2"); STEP_TIMES+=("$3")
  [[ "$2" == FAIL ]] && FAILED=1
  return 0
}
# run_step NAME CMD...: runs CMD, records PASS/FAIL and its duration
run_step() {
  local name="$1" t=$SECONDS rc
  shift
  banner "$name"
  "$@"
  rc=$?
  if ((rc == 0)); then record "$name" PASS $((SECONDS - t)); else record "$name" FAIL $((SECONDS - t)); fi
  return $rc
}

summary() {
  local i
  printf '\n================================ summary ================================\n'
  for i in "${!STEP_NAMES[@]}"; do
    printf '  %-6s %-44s %5ss\n' "${STEP_RESULTS[$i]}" "${STEP_NAMES[$i]}" "${STEP_TIMES[$i]}"
  done
  if [[ -f "$LOGDIR/go-test.log" && "${MODE:-}" == test ]]; then
    local ok fail nofiles
    ok=$(grep -cE '^ok[[:space:]]' "$LOGDIR/go-test.log" || true)
    fail=$(grep -cE '^FAIL[[:space:]]+[^[:space:]]' "$LOGDIR/go-test.log" || true)
    nofiles=$(grep -cE '^\?[[:space:]].*\[no test files\]' "$LOGDIR/go-test.log" || true)
    printf '  go test log: %s\n' "${LOGDIR#"$ROOT"/}/go-test.log"
    # counts Go packages (ok / FAIL / no test files), in the plain closing-line form
    printf 'packages: %s passed, %s failed, %s skipped\n' "$ok" "$fail" "$nofiles"
    # where the time goes: the slowest packages (test run, compile excluded)
    printf '  slowest packages:\n'
    grep -E '^(ok|FAIL)[[:space:]]+[^[:space:]]+[[:space:]]+[0-9.]+s' "$LOGDIR/go-test.log" |
      awk '{t=$3; sub(/s$/, "", t); printf "    %7.1fs  %s\n", t, $2}' | sort -rn | head -n 5 || true
  fi
  if ((FAILED)); then
    printf '  RESULT: FAILED after %ss\n' $((SECONDS - T0))
  else
    printf '  RESULT: all steps passed in %ss\n' $((SECONDS - T0))
  fi
  printf '=========================================================================\n'
}

# ------------------------------------------------------------------- tools --
install_staticcheck() {
  local want="${STATICCHECK_VERSION#v}"
  if [[ -x "$STATICCHECK" ]] && "$STATICCHECK" -version 2>/dev/null | grep -qF "($want)"; then
    return 0
  fi
  echo "installing staticcheck $STATICCHECK_VERSION into ${CACHE#"$ROOT"/}/bin"
  GOBIN="$CACHE/bin" GOFLAGS=-mod=mod "$GO" install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
}

# ------------------------------------------------------------------- lint ----
go_files() {
  # every .go file the go tool would see: skip .dirs, _dirs and testdata
  find . -mindepth 1 \( -type d \( -name '.*' -o -name '_*' -o -name testdata -o -name vendor \) -prune \) \
    -o -type f -name '*.go' -print
}

check_gofmt() {
  local out
  out="$(go_files | xargs -r gofmt -l)"
  if [[ -n "$out" ]]; then
    echo "gofmt: these files need formatting (run: gofmt -w FILE):"
    echo "$out" | sed 's/^/  /'
    return 1
  fi
  echo "gofmt: ok"
}

check_vet() { "$GO" vet ./...; }

check_staticcheck() {
  [[ -x "$STATICCHECK" ]] || { echo "staticcheck not installed"; return 1; }
  # its analysis cache under .cache too, not the user's cache dir
  STATICCHECK_CACHE="$CACHE/staticcheck" "$STATICCHECK" ./...
}

# docker-compose.yml must stay valid for users. No Docker engine runs here,
# and nothing is installed system-wide for it: .ci/composecheck loads the
# file with compose-go, the loader Docker Compose itself is built on
# (schema, interpolation, required variables), and checks that every file a
# service mounts or builds from exists. Dummy values stand in for the
# secrets the file requires from the environment.
check_compose() {
  (cd "$ROOT/.ci/composecheck" &&
    LEARNSTREAM_ADMIN_KEY=check LEARNSTREAM_ADMIN_SECRET=check-secret LEARNSTREAM_SIGNING_KEY=check CLICKHOUSE_PASSWORD=check \
      "$GO" run . "$ROOT/docker-compose.yml")
}

lint() {
  run_step "docker-compose.yml" check_compose
  run_step "install staticcheck $STATICCHECK_VERSION" install_staticcheck
  run_step "gofmt -l" check_gofmt
  run_step "go vet ./..." check_vet
  run_step "staticcheck ./..." check_staticcheck
  return 0
}

# -------------------------------------------------------------- services ----
KAFKA_STARTED=0
KAFKA_STATE=""
stop_kafka() {
  if ((KAFKA_STARTED)); then
    KAFKA_STARTED=0
    KAFKA_STATE_DIR="$KAFKA_STATE" bash "$ROOT/.ci/kafka.sh" stop || true
    rm -rf "$KAFKA_STATE"
  fi
}

start_kafka() {
  if [[ -n "${LEARNSTREAM_KAFKA_BROKERS:-}" ]]; then
    echo "using LEARNSTREAM_KAFKA_BROKERS=$LEARNSTREAM_KAFKA_BROKERS (not starting a broker)"
    return 0
  fi
  # a state dir of its own, so that `make kafka-up` or another run is left alone
  KAFKA_STATE="$CACHE/kafka/test.$$"
  KAFKA_STARTED=1
  local boot
  boot="$(KAFKA_STATE_DIR="$KAFKA_STATE" bash "$ROOT/.ci/kafka.sh" start)" || return 1
  export LEARNSTREAM_KAFKA_BROKERS="$boot"
  echo "LEARNSTREAM_KAFKA_BROKERS=$LEARNSTREAM_KAFKA_BROKERS"
}

setup_chdb() {
  local py
  py="$(bash "$ROOT/.ci/python.sh" 2>"$LOGDIR/python-check.log")" || { cat "$LOGDIR/python-check.log"; return 1; }
  export LEARNSTREAM_CHDB_PYTHON="$py"
  echo "LEARNSTREAM_CHDB_PYTHON=$LEARNSTREAM_CHDB_PYTHON"
}

# ------------------------------------------------------------------ tests ----
# package import paths matching the given patterns (build errors included, so
# that go test reports them)
list_pkgs() {
  (($# == 0)) && return 0
  local mod
  mod="$("$GO" list -m 2>/dev/null)"
  # a pattern that matches nothing comes back as itself: keep this module's packages only
  "$GO" list -e -f '{{.ImportPath}}' "$@" 2>/dev/null | grep -E "^${mod//./\\.}(/|\$)" | sort -u
}

# go_test_bg NAME LOG ARGS...: runs go test ARGS in the background into LOG;
# go_test_wait collects it and records the step.
declare -A GT_PID=() GT_T0=()
go_test_bg() {
  local name="$1" log="$2"
  shift 2
  banner "$name (started; output when it ends)"
  GT_T0[$name]=$SECONDS
  "$GO" test "$@" >"$log" 2>&1 &
  GT_PID[$name]=$!
}
go_test_wait() { # NAME LOG
  local name="$1" log="$2" rc=0
  wait "${GT_PID[$name]}" || rc=$?
  banner "$name"
  cat "$log"
  cat "$log" >>"$LOGDIR/go-test.log"
  if ((rc == 0)); then record "$name" PASS $((SECONDS - GT_T0[$name])); else record "$name" FAIL $((SECONDS - GT_T0[$name])); fi
  return $rc
}

# The -race run and the plain run go at the same time: the race build is
# CPU-bound for minutes (every dependency is compiled again with the race
# detector), while the end-to-end tests of cmd/learnstream mostly wait on
# brokers and child processes. Both share the one real broker; tests use
# topic and group names of their own.
go_tests() {
  local -a race_pats race rest all
  read -r -a race_pats <<<"$RACE_PKGS"
  mapfile -t all < <(list_pkgs ./...)
  mapfile -t race < <(list_pkgs "${race_pats[@]}")
  mapfile -t rest < <(comm -23 <(printf '%s\n' "${all[@]}") <(printf '%s\n' "${race[@]}") | sed '/^$/d')
  : >"$LOGDIR/go-test.log"
  if ((${#race[@]} + ${#rest[@]} == 0)); then
    echo "no Go packages found"
    record "go test" FAIL 0
    return 1
  fi
  local rc=0 race_name="go test -race (${#race[@]} packages)" rest_name="go test (${#rest[@]} packages)"
  # shellcheck disable=SC2086
  ((${#race[@]})) && go_test_bg "$race_name" "$LOGDIR/go-test-race.log" \
    -race -count=1 -timeout "$TEST_TIMEOUT" $GOTESTFLAGS "${race[@]}"
  # shellcheck disable=SC2086
  ((${#rest[@]})) && go_test_bg "$rest_name" "$LOGDIR/go-test-plain.log" \
    -count=1 -timeout "$TEST_TIMEOUT" $GOTESTFLAGS "${rest[@]}"
  # Long single-threaded property tests of the race packages run smaller
  # under -race (the detector has nothing to find in them) and in full here.
  local full_name="go test -run '$PLAIN_FULL_RUN' (${#race[@]} race packages, without -race)"
  # shellcheck disable=SC2086
  ((${#race[@]})) && [[ -n "$PLAIN_FULL_RUN" && -z "$GOTESTFLAGS" ]] && go_test_bg "$full_name" "$LOGDIR/go-test-full.log" \
    -count=1 -timeout "$TEST_TIMEOUT" -run "$PLAIN_FULL_RUN" "${race[@]}"
  if ((${#rest[@]})); then go_test_wait "$rest_name" "$LOGDIR/go-test-plain.log" || rc=1; fi
  if [[ -n "${GT_PID[$full_name]:-}" ]]; then go_test_wait "$full_name" "$LOGDIR/go-test-full.log" || rc=1; fi
  if ((${#race[@]})); then go_test_wait "$race_name" "$LOGDIR/go-test-race.log" || rc=1; fi
  return $rc
}

# ------------------------------------------------------------ extra suites --
# Suites beyond go test, run after it. Each is a script in .ci/ with two
# verbs: `setup` (downloads into .cache/; runs in the background while the
# Go checks compile) and `run` (the suite; exit status 0 when it passes).
# To add one, add "script|step name" below. A suite whose script is not in
# the checkout is recorded as SKIP; one whose setup fails is a service that
# could not be set up (a failure under LEARNSTREAM_REQUIRE_SERVICES=1).
EXTRA_SUITES=(
  "conformance.sh|xAPI conformance (ADL suite: ${CONFORMANCE_VERSIONS:-1.0.3 2.0.0})"
)
declare -A SUITE_SETUP_PID=()

start_suite_setups() {
  local entry script
  for entry in "${EXTRA_SUITES[@]}"; do
    script="${entry%%|*}"
    [[ -f "$ROOT/.ci/$script" ]] || continue
    bash "$ROOT/.ci/$script" setup >"$LOGDIR/${script%.sh}-setup.log" 2>&1 &
    SUITE_SETUP_PID[$script]=$!
  done
}

run_extra_suites() {
  local entry script name ok
  for entry in "${EXTRA_SUITES[@]}"; do
    script="${entry%%|*}" name="${entry#*|}"
    if [[ ! -f "$ROOT/.ci/$script" ]]; then
      record "$name (no .ci/$script)" SKIP 0
      continue
    fi
    ok=1
    wait "${SUITE_SETUP_PID[$script]}" || ok=0
    sed 's/^/  (background) /' "$LOGDIR/${script%.sh}-setup.log"
    if ((!ok)); then
      service_failed "$name"
      record "$name (setup failed)" SKIP 0
      continue
    fi
    run_step "$name" bash "$ROOT/.ci/$script" run
  done
}

# ------------------------------------------------------------------- main ----
MODE="${1:-test}"
case "$MODE" in
  tools)
    install_staticcheck
    exit $?
    ;;
  compose)
    check_compose
    exit $?
    ;;
  lint)
    trap summary EXIT
    lint
    exit $FAILED
    ;;
  test)
    ;;
  *)
    echo "usage: $0 test|lint|tools|compose" >&2
    exit 2
    ;;
esac

on_exit() {
  local rc=$?
  stop_kafka
  summary
  ((FAILED)) && exit 1
  exit "$rc"
}
trap on_exit EXIT
trap 'echo "interrupted"; exit 130' INT TERM

echo "learnstream tests: $("$GO" version), RACE_PKGS=\"$RACE_PKGS\", CI=${CI:-}, LEARNSTREAM_REQUIRE_SERVICES=${REQUIRE:-0}"

# Downloads that do not need the CPU run while the Go checks compile.
bash "$ROOT/.ci/python.sh" >"$LOGDIR/python-setup.log" 2>&1 &
PY_PID=$!
bash "$ROOT/.ci/kafka.sh" fetch >"$LOGDIR/kafka-fetch.log" 2>&1 &
KF_PID=$!
bash "$ROOT/.ci/browser.sh" >"$LOGDIR/browser-setup.log" 2>&1 &
BR_PID=$!
start_suite_setups

lint

banner "waiting for background setup (chDB venv, Kafka jars)"
wait "$PY_PID" || true
wait "$KF_PID" || true
wait "$BR_PID" || { [[ "$REQUIRE" == 1 ]] && { cat "$LOGDIR/browser-setup.log"; echo "LEARNSTREAM_REQUIRE_SERVICES=1 and the browser setup failed"; exit 1; }; echo "WARNING: browser setup incomplete; browser tests will skip"; }

service_failed() { # name
  if [[ "$REQUIRE" == 1 ]]; then
    echo "LEARNSTREAM_REQUIRE_SERVICES=1 and $1 could not be set up: stopping here"
    exit 1
  fi
  echo "WARNING: $1 unavailable; tests that need it will skip"
}

sed 's/^/  (background) /' "$LOGDIR/python-setup.log" "$LOGDIR/kafka-fetch.log"
run_step "chDB (python venv)" setup_chdb || service_failed chDB
run_step "Apache Kafka broker (KRaft)" start_kafka || service_failed "the Kafka broker"

go_tests
run_extra_suites
exit $FAILED
