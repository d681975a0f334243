//! Result rows straight from the collected batches when every batch holds a run of consecutive
//! firms (the usual case: a sorted snapshot's firm table, split into contiguous partitions).
//! The rows are written once, into the final columns, instead of being scattered into per-slot
//! columns first and gathered again.

use datafusion::arrow::array::{Array, BooleanArray, Int32Array, Int64Array};
use datafusion::arrow::buffer::BooleanBuffer;
use datafusion::arrow::record_batch::RecordBatch;

use crate::{allocate, column, Results};

/// One batch whose rows are the firms `f0 .. f0 + len`, its slot columns borrowed.
pub(crate) struct Run<'a> {
    f0: usize,
    len: usize,
    amount: Vec<&'a [i64]>,
    reason: Vec<&'a [i32]>,
    /// Per slot: which rows are present; None when all are.
    present: Vec<Option<BooleanBuffer>>,
    /// Result rows this batch gives.
    rows: usize,
}

fn typed<'a, T: 'static>(b: &'a RecordBatch, name: &str) -> Result<&'a T, String> {
    column(b, name)?
        .as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| format!("engine: column {name} has an unexpected type"))
}

/// The batches as runs tiling the firms `0 .. n` in order, or None when some batch is not a
/// run or the runs do not tile (the caller then scatters, which reports a missing or repeated
/// firm).
pub(crate) fn runs(
    batches: &[RecordBatch],
    n: usize,
    slots: usize,
) -> Result<Option<Vec<Run<'_>>>, String> {
    let mut runs = Vec::with_capacity(batches.len());
    for b in batches {
        let fi = typed::<Int32Array>(b, "fi")?.values();
        let Some(&f0) = fi.first() else { continue };
        let f0 = f0 as usize;
        if fi.iter().enumerate().any(|(j, &f)| f as usize != f0 + j) {
            return Ok(None);
        }
        let mut run = Run {
            f0,
            len: fi.len(),
            amount: Vec::with_capacity(slots),
            reason: Vec::with_capacity(slots),
            present: Vec::with_capacity(slots),
            rows: 0,
        };
        for s in 0..slots {
            run.amount
                .push(typed::<Int64Array>(b, &allocate::amount_col(s))?.values());
            run.reason
                .push(typed::<Int32Array>(b, &allocate::reason_col(s))?.values());
            let p = typed::<BooleanArray>(b, &allocate::present_col(s))?;
            // Present means true and not null.
            let p = match p.nulls() {
                Some(v) => p.values() & v.inner(),
                None => p.values().clone(),
            };
            let count = p.count_set_bits();
            run.rows += count;
            run.present.push((count < p.len()).then_some(p));
        }
        runs.push(run);
    }
    runs.sort_by_key(|r| r.f0);
    let mut next = 0;
    for r in &runs {
        if r.f0 != next {
            return Ok(None);
        }
        next += r.len;
    }
    Ok((next == n).then_some(runs))
}

/// Fills `res`'s row columns from the runs, firm by firm and in `by_clause` slot order within
/// a firm. The runs are split over the cores by their row counts; each part fills its own range.
pub(crate) fn fill(runs: &[Run], by_clause: &[usize], res: &mut Results) {
    let total: usize = runs.iter().map(|r| r.rows).sum();
    let parts = std::thread::available_parallelism()
        .map_or(1, |p| p.get())
        .min(total.div_ceil(1 << 16).max(1));
    // Consecutive runs per part, cut where the rows so far pass k / parts of the total.
    let mut cuts = vec![0];
    let mut sum = 0;
    for (i, r) in runs.iter().enumerate() {
        sum += r.rows;
        if cuts.len() < parts && sum * parts >= total * cuts.len() {
            cuts.push(i + 1);
        }
    }
    cuts.push(runs.len());
    res.firm = vec![0; total];
    res.slot = vec![0; total];
    res.amount_fen = vec![0; total];
    res.reason = vec![0; total];
    std::thread::scope(|sc| {
        let (mut firm, mut slot, mut amt, mut why) = (
            &mut res.firm[..],
            &mut res.slot[..],
            &mut res.amount_fen[..],
            &mut res.reason[..],
        );
        for w in cuts.windows(2) {
            let part = &runs[w[0]..w[1]];
            let c: usize = part.iter().map(|r| r.rows).sum();
            let (f, rest) = std::mem::take(&mut firm).split_at_mut(c);
            firm = rest;
            let (sl, rest) = std::mem::take(&mut slot).split_at_mut(c);
            slot = rest;
            let (a, rest) = std::mem::take(&mut amt).split_at_mut(c);
            amt = rest;
            let (r, rest) = std::mem::take(&mut why).split_at_mut(c);
            why = rest;
            sc.spawn(move || {
                let mut i = 0;
                for run in part {
                    for j in 0..run.len {
                        for &s in by_clause {
                            if run.present[s].as_ref().is_some_and(|p| !p.value(j)) {
                                continue;
                            }
                            f[i] = (run.f0 + j) as u32;
                            sl[i] = s as u32;
                            a[i] = run.amount[s][j];
                            r[i] = run.reason[s][j] as u32;
                            i += 1;
                        }
                    }
                }
            });
        }
    });
}
