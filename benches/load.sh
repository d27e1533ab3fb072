#!/usr/bin/env bash
# Loopback load comparison: raw axum (+ the hand-assembled tower-http stack) against trestle's
# default stack, same route, same load generator, runs interleaved (A B A B …).
#
#   benches/load.sh                 # 3 pairs of 10 s runs on GET /json
#   PAIRS=5 DURATION=20s ROUTE=/plain benches/load.sh
#
# Installs wrk from Debian's packages when it is missing. On a shared 2-core machine the
# numbers move ±10-20% between runs: compare the two sides of one run, not runs with each other.
set -euo pipefail
cd "$(dirname "$0")/.."
PAIRS="${PAIRS:-3}"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-32}"
ROUTE="${ROUTE:-/json}"

if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
cargo build -q --release --locked -p trestle-benches --bins
work="$(mktemp -d)"
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT

run() { # name, binary, port -> appends "rps p99_ms" to $work/name
  PORT=$3 "target/release/$2" >"$work/$1.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$3$ROUTE" && break; sleep 0.05; done
  wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "http://127.0.0.1:$3$ROUTE" >"$work/wrk.txt"
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  python3 - "$work/wrk.txt" >>"$work/$1" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", text).groups()
p99 = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
if errors: sys.exit(f"{errors.group(1)} failed requests")
print(rps, p99)
PY
}

for i in $(seq 1 "$PAIRS"); do
  run axum raw_server 3201
  run trestle trestle_server 3202
  echo "pair $i: axum $(tail -n1 "$work/axum") | trestle $(tail -n1 "$work/trestle")  (req/s, p99 ms)"
done

python3 - "$work/axum" "$work/trestle" "$ROUTE" "$DURATION" "$CONNECTIONS" <<'PY'
import statistics, sys
def load(path):
    rows = [tuple(map(float, l.split())) for l in open(path)]
    return statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)
axum, trestle = load(sys.argv[1]), load(sys.argv[2])
print(f"\nGET {sys.argv[3]}, wrk -t1 -c{sys.argv[5]} -d{sys.argv[4]}, medians of the pairs:")
print(f"  axum + tower-http stack: {axum[0]:>10.0f} req/s   p99 {axum[1]:.2f} ms")
print(f"  trestle default stack:   {trestle[0]:>10.0f} req/s   p99 {trestle[1]:.2f} ms")
print(f"  ratio trestle/axum:      throughput {trestle[0] / axum[0]:.3f}   p99 {trestle[1] / axum[1]:.3f}")
PY
