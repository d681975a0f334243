#!/usr/bin/env bash
# The 政策沙盘 against a single run on a generated zone (default 50,000 firms): `huiqi run` of the
# seed pack, then `huiqi simulate` of a reform.toml (two parameters) — both engine runs, the join
# and the summary, with and without reform.xlsx — each the best of REPEAT, wall time and peak RSS.
#
#   FIRMS=50000 REPEAT=3 bash bench/simulate.sh
#   HUIQI_BIN=/path/to/huiqi FIRMS=1000000 bash bench/simulate.sh
#   SOLVE=1 bash bench/simulate.sh              # also the budget solver
#
# Data under /var/tmp/huiqi-bench/simulate-$FIRMS (never in the repository).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
FIRMS=${FIRMS:-50000}
REPEAT=${REPEAT:-3}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/huiqi-target}
WORK=/var/tmp/huiqi-bench/simulate-$FIRMS
mkdir -p "$WORK"
[[ -x /usr/bin/time ]] || { echo "simulate.sh: /usr/bin/time (GNU time) is required" >&2; exit 2; }

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
cat >"$WORK/reform.toml" <<'TOML'
[[set]]
name = "研发资金池预算"
value = "3000万"

[[set]]
name = "瞪羚遴选名额"
value = 20
TOML

# best wall seconds and its peak RSS (MB) of REPEAT runs of the command
best() {
  local best_s="" best_kb=""
  for _ in $(seq "$REPEAT"); do
    wait_idle
    /usr/bin/time -f '%e %M' -o "$WORK/time" "$@" >/dev/null 2>"$WORK/err" || { cat "$WORK/err" >&2; exit 1; }
    read -r s kb <"$WORK/time"
    if [[ -z $best_s ]] || (($(echo "$s < $best_s" | bc))); then best_s=$s best_kb=$kb; fi
  done
  echo "$best_s $((best_kb / 1024))"
}
busy && echo "(busy: another cargo/rustc was running — figures not trusted)"
echo "huiqi simulate — $(date '+%Y-%m-%d %H:%M') — $(nproc) cores — $FIRMS firms — best of $REPEAT"
read -r run_s run_mb < <(best "$BIN" run --policy policies/ningbo --snapshot "$SNAP" --period 2023 --out "$WORK/run" --force --no-xlsx)
read -r sim_s sim_mb < <(best "$BIN" simulate --policy policies/ningbo --reform "$WORK/reform.toml" --snapshot "$SNAP" --period 2023 --out "$WORK/sim" --force --no-xlsx)
read -r simx_s simx_mb < <(best "$BIN" simulate --policy policies/ningbo --reform "$WORK/reform.toml" --snapshot "$SNAP" --period 2023 --out "$WORK/simx" --force)
printf '%-44s %8s s %7s MB\n' "run (one engine run, results written)" "$run_s" "$run_mb"
printf '%-44s %8s s %7s MB  (%.2f× the run)\n' "simulate (two runs + join + summary)" "$sim_s" "$sim_mb" "$(echo "$sim_s / $run_s" | bc -l)"
printf '%-44s %8s s %7s MB\n' "simulate with reform.xlsx" "$simx_s" "$simx_mb"
python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print("total Δ", s["total_delta_fen"], "分;", s["all"]["gainers"], "gaining,", s["all"]["losers"], "losing; stand-alone", s["standalone_delta_fen"], "interaction", s["interaction_fen"])' "$WORK/sim/summary.json"
# The budget solver (SOLVE=1): the 研发资金池's budget for a total 300万 over the pack's own —
# each evaluation a whole run of the pack.
if [[ ${SOLVE:-0} == 1 ]]; then
  budget=$(python3 -c 'import json,sys; print((json.load(open(sys.argv[1]))["total_base_fen"] + 300000000) // 100)' "$WORK/sim/summary.json")
  read -r solve_s solve_mb < <(best "$BIN" simulate --policy policies/ningbo --snapshot "$SNAP" --period 2023 --out "$WORK/solve" --force --no-xlsx --solve 研发资金池预算 --budget "${budget}元" --range 100万..5000万)
  n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["solve"]["probes"]))' "$WORK/solve/summary.json")
  printf '%-44s %8s s %7s MB  (%s evaluations)\n' "simulate --solve (budget solver + simulation)" "$solve_s" "$solve_mb" "$n"
fi
