//! The result rows, written once into `Results`' columns straight from the collected batches:
//! firm by firm (credit-code order), and in clause-then-tranche slot order within a firm.
//!
//! When every batch holds a run of consecutive firms (a sorted snapshot's firm table split into
//! contiguous partitions) the runs are copied on every core (`runs`, `fill`). Otherwise (batches
//! after a join, an unsorted snapshot) each firm's first row is found from per-firm row counts
//! and every batch writes its rows there (`scatter`): no per-slot columns in firm order are
//! built first.

use datafusion::arrow::array::{
    Array, BooleanArray, Int32Array, Int64Array, StringArray, UInt32Array,
};
use datafusion::arrow::buffer::BooleanBuffer;
use datafusion::arrow::compute::take;
use datafusion::arrow::record_batch::RecordBatch;

use crate::allocate;
use crate::error::Error;
use crate::exec::column;
use crate::results::{credit_order, Results};

type R<T> = crate::error::Result<T>;

/// One batch's slot columns, borrowed: per slot the amount (分), the reason code and which rows
/// are present.
struct SlotColumns<'a> {
    amount: Vec<&'a [i64]>,
    reason: Vec<&'a [i32]>,
    /// Stand-alone amounts (`allocate::standalone_col`), when the run keeps them; else empty.
    standalone: Vec<&'a [i64]>,
    /// None when every row is present.
    present: Vec<Option<BooleanBuffer>>,
    /// Present rows over all slots: the result rows this batch gives.
    present_rows: usize,
}

impl<'a> SlotColumns<'a> {
    fn of(b: &'a RecordBatch, slots: usize) -> R<Self> {
        let mut c = SlotColumns {
            amount: Vec::with_capacity(slots),
            reason: Vec::with_capacity(slots),
            standalone: vec![],
            present: Vec::with_capacity(slots),
            present_rows: 0,
        };
        let keeps = b
            .schema()
            .column_with_name(&allocate::standalone_col(0))
            .is_some();
        for s in 0..slots {
            if keeps {
                c.standalone
                    .push(typed::<Int64Array>(b, &allocate::standalone_col(s))?.values());
            }
            c.amount
                .push(typed::<Int64Array>(b, &allocate::amount_col(s))?.values());
            c.reason
                .push(typed::<Int32Array>(b, &allocate::reason_col(s))?.values());
            let p = typed::<BooleanArray>(b, &allocate::present_col(s))?;
            // Present means true and not null.
            let p = match p.nulls() {
                Some(v) => p.values() & v.inner(),
                None => p.values().clone(),
            };
            let count = p.count_set_bits();
            c.present_rows += count;
            c.present.push((count < p.len()).then_some(p));
        }
        Ok(c)
    }

    #[inline(always)]
    fn present(&self, s: usize, j: usize) -> bool {
        self.present[s].as_ref().is_none_or(|p| p.value(j))
    }
}

/// One batch whose rows are the firms `f0 .. f0 + len`.
pub(crate) struct Run<'a> {
    f0: usize,
    len: usize,
    cols: SlotColumns<'a>,
}

fn typed<'a, T: 'static>(b: &'a RecordBatch, name: &str) -> R<&'a T> {
    column(b, name)?
        .as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| Error::engine(format!("column {name} has an unexpected type")))
}

/// The batches as runs tiling the firms `0 .. n` in order, or None when some batch is not a
/// run or the runs do not tile (the caller then scatters, which reports a missing or repeated
/// firm).
pub(crate) fn runs(batches: &[RecordBatch], n: usize, slots: usize) -> R<Option<Vec<Run<'_>>>> {
    let mut runs = Vec::with_capacity(batches.len());
    for b in batches {
        let fi = typed::<Int32Array>(b, "fi")?.values();
        let Some(&f0) = fi.first() else { continue };
        // A negative index is no run (the scatter reports it).
        let Ok(f0) = usize::try_from(f0) else {
            return Ok(None);
        };
        // Every row checked (an OR of differences, which vectorises; `any` stops per row).
        let off = fi
            .iter()
            .zip(f0 as i64..)
            .fold(0, |acc, (&f, k)| acc | (f as i64 ^ k));
        if off != 0 {
            return Ok(None);
        }
        runs.push(Run {
            f0,
            len: fi.len(),
            cols: SlotColumns::of(b, slots)?,
        });
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

/// One result column from the runs, firm by firm and in `by_clause` slot order within a firm:
/// `cell(run, s, j)` gives slot s's value for the run's firm j. Built by appending, so the
/// column is written once (a zeroed column filled in place is written twice).
/// `whole(run, s, out)` appends slot s's values for every firm of the run (the one-slot case,
/// where a column is a straight copy).
fn result_column<T: Copy>(
    runs: &[Run],
    by_clause: &[usize],
    total: usize,
    cell: impl Fn(&Run, usize, usize) -> T,
    whole: impl Fn(&Run, usize, &mut Vec<T>),
) -> Vec<T> {
    let mut out = Vec::with_capacity(total);
    for run in runs {
        if by_clause.len() == 1 {
            // One slot (a single-clause pack): a straight copy of its present rows.
            let s = by_clause[0];
            match &run.cols.present[s] {
                None => whole(run, s, &mut out),
                Some(p) => out.extend(p.set_indices().map(|j| cell(run, s, j))),
            }
        } else if run.cols.present.iter().all(Option::is_none) {
            // Every slot present: no test per row.
            out.extend(
                (0..run.len)
                    .flat_map(|j| by_clause.iter().map(move |&s| (s, j)))
                    .map(|(s, j)| cell(run, s, j)),
            );
        } else {
            for j in 0..run.len {
                for &s in by_clause {
                    if run.cols.present(s, j) {
                        out.push(cell(run, s, j));
                    }
                }
            }
        }
    }
    out
}

/// Fills `res`'s row columns from the runs, firm by firm and in `by_clause` slot order within
/// a firm: the firm and slot columns on one core, the amounts and reasons on another.
pub(crate) fn fill(runs: &[Run], by_clause: &[usize], res: &mut Results) {
    let total: usize = runs.iter().map(|r| r.cols.present_rows).sum();
    let keeps = runs.iter().all(|r| !r.cols.standalone.is_empty());
    let ((firm, slot), (amount, reason, standalone)) = std::thread::scope(|sc| {
        let ids = sc.spawn(|| {
            (
                result_column(
                    runs,
                    by_clause,
                    total,
                    |r, _, j| (r.f0 + j) as u32,
                    |r, _, out| out.extend(r.f0 as u32..(r.f0 + r.len) as u32),
                ),
                result_column(
                    runs,
                    by_clause,
                    total,
                    |_, s, _| s as u32,
                    |r, s, out| out.resize(out.len() + r.len, s as u32),
                ),
            )
        });
        let values = (
            result_column(
                runs,
                by_clause,
                total,
                |r, s, j| r.cols.amount[s][j],
                |r, s, out| out.extend_from_slice(r.cols.amount[s]),
            ),
            result_column(
                runs,
                by_clause,
                total,
                |r, s, j| r.cols.reason[s][j] as u32,
                |r, s, out| out.extend(r.cols.reason[s].iter().map(|&x| x as u32)),
            ),
            match keeps && !runs.is_empty() {
                true => result_column(
                    runs,
                    by_clause,
                    total,
                    |r, s, j| r.cols.standalone[s][j],
                    |r, s, out| out.extend_from_slice(r.cols.standalone[s]),
                ),
                false => vec![],
            },
        );
        // The other thread's panic, if any, goes on here.
        let ids = ids.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        (ids, values)
    });
    (res.firm, res.slot, res.amount_fen, res.reason) = (firm, slot, amount, reason);
    res.standalone_fen = standalone;
}

/// Fills `res`'s row columns from batches in any order (each firm exactly once over all of
/// them) and returns the firm ids in credit-code order. A firm's rows start after the rows of
/// every firm before it in that order, so a count per firm and a prefix sum place every
/// batch's rows.
pub(crate) fn scatter(
    batches: &[RecordBatch],
    firm_ids: StringArray,
    sorted: bool,
    slots: usize,
    by_clause: &[usize],
    res: &mut Results,
) -> R<StringArray> {
    let n = firm_ids.len();
    // rank[fi]: the firm's position in credit-code order.
    let (rank, firm_ids): (Vec<u32>, StringArray) = if sorted {
        ((0..n as u32).collect(), firm_ids)
    } else {
        let order = credit_order(&firm_ids);
        let mut rank = vec![0u32; n];
        for (r, &f) in order.iter().enumerate() {
            rank[f] = r as u32;
        }
        let idx = UInt32Array::from_iter_values(order.iter().map(|&i| i as u32));
        let ids = take(&firm_ids, &idx, None).map_err(Error::engine)?;
        let ids = ids
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or("firm ids")?
            .clone();
        (rank, ids)
    };
    let mut parts = Vec::with_capacity(batches.len());
    // Rows per firm, by rank; then each firm's first row.
    let mut start = vec![0u32; n + 1];
    let mut seen = vec![false; n];
    for b in batches {
        let fi = typed::<Int32Array>(b, "fi")?.values();
        let cols = SlotColumns::of(b, slots)?;
        for (j, &f) in fi.iter().enumerate() {
            let f = usize::try_from(f).ok().filter(|&f| f < n);
            let Some(f) = f.filter(|&f| !std::mem::replace(&mut seen[f], true)) else {
                return Err(Error::engine(format!(
                    "firm index {} out of range or repeated",
                    fi[j]
                )));
            };
            start[rank[f] as usize + 1] = (0..slots).filter(|&s| cols.present(s, j)).count() as u32;
        }
        parts.push((fi, cols));
    }
    if let Some(f) = seen.iter().position(|s| !s) {
        return Err(Error::engine(format!(
            "no result for firm {}",
            firm_ids.value(rank[f] as usize)
        )));
    }
    for i in 0..n {
        start[i + 1] += start[i];
    }
    let total = start[n] as usize;
    res.firm = vec![0; total];
    res.slot = vec![0; total];
    res.amount_fen = vec![0; total];
    res.reason = vec![0; total];
    let keeps = parts.iter().all(|(_, c)| !c.standalone.is_empty()) && !parts.is_empty();
    res.standalone_fen = if keeps { vec![0; total] } else { vec![] };
    for (fi, cols) in &parts {
        for (j, &f) in fi.iter().enumerate() {
            let r = rank[f as usize];
            let mut i = start[r as usize] as usize;
            for &s in by_clause {
                if !cols.present(s, j) {
                    continue;
                }
                res.firm[i] = r;
                res.slot[i] = s as u32;
                res.amount_fen[i] = cols.amount[s][j];
                res.reason[i] = cols.reason[s][j] as u32;
                if keeps {
                    res.standalone_fen[i] = cols.standalone[s][j];
                }
                i += 1;
            }
        }
    }
    Ok(firm_ids)
}
