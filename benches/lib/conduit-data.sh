# Sourced by the conduit load scripts: what a seeded conduit needs before the load.

# seeded_token BASE: logs seed-user-1 in and makes it follow seed-user-2 … 6 (so its feed has
# articles); prints its token.
seeded_token() {
  local token
  token=$(curl -fs "$1/api/users/login" -H 'content-type: application/json' \
    -d '{"user":{"email":"seed-user-1@example.com","password":"password"}}' |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["user"]["token"])')
  for n in 2 3 4 5 6; do
    curl -fs -o /dev/null -X POST "$1/api/profiles/seed-user-$n/follow" -H "authorization: Token $token"
  done
  echo "$token"
}

# comment_script FILE: a wrk script posting one comment per request.
comment_script() {
  cat >"$1" <<'LUA'
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.body = '{"comment":{"body":"A comment from the load test."}}'
LUA
}
