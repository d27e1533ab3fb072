#!/usr/bin/env bash
# conduit against another RealWorld backend, endpoint by endpoint, on one PostgreSQL with the
# same data: conduit seeded by `conduit seed`, the peer through its own API with the same set
# (20 users, 500 articles × 3 tags, 2,000 comments; the first user follows five others). Both
# pools at 10 connections, logs at warn; wrk per endpoint, conduit then the peer, PAIRS times.
#
#   PEER=/path/to/realworld benches/peer-load.sh
#
# The peer we compare with is itaylor/realworld-rust-axum-sqlx-seaquery (axum 0.8, sqlx 0.8,
# sea-query), built with `cargo build --release` after giving utoipa-swagger-ui its `vendored`
# feature (it downloads Swagger UI at build time otherwise). It reads HTTP_HOST, HTTP_PORT,
# DATABASE_*, JWT_SECRET and PASSWORD_PEPPER. For information, not CI: the machine is shared.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib/conduit-data.sh
: "${PEER:?set PEER to the release binary of the peer}"
DURATION="${DURATION:-5s}"
CONNECTIONS="${CONNECTIONS:-32}"
PAIRS="${PAIRS:-1}"
scripts/services
cargo build -q --release --locked -p conduit --features postgres
conduit="$PWD/target/release/conduit"
work="$(mktemp -d)"
pids=()
psql_() { PGOPTIONS="-c client_min_messages=warning" psql -qtA -h 127.0.0.1 -U postgres "$@"; }
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql_ -c "DROP DATABASE IF EXISTS peer_conduit WITH (FORCE)" -c "DROP DATABASE IF EXISTS peer_peer WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
psql_ -c "DROP DATABASE IF EXISTS peer_conduit WITH (FORCE)" -c "CREATE DATABASE peer_conduit" \
  -c "DROP DATABASE IF EXISTS peer_peer WITH (FORCE)" -c "CREATE DATABASE peer_peer" >/dev/null
ready() { for _ in $(seq 1 100); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done; return 1; }

export APP__DATABASE__URL="postgres://postgres@127.0.0.1:5432/peer_conduit" APP__DATABASE__MAX_CONNECTIONS=10 \
  APP__SERVER__PORT=3981 APP__TELEMETRY__FILTER=warn APP__TELEMETRY__FORMAT=json APP_ENV=development \
  APP_CONFIG_DIR="$PWD/examples/conduit/config"
"$conduit" seed >/dev/null
"$conduit" >"$work/conduit.log" 2>&1 &
pids+=($!)
ready http://127.0.0.1:3981/health/ready || { cat "$work/conduit.log" >&2; exit 1; }
HTTP_HOST=127.0.0.1 HTTP_PORT=3982 DATABASE_HOST=127.0.0.1 DATABASE_PORT=5432 DATABASE_USER=postgres \
  DATABASE_PASSWORD=unused DATABASE_NAME=peer_peer DATABASE_MAX_CONNECTIONS=10 RUST_LOG=warn \
  JWT_SECRET="$(head -c 32 /dev/urandom | base64)" PASSWORD_PEPPER="$(head -c 32 /dev/urandom | base64)" \
  "$PEER" >"$work/peer.log" 2>&1 &
pids+=($!)
ready http://127.0.0.1:3982/api/tags || { cat "$work/peer.log" >&2; exit 1; }

# The peer's data, through its API (the set conduit's seed command writes, tags and all).
cat >"$work/seed.py" <<'PY'
import json, sys, urllib.request
base = sys.argv[1]
def call(method, path, body=None, token=None):
    req = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body else None)
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Token {token}")
    with urllib.request.urlopen(req) as res:
        return json.loads(res.read() or b"{}")
tokens = {}
for n in range(1, 21):
    user = {"username": f"seed-user-{n}", "email": f"seed-user-{n}@example.com", "password": "password"}
    tokens[n] = call("POST", "/api/users", {"user": user})["user"]["token"]
slugs = []
for n in range(1, 501):
    tags = [f"tag{n % 10}", f"tag{n % 7 + 10}", f"tag{n % 5 + 20}"]
    article = {"title": f"Seed article {n}", "description": "Seeded", "body": "Seeded article body.", "tagList": tags}
    slugs.append(call("POST", "/api/articles", {"article": article}, tokens[(n - 1) % 20 + 1])["article"]["slug"])
for n in range(1, 2001):
    call("POST", f"/api/articles/{slugs[(n - 1) % 500]}/comments", {"comment": {"body": f"Comment {n}"}}, tokens[(n - 1) % 20 + 1])
for n in range(2, 7):
    call("POST", f"/api/profiles/seed-user-{n}/follow", None, tokens[1])
print(tokens[1], slugs[0], slugs[1])
PY
peer_seed=$(python3 "$work/seed.py" http://127.0.0.1:3982)
read -r peer_token peer_slug1 peer_slug2 <<<"$peer_seed"
conduit_token=$(seeded_token http://127.0.0.1:3981)
comment_script "$work/comment.lua"

rps() { # URL [wrk options...] -> req/s (non-2xx answers fail the run)
  wrk -t2 -c"$CONNECTIONS" -d"$DURATION" "${@:2}" "$1" >"$work/wrk.txt"
  if grep -q "Non-2xx" "$work/wrk.txt"; then echo "failed: $(grep Non-2xx "$work/wrk.txt")" >&2; exit 1; fi
  sed -n 's/Requests\/sec:[[:space:]]*//p' "$work/wrk.txt"
}
# endpoint LABEL CONDUIT_PATH PEER_PATH [auth|comment]
endpoint() {
  local c=() p=() best_c=0 best_p=0
  case "${4:-}" in
    auth) c=(-H "authorization: Token $conduit_token"); p=(-H "authorization: Token $peer_token") ;;
    comment) c=(-H "authorization: Token $conduit_token" -s "$work/comment.lua"); p=(-H "authorization: Token $peer_token" -s "$work/comment.lua") ;;
  esac
  for _ in $(seq 1 "$PAIRS"); do
    local x y
    x=$(rps "http://127.0.0.1:3981$2" "${c[@]}"); y=$(rps "http://127.0.0.1:3982$3" "${p[@]}")
    best_c=$(python3 -c "print(max($best_c, $x))"); best_p=$(python3 -c "print(max($best_p, $y))")
  done
  python3 -c 'import sys; c, p = float(sys.argv[2]), float(sys.argv[3]); print(f"{sys.argv[1]:<40} {c:>10.0f} {p:>10.0f} {c / p:>7.2f}")' \
    "$1" "$best_c" "$best_p"
}
printf '%-40s %10s %10s %7s\n' endpoint conduit peer ratio
endpoint "GET /api/tags" /api/tags /api/tags
endpoint "GET /api/articles?limit=20" "/api/articles?limit=20" "/api/articles?limit=20"
endpoint "GET /api/articles/{slug}" /api/articles/seed-article-1 "/api/articles/$peer_slug1"
endpoint "GET /api/articles/{slug}/comments" /api/articles/seed-article-1/comments "/api/articles/$peer_slug1/comments"
endpoint "GET /api/profiles/{username}" /api/profiles/seed-user-2 /api/profiles/seed-user-2
endpoint "GET /api/user" /api/user /api/user auth
endpoint "GET /api/articles/feed?limit=20" "/api/articles/feed?limit=20" "/api/articles/feed?limit=20" auth
endpoint "POST /api/articles/{slug}/comments" /api/articles/seed-article-2/comments "/api/articles/$peer_slug2/comments" comment
echo "(best of $PAIRS, wrk -t2 -c$CONNECTIONS -d$DURATION; both release builds, pools of 10, logs at warn)"
