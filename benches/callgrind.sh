#!/usr/bin/env bash
# Instructions per in-process request for each benchmark pair, counted by valgrind's callgrind:
# repeatable to about ±0.1% whatever else the machine does. Each case runs twice (N and N+M
# requests); the difference divided by M is the cost of one request, set-up excluded.
#
#   benches/callgrind.sh            # every pair
#   benches/callgrind.sh auth       # only the pairs whose name starts with "auth"
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
printf '%-8s %14s %14s %8s\n' pair "axum (instr)" "trestle" ratio
for pair in bare:bare-axum:bare-trestle plain:plain-axum:plain-trestle stack:stack-axum:stack-trestle echo:echo-axum:echo-trestle \
            auth:auth-axum:auth-trestle db:db-axum:db-trestle route:route-hand:route-macro \
            metrics:metrics-axum:metrics-trestle otel:otel-off:otel-on ok:ok-axum:ok-trestle \
            error:error-axum:error-trestle notfound:notfound-axum:notfound-trestle \
            invalid:invalid-axum:invalid-trestle dbspans:dbspans-off:dbspans-on; do
  IFS=: read -r name a b <<<"$pair"
  case "$name" in ${1:-*}*) ;; *) continue ;; esac
  x=$(per_request "$a"); y=$(per_request "$b")
  printf '%-8s %14d %14d %8s\n' "$name" "$x" "$y" "$(python3 -c "print(f'{$y/$x:.3f}')")"
done
