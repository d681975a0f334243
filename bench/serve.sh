#!/usr/bin/env bash
# huiqi serve under load, open-loop at a fixed rate with oha (latency corrected for coordinated
# omission; `cargo install oha`), the load generator on the same 2 cores:
#   1. GET /api/v1/firms/{uscc}/check, one firm (officer session) — the answer is cached after
#      the first request;
#   2. the same over every firm of the zone in turn, repeating the list. The server computes
#      every firm's answer in the background after start-up and keeps it gzip-compressed (~3.6 KB
#      a firm; the script waits for that), so these are kept answers — as gzip, the
#      Accept-Encoding a browser sends, and once more as JSON (inflated per request). What a
#      check computed on request costs is bench/serve_cpu.sh's "every firm, computed";
#   3. POST /api/v1/calculate (anonymous) with the sample firm files of examples/firms as bodies;
#   4. side by side with OpenFisca's Web API (`openfisca serve`, gunicorn, one worker per core):
#      bench/simple's clause for 1,000 generated firms, huiqi's POST /api/v1/calculate against
#      OpenFisca's POST /calculate, at the same rate and then closed-loop (OPENFISCA=0 skips it;
#      the venv is /var/tmp/huiqi-of-venv, as bench/openfisca/compare.sh makes it);
#   5. scenario 2 again while runs of a RUN_FIRMS (default 1,000,000; 0 skips) zone execute back
#      to back at nice 19 under SCHED_IDLE, the priority huiqi serve gives the runs it starts.
# Each: requests/s, p50/p99/max, the success rate, the server's RSS after 10 s and at the end.
# Then wrk (closed loop) on scenario 1 as a throughput cross-check.
#
#   FIRMS=50000 DURATION=60 RATE=10000 CONNECTIONS=64 bash bench/serve.sh
#   PROFILE=debug bash bench/serve.sh      # use the dev build instead of building release
#   HUIQI_BIN=/path/to/huiqi bash bench/serve.sh   # a prebuilt binary, no build
#
# Data under /var/tmp/huiqi-bench/serve-$FIRMS; the server's stdout in server.log there.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
FIRMS=${FIRMS:-50000}
DURATION=${DURATION:-60}
RATE=${RATE:-10000}
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
# Every firm's answer computed ahead, at the lowest CPU priority (the server says when).
for _ in $(seq 600); do grep -q "checks computed ahead" "$WORK/server.log" && break; sleep 0.5; done
grep -o "checks computed ahead.*" "$WORK/server.log" || echo "(the answers were not all computed ahead within 300 s)"
ADMIN_PW=$(sed -n 's/.*admin \/ \([0-9a-f]*\).*/\1/p' "$WORK/server.log" | head -1)

# An officer account (by the admin), then the officer's session cookie.
login() { curl -sf -c "$WORK/$1.jar" -H 'content-type: application/json' -d "{\"user\":\"$1\",\"password\":\"$2\"}" "http://127.0.0.1:$PORT/api/v1/session"; }
CSRF=$(login admin "$ADMIN_PW" | sed 's/.*"csrf_token":"\([0-9a-f]*\)".*/\1/')
curl -sf -b "$WORK/admin.jar" -H "X-CSRF-Token: $CSRF" -H 'content-type: application/json' \
  -d '{"name":"officer","role":"officer","password":"bench-officer-pw"}' "http://127.0.0.1:$PORT/api/v1/users" >/dev/null
login officer bench-officer-pw >/dev/null
COOKIE=$(awk '$6 == "huiqi_session" {print "huiqi_session=" $7}' "$WORK/officer.jar")
USCC=$(head -2 "$WORK/zone/企业名录.csv" 2>/dev/null | tail -1 | cut -d, -f1)
[[ -n $USCC ]] || USCC=$(curl -s -b "$WORK/officer.jar" "http://127.0.0.1:$PORT/api/v1/lines?limit=1" | sed 's/.*"firm":"\([0-9A-Z]*\)".*/\1/')
echo "firm: $USCC"
curl -sf -H "Cookie: $COOKIE" "http://127.0.0.1:$PORT/api/v1/firms/$USCC/check?period=2023" -D - -o /dev/null | grep -i server-timing || true

wait_idle
[[ $(busy && echo 1) ]] && echo "(busy: another cargo/rustc was running)"
# One oha run: its JSON summary as one line, and the server's RSS after 10 s and at the end.
load() {
  local name=$1
  shift
  (sleep 10; ps -o rss= -p $SERVER >"$WORK/rss10") &
  oha --no-tui --output-format json -z "${DURATION}s" -c "$CONNECTIONS" -q "$RATE" --latency-correction "$@" >"$WORK/$name.json"
  local rss_end
  rss_end=$(ps -o rss= -p $SERVER)
  python3 - "$WORK/$name.json" "$name" "$(cat "$WORK/rss10")" "$rss_end" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
s, p = j["summary"], j["latencyPercentiles"]
ms = lambda x: f"{x * 1000:.2f} ms" if x is not None else "-"
codes = j.get("statusCodeDistribution", {})
print(f"{sys.argv[2]:<28} {s['requestsPerSec']:>9.0f} req/s  p50 {ms(p['p50'])}  p99 {ms(p['p99'])}  max {ms(s['slowest'])}  "
      f"success {s['successRate'] * 100:.2f}%  codes {codes}  RSS {int(sys.argv[3]) // 1024} MB at 10 s, {int(sys.argv[4]) // 1024} MB at the end")
PY
}
echo "huiqi serve — $(date '+%Y-%m-%d %H:%M') — $(nproc) cores — $FIRMS firms — oha -z ${DURATION}s -c $CONNECTIONS -q $RATE --latency-correction"
GZ="Accept-Encoding: gzip, deflate, br"
load "check-one-firm" -H "Cookie: $COOKIE" -H "$GZ" "http://127.0.0.1:$PORT/api/v1/firms/$USCC/check?period=2023"
curl -sf -H "Cookie: $COOKIE" "http://127.0.0.1:$PORT/api/v1/firms/$USCC/check?period=2023" -D - -o /dev/null | grep -i server-timing || true
# Every firm of the zone, in file order (oha walks the list): kept answers (see 2. above).
tail -n +2 "$WORK/zone/企业名录.csv" | cut -d, -f1 | tr -d '"' | sed "s|.*|http://127.0.0.1:$PORT/api/v1/firms/&/check?period=2023|" >"$WORK/urls.txt"
echo "($(wc -l <"$WORK/urls.txt") firm URLs)"
load "check-every-firm" -H "Cookie: $COOKIE" -H "$GZ" --urls-from-file "$WORK/urls.txt"
load "check-every-firm-json" -H "Cookie: $COOKIE" --urls-from-file "$WORK/urls.txt"
python3 -c 'import json,tomllib,glob; [print(json.dumps({"firm": tomllib.load(open(f,"rb")), "period": 2023}, default=str)) for f in sorted(glob.glob("examples/firms/*.toml"))]' >"$WORK/calc.lines"
load "calculate-sample-firms" -m POST -T application/json -Z "$WORK/calc.lines" "http://127.0.0.1:$PORT/api/v1/calculate"
if [[ ${RUN_FIRMS:-1000000} -gt 0 ]]; then
  # The check while a population run executes: runs of a RUN_FIRMS zone back to back for the whole
  # window, at nice 19 under SCHED_IDLE — the priority huiqi serve gives the runs it starts
  # (routes/runs.rs background_priority), in a
  # process of their own here so the zone need not be uploaded.
  RW=/var/tmp/huiqi-bench/serve-run-${RUN_FIRMS:-1000000}
  mkdir -p "$RW"
  if [[ ! -f $RW/zone/mapping.toml ]]; then
    "$BIN" gen --firms "${RUN_FIRMS:-1000000}" --years 2019..2023 --seed 7 --out "$RW/zone" >&2
  fi
  if ! ls "$RW"/snapshots/*/manifest.json >/dev/null 2>&1; then
    "$BIN" ingest --policy policies/ningbo --mapping "$RW/zone/mapping.toml" --snapshots "$RW/snapshots" >&2
  fi
  RSNAP=$(dirname "$(ls "$RW"/snapshots/*/manifest.json | head -1)")
  (
    end=$(($(date +%s) + 2 * DURATION + 5))
    n=0
    while (($(date +%s) < end)); do
      chrt --idle 0 nice -n 19 "$BIN" run --policy policies/ningbo --snapshot "$RSNAP" --period 2023 --out "$RW/run" --force --no-xlsx >/dev/null 2>&1
      n=$((n + 1))
    done
    echo "$n" >"$RW/runs-done"
  ) &
  RUNNER=$!
  sleep 3
  load "check-every-firm-during-run" -H "Cookie: $COOKIE" -H "$GZ" --urls-from-file "$WORK/urls.txt"
  load "calculate-during-run" -m POST -T application/json -Z "$WORK/calc.lines" "http://127.0.0.1:$PORT/api/v1/calculate"
  wait $RUNNER
  echo "($(cat "$RW/runs-done") runs of ${RUN_FIRMS:-1000000} firms at nice 19, SCHED_IDLE, during that window)"
fi
echo "== wrk (closed loop, -t$THREADS -c$CONNECTIONS -d${DURATION}s): the one-firm check =="
wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "Cookie: $COOKIE" "http://127.0.0.1:$PORT/api/v1/firms/$USCC/check?period=2023" | grep -E "Requests/sec|Latency|99%|Non-2xx"
echo "server RSS: $(ps -o rss= -p $SERVER) KB"

[[ ${OPENFISCA:-1} == 1 ]] || exit 0
echo "== side by side with OpenFisca's Web API: bench/simple's clause, 1,000 firms as bodies =="
VENV=${VENV:-/var/tmp/huiqi-of-venv}
if [[ ! -x $VENV/bin/openfisca ]]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q -r bench/openfisca/requirements.txt 'OpenFisca-Core[web-api]==46.0.1'
fi
# The same firms for both: revenue across every tier (none, 10万, 30万, 0.2%, the cap).
python3 - "$WORK" <<'PY'
import json, random, sys
rng = random.Random(42)
with open(sys.argv[1] + "/simple-huiqi.lines", "w") as h, open(sys.argv[1] + "/simple-of.lines", "w") as o:
    for k in range(1000):
        fen = rng.choice([rng.randrange(0, 10**9), rng.randrange(10**9, 5 * 10**9), rng.randrange(5 * 10**9, 2 * 10**10), rng.randrange(2 * 10**10, 4 * 10**10)])
        yuan = f"{fen // 100}.{fen % 100:02d}"
        h.write(json.dumps({"firm": {"id": "91330201MA2AFK3J07", "name": f"基准企业{k}", "facts": {"营业收入": {"2023": yuan + "元"}}}, "period": 2023}, ensure_ascii=False) + "\n")
        o.write(json.dumps({"firms": {"f": {"revenue": {"2023": float(yuan)}, "tiered_award": {"2023": None}}}}) + "\n")
PY
SPORT=$((PORT + 1)) OFPORT=$((PORT + 2))
rm -f "$WORK"/simple.sqlite*
"$BIN" serve --addr 127.0.0.1:$SPORT --db "$WORK/simple.sqlite" --policy bench/simple >"$WORK/simple-server.log" 2>&1 &
SIMPLE=$!
PYTHONPATH=bench/openfisca "$VENV/bin/openfisca" serve --country-package huiqi_bench_country --bind 127.0.0.1:$OFPORT --workers "$(nproc)" >"$WORK/openfisca.log" 2>&1 &
OF=$!
trap 'kill $SERVER $SIMPLE $OF 2>/dev/null || true' EXIT
until curl -sf "http://127.0.0.1:$SPORT/healthz" >/dev/null; do sleep 0.05; done
until curl -sf "http://127.0.0.1:$OFPORT/spec" >/dev/null; do sleep 0.2; done
# Both answer the same amount for the same firm (a 2.5亿 revenue: the cap, 50万).
curl -sf -H 'content-type: application/json' -d '{"firm":{"id":"91330201MA2AFK3J07","name":"甲","facts":{"营业收入":{"2023":"2.5亿"}}},"period":2023}' "http://127.0.0.1:$SPORT/api/v1/calculate" | grep -o '"amount_yuan":"[0-9.]*"' | head -1
curl -sf -H 'content-type: application/json' -d '{"firms":{"f":{"revenue":{"2023":250000000},"tiered_award":{"2023":null}}}}' "http://127.0.0.1:$OFPORT/calculate"; echo
SERVER=$SIMPLE
wait_idle
load "huiqi-calculate-simple" -m POST -T application/json -Z "$WORK/simple-huiqi.lines" "http://127.0.0.1:$SPORT/api/v1/calculate"
SERVER=$OF
load "openfisca-calculate-simple" -m POST -T application/json -Z "$WORK/simple-of.lines" "http://127.0.0.1:$OFPORT/calculate"
echo "(OpenFisca's RSS above is gunicorn's master; its workers: $(ps -o rss= --ppid $OF | awk '{s += $1} END {print int(s / 1024)}') MB)"
echo "== closed loop (-c $CONNECTIONS, 15 s): the most each answers =="
for who in huiqi openfisca; do
  if [[ $who == huiqi ]]; then url=http://127.0.0.1:$SPORT/api/v1/calculate; else url=http://127.0.0.1:$OFPORT/calculate; fi
  wait_idle
  oha --no-tui --output-format json -z 15s -c "$CONNECTIONS" -m POST -T application/json -Z "$WORK/simple-$( [[ $who == huiqi ]] && echo huiqi || echo of ).lines" "$url" >"$WORK/$who-max.json"
  python3 - "$WORK/$who-max.json" "$who" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
s, p = j["summary"], j["latencyPercentiles"]
print(f"{sys.argv[2]:<10} {s['requestsPerSec']:>9.0f} req/s  p50 {p['p50'] * 1000:.2f} ms  p99 {p['p99'] * 1000:.2f} ms  success {s['successRate'] * 100:.2f}%")
PY
done
