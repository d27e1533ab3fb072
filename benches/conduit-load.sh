#!/usr/bin/env bash
# conduit's read and write endpoints under load on PostgreSQL, the way the throughput issue
# measured them: a release build, a fresh database seeded with `conduit seed` (20 users, 500
# articles × 3 tags, 2,000 comments), the pool at 10 connections, logs at warn, wrk per endpoint.
# Prints req/s, p50 and p99 latency, and SQL statements per request (counted apart from the
# load: a second conduit on the same database logs every statement sqlx runs, and ten requests
# per endpoint are sent to it).
#
#   benches/conduit-load.sh                          # 10 s per endpoint, wrk -t2 -c32
#   DURATION=20s CONNECTIONS=64 benches/conduit-load.sh
#   CONDUIT=/path/to/conduit benches/conduit-load.sh   # another build (e.g. an older commit's)
#
# For information: on a shared 2-core machine (wrk, conduit and PostgreSQL on the same cores)
# the numbers move ±10%; compare runs made back to back. Uses the shared PostgreSQL on
# 127.0.0.1:5432 (a database of its own, dropped at the end) and installs wrk when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib/conduit-data.sh
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-32}"
PORT="${PORT:-3971}"
database="conduit_load_$$"
url="postgres://postgres@127.0.0.1:5432/$database"
base="http://127.0.0.1:$PORT"

if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
scripts/services
if [ -n "${CONDUIT:-}" ]; then
  conduit="$CONDUIT"
else
  cargo build -q --release --locked -p conduit --features postgres
  conduit="$PWD/target/release/conduit"
fi

work="$(mktemp -d)"
pid=""
psql_() { PGOPTIONS="-c client_min_messages=warning" psql -qtA -h 127.0.0.1 -U postgres "$@"; }
cleanup() {
  for p in "$pid" "${counter:-}"; do
    if [ -n "$p" ]; then kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; fi
  done
  psql_ -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

psql_ -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" -c "CREATE DATABASE $database" >/dev/null
export APP__DATABASE__URL="$url" APP__DATABASE__MAX_CONNECTIONS=10 APP__SERVER__PORT="$PORT" \
  APP__TELEMETRY__FILTER=warn APP__TELEMETRY__FORMAT=json APP_ENV=development \
  APP_CONFIG_DIR="$PWD/examples/conduit/config"
"$conduit" seed >"$work/seed.log" 2>&1 || { cat "$work/seed.log" >&2; exit 1; }
"$conduit" >"$work/conduit.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -fs -o /dev/null "$base/health/ready" && break; sleep 0.1; done
curl -fs -o /dev/null "$base/health/ready" || { cat "$work/conduit.log" >&2; exit 1; }

token=$(seeded_token "$base")
comment_script "$work/comment.lua"

# The counting instance: every statement logged (sqlx's `sqlx::query` events).
APP__SERVER__PORT=$((PORT + 1)) APP__TELEMETRY__FILTER="warn,sqlx::query=debug" "$conduit" >"$work/statements.log" 2>&1 &
counter=$!
for _ in $(seq 1 100); do curl -fs -o /dev/null "http://127.0.0.1:$((PORT + 1))/health/ready" && break; sleep 0.1; done
logged() { grep -c '"target":"sqlx::query"' "$work/statements.log" || true; }

# statements PATH [curl options...]: statements per request, over ten requests.
statements() {
  local path=$1 before after
  shift
  before=$(logged)
  for _ in $(seq 1 10); do curl -fs -o /dev/null "$@" "http://127.0.0.1:$((PORT + 1))$path"; done
  sleep 0.2
  after=$(logged)
  python3 -c "import sys; print(f'{(int(sys.argv[2]) - int(sys.argv[1])) / 10:.1f}')" "$before" "$after"
}

# run LABEL PATH [wrk options...] -- [curl options...]
run() {
  local label=$1 path=$2 wrk_options=() curl_options=() per_request
  shift 2
  while [ $# -gt 0 ] && [ "$1" != -- ]; do wrk_options+=("$1"); shift; done
  if [ $# -gt 0 ]; then shift; curl_options=("$@"); fi
  per_request=$(statements "$path" "${curl_options[@]}")
  wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency "${wrk_options[@]}" "$base$path" >"$work/wrk.txt"
  python3 - "$work/wrk.txt" "$label" "$per_request" <<'PY'
import re, sys
text, label, statements = open(sys.argv[1]).read(), sys.argv[2], sys.argv[3]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
def percentile(p):
    value, unit = re.search(rf"{p}%\s+([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
failed = f"  ({errors.group(1)} failed)" if errors else ""
print(f"{label:<40} {rps:>9.0f} {percentile(50):>9.2f} {percentile(99):>9.2f} {statements:>10}{failed}")
PY
}

printf '%-40s %9s %9s %9s %10s\n' endpoint "req/s" "p50 ms" "p99 ms" "stmts/req"
auth=(-H "authorization: Token $token")
comment=(-X POST -H "content-type: application/json" -d '{"comment":{"body":"A comment from the load test."}}')
run "GET /api/tags" /api/tags
run "GET /api/articles?limit=20" "/api/articles?limit=20"
run "GET /api/articles/{slug}" /api/articles/seed-article-1
run "GET /api/articles/{slug}/comments" /api/articles/seed-article-1/comments
run "GET /api/profiles/{username}" /api/profiles/seed-user-2
run "GET /api/user" /api/user "${auth[@]}" -- "${auth[@]}"
run "GET /api/articles/feed?limit=20" "/api/articles/feed?limit=20" "${auth[@]}" -- "${auth[@]}"
run "POST /api/articles/{slug}/comments" /api/articles/seed-article-2/comments "${auth[@]}" -s "$work/comment.lua" -- \
  "${auth[@]}" "${comment[@]}"
kill "$counter"
echo "(wrk -t2 -c$CONNECTIONS -d$DURATION; conduit release, PostgreSQL pool of 10, logs at warn)"
