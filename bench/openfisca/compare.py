#!/usr/bin/env python3
"""One clause, two engines: bench/simple's 营收分档奖励 computed by OpenFisca and compared with huiqi.

The clause (bench/simple/policy.hq): revenue in [1000万, 5000万) → 10万, [5000万, 2亿) → 30万,
≥ 2亿 → 0.2% of revenue rounded to the 分, capped at 50万; below 1000万 or missing → 0.

This script
  1. loads the firms and their revenue for the period from a huiqi snapshot (firms.parquet,
     yearly.parquet) with pyarrow — not timed;
  2. converts the Decimal128(38, 12) revenue to float, because an OpenFisca `float` variable
     stores float32 (missing revenue → OpenFisca's default value 0);
  3. builds a minimal OpenFisca TaxBenefitSystem (a Firm entity, `revenue`, `tiered_award`
     vectorised with numpy select/where/round/min as an OpenFisca formula would be written) and
     times `simulation.calculate("tiered_award", period)` on a fresh simulation, best of --repeat;
  4. reads huiqi's results (results.parquet, manifest.json, timings.json of `huiqi run`) and
     compares per-firm amounts and totals; an independent exact integer-分 computation in numpy
     (int64) is used as a third opinion.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from importlib.metadata import version as pkg_version

from openfisca_core.simulations import SimulationBuilder

sys.path.insert(0, str(Path(__file__).resolve().parent))
from huiqi_bench_country import WAN, tax_benefit_system  # noqa: E402  (the model, shared with the Web API)


# ---------------------------------------------------------------- data
def decimal_to_fen(col):
    """Exact 分 (int64) of a Decimal128(38, 12) column in 元 whose values have ≤ 2 decimals."""
    d2 = pc.cast(col, pa.decimal128(38, 2))  # safe cast: raises if a value had more decimals
    d2 = d2.combine_chunks() if isinstance(d2, pa.ChunkedArray) else d2
    raw = np.frombuffer(d2.buffers()[1], dtype=np.int64)[2 * d2.offset : 2 * (d2.offset + len(d2))]
    lo, hi = raw[0::2].copy(), raw[1::2]
    assert np.all((hi == 0) | (hi == -1)), "a revenue beyond int64 分"
    valid = ~np.asarray(d2.is_null().to_numpy(zero_copy_only=False))
    return lo, valid


def load(snapshot: Path, period: int):
    firms = pq.read_table(snapshot / "firms.parquet", columns=["firm_id"])
    ids = firms["firm_id"].combine_chunks()
    y = pq.read_table(snapshot / "yearly.parquet", columns=["firm_id", "year", "营业收入"])
    y = y.filter(pc.equal(y["year"], period))
    # Both files are sorted by firm_id (docs/SNAPSHOT.md): place each row by its firm's index.
    pos = pc.index_in(y["firm_id"], value_set=ids).to_numpy(zero_copy_only=False)
    assert not np.any(pos < 0)
    fen_y, valid_y = decimal_to_fen(y["营业收入"])
    as_f64 = pc.cast(y["营业收入"], pa.float64()).to_numpy(zero_copy_only=False)
    n = len(ids)
    fen = np.zeros(n, dtype=np.int64)
    present = np.zeros(n, dtype=bool)
    yuan = np.zeros(n, dtype=np.float64)  # missing → OpenFisca's default value 0
    fen[pos[valid_y]] = fen_y[valid_y]
    present[pos[valid_y]] = True
    yuan[pos[valid_y]] = as_f64[valid_y]
    return ids, fen, present, yuan


def exact_award_fen(fen, present):
    """The clause in integer 分: an independent reference (not huiqi's code)."""
    a = np.zeros_like(fen)
    a = np.where((fen >= 1000 * WAN * 100) & (fen < 5000 * WAN * 100), 10 * WAN * 100, a)
    a = np.where((fen >= 5000 * WAN * 100) & (fen < 20000 * WAN * 100), 30 * WAN * 100, a)
    # r 分 × 0.2% = 2r/1000 分, rounded half up to the 分 (r ≥ 0 here)
    top = (2 * fen + 500) // 1000
    a = np.where(fen >= 20000 * WAN * 100, top, a)
    a = np.minimum(a, 50 * WAN * 100)
    return np.where(present, a, 0)


def huiqi_results(out: Path, ids):
    t = pq.read_table(out / "results.parquet", columns=["firm_id", "clause", "amount_fen"])
    clauses = sorted(set(t["clause"].to_pylist())) if t.num_rows <= 10 else pc.unique(t["clause"]).to_pylist()
    g = t.group_by("firm_id").aggregate([("amount_fen", "sum")])
    pos = pc.index_in(g["firm_id"], value_set=ids).to_numpy(zero_copy_only=False)
    per_firm = np.zeros(len(ids), dtype=np.int64)
    per_firm[pos] = g["amount_fen_sum"].to_numpy()
    manifest = json.loads((out / "manifest.json").read_text())
    timings = json.loads((out / "timings.json").read_text())
    return per_firm, manifest, timings, clauses, t.num_rows


def yuan(fen: int) -> str:
    s = "-" if fen < 0 else ""
    fen = abs(int(fen))
    return f"{s}{fen // 100:,}.{fen % 100:02d}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--snapshot", type=Path, required=True)
    ap.add_argument("--huiqi-out", type=Path, required=True, help="the --out directory of `huiqi run --policy bench/simple`")
    ap.add_argument("--huiqi-wall", type=float, nargs="*", default=[], help="wall-clock seconds of the `huiqi run` processes")
    ap.add_argument("--huiqi-engine", type=float, nargs="*", default=[], help="engine seconds (timings.json) of the same runs")
    ap.add_argument("--huiqi-compute", type=float, nargs="*", default=[], help="compute seconds without the snapshot read (plan + execute + results), one per `huiqi run --repeat` computation")
    ap.add_argument("--period", type=int, default=2023)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    a = ap.parse_args()

    t0 = time.perf_counter()
    ids, fen, present, rev64 = load(a.snapshot, a.period)
    load_s = time.perf_counter() - t0
    n = len(ids)
    rev32 = rev64.astype(np.float32)

    tbs = tax_benefit_system()
    times, setup = [], []
    award = None
    for _ in range(a.repeat):
        s0 = time.perf_counter()
        sim = SimulationBuilder().build_default_simulation(tbs, count=n)
        sim.set_input("revenue", str(a.period), rev64)  # OpenFisca casts to the variable's dtype
        setup.append(time.perf_counter() - s0)
        c0 = time.perf_counter()
        award = sim.calculate("tiered_award", str(a.period))
        times.append(time.perf_counter() - c0)
    stored = sim.get_array("revenue", str(a.period))
    assert stored.dtype == np.float32 and award.dtype == np.float32, (stored.dtype, award.dtype)

    exact = exact_award_fen(fen, present)
    hq, manifest, timings, clauses, hq_rows = huiqi_results(a.huiqi_out, ids)

    of_total32 = award.sum()  # what `calculate(...).sum()` returns: a float32
    of_total64 = award.astype(np.float64).sum()  # the float32 amounts, summed in float64
    hq_total = int(manifest["total_fen"])
    exact_total = int(exact.sum())
    of_fen = np.round(award.astype(np.float64) * 100).astype(np.int64)  # OpenFisca's amounts read back to the 分
    diff_firms = int(np.count_nonzero(of_fen != hq))
    max_diff = int(np.max(np.abs(of_fen - hq))) if n else 0
    rev_err = np.abs(rev32.astype(np.float64) * 100 - fen.astype(np.float64))
    engine_ms = timings.get("load_ms", 0) + timings["plan_ms"] + timings["execute_ms"] + timings["results_ms"]
    compute_ms = timings["plan_ms"] + timings["execute_ms"] + timings["results_ms"]
    best = min(times)
    hq_engine = min(a.huiqi_engine) if a.huiqi_engine else engine_ms / 1000
    hq_wall = min(a.huiqi_wall) if a.huiqi_wall else None
    hq_compute = min(a.huiqi_compute) if a.huiqi_compute else compute_ms / 1000

    print(f"One clause (bench/simple 营收分档奖励), {n:,} firms, period {a.period}; {sum(present):,} with revenue that year.")
    print(f"OpenFisca-Core {pkg_version('OpenFisca-Core')}, numpy {np.__version__}, pyarrow {pa.__version__}; huiqi {manifest['engine']['version']} ({manifest['engine']['columnar']}).")
    print()
    of_e2e = load_s + min(setup) + best
    print("Time")
    print(f"  OpenFisca calculate()           best {best * 1000:8.1f} ms  median {statistics.median(times) * 1000:7.1f} ms  (of {a.repeat}; loading excluded; numpy, 1 core)")
    print(f"  OpenFisca load + set_input           {(load_s + min(setup)) * 1000:8.1f} ms  (pyarrow read of the snapshot, Decimal128 → float, simulation build)")
    print(f"  huiqi engine (timings.json)     best {hq_engine * 1000:8.1f} ms  (load {timings.get('load_ms', 0)} + plan {timings['plan_ms']} + execute {timings['execute_ms']} + results {timings['results_ms']} ms in the last run;")
    print(f"                                                  load = reading and decoding the Parquet snapshot; DataFusion, 2 cores)")
    print(f"  huiqi compute (columns in memory) best {hq_compute * 1000:6.1f} ms  median {statistics.median(a.huiqi_compute or [hq_compute]) * 1000:6.1f} ms  (plan + execute + results, `run --repeat`: what calculate() does)")
    if hq_wall is not None:
        print(f"  huiqi run, whole process        best {hq_wall * 1000:8.1f} ms  (start, pack load + check, engine, writing results.parquet/csv; no xlsx)")
    print(f"  ratio huiqi compute / OpenFisca calculate()           = {hq_compute / best:6.1f}×  (like for like: inputs in memory)")
    print(f"  ratio huiqi engine / OpenFisca calculate()            = {hq_engine / best:6.1f}×")
    if hq_wall is not None:
        print(f"  ratio huiqi run wall / OpenFisca calculate()          = {hq_wall / best:6.1f}×")
    print(f"  ratio huiqi engine / OpenFisca load+set_input+calc.   = {hq_engine / of_e2e:6.2f}×  (both starting from the same Parquet file)")
    print()
    print("Money (元)")
    print(f"  huiqi total (exact, integer 分)      {yuan(hq_total):>22}   from {hq_rows:,} result rows ({', '.join(clauses)})")
    print(f"  exact reference (numpy int64 分)     {yuan(exact_total):>22}   {'= huiqi' if exact_total == hq_total else 'DIFFERS from huiqi'}")
    print(f"  OpenFisca float32 sum                {float(of_total32):>22,.2f}   difference {float(of_total32) - hq_total / 100:+,.2f}")
    print(f"  OpenFisca float32 amounts, f64 sum   {of_total64:>22,.2f}   difference {of_total64 - hq_total / 100:+,.2f}")
    print(f"  per firm: {diff_firms:,} of {n:,} OpenFisca amounts differ from huiqi's at the 分 (max {yuan(max_diff)} 元);")
    print(f"            huiqi vs exact reference: {int(np.count_nonzero(hq != exact)):,} firms differ")
    print(f"  OpenFisca stores money as float32: revenue lost up to {rev_err.max() / 100:,.2f} 元 on the way in (float32 has 24 bits of mantissa).")

    # The test firms of bench/simple/policy.hq (huiqi passes them: `huiqi test bench/simple`).
    cases = [(1000 * WAN * 100, 10 * WAN * 100), (4999999999, 10 * WAN * 100), (5000 * WAN * 100, 30 * WAN * 100),
             (999999999, 0), (23456789123, 46913578), (20000000249, 40000000), (25000 * WAN * 100, 50 * WAN * 100),
             (300000 * WAN * 100, 50 * WAN * 100)]
    sim = SimulationBuilder().build_default_simulation(tbs, count=len(cases))
    sim.set_input("revenue", str(a.period), np.array([r / 100 for r, _ in cases]))
    got = sim.calculate("tiered_award", str(a.period))
    print()
    print("The test firms of bench/simple/policy.hq through the OpenFisca model (huiqi passes all of them):")
    wrong_cases = 0
    for (r, want), g in zip(cases, got):
        g_fen = int(round(float(g) * 100))
        ok = g_fen == want
        wrong_cases += not ok
        print(f"  revenue {yuan(r):>18}  expected {yuan(want):>12}  OpenFisca {float(g):>14,.2f}  {'ok' if ok else 'WRONG'}")

    figures = {
        "firms": n, "period": a.period, "firms_with_revenue": int(present.sum()),
        "openfisca_calculate_ms": [t * 1000 for t in times], "openfisca_best_ms": best * 1000,
        "openfisca_load_ms": load_s * 1000, "openfisca_setup_ms": min(setup) * 1000,
        "huiqi_engine_ms_best": hq_engine * 1000, "huiqi_wall_ms_best": hq_wall * 1000 if hq_wall else None,
        "huiqi_engine_ms_all": [x * 1000 for x in a.huiqi_engine], "huiqi_wall_ms_all": [x * 1000 for x in a.huiqi_wall],
        "ratio_engine": hq_engine / best, "huiqi_compute_ms_best": hq_compute * 1000, "ratio_compute": hq_compute / best, "openfisca_load_setup_calc_ms": of_e2e * 1000, "ratio_engine_vs_openfisca_e2e": hq_engine / of_e2e, "huiqi_timings_last": timings, "ratio_wall": hq_wall / best if hq_wall else None,
        "huiqi_total_fen": hq_total, "exact_total_fen": exact_total,
        "openfisca_total_float32": float(of_total32), "openfisca_total_f64_of_float32": float(of_total64),
        "firms_differing_fen": diff_firms, "max_diff_fen": max_diff, "huiqi_vs_exact_differing": int(np.count_nonzero(hq != exact)),
        "max_revenue_error_yuan": float(rev_err.max() / 100), "test_firms_wrong_in_openfisca": wrong_cases,
    }
    if a.json:
        a.json.write_text(json.dumps(figures, ensure_ascii=False, indent=2) + "\n")
    return 0 if exact_total == hq_total else 1


if __name__ == "__main__":
    sys.exit(main())
