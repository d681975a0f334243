#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 60) and prints executions and crashes per target.
#
#   bash fuzz/run.sh            # 60 s per target
#   bash fuzz/run.sh 3600       # an hour per target
#   TARGETS="policy mapping" bash fuzz/run.sh 600
#   RUNS=10000000 TARGETS=ingest_csv bash fuzz/run.sh 86400   # stop after 10M executions
#
# Needs the nightly toolchain (libFuzzer's instrumentation) and cargo-fuzz (installed when
# missing). The committed seeds are in fuzz/corpus/<target>; what a run discovers goes to
# $FUZZ_WORK/corpus/<target> (not committed), crashes to $FUZZ_WORK/artifacts/<target>.
# Exit status 1 when any target found a crash.
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_PER="${1:-60}"
TARGETS="${TARGETS:-policy firm_file mapping ingest_csv ingest_xlsx}"
WORK="${FUZZ_WORK:-/var/tmp/huiqi-fuzz}"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-/var/tmp/huiqi-fuzz-target}"
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
# No AddressSanitizer: the code under test is safe Rust, and without it nightly needs no
# sanitizer runtime; coverage instrumentation and debug assertions stay on.
cargo +nightly fuzz build -O --sanitizer none --debug-assertions
failed=0
printf '%-12s %12s %10s %8s\n' target executions exec/s crashes
for t in $TARGETS; do
  mkdir -p "$WORK/corpus/$t" "$WORK/artifacts/$t" "corpus/$t"
  log="$WORK/$t.log"
  # Seeds already in the repository (the bad-input corpora) are read as well.
  extra=()
  case "$t" in
    policy) extra=(../policies/ningbo ../tests/bad/policy) ;;
    firm_file) extra=(../tests/bad/firm) ;;
    # The workbooks a reader once panicked on: the catch around calamine must hold for them.
    ingest_xlsx) extra=(../tests/bad/workbook) ;;
  esac
  runs=()
  [ -n "${RUNS:-}" ] && runs=(-runs="$RUNS")
  set +e
  # -rss_limit_mb: a 2 MB input must not need gigabytes; -timeout: one input, one second.
  cargo +nightly fuzz run -O --sanitizer none --debug-assertions "$t" \
    "$WORK/corpus/$t" "corpus/$t" "${extra[@]}" -- \
    -max_total_time="$SECONDS_PER" -print_final_stats=1 -timeout=2 -rss_limit_mb=2048 \
    -max_len=65536 "${runs[@]}" -artifact_prefix="$WORK/artifacts/$t/" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log" | tail -1)
  rate=$(awk '/stat::average_exec_per_sec/ {print $2}' "$log" | tail -1)
  crashes=$(find "$WORK/artifacts/$t" -type f | wc -l)
  printf '%-12s %12s %10s %8s\n' "$t" "${execs:-?}" "${rate:-?}" "$crashes"
  if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
    failed=1
    echo "  $t failed (exit $rc); see $log" >&2
    grep -m5 -E "panicked|ERROR|SUMMARY" "$log" >&2 || true
  fi
done
exit $failed
