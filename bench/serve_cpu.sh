#!/usr/bin/env bash
# CPU time per request of huiqi serve: the server's utime + stime (from /proc) over an 8-second
# closed-loop wrk run, divided by the requests it answered. The requests: /healthz; the kept
# one-firm check (officer session) as JSON and as gzip (what a browser asks for); the check of
# every firm in turn — kept (the server computes every firm's answer in the background after
# start-up and keeps it gzip-compressed, ~3.6 KB a firm; the script waits for that), as gzip and
# as JSON, and computed on every request (a second server on the same ledger with
# `--check-cache-mb 0`); POST /api/v1/calculate with a sample firm file (officer session and
# CSRF token); and a made-up session cookie (401). Open-loop latency is serve.sh's job; this
# says what a request costs, which is what the latency at 10,000 req/s on 2 cores is made of.
#
#   HUIQI_BIN=/path/to/huiqi bash bench/serve_cpu.sh     # a prebuilt binary
#   bash bench/serve_cpu.sh                              # builds release first
#
# Uses the 50,000-firm zone of bench/serve.sh (generated here when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/huiqi-target}
PORT=${PORT:-18090}
W=/var/tmp/huiqi-bench/serve-50000
mkdir -p "$W"
if [[ -n ${HUIQI_BIN:-} ]]; then
  BIN=$HUIQI_BIN
else
  cargo build --release -p huiqi-cli >&2
  BIN=$CARGO_TARGET_DIR/release/huiqi
fi
[[ -f $W/zone/mapping.toml ]] || "$BIN" gen --firms 50000 --years 2019..2023 --seed 42 --out "$W/zone" >&2
ls "$W"/snapshots/*/manifest.json >/dev/null 2>&1 ||
  "$BIN" ingest --policy policies/ningbo --mapping "$W/zone/mapping.toml" --snapshots "$W/snapshots" >&2
SNAP=$(dirname "$(ls "$W"/snapshots/*/manifest.json | head -1)")
D=$(mktemp -d)
"$BIN" serve --addr 127.0.0.1:$PORT --db "$D/ledger.sqlite" --policy policies/ningbo --snapshot "$SNAP" >"$D/server.log" 2>&1 &
S=$!
trap 'kill $S ${S0:-} 2>/dev/null || true; rm -rf "$D"' EXIT
until curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null; do sleep 0.05; done
# The answers computed ahead (the server says when): then every check below is a kept one.
for _ in $(seq 600); do grep -q "checks computed ahead" "$D/server.log" && break; sleep 0.5; done
grep -o "checks computed ahead.*" "$D/server.log" || echo "(the answers were not all computed ahead within 300 s)"

PW=$(sed -n 's/.*admin \/ \([0-9a-f]*\).*/\1/p' "$D/server.log" | head -1)
token() { sed 's/.*"csrf_token":"\([0-9a-f]*\)".*/\1/' "$1"; }
curl -sf -c "$D/a.jar" -H 'content-type: application/json' -d "{\"user\":\"admin\",\"password\":\"$PW\"}" "http://127.0.0.1:$PORT/api/v1/session" >"$D/a.json"
curl -sf -b "$D/a.jar" -H "X-CSRF-Token: $(token "$D/a.json")" -H 'content-type: application/json' \
  -d '{"name":"officer","role":"officer","password":"bench-officer-pw"}' "http://127.0.0.1:$PORT/api/v1/users" >/dev/null
curl -sf -c "$D/o.jar" -H 'content-type: application/json' -d '{"user":"officer","password":"bench-officer-pw"}' "http://127.0.0.1:$PORT/api/v1/session" >"$D/o.json"
CSRF=$(token "$D/o.json")
COOKIE=$(awk '$6 == "huiqi_session" {print "huiqi_session=" $7}' "$D/o.jar")
USCC=$(head -2 "$W/zone/企业名录.csv" | tail -1 | cut -d, -f1)
python3 -c 'import json,tomllib; print(json.dumps({"firm": tomllib.load(open("examples/firms/mingzhou_weidianzi.toml","rb")), "period": 2023}, ensure_ascii=False, default=str))' >"$D/body.json"
cat >"$D/post.lua" <<LUA
wrk.method = "POST"
wrk.body = io.open("$D/body.json"):read("a")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Cookie"] = "$COOKIE"
wrk.headers["X-CSRF-Token"] = "$CSRF"
LUA
tail -n +2 "$W/zone/企业名录.csv" | cut -d, -f1 | tr -d '"' >"$D/firms.txt"
# A wrk script that walks every firm's check in turn, with the officer's cookie and any
# further Lua header fields given.
walk() {
  cat >"$1" <<LUA
local firms = {}
for line in io.lines("$D/firms.txt") do firms[#firms + 1] = line end
local i = 0
request = function()
  i = i % #firms + 1
  return wrk.format("GET", "/api/v1/firms/" .. firms[i] .. "/check?period=2023", {["Cookie"] = "$COOKIE"${2:-}})
end
LUA
}
walk "$D/every.lua"
# A second server on the same ledger (it loads the officer's session) that keeps no answer.
P0=$((PORT + 1))
"$BIN" serve --addr 127.0.0.1:$P0 --db "$D/ledger.sqlite" --policy policies/ningbo --snapshot "$SNAP" --check-cache-mb 0 >"$D/server0.log" 2>&1 &
S0=$!
until curl -sf "http://127.0.0.1:$P0/healthz" >/dev/null; do sleep 0.05; done
walk "$D/every-gzip.lua" ', ["Accept-Encoding"] = "gzip, deflate, br"'
cpu() { awk '{print $14 + $15}' "/proc/${PID:-$S}/stat"; }
hz=$(getconf CLK_TCK)
measure() {
  local label=$1 c0 c1 out n
  shift
  c0=$(cpu)
  out=$(wrk -t1 -c8 -d8s "$@" 2>&1)
  c1=$(cpu)
  n=$(echo "$out" | awk '/requests in/ {print $1}')
  printf '  %-32s %9s requests %12s req/s   %6s µs CPU/request\n' "$label" "$n" \
    "$(echo "$out" | awk '/Requests\/sec/ {print $2}')" "$(echo "scale=1; ($c1 - $c0) * 1000000 / $hz / $n" | bc)"
}
echo "huiqi serve CPU per request — $(date '+%Y-%m-%d %H:%M') — $(nproc) cores — $(git rev-parse --short HEAD)"
measure /healthz "http://127.0.0.1:$PORT/healthz"
curl -sf -o /dev/null -H "Cookie: $COOKIE" "http://127.0.0.1:$PORT/api/v1/firms/$USCC/check?period=2023"
measure "check (kept, one firm)" -H "Cookie: $COOKIE" "http://127.0.0.1:$PORT/api/v1/firms/$USCC/check?period=2023"
measure "  the same, gzip" -H "Cookie: $COOKIE" -H "Accept-Encoding: gzip, deflate, br" "http://127.0.0.1:$PORT/api/v1/firms/$USCC/check?period=2023"
measure "check (every firm, kept, gzip)" -s "$D/every-gzip.lua" "http://127.0.0.1:$PORT"
measure "  the same, JSON" -s "$D/every.lua" "http://127.0.0.1:$PORT"
PID=$S0 measure "check (every firm, computed)" -s "$D/every.lua" "http://127.0.0.1:$P0"
measure "POST /calculate" -s "$D/post.lua" "http://127.0.0.1:$PORT/api/v1/calculate"
measure "made-up cookie (401)" -H "Cookie: huiqi_session=$(printf 'ab%.0s' {1..32})" "http://127.0.0.1:$PORT/api/v1/lines"
