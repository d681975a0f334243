#!/usr/bin/env bash
# The ledger at zone scale: the whole seed pack run over a generated zone (default 1,000,000
# firms × 2019..2023, period 2023), then on SQLite and on PostgreSQL: `ledger record` of the
# run, and the bulk steps every line goes through — approve --all, announce --all, confirm --all,
# export payments (the payment file) — each timed (wall, rows/s) with its peak RSS.
# The floors beside them: the sqlite3 CLI's `.import` of the same lines into a table of the same
# columns, and psql's `\copy` of them.
#
#   FIRMS=1000000 bash bench/ledger.sh
#   HUIQI_BIN=/path/to/huiqi BACKENDS="sqlite" bash bench/ledger.sh
#
# Data under /var/tmp/huiqi-bench/ledger-$FIRMS (never in the repository). PostgreSQL: a
# database `huiqi_bench_ledger` on 127.0.0.1 (dropped and made again each time).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
FIRMS=${FIRMS:-1000000}
BACKENDS=${BACKENDS:-"sqlite postgres"}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/huiqi-target}
WORK=/var/tmp/huiqi-bench/ledger-$FIRMS
mkdir -p "$WORK"
[[ -x /usr/bin/time ]] || { echo "ledger.sh: /usr/bin/time (GNU time) is required" >&2; exit 2; }

BIN=$WORK/huiqi
if [[ -n ${HUIQI_BIN:-} ]]; then
  cp "$HUIQI_BIN" "$BIN"
else
  cargo build --release -p huiqi-cli >&2
  cp "$CARGO_TARGET_DIR/release/huiqi" "$BIN"
fi
[[ -f $WORK/zone/mapping.toml ]] || "$BIN" gen --firms "$FIRMS" --years 2019..2023 --seed 42 --out "$WORK/zone" >&2
if ! ls "$WORK"/snapshots/*/manifest.json >/dev/null 2>&1; then
  "$BIN" ingest --policy policies/ningbo --mapping "$WORK/zone/mapping.toml" --snapshots "$WORK/snapshots" >&2
fi
SNAP=$(dirname "$(ls "$WORK"/snapshots/*/manifest.json | head -1)")
[[ -f $WORK/run/manifest.json ]] || "$BIN" run --policy policies/ningbo --snapshot "$SNAP" --period 2023 --out "$WORK/run" --no-xlsx >&2

# The run's award lines (amount > 0) as CSV, for the floors.
if [[ ! -f $WORK/lines.csv ]]; then
  python3 - "$WORK/run/results.csv" "$WORK/lines.csv.tmp" <<'PY'
import csv, sys
src, dst = sys.argv[1], sys.argv[2]
# 统一社会信用代码, 条款, 分期, 金额（元）, 金额（分）, 原因 (docs/RESULTS.md)
with open(src, newline="", encoding="utf-8-sig") as f, open(dst, "w", newline="") as o:
    r, w = csv.reader(f), csv.writer(o)
    next(r)
    for row in r:
        if int(row[4]) > 0:
            w.writerow([row[0], row[1], row[2], row[4]])
PY
  mv "$WORK/lines.csv.tmp" "$WORK/lines.csv"
fi
LINES=$(wc -l <"$WORK/lines.csv")

# `label command…`: wall seconds, rows/s over $LINES and peak RSS.
step() {
  local label=$1
  shift
  wait_idle
  /usr/bin/time -f '%e %M' -o "$WORK/time" "$@" >"$WORK/out" 2>"$WORK/err" || { cat "$WORK/err" "$WORK/out" >&2; exit 1; }
  read -r s kb <"$WORK/time"
  printf '  %-34s %8s s %12s rows/s %8s MB\n' "$label" "$s" "$(echo "$LINES / $s" | bc)" "$((kb / 1024))"
}

busy && echo "(busy: another cargo/rustc was running — figures not trusted)"
echo "huiqi ledger — $(date '+%Y-%m-%d %H:%M') — $(nproc) cores — $FIRMS firms, $LINES award lines — $(git rev-parse --short HEAD)"
for b in $BACKENDS; do
  if [[ $b == sqlite ]]; then
    rm -f "$WORK"/ledger.sqlite*
    DB=$WORK/ledger.sqlite
  else
    psql "$PG/postgres" -qc 'DROP DATABASE IF EXISTS huiqi_bench_ledger' -c 'CREATE DATABASE huiqi_bench_ledger' >/dev/null
    DB=$PG/huiqi_bench_ledger
  fi
  echo "$b:"
  step "ledger record" "$BIN" ledger record "$WORK/run" --db "$DB" --at 2024-02-01
  step "ledger approve --all" "$BIN" ledger approve --all --db "$DB" --at 2024-02-10
  step "ledger announce --all" "$BIN" ledger announce --all --days 7 --db "$DB" --at 2024-03-01
  step "ledger confirm --all" "$BIN" ledger confirm --all --db "$DB" --at 2024-03-02
  step "ledger export payments" "$BIN" ledger export payments --out "$WORK/payments.csv" --force --db "$DB" --at 2024-03-09
  step "ledger verify" "$BIN" ledger verify --db "$DB"
done
echo "floors (the same $LINES lines, four columns):"
rm -f "$WORK/floor.sqlite"
step "sqlite3 .import" sqlite3 "$WORK/floor.sqlite" \
  'CREATE TABLE lines (firm_id TEXT, clause TEXT, tranche TEXT, amount_fen INTEGER)' \
  ".import --csv $WORK/lines.csv lines"
psql "$PG/postgres" -qc 'DROP DATABASE IF EXISTS huiqi_bench_floor' -c 'CREATE DATABASE huiqi_bench_floor' >/dev/null
psql "$PG/huiqi_bench_floor" -qc 'CREATE TABLE lines (firm_id TEXT, clause TEXT, tranche TEXT, amount_fen BIGINT)'
step "psql \\copy" psql "$PG/huiqi_bench_floor" -qc "\\copy lines FROM '$WORK/lines.csv' CSV"
