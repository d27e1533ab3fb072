#!/usr/bin/env bash
# Loopback load comparison: raw axum (+ the hand-assembled tower-http stack) against trestle's
# default stack, same route, same load generator, runs interleaved (A B A B …).
#
#   benches/load.sh                 # 3 pairs of 10 s runs on GET /json
#   PAIRS=5 DURATION=20s ROUTE=/plain benches/load.sh
#   COMPARE=redis benches/load.sh   # trestle against trestle with the Redis rate limiter on
#                                   # (Redis on 127.0.0.1:6379; a quota no request reaches)
#
# Installs wrk from Debian's packages when it is missing. On a shared 2-core machine the
# numbers move ±10-20% between runs: compare the two sides of one run, not runs with each other.
set -euo pipefail
cd "$(dirname "$0")/.."
PAIRS="${PAIRS:-3}"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-32}"
ROUTE="${ROUTE:-/json}"
COMPARE="${COMPARE:-axum}"
case "$COMPARE" in
  axum) a=(axum raw_server) b=(trestle trestle_server) b_env=() ;;
  redis)
    a=(trestle trestle_server) b=(redis trestle_server)
    b_env=(APP__RATE_LIMIT__ENABLED=true APP__RATE_LIMIT__REQUESTS=1000000000 APP__RATE_LIMIT__BACKEND=redis
      APP__RATE_LIMIT__REDIS__PREFIX="trestle-load:$$")
    ;;
  *) echo "COMPARE is axum or redis" >&2; exit 2 ;;
esac

if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
cargo build -q --release --locked -p trestle-benches --bins
work="$(mktemp -d)"
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT

run() { # name, binary, port, VAR=value... -> appends "rps p50_ms p99_ms" to $work/name
  env PORT=$3 "${@:4}" "target/release/$2" >"$work/$1.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$3$ROUTE" && break; sleep 0.05; done
  wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "http://127.0.0.1:$3$ROUTE" >"$work/wrk.txt"
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  python3 - "$work/wrk.txt" >>"$work/$1" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
def percentile(p):
    value, unit = re.search(rf"{p}%\s+([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
if errors: sys.exit(f"{errors.group(1)} failed requests")
print(f"{rps:.0f} {percentile(50):.3f} {percentile(99):.3f}")
PY
}

for i in $(seq 1 "$PAIRS"); do
  run "${a[0]}" "${a[1]}" 3201
  run "${b[0]}" "${b[1]}" 3202 "${b_env[@]}"
  echo "pair $i: ${a[0]} $(tail -n1 "$work/${a[0]}") | ${b[0]} $(tail -n1 "$work/${b[0]}")  (req/s, p50 ms, p99 ms)"
done

python3 - "$work/${a[0]}" "$work/${b[0]}" "$ROUTE" "$DURATION" "$CONNECTIONS" "$COMPARE" <<'PY'
import statistics, sys
def load(path):
    rows = [tuple(map(float, l.split())) for l in open(path)]
    return [statistics.median(r[i] for r in rows) for i in range(3)]
a, b = load(sys.argv[1]), load(sys.argv[2])
labels = {"axum": ("axum + tower-http stack", "trestle default stack", "trestle/axum"),
          "redis": ("trestle, no rate limit", "trestle + Redis limiter", "with/without")}[sys.argv[6]]
print(f"\nGET {sys.argv[3]}, wrk -t1 -c{sys.argv[5]} -d{sys.argv[4]}, medians of the pairs:")
for label, side in zip(labels, (a, b)):
    print(f"  {label:<24} {side[0]:>10.0f} req/s   p50 {side[1]:.3f} ms   p99 {side[2]:.3f} ms")
print(f"  ratio {labels[2]}: throughput {b[0] / a[0]:.3f}   p50 {b[1] / a[1]:.3f}   p99 {b[2] / a[2]:.3f}")
print(f"  added latency: p50 {b[1] - a[1]:+.3f} ms   p99 {b[2] - a[2]:+.3f} ms")
PY
