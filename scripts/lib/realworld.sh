# Sourced by the scripts that run the RealWorld suites (../shared/realworld: Hurl and Postman)
# against a conduit: finds the suites, installs their runners (idempotent), runs one suite.
# The suites' run.sh leaves out the one Postman request the Hurl suite contradicts.

realworld_setup() {
  realworld_locate || return 1
  export REALWORLD_TOOLS="${REALWORLD_TOOLS:-$HOME/.cache/realworld-tools}"
  bash "$REALWORLD/install-tools.sh" >/dev/null
}

# realworld_locate: sets REALWORLD to the suites' folder (with the spec in spec/openapi.yml).
realworld_locate() {
  # Beside the repository, or beside the repository this one was cloned from (a CI clone made
  # elsewhere: its origin is the local checkout).
  local origin
  origin="$(git remote get-url origin 2>/dev/null || true)"
  case "$origin" in /*) ;; *) origin="" ;; esac
  for candidate in "${REALWORLD:-}" ../shared/realworld ${origin:+"$origin/../shared/realworld"}; do
    if [ -n "$candidate" ] && [ -f "$candidate/run.sh" ]; then REALWORLD="$(cd "$candidate" && pwd)"; break; fi
  done
  if [ -z "${REALWORLD:-}" ] || [ ! -f "$REALWORLD/run.sh" ]; then
    echo "the RealWorld suites are not at ../shared/realworld; set REALWORLD to their folder" >&2
    return 1
  fi
  export REALWORLD
}

# realworld_suite LABEL SUITE HOST: runs one suite (hurl or postman); fails when any test fails.
realworld_suite() {
  echo "== $1: $2"
  local reports status=0
  reports="$(mktemp -d)"
  REPORT_DIR="$reports" HOST="$3" SUITE="$2" bash "$REALWORLD/run.sh" >"$reports/output.txt" 2>&1 || status=$?
  if [ "$status" != 0 ]; then
    cat "$reports/output.txt" >&2
    echo "$1: the $2 suite failed" >&2
    rm -rf "$reports"
    return 1
  fi
  grep -E "^(hurl|postman):" "$reports/output.txt" || tail -n 1 "$reports/output.txt"
  rm -rf "$reports"
}

# wait_http URL [SECONDS]: until URL answers 2xx (default 10 s).
wait_http() {
  local deadline=$(( $(date +%s) + ${2:-10} ))
  until curl -fs -o /dev/null --max-time 1 "$1"; do
    if [ "$(date +%s)" -ge "$deadline" ]; then return 1; fi
    sleep 0.05
  done
}

# conduit_build BACKEND DIR: builds conduit (debug) for sqlite or postgres and copies it to
# DIR/conduit-BACKEND, so a later build for the other backend does not replace it.
conduit_build() {
  local features=()
  if [ "$1" = postgres ]; then features=(--features postgres); fi
  cargo build -q --locked -p conduit "${features[@]}"
  cp target/debug/conduit "$2/conduit-$1"
}

# conduit_start BINARY URL PORT LOG: conduit on PORT with the database at URL (JSON logs at WARN
# into LOG), its pid in server_pid; fails, showing the log, unless /api/tags answers in 10 s.
conduit_start() {
  conduit_stop
  APP__DATABASE__URL="$2" APP__SERVER__PORT="$3" APP__TELEMETRY__FORMAT=json APP__TELEMETRY__FILTER=warn \
    "$1" >"$4" 2>&1 &
  server_pid=$!
  if ! wait_http "http://127.0.0.1:$3/api/tags" 10; then
    echo "conduit did not start on port $3:" >&2
    cat "$4" >&2
    return 1
  fi
}

# conduit_stop: stops the conduit conduit_start started, if any.
conduit_stop() {
  if [ -n "${server_pid:-}" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  server_pid=""
}

