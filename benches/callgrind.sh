#!/usr/bin/env bash
# Instructions per in-process request for each benchmark pair, counted by valgrind's callgrind:
# repeatable to about ±0.1% whatever else the machine does. Each case runs twice (N and N+M
# requests); the difference divided by M is the cost of one request, set-up excluded.
#
#   benches/callgrind.sh            # every pair
#   benches/callgrind.sh auth       # only the pair named "auth"
#
# The last run of each case is kept as target/callgrind/<case>.out for callgrind_annotate.
set -euo pipefail
cd "$(dirname "$0")/.."
N=200; M=2000
cargo build -q --release --locked -p trestle-benches --bin instructions
mkdir -p target/callgrind
count() { # case requests -> instructions
  valgrind --tool=callgrind --callgrind-out-file="target/callgrind/$1.out" target/release/instructions "$1" "$2" 2>&1 >/dev/null |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
per_request() { local a b; a=$(count "$1" $N); b=$(count "$1" $((N + M))); echo $(((b - a) / M)); }
# SQLite runs statements on a worker thread of its own: how the two threads interleave moves
# those pairs by a few percent from run to run. They are measured three times; the row shows the
# median run and the spread of the ratio.
NOISY=" db dbspans "
# The median of three "x y" lines (by ratio), and the ratio's spread.
median() {
  python3 -c '
import sys
runs = [tuple(map(int, line.split())) for line in sys.stdin if line.strip()]
ratios = sorted(y / x for x, y in runs)
x, y = sorted(runs, key=lambda r: r[1] / r[0])[len(runs) // 2]
print(f"{sys.argv[1]:<8} {x:14d} {y:14d} {y / x:8.3f}  {ratios[0]:.3f}-{ratios[-1]:.3f}")
' "$1"
}
printf '%-8s %14s %14s %8s  %s\n' pair "axum (instr)" "trestle" ratio "spread (3 runs)"
for pair in bare:bare-axum:bare-trestle plain:plain-axum:plain-trestle stack:stack-axum:stack-trestle echo:echo-axum:echo-trestle \
            auth:auth-axum:auth-trestle db:db-axum:db-trestle route:route-hand:route-macro \
            metrics:metrics-axum:metrics-trestle otel:otel-off:otel-on ok:ok-axum:ok-trestle \
            error:error-axum:error-trestle notfound:notfound-axum:notfound-trestle \
            invalid:invalid-axum:invalid-trestle big:big-axum:big-trestle limits:limits-off:limits-on \
            dbspans:dbspans-off:dbspans-on ratelimit:ratelimit-off:ratelimit-on accesslog:accesslog-off:accesslog-on; do
  IFS=: read -r name a b <<<"$pair"
  case "$name" in ${1:-*}) ;; *) continue ;; esac
  if [[ "$NOISY" == *" $name "* ]]; then
    for _ in 1 2 3; do echo "$(per_request "$a") $(per_request "$b")"; done | median "$name"
  else
    x=$(per_request "$a"); y=$(per_request "$b")
    printf '%-8s %14d %14d %8s\n' "$name" "$x" "$y" "$(python3 -c "print(f'{$y/$x:.3f}')")"
  fi
done
