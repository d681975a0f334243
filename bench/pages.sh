#!/usr/bin/env bash
# Every web page's latency on a generated zone (default 50,000 firms) with its run recorded in
# the ledger (one line per award), each page fetched by wrk as the role it is for:
#
#   FIRMS=50000 DURATION=15s CONNECTIONS=4 bash bench/pages.sh
#   HUIQI_BIN=/path/to/huiqi bash bench/pages.sh    # a prebuilt binary, no build
#
# wrk is closed-loop (no coordinated-omission correction): with few connections it measures the
# server's time per page plus wrk's own. Data under /var/tmp/huiqi-bench/pages-$FIRMS.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
FIRMS=${FIRMS:-50000}
DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-4}
PORT=${PORT:-18081}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/huiqi-target}
WORK=/var/tmp/huiqi-bench/pages-$FIRMS
mkdir -p "$WORK"

BIN=$WORK/huiqi
if [[ -n ${HUIQI_BIN:-} ]]; then
  cp "$HUIQI_BIN" "$BIN"
else
  cargo build --release -p huiqi-cli >&2
  cp "$CARGO_TARGET_DIR/release/huiqi" "$BIN"
fi

if [[ ! -f $WORK/zone/mapping.toml ]]; then
  "$BIN" gen --firms "$FIRMS" --years 2019..2023 --seed 42 --out "$WORK/zone" >&2
fi
if ! ls "$WORK"/snapshots/*/manifest.json >/dev/null 2>&1; then
  "$BIN" ingest --policy policies/ningbo --mapping "$WORK/zone/mapping.toml" --snapshots "$WORK/snapshots" >&2
fi
SNAP=$(dirname "$(ls "$WORK"/snapshots/*/manifest.json | head -1)")
if [[ ! -f $WORK/run/manifest.json ]]; then
  "$BIN" run --policy policies/ningbo --snapshot "$SNAP" --period 2023 --out "$WORK/run" --force >&2
fi
DB=$WORK/ledger.sqlite
rm -f "$DB"*
"$BIN" ledger --db "$DB" record "$WORK/run" >&2
# Some of the workflow done, so the queues, the 公示 and the dashboard have every state.
"$BIN" ledger --db "$DB" --actor reviewer approve --all --clause 高企认定奖励 >&2
"$BIN" ledger --db "$DB" --actor officer announce --all --days 7 >&2

# Zone indicators of the seed page's four zones, precomputed for two periods (served from memory).
if [[ ! -f $WORK/indicators/2022-11/manifest.json ]]; then
  "$BIN" gen --seed-zones --out "$WORK/seed" --force >&2
  "$BIN" ingest --policy policies/ningbo --mapping "$WORK/seed/mapping.toml" --snapshots "$WORK/seed-snapshots" >&2
  SEEDSNAP=$(dirname "$(ls "$WORK"/seed-snapshots/*/manifest.json | head -1)")
  for p in 2021-11 2022-11; do
    "$BIN" indicators --snapshot "$SEEDSNAP" --period $p --out "$WORK/indicators/$p" --force >/dev/null
  done
fi

"$BIN" serve --addr 127.0.0.1:$PORT --db "$DB" --policy policies/ningbo --snapshot "$SNAP" --indicators "$WORK/indicators" >"$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
until curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null; do sleep 0.05; done
ADMIN_PW=$(sed -n 's/.*admin \/ \([0-9a-f]*\).*/\1/p' "$WORK/server.log" | head -1)
B=http://127.0.0.1:$PORT
login() { curl -sf -c "$WORK/$1.jar" -H 'content-type: application/json' -d "{\"user\":\"$1\",\"password\":\"$2\"}" "$B/api/v1/session"; }
CSRF=$(login admin "$ADMIN_PW" | sed 's/.*"csrf_token":"\([0-9a-f]*\)".*/\1/')
account() {
  curl -sf -b "$WORK/admin.jar" -H "X-CSRF-Token: $CSRF" -H 'content-type: application/json' -d "$1" "$B/api/v1/users" >/dev/null
}
cookie() { login "$1" "$2" >/dev/null; awk '$6 == "huiqi_session" {print "huiqi_session=" $7}' "$WORK/$1.jar"; }
account '{"name":"officer","role":"officer","password":"bench-pw-officer"}'
account '{"name":"leader","role":"leader","password":"bench-pw-leader"}'
account '{"name":"auditor","role":"auditor","password":"bench-pw-auditor"}'
account '{"name":"finance","role":"finance","password":"bench-pw-finance"}'
OFFICER=$(cookie officer bench-pw-officer)
LEADER=$(cookie leader bench-pw-leader)
AUDITOR=$(cookie auditor bench-pw-auditor)
FINANCE=$(cookie finance bench-pw-finance)
# A firm with a line in 公示, and that line.
J=$(curl -s -H "Cookie: $OFFICER" "$B/api/v1/lines?state=announced&limit=1")
FIRM=$(sed 's/.*"firm":"\([0-9A-Z]*\)".*/\1/' <<<"$J")
LINE=$(sed 's/.*"line":\([0-9]*\).*/\1/' <<<"$J")
account "{\"name\":\"$FIRM\",\"role\":\"firm\",\"firm\":\"$FIRM\",\"password\":\"bench-pw-firm\"}"
FIRMC=$(cookie "$FIRM" bench-pw-firm)

wait_idle
busy && echo "(busy: another cargo/rustc was running — figures not trusted)"
echo "huiqi pages — $(date '+%Y-%m-%d %H:%M') — $(nproc) cores — $FIRMS firms — wrk -t1 -c$CONNECTIONS -d$DURATION"
printf '%-44s %-8s %10s %9s %9s %9s\n' page as req/s p50 p99 bytes
bench_page() {
  local path=$1 who=$2 c=$3
  local size
  size=$(curl -s -o /dev/null -w '%{size_download}' -H "Cookie: $c" "$B$path")
  local out
  out=$(wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -H "Cookie: $c" "$B$path")
  local rps p50 p99 non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  printf '%-44s %-8s %10s %9s %9s %9s%s\n' "$path" "$who" "$rps" "$p50" "$p99" "$size" "${non2xx:+  non-2xx: $non2xx}"
}
bench_page "/" public ""
bench_page "/notice" public ""
bench_page "/policy" public ""
bench_page "/firm/$FIRM" firm "$FIRMC"
bench_page "/firm/$FIRM/whatif?period=2023&v.%E8%90%A5%E4%B8%9A%E6%94%B6%E5%85%A5=9999%E4%B8%87" firm "$FIRMC"
bench_page "/firm/$FIRM/awards" firm "$FIRMC"
bench_page "/firm/$FIRM/corrections" firm "$FIRMC"
bench_page "/review?state=computed" officer "$OFFICER"
bench_page "/review?state=announced&page=3" officer "$OFFICER"
bench_page "/data" officer "$OFFICER"
bench_page "/sandbox" officer "$OFFICER"
bench_page "/corrections" officer "$OFFICER"
bench_page "/trace/$LINE" auditor "$AUDITOR"
bench_page "/audit" auditor "$AUDITOR"
bench_page "/finance" finance "$FINANCE"
bench_page "/dashboard" leader "$LEADER"
bench_page "/indicators?period=2021-11" leader "$LEADER"
bench_page "/indicators?period=2022-11&zone=%E5%B9%BF%E5%B7%9E%E9%AB%98%E6%96%B0%E5%8C%BA" leader "$LEADER"
bench_page "/indicators/firms?period=2021-11&indicator=%E8%BD%AF%E4%BB%B6%E4%B8%9A%E8%90%A5%E4%B8%9A%E6%94%B6%E5%85%A5&zone=%E6%88%90%E9%83%BD%E9%AB%98%E6%96%B0%E5%8C%BA" officer "$OFFICER"
echo "server RSS: $(ps -o rss= -p $SERVER) KB"
