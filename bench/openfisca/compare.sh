#!/usr/bin/env bash
# One clause, two engines: bench/simple's 营收分档奖励 by huiqi (`huiqi run`, columnar engine) and
# by OpenFisca (compare.py), on the same generated firms.
#
#   bash bench/openfisca/compare.sh            # N=1000000 firms, REPEAT=20
#   N=100000 REPEAT=5 bash bench/openfisca/compare.sh
#
# Data under /var/tmp/huiqi-bench/openfisca/<N>/ (never in the repository). The generated data is
# ingested against policies/ningbo with the generated mapping — the same snapshot the zone
# benchmark runs — and `huiqi run --policy bench/simple` reads that snapshot (it has more fact
# columns than bench/simple declares). If huiqi refuses it, the script says so and falls back to a
# snapshot ingested against bench/simple with a trimmed mapping (revenue only).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/huiqi-target}"
N="${N:-1000000}"
# 20 calls each by default: both engines' first calls in a process are slower (huiqi's first two
# computes take 9-12 ms against about 6 ms later; OpenFisca's best of 5 was 9.1-9.2 ms, of 20
# 7.3-7.5 ms), and 20 give a median worth printing. Both engines get the same count.
REPEAT="${REPEAT:-20}"
PERIOD="${PERIOD:-2023}"
ROOT="${BENCH_ROOT:-/var/tmp/huiqi-bench}/openfisca/$N"
VENV="${VENV:-/var/tmp/huiqi-of-venv}"
WAIT_IDLE="${WAIT_IDLE:-600}"

[[ -x /usr/bin/time ]] || { echo "compare.sh: /usr/bin/time (GNU time) is required" >&2; exit 2; }

echo "== build (release) → $CARGO_TARGET_DIR" >&2
(cd "$REPO" && cargo build --release -p huiqi-cli)
mkdir -p "$ROOT"
cp -f "$CARGO_TARGET_DIR/release/huiqi" "$ROOT/huiqi"
BIN="$ROOT/huiqi"

if [[ ! -x "$VENV/bin/python" ]]; then
  echo "== venv $VENV" >&2
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q -r "$REPO/bench/openfisca/requirements.txt"

# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"

# Generate (deterministic: reuse a complete earlier generation of the same size and seed).
if [[ ! -f "$ROOT/gen/.done" ]]; then
  rm -rf "$ROOT/gen"
  echo "== gen $N firms" >&2
  "$BIN" --lang en gen --firms "$N" --years 2019..2023 --seed 42 --out "$ROOT/gen" >&2
  touch "$ROOT/gen/.done"
fi

echo "== ingest against policies/ningbo" >&2
"$BIN" --lang en ingest --policy "$REPO/policies/ningbo" --mapping "$ROOT/gen/mapping.toml" --snapshots "$ROOT/snapshots" | tee "$ROOT/ingest.log" >&2
SNAP=$(awk '/^  dir: / {print $2}' "$ROOT/ingest.log")

if ! /usr/bin/time -v -o "$ROOT/probe.time" "$BIN" --lang en run --policy "$REPO/bench/simple" --snapshot "$SNAP" --period "$PERIOD" --out "$ROOT/probe" --no-xlsx >"$ROOT/probe.log" 2>&1; then
  echo "!! huiqi run --policy bench/simple refused the snapshot ingested against policies/ningbo:" >&2
  cat "$ROOT/probe.log" >&2
  echo "!! falling back to a snapshot ingested against bench/simple with a trimmed mapping" >&2
  python3 - "$ROOT/gen/mapping.toml" "$ROOT/gen/mapping-simple.toml" <<'PY'
import re, sys
src = open(sys.argv[1], encoding="utf-8").read()
firms = re.search(r"\[firms\].*?(?=\n\[)", src, re.S).group(0)
firms = re.sub(r"\nfacts = .*", "", firms)
tax = re.search(r"\[\[yearly\]\][^\n]*税务.*?(?=\n\[)", src, re.S).group(0)
tax = re.sub(r'facts = \{.*\}', 'facts = { "营业收入" = "营业收入（万元）" }', tax)
open(sys.argv[2], "w", encoding="utf-8").write("# bench: only what bench/simple needs\n" + firms + "\n\n" + tax + "\n")
PY
  "$BIN" --lang en ingest --policy "$REPO/bench/simple" --mapping "$ROOT/gen/mapping-simple.toml" --snapshots "$ROOT/snapshots-simple" | tee "$ROOT/ingest-simple.log" >&2
  SNAP=$(awk '/^  dir: / {print $2}' "$ROOT/ingest-simple.log")
  SNAPSHOT_NOTE="trimmed snapshot (ningbo snapshot refused)"
else
  SNAPSHOT_NOTE="the policies/ningbo snapshot, accepted as is"
fi

walls=() engines=()
for i in $(seq "$REPEAT"); do
  wait_idle
  t0=$(date +%s.%N)
  /usr/bin/time -v -o "$ROOT/run.time" "$BIN" --lang en run --policy "$REPO/bench/simple" --snapshot "$SNAP" --period "$PERIOD" --out "$ROOT/run" --no-xlsx >"$ROOT/run.log" 2>"$ROOT/run.err"
  t1=$(date +%s.%N)
  walls+=("$(python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$t0" "$t1")")
  engines+=("$(python3 -c 'import json,sys; t=json.load(open(sys.argv[1])); print((t.get("load_ms",0)+t["plan_ms"]+t["execute_ms"]+t["results_ms"])/1000)' "$ROOT/run/timings.json")")
done
# Like OpenFisca's calculate() (timed REPEAT times in one Python process, on fresh simulations):
# the compute REPEAT times in one huiqi process over the snapshot read once (`--repeat`).
wait_idle
"$BIN" --lang en run --policy "$REPO/bench/simple" --snapshot "$SNAP" --period "$PERIOD" --out "$ROOT/repeat" --no-xlsx --repeat "$REPEAT" >"$ROOT/repeat.log" 2>&1
read -r -a computes <<<"$(python3 -c 'import json,sys; print(" ".join(str(ms / 1000) for ms in json.load(open(sys.argv[1])).get("compute_ms", [])))' "$ROOT/repeat/timings.json")"
if [[ ${#computes[@]} -eq 0 ]]; then
  # A single repeat writes no compute_ms: plan + execute + results of that run.
  computes=("$(python3 -c 'import json,sys; t=json.load(open(sys.argv[1])); print((t["plan_ms"]+t["execute_ms"]+t["results_ms"])/1000)' "$ROOT/repeat/timings.json")")
fi
cmp -s "$ROOT/run/results.csv" "$ROOT/repeat/results.csv" || { echo "!! --repeat gave different results" >&2; exit 1; }
rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2 / 1024}' "$ROOT/run.time")
load=idle
busy && load=busy

echo
echo "== $(date '+%Y-%m-%d %H:%M'), $(nproc) cores, huiqi $(cd "$REPO" && git rev-parse --short HEAD); snapshot: $SNAPSHOT_NOTE; load at end: $load"
cat "$ROOT/run.log"
echo "huiqi run walls (s): ${walls[*]}; engine (s): ${engines[*]}; compute (s): ${computes[*]}; peak RSS of the last run: $rss MB"
echo
wait_idle
"$VENV/bin/python" "$REPO/bench/openfisca/compare.py" --snapshot "$SNAP" --huiqi-out "$ROOT/run" --period "$PERIOD" --repeat "$REPEAT" \
  --huiqi-wall "${walls[@]}" --huiqi-engine "${engines[@]}" --huiqi-compute "${computes[@]}" --json "$ROOT/figures.json"
