#!/usr/bin/env bash
# The population run on one machine and on an Apache Ballista cluster on this same machine: a
# scheduler with 1, then 2 executors (`huiqi cluster …`). The executors share this machine's
# cores, so the figures are the cluster's overhead, not a speed-up (docs/CLUSTER.md estimates N
# machines from them). Every cluster run must give the single-machine run's bytes.
#
#   bash bench/cluster.sh                                  # SIZES="1000000"
#   SIZES="100000 1000000" CHUNK=100000 bash bench/cluster.sh
#   SIZES=10000000 CHUNK=1000000 bash bench/cluster.sh     # no whole run past WHOLE_MAX firms
#   HUIQI_BIN=/path/huiqi HUIQI_BIN_COMMIT=abc1234 bash bench/cluster.sh   # a prebuilt binary
#
# The binary must be built with `--features distributed`. Zones are generated under
# /var/tmp/huiqi-bench/cluster-<N>/ (the generated files and the snapshot reused when there);
# a summary goes to /var/tmp/huiqi-bench/cluster-<timestamp>.tsv.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/huiqi-target}"
ROOT="${BENCH_ROOT:-/var/tmp/huiqi-bench}"
SIZES="${SIZES:-1000000}"
CHUNK="${CHUNK:-100000}"
WHOLE_MAX="${WHOLE_MAX:-2000000}"
POLICY="${POLICY:-$REPO/policies/ningbo}"
PERIOD="${PERIOD:-2023}"
CORES="$(nproc)"

[[ -x /usr/bin/time ]] || { echo "cluster.sh: /usr/bin/time (GNU time) is required" >&2; exit 2; }
mkdir -p "$ROOT/bin"
if [[ -n "${HUIQI_BIN:-}" ]]; then
  cp -f "$HUIQI_BIN" "$ROOT/bin/huiqi-cluster"
  COMMIT="${HUIQI_BIN_COMMIT:-$HUIQI_BIN}"
else
  echo "== build (release, --features distributed) → $CARGO_TARGET_DIR" >&2
  (cd "$REPO" && cargo build --release -p huiqi-cli --features distributed)
  cp -f "$CARGO_TARGET_DIR/release/huiqi" "$ROOT/bin/huiqi-cluster"
  COMMIT="$(cd "$REPO" && git rev-parse --short HEAD)"
fi
BIN="$ROOT/bin/huiqi-cluster"
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"
now() { date +%s.%N; }
secs() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$2"; }
rss_mb() { awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2 / 1024}' "$1"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 600); do (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
hwm_mb() { awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$1/status" 2>/dev/null || echo "?"; }

PIDS=()
stop_cluster() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; PIDS=(); }
trap stop_cluster EXIT

# start_cluster DIR EXECUTORS THREADS: a scheduler and EXECUTORS executors of THREADS each.
start_cluster() {
  local d=$1 n=$2 threads=$3 sport port grpc
  sport=$(free_port)
  "$BIN" cluster scheduler --bind "127.0.0.1:$sport" 2>"$d/scheduler.log" &
  PIDS+=($!)
  wait_port "$sport"
  EXEC_PIDS=()
  for i in $(seq "$n"); do
    port=$(free_port); grpc=$(free_port)
    mkdir -p "$d/executor-$i"
    "$BIN" cluster executor --scheduler "127.0.0.1:$sport" --port "$port" --grpc-port "$grpc" \
      --slots 1 --threads "$threads" --work-dir "$d/executor-$i" 2>"$d/executor-$i.log" &
    PIDS+=($!); EXEC_PIDS+=($!)
    wait_port "$port"
  done
  URL="df://127.0.0.1:$sport"
}

STAMP="$(date +%Y%m%d-%H%M%S)"
TSV="$ROOT/cluster-$STAMP.tsv"
printf 'firms\tsetup\twall_s\tclient_rss_mb\texecutor_rss_mb\tsame_bytes\tload\n' >"$TSV"

for N in $SIZES; do
  D="$ROOT/cluster-$N"
  mkdir -p "$D"
  snap=$(find "$D/snapshots" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | head -1 || true)
  if [[ -z "$snap" ]]; then
    rm -rf "$D/snapshots"
    if [[ ! -f "$D/gen/mapping.toml" ]]; then
      echo "== $N firms: generate → $D/gen" >&2
      rm -rf "$D/gen"
      "$BIN" --lang en gen --firms "$N" --years 2019..2023 --seed 42 --out "$D/gen" >"$D/gen.log"
    fi
    echo "== $N firms: ingest → $D/snapshots" >&2
    /usr/bin/time -v -o "$D/ingest.time" "$BIN" --lang en ingest --policy "$POLICY" \
      --mapping "$D/gen/mapping.toml" --snapshots "$D/snapshots" >"$D/ingest.log"
    echo "   ingest: $(awk -F': ' '/Elapsed/ {print $2}' "$D/ingest.time") wall, $(rss_mb "$D/ingest.time") MB peak" >&2
    snap=$(find "$D/snapshots" -mindepth 1 -maxdepth 1 -type d | head -1)
  fi
  sync
  runs=()
  # A whole run holds every firm's columns at once: past WHOLE_MAX firms only chunked runs.
  (( N <= WHOLE_MAX )) && runs+=("one machine, whole|")
  runs+=(
    "one machine, --chunk-firms $CHUNK|--chunk-firms $CHUNK"
    "cluster, 1 executor × $CORES threads|--cluster URL --chunk-firms $CHUNK|1|$CORES"
    "cluster, 2 executors × $((CORES / 2 > 0 ? CORES / 2 : 1)) threads|--cluster URL --chunk-firms $CHUNK|2|$((CORES / 2 > 0 ? CORES / 2 : 1))"
  )
  for r in "${runs[@]}"; do
    IFS='|' read -r name args execs threads <<<"$r"
    out="$D/out"
    rm -rf "$out"
    erss="-"
    if [[ -n "${execs:-}" ]]; then
      start_cluster "$D" "$execs" "$threads"
      args="${args/URL/$URL}"
    fi
    wait_idle
    load=idle; busy && load=busy
    t0=$(now)
    # shellcheck disable=SC2086
    HUIQI_TIMINGS=1 /usr/bin/time -v -o "$D/run.time" "$BIN" --lang en run --policy "$POLICY" --snapshot "$snap" \
      --period "$PERIOD" --out "$out" --no-xlsx $args >"$D/run.log" 2>"$D/run.err" || {
      echo "cluster.sh: run failed ($name):" >&2; cat "$D/run.err" >&2; exit 1; }
    t1=$(now)
    busy && load=busy
    if [[ -n "${execs:-}" ]]; then
      erss=""
      for p in "${EXEC_PIDS[@]}"; do erss="${erss:+$erss+}$(hwm_mb "$p")"; done
      stop_cluster
      grep '^cluster:' "$D/run.err" >&2 || true
    fi
    if [[ ! -d "$D/base" ]]; then
      mv "$out" "$D/base"; same="(base)"
    else
      same=yes
      for f in results.parquet results.csv manifest.json; do cmp -s "$D/base/$f" "$out/$f" || same=NO; done
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$N" "$name" "$(secs "$t0" "$t1")" "$(rss_mb "$D/run.time")" "$erss" "$same" "$load" >>"$TSV"
    [[ "$same" == NO ]] && { echo "cluster.sh: $name gave different bytes" >&2; exit 1; }
  done
  rm -rf "$D/base" "$D/out"
done

echo
echo "huiqi on a cluster — $(date '+%Y-%m-%d %H:%M') — $CORES cores — commit $COMMIT — pack $(basename "$POLICY"), period $PERIOD, chunks of $CHUNK firms"
column -t -s $'\t' "$TSV"
echo "(executor RSS: each executor's peak; load = busy: another cargo/rustc was running; $TSV)"
