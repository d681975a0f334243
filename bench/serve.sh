#!/usr/bin/env bash
# huiqi serve under load: GET /api/v1/firms/{uscc}/check (logged in as an officer) and
# POST /api/v1/calculate (anonymous, a sample firm file), measured with wrk on this machine.
#
#   FIRMS=50000 DURATION=30s CONNECTIONS=64 bash bench/serve.sh
#   PROFILE=debug bash bench/serve.sh      # use the dev build instead of building release
#   HUIQI_BIN=/path/to/huiqi bash bench/serve.sh   # a prebuilt binary, no build
#
# Data under /var/tmp/huiqi-bench/serve-$FIRMS; the server's stdout in server.log there.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
FIRMS=${FIRMS:-50000}
DURATION=${DURATION:-30s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
PROFILE=${PROFILE:-release}
PORT=${PORT:-18080}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/huiqi-target}
WORK=/var/tmp/huiqi-bench/serve-$FIRMS
mkdir -p "$WORK"

BIN=$WORK/huiqi
if [[ -n ${HUIQI_BIN:-} ]]; then
  # A binary built elsewhere, measured as it is.
  cp "$HUIQI_BIN" "$BIN"
elif [[ $PROFILE == release ]]; then
  cargo build --release -p huiqi-cli >&2
  cp "$CARGO_TARGET_DIR/$PROFILE/huiqi" "$BIN"
else
  cargo build -p huiqi-cli >&2
  cp "$CARGO_TARGET_DIR/$PROFILE/huiqi" "$BIN"
fi

if [[ ! -f $WORK/zone/mapping.toml ]]; then
  "$BIN" gen --firms "$FIRMS" --years 2019..2023 --seed 42 --out "$WORK/zone" >&2
fi
if ! ls "$WORK"/snapshots/*/manifest.json >/dev/null 2>&1; then
  "$BIN" ingest --policy policies/ningbo --mapping "$WORK/zone/mapping.toml" --snapshots "$WORK/snapshots" >&2
fi
SNAP=$(dirname "$(ls "$WORK"/snapshots/*/manifest.json | head -1)")
rm -f "$WORK"/ledger.sqlite*

start=$(date +%s.%N)
"$BIN" serve --addr 127.0.0.1:$PORT --db "$WORK/ledger.sqlite" --policy policies/ningbo --snapshot "$SNAP" >"$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
until curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null; do sleep 0.05; done
ready=$(date +%s.%N)
echo "start-up to /healthz: $(echo "$ready - $start" | bc) s ($FIRMS firms)"
ADMIN_PW=$(sed -n 's/.*admin \/ \([0-9a-f]*\).*/\1/p' "$WORK/server.log" | head -1)

# An officer account (by the admin), then the officer's session cookie.
login() { curl -sf -c "$WORK/$1.jar" -H 'content-type: application/json' -d "{\"user\":\"$1\",\"password\":\"$2\"}" "http://127.0.0.1:$PORT/api/v1/session"; }
CSRF=$(login admin "$ADMIN_PW" | sed 's/.*"csrf_token":"\([0-9a-f]*\)".*/\1/')
curl -sf -b "$WORK/admin.jar" -H "X-CSRF-Token: $CSRF" -H 'content-type: application/json' \
  -d '{"name":"officer","role":"officer","password":"bench-officer-pw"}' "http://127.0.0.1:$PORT/api/v1/users" >/dev/null
login officer bench-officer-pw >/dev/null
COOKIE=$(awk '$6 == "huiqi_session" {print "huiqi_session=" $7}' "$WORK/officer.jar")
USCC=$(head -2 "$WORK/zone/"*企业*.csv 2>/dev/null | tail -1 | cut -d, -f1)
[[ -n $USCC ]] || USCC=$(curl -s -b "$WORK/officer.jar" "http://127.0.0.1:$PORT/api/v1/lines?limit=1" | sed 's/.*"firm":"\([0-9A-Z]*\)".*/\1/')
echo "firm: $USCC"
curl -sf -H "Cookie: $COOKIE" "http://127.0.0.1:$PORT/api/v1/firms/$USCC/check?period=2023" -D - -o /dev/null | grep -i server-timing || true

wait_idle
[[ $(busy && echo 1) ]] && echo "(busy: another cargo/rustc was running)"
echo "== GET /api/v1/firms/$USCC/check?period=2023 (officer session) =="
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency -H 'Cookie: …' http://127.0.0.1:$PORT/api/v1/firms/$USCC/check?period=2023"
wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "Cookie: $COOKIE" "http://127.0.0.1:$PORT/api/v1/firms/$USCC/check?period=2023"

echo "== POST /api/v1/calculate (anonymous, examples/firms/meixu_jingmi.toml as JSON) =="
python3 -c 'import json,tomllib,sys; print(json.dumps({"firm": tomllib.load(open("examples/firms/meixu_jingmi.toml","rb")), "period": 2023}, default=str))' >"$WORK/calc.json"
cat >"$WORK/calc.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$WORK/calc.json", "r"); wrk.body = f:read("*a"); f:close()
LUA
wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$WORK/calc.lua" "http://127.0.0.1:$PORT/api/v1/calculate"
echo "server RSS: $(ps -o rss= -p $SERVER) KB"
