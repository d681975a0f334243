//! Loads the parts of a snapshot a plan needs into memory, keyed by a dense firm index `fi`
//! (the firm's row in `firms.parquet`), and does the per-firm lookups there: a fact at year
//! offset k and the dense firm × earlier-year panel are gathers (`take`) along the sorted yearly
//! table — a merge join on (firm, year) in O(rows) — instead of hash joins on the 18-character
//! credit code. Everything after this (conditions, amounts, history and event aggregates) is a
//! DataFusion plan over these batches, grouped and joined on the Int32 `fi`.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Int32Array, RecordBatch, RecordBatchReader, StringArray, UInt32Array,
};
use datafusion::arrow::compute::{cast, concat_batches, take};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::parquet::arrow::arrow_reader::{
    ParquetRecordBatchReaderBuilder, RowSelection, RowSelector,
};
use datafusion::parquet::arrow::ProjectionMask;

use huiqi_files::snapshot::{self, col as scol};

use crate::compile::{col_name_yearly, Compiler};

use crate::error::Error;

type R<T> = crate::error::Result<T>;

fn e<T, E: std::fmt::Display>(r: Result<T, E>) -> R<T> {
    r.map_err(Error::engine)
}

/// What the plan reads, already aligned to firms.
#[derive(Clone)]
pub struct Loaded {
    /// Credit codes; position = `fi`.
    pub firm_ids: StringArray,
    /// Whether `firm_ids` is in credit-code order (always, for a snapshot `huiqi ingest` wrote).
    pub sorted: bool,
    /// One row per firm: `fi`, statics `s{f}`, yearly facts at offsets `y{f}_{o}`.
    pub base: RecordBatch,
    /// One row per firm and earlier year from the firm's first year with data: `fi`, `year`,
    /// statics `s{f}`, yearly facts `p{f}_{k}` at `year − k`. None: no history operators, or no
    /// earlier year anywhere.
    pub panel: Option<RecordBatch>,
    /// Whole tables with `fi` in front, when the plan reads them.
    pub events: Option<RecordBatch>,
    pub monthly: Option<RecordBatch>,
    pub awards: Option<RecordBatch>,
}

/// Reads `columns` of a snapshot table (all of them when None) into one batch. The columns are
/// split over the cores (balanced by their compressed size), each part decoding its columns
/// over all row groups into one array each: no concatenation copies them afterwards. (Split by
/// row groups, every loaded column was copied once more to join the parts: at 1M firms, a
/// sixth of the run's page faults.)
pub(crate) fn read(
    dir: &Path,
    table: &str,
    columns: Option<&[String]>,
    rows: Option<&Range<usize>>,
) -> R<RecordBatch> {
    let path = dir.join(snapshot::table_file(table));
    let open = || -> R<ParquetRecordBatchReaderBuilder<File>> {
        let f = File::open(&path).map_err(|x| {
            Error::snapshot(
                format!("{}：{x}", path.display()),
                format!("{}: {x}", path.display()),
            )
        })?;
        e(ParquetRecordBatchReaderBuilder::try_new(f))
    };
    let b = open()?;
    let schema = b.schema().clone();
    let mut idx: Vec<usize> = match columns {
        None => (0..schema.fields().len()).collect(),
        Some(cols) => cols
            .iter()
            .map(|c| {
                schema.index_of(c).map_err(|_| {
                    Error::snapshot(
                        format!(
                            "{}：没有列 {c}（快照是为这套政策导入的吗？）",
                            path.display()
                        ),
                        format!(
                            "{}: no column {c} (was the snapshot ingested for this policy?)",
                            path.display()
                        ),
                    )
                })
            })
            .collect::<R<_>>()?,
    };
    idx.sort_unstable();
    idx.dedup();
    let all = b.metadata().file_metadata().num_rows() as usize;
    let rows_wanted = rows.map_or(all, |r| r.len());
    // A row range is read through a selection: the pages outside it are skipped.
    let selection = rows.map(|r| {
        RowSelection::from(vec![
            RowSelector::skip(r.start),
            RowSelector::select(r.len()),
            RowSelector::skip(all.saturating_sub(r.end)),
        ])
    });
    // Compressed bytes of each root column (its leaves, over every row group).
    let descr = b.parquet_schema();
    let mut size = vec![0i64; schema.fields().len()];
    for rg in b.metadata().row_groups() {
        for (leaf, c) in rg.columns().iter().enumerate() {
            size[descr.get_column_root_idx(leaf)] += c.compressed_size();
        }
    }
    let parts = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(1, idx.len().max(1));
    // Largest first, each to the lightest part so far.
    let mut by_size = idx.clone();
    by_size.sort_by_key(|&c| std::cmp::Reverse(size[c]));
    let mut groups: Vec<(i64, Vec<usize>)> = vec![(0, vec![]); parts];
    for c in by_size {
        // `parts` ≥ 1: there is always a lightest part.
        if let Some(g) = groups.iter_mut().min_by_key(|g| g.0) {
            g.0 += size[c];
            g.1.push(c);
        }
    }
    let decode = |b: ParquetRecordBatchReaderBuilder<File>, cols: &[usize]| -> R<RecordBatch> {
        let mask = ProjectionMask::roots(b.parquet_schema(), cols.iter().copied());
        // One batch of every row: the reader decodes straight into it.
        let mut b = b.with_projection(mask).with_batch_size(rows_wanted.max(1));
        if let Some(sel) = &selection {
            b = b.with_row_selection(sel.clone());
        }
        let reader = e(b.build())?;
        let sch = reader.schema();
        let batches: Vec<RecordBatch> = e(reader.collect::<Result<_, _>>())?;
        let mut batches = batches;
        match batches.pop() {
            Some(b) if batches.is_empty() => Ok(b),
            Some(b) => {
                batches.push(b);
                e(concat_batches(&sch, &batches))
            }
            None => e(concat_batches(&sch, &batches)),
        }
    };
    let groups: Vec<Vec<usize>> = groups
        .into_iter()
        .map(|g| g.1)
        .filter(|g| !g.is_empty())
        .collect();
    if groups.len() <= 1 {
        return decode(b, &idx);
    }
    let parts: Vec<RecordBatch> = std::thread::scope(|s| {
        let hs: Vec<_> = groups
            .iter()
            .map(|cols| s.spawn(|| decode(open()?, cols)))
            .collect();
        hs.into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("Parquet reader panicked".into()))
            })
            .collect::<R<Vec<_>>>()
    })?;
    // The columns back in file order, as one projection of them all would give them.
    let mut cols: Vec<(usize, Arc<Field>, ArrayRef)> = vec![];
    for (part, g) in parts.iter().zip(&groups) {
        let mut g = g.clone();
        g.sort_unstable();
        for (k, &c) in g.iter().enumerate() {
            cols.push((
                c,
                part.schema().field(k).clone().into(),
                part.column(k).clone(),
            ));
        }
    }
    cols.sort_by_key(|c| c.0);
    let (fields, arrays): (Vec<_>, Vec<_>) = cols.into_iter().map(|(_, f, a)| (f, a)).unzip();
    e(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays))
}

fn utf8(a: &ArrayRef) -> R<StringArray> {
    let a = e(cast(a, &DataType::Utf8))?;
    Ok(a.as_string::<i32>().clone())
}

/// A firm listed twice in `firms`.
fn twice(id: &str) -> Error {
    Error::snapshot(
        format!("企业 {id} 在 firms 中出现两次"),
        format!("firm {id} appears twice in firms"),
    )
}

/// A column that is not the Int32 the snapshot layout says.
fn not_int32(what: &str) -> Error {
    Error::snapshot(format!("{what} 不是 Int32"), format!("{what} is not Int32"))
}

fn col<'a>(b: &'a RecordBatch, name: &str) -> R<&'a ArrayRef> {
    b.column_by_name(name)
        .ok_or_else(|| Error::snapshot(format!("缺少列 {name}"), format!("missing column {name}")))
}

/// Finds each row's firm. Snapshots are sorted by credit code (docs/SNAPSHOT.md), so this is a
/// merge of two sorted lists; a table out of order (a hand-made snapshot) falls back to a hash map.
struct FirmIndex<'a> {
    ids: &'a StringArray,
    sorted: bool,
    map: std::cell::OnceCell<HashMap<&'a str, u32>>,
}

impl<'a> FirmIndex<'a> {
    fn new(ids: &'a StringArray) -> R<FirmIndex<'a>> {
        let mut sorted = true;
        for i in 1..ids.len() {
            match ids.value(i - 1).cmp(ids.value(i)) {
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Equal => return Err(twice(ids.value(i))),
                std::cmp::Ordering::Greater => sorted = false,
            }
        }
        let fx = FirmIndex {
            ids,
            sorted,
            map: Default::default(),
        };
        if !sorted && fx.hashed().len() != ids.len() {
            let mut seen = std::collections::HashSet::new();
            let id = (0..ids.len())
                .map(|i| ids.value(i))
                .find(|id| !seen.insert(*id))
                .unwrap_or_default();
            return Err(twice(id));
        }
        Ok(fx)
    }

    fn hashed(&self) -> &HashMap<&'a str, u32> {
        self.map.get_or_init(|| {
            (0..self.ids.len())
                .map(|i| (self.ids.value(i), i as u32))
                .collect()
        })
    }

    /// `fi` of every row of a table.
    fn rows(&self, col: &StringArray, table: &str) -> R<Vec<u32>> {
        let missing = |id: &str| {
            Error::snapshot(
                format!("{table} 中的企业 {id} 不在 firms 中"),
                format!("{table} names firm {id}, not in firms"),
            )
        };
        if self.sorted {
            let mut out = Vec::with_capacity(col.len());
            let (mut j, n) = (0usize, self.ids.len());
            let mut ok = true;
            for i in 0..col.len() {
                let id = col.value(i);
                if i > 0 && col.value(i - 1) > id {
                    ok = false; // not sorted: use the map
                    break;
                }
                while j < n && self.ids.value(j) < id {
                    j += 1;
                }
                if j == n || self.ids.value(j) != id {
                    return Err(missing(id));
                }
                out.push(j as u32);
            }
            if ok {
                return Ok(out);
            }
        }
        let map = self.hashed();
        let mut out = Vec::with_capacity(col.len());
        let mut last: Option<(&str, u32)> = None;
        for i in 0..col.len() {
            let id = col.value(i);
            let fi = match last {
                Some((l, fi)) if l == id => fi,
                _ => *map.get(id).ok_or_else(|| missing(id))?,
            };
            last = Some((id, fi));
            out.push(fi);
        }
        Ok(out)
    }
}

/// Puts `fi` in front of a table's columns.
fn with_fi(b: &RecordBatch, fi: Vec<u32>) -> R<RecordBatch> {
    let mut fields = vec![Field::new("fi", DataType::Int32, false)];
    let mut cols: Vec<ArrayRef> = vec![Arc::new(Int32Array::from_iter_values(
        fi.into_iter().map(|x| x as i32),
    ))];
    for (f, c) in b.schema().fields().iter().zip(b.columns()) {
        if f.name() == scol::FIRM_ID {
            continue;
        }
        fields.push(f.as_ref().clone());
        cols.push(c.clone());
    }
    e(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols))
}

/// The yearly table sorted by (fi, year) with each firm's row range.
struct Yearly {
    batch: RecordBatch,
    years: Vec<i32>,
    /// Rows of firm fi: start[fi] .. start[fi + 1].
    start: Vec<u32>,
}

impl Yearly {
    fn new(batch: RecordBatch, fi: Vec<u32>, n: usize) -> R<Yearly> {
        let years: Vec<i32> = col(&batch, scol::YEAR)?
            .as_primitive_opt::<datafusion::arrow::datatypes::Int32Type>()
            .ok_or_else(|| not_int32("yearly.year"))?
            .values()
            .to_vec();
        let sorted = (1..fi.len()).all(|i| (fi[i - 1], years[i - 1]) <= (fi[i], years[i]));
        let (batch, fi, years) = if sorted {
            (batch, fi, years)
        } else {
            let mut order: Vec<u32> = (0..fi.len() as u32).collect();
            order.sort_by_key(|&i| (fi[i as usize], years[i as usize]));
            let idx = UInt32Array::from(order.clone());
            let cols = batch
                .columns()
                .iter()
                .map(|c| e(take(c.as_ref(), &idx, None)))
                .collect::<R<Vec<_>>>()?;
            (
                e(RecordBatch::try_new(batch.schema(), cols))?,
                order.iter().map(|&i| fi[i as usize]).collect(),
                order.iter().map(|&i| years[i as usize]).collect(),
            )
        };
        let mut start = vec![0u32; n + 1];
        for &f in &fi {
            start[f as usize + 1] += 1;
        }
        for i in 0..n {
            start[i + 1] += start[i];
        }
        Ok(Yearly {
            batch,
            years,
            start,
        })
    }

    fn row(&self, fi: usize, year: i32) -> Option<u32> {
        (self.start[fi]..self.start[fi + 1]).find(|&r| self.years[r as usize] == year)
    }

    fn first_year(&self, fi: usize) -> Option<i32> {
        let s = self.start[fi];
        (s < self.start[fi + 1]).then(|| self.years[s as usize])
    }
}

fn gather(a: &ArrayRef, idx: &UInt32Array) -> R<ArrayRef> {
    e(take(a.as_ref(), idx, None))
}

/// Every (column, rows) gather, split over the cores: each is an independent `take` of up to
/// millions of values.
fn gather_all(jobs: &[(&ArrayRef, &UInt32Array)]) -> R<Vec<ArrayRef>> {
    let parts = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(jobs.len());
    if parts <= 1 {
        return jobs.iter().map(|(a, i)| gather(a, i)).collect();
    }
    let done: Vec<Vec<(usize, ArrayRef)>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..parts)
            .map(|k| {
                s.spawn(move || {
                    (k..jobs.len())
                        .step_by(parts)
                        .map(|j| gather(jobs[j].0, jobs[j].1).map(|a| (j, a)))
                        .collect::<R<Vec<_>>>()
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("gather panicked".into())))
            .collect::<R<Vec<_>>>()
    })?;
    let mut out: Vec<Option<ArrayRef>> = vec![None; jobs.len()];
    for (j, a) in done.into_iter().flatten() {
        out[j] = Some(a);
    }
    out.into_iter()
        .map(|a| a.ok_or_else(|| Error::engine("gather: a column is missing")))
        .collect()
}

/// What a load reads and how it lays it out, as a text: two compilers with the same key load
/// the same columns into the same places, so one load serves both (a reform that only sets
/// parameters). Any difference — a fact's type, an offset — gives another key.
pub fn load_key(cm: &Compiler<'_>) -> String {
    let need = Needs::of(cm);
    let mut counts: Vec<&String> = need.counts.iter().collect();
    counts.sort();
    let facts: Vec<(&str, String, String)> =
        cm.p.facts
            .iter()
            .map(|f| {
                (
                    f.name.as_str(),
                    format!("{:?}", f.ty),
                    format!("{:?}", f.kind),
                )
            })
            .collect();
    format!(
        "{:?}|{:?}|{:?}|{:?}|{:?}|{}{}{}{}{}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{}",
        facts,
        need.statics,
        need.firm_cols,
        need.yearly_cols,
        need.event_cols,
        need.yearly,
        need.panel,
        need.events,
        need.monthly,
        need.awards,
        need.monthly_cols,
        counts,
        cm.target_yearly,
        cm.panel_yearly,
        cm.statics,
        cm.monthly_totals,
        cm.monthly_latest,
        cm.awards,
        cm.award_windows,
        cm.year
    )
}

/// Every firm of the snapshot.
pub fn load(dir: &Path, cm: &Compiler<'_>) -> R<Loaded> {
    load_rows(dir, cm, None)
}

/// A consecutive range of firms (`firms.parquet` rows) and the rows of every other table that
/// belong to them (each table is sorted by credit code, so they are consecutive too).
#[derive(Clone, Debug, PartialEq)]
pub struct Chunk {
    pub firms: Range<usize>,
    /// Rows of yearly, monthly, events and awards, in that order.
    pub tables: [Range<usize>; 4],
}

const CHUNKED: [&str; 4] = [
    snapshot::YEARLY,
    snapshot::MONTHLY,
    snapshot::EVENTS,
    snapshot::AWARDS,
];

/// The credit codes of every firm of a snapshot, in the firms table's order (a chunk's firms
/// are a range of it).
fn firm_ids(dir: &Path) -> R<StringArray> {
    utf8(col(
        &read(dir, snapshot::FIRMS, Some(&[scol::FIRM_ID.into()]), None)?,
        scol::FIRM_ID,
    )?)
}

/// A snapshot cut into chunks, with the credit codes the cut was made from.
pub struct Cut {
    pub chunks: Vec<Chunk>,
    /// Every firm's credit code, in order (the chunks' firm ranges index it).
    pub firm_ids: StringArray,
}

/// The snapshot cut into chunks of at most `size` firms, from the credit codes alone (each
/// table's `firm_id` column is read once). None when a table is not in credit-code order (a
/// hand-made snapshot): then only a whole load is possible.
pub fn chunks(dir: &Path, size: usize) -> R<Option<Cut>> {
    let ids = firm_ids(dir)?;
    let sorted = |a: &StringArray| (1..a.len()).all(|i| a.value(i - 1) <= a.value(i));
    if !sorted(&ids) || ids.is_empty() {
        return Ok(None);
    }
    // A firm twice would fall into two chunks, where neither load could see it.
    if let Some(i) = (1..ids.len()).find(|&i| ids.value(i - 1) == ids.value(i)) {
        return Err(twice(ids.value(i)));
    }
    let n = ids.len();
    let starts: Vec<usize> = (0..n).step_by(size.max(1)).collect();
    let mut cuts: Vec<Vec<usize>> = vec![];
    for t in CHUNKED {
        let a = utf8(col(
            &read(dir, t, Some(&[scol::FIRM_ID.into()]), None)?,
            scol::FIRM_ID,
        )?)?;
        if !sorted(&a) {
            return Ok(None);
        }
        // A chunk's rows start at the first row whose firm is not before the chunk's first firm.
        let first = |id: &str| -> usize {
            let (mut lo, mut hi) = (0, a.len());
            while lo < hi {
                let mid = (lo + hi) / 2;
                if a.value(mid) < id {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            lo
        };
        let mut c: Vec<usize> = starts.iter().map(|&f| first(ids.value(f))).collect();
        c.push(a.len());
        c[0] = 0; // rows before the first firm name no firm: the first chunk's load reports them
        cuts.push(c);
    }
    let chunks = starts
        .iter()
        .enumerate()
        .map(|(k, &f)| Chunk {
            firms: f..(f + size).min(n),
            tables: std::array::from_fn(|t| cuts[t][k]..cuts[t][k + 1]),
        })
        .collect();
    Ok(Some(Cut {
        chunks,
        firm_ids: ids,
    }))
}

/// Which tables and columns a plan reads.
struct Needs {
    /// (fact name, column alias `s{f}`) of the static facts read.
    statics: Vec<(String, String)>,
    firm_cols: Vec<String>,
    yearly_cols: Vec<String>,
    yearly: bool,
    panel: bool,
    events: bool,
    /// The events columns to read (None: all): named when record fields are read, so that a
    /// snapshot without one is refused by name.
    event_cols: Option<Vec<String>>,
    monthly: bool,
    /// The monthly columns to read (None: all); for the panel alone only the years matter.
    monthly_cols: Option<Vec<String>>,
    awards: bool,
    /// The count facts: stored as Int64, computed on as decimals like money and ratios (the
    /// plan's arithmetic and comparisons are typed once for every number).
    counts: std::collections::HashSet<String>,
}

impl Needs {
    fn of(cm: &Compiler<'_>) -> Needs {
        let p = cm.p;
        let statics: Vec<(String, String)> = cm
            .statics
            .iter()
            .map(|f| (p.facts[*f].name.clone(), format!("s{f}")))
            .collect();
        let yearly_facts: BTreeSet<usize> = cm
            .target_yearly
            .iter()
            .chain(cm.panel_yearly.iter())
            .map(|(f, _)| *f)
            .collect();
        let panel = !cm.hists.is_empty();
        let monthly_facts = !cm.monthly_totals.is_empty() || !cm.monthly_latest.is_empty();
        let mut firm_cols = vec![scol::FIRM_ID.to_string()];
        firm_cols.extend(statics.iter().map(|(n, _)| n.clone()));
        let mut yearly_cols = vec![scol::FIRM_ID.to_string(), scol::YEAR.to_string()];
        yearly_cols.extend(yearly_facts.iter().map(|f| p.facts[*f].name.clone()));
        Needs {
            statics,
            firm_cols,
            yearly_cols,
            yearly: !yearly_facts.is_empty() || panel,
            panel,
            events: !cm.events.is_empty(),
            event_cols: (!cm.event_fields.is_empty()).then(|| {
                [
                    scol::FIRM_ID,
                    scol::FACT,
                    scol::DATE,
                    scol::UNTIL,
                    scol::VALUE,
                ]
                .iter()
                .map(|c| c.to_string())
                .chain(cm.event_fields.iter().cloned())
                .collect()
            }),
            monthly: panel || monthly_facts,
            monthly_cols: (!monthly_facts)
                .then(|| vec![scol::FIRM_ID.to_string(), scol::YEAR.to_string()]),
            awards: cm.reads_awards(),
            counts: p
                .facts
                .iter()
                .filter(|f| f.ty == huiqi_ir::Ty::Count)
                .map(|f| f.name.clone())
                .collect(),
        }
    }
}

/// `b` with its count-fact columns cast from Int64 to the engine's decimal (exact: an i64
/// fits the decimal's 26 integer digits).
fn counts_as_decimals(
    b: RecordBatch,
    counts: &std::collections::HashSet<String>,
) -> R<RecordBatch> {
    let schema = b.schema();
    if !schema
        .fields()
        .iter()
        .any(|f| counts.contains(f.name()) && f.data_type() == &DataType::Int64)
    {
        return Ok(b);
    }
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut cols = Vec::with_capacity(schema.fields().len());
    for (f, a) in schema.fields().iter().zip(b.columns()) {
        if counts.contains(f.name()) && f.data_type() == &DataType::Int64 {
            // The snapshot's money and ratio type (docs/SNAPSHOT.md).
            let d = DataType::Decimal128(38, 12);
            cols.push(e(datafusion::arrow::compute::cast(a, &d))?);
            fields.push(Field::new(f.name(), d, true));
        } else {
            cols.push(a.clone());
            fields.push(f.as_ref().clone());
        }
    }
    e(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols))
}

/// The tables a plan reads, as read (before `fi` is attached).
struct Tables {
    firms: RecordBatch,
    yearly: Option<RecordBatch>,
    events: Option<RecordBatch>,
    monthly: Option<RecordBatch>,
    awards: Option<RecordBatch>,
}

/// Reads the tables a plan needs (the chunk's rows of each, when given): they are independent
/// files, decoded side by side.
fn read_tables(dir: &Path, need: &Needs, chunk: Option<&Chunk>) -> R<Tables> {
    // The chunk's rows of a table, by its position in `CHUNKED`.
    let rows = |k: usize| chunk.map(|c| &c.tables[k]);
    std::thread::scope(|s| {
        let yearly = s.spawn(|| {
            need.yearly
                .then(|| read(dir, CHUNKED[0], Some(&need.yearly_cols), rows(0)))
                .transpose()
        });
        let monthly = s.spawn(|| {
            need.monthly
                .then(|| read(dir, CHUNKED[1], need.monthly_cols.as_deref(), rows(1)))
                .transpose()
        });
        let events = s.spawn(|| {
            need.events
                .then(|| read(dir, CHUNKED[2], need.event_cols.as_deref(), rows(2)))
                .transpose()
        });
        let awards = s.spawn(|| {
            need.awards
                .then(|| read(dir, CHUNKED[3], None, rows(3)))
                .transpose()
        });
        let firms = read(
            dir,
            snapshot::FIRMS,
            Some(&need.firm_cols),
            chunk.map(|c| &c.firms),
        );
        let j = |h: std::thread::ScopedJoinHandle<'_, R<Option<RecordBatch>>>| {
            h.join()
                .map_err(|_| Error::engine("snapshot reader panicked"))?
        };
        let counts =
            |b: Option<RecordBatch>| b.map(|b| counts_as_decimals(b, &need.counts)).transpose();
        Ok::<_, Error>(Tables {
            firms: counts_as_decimals(firms?, &need.counts)?,
            yearly: counts(j(yearly)?)?,
            events: j(events)?,
            monthly: counts(j(monthly)?)?,
            awards: j(awards)?,
        })
    })
}

/// One row per firm: `fi`, the statics `s{f}` and the yearly facts at offsets `y{f}_{o}` (the
/// firm's row for year Y − o, or null).
fn base_batch(
    cm: &Compiler<'_>,
    statics: &[(String, String)],
    firms: &RecordBatch,
    yearly: Option<&Yearly>,
    n: usize,
) -> R<RecordBatch> {
    let (p, y) = (cm.p, cm.year);
    let mut fields = vec![Field::new("fi", DataType::Int32, false)];
    let mut cols: Vec<ArrayRef> = vec![Arc::new(Int32Array::from_iter_values(0..n as i32))];
    for (name, alias) in statics {
        let a = col(firms, name)?;
        fields.push(Field::new(alias, a.data_type().clone(), true));
        cols.push(a.clone());
    }
    if let Some(yr) = yearly {
        let offsets: BTreeSet<u32> = cm.target_yearly.iter().map(|(_, o)| *o).collect();
        let idx: Vec<(u32, UInt32Array)> = offsets
            .into_iter()
            .map(|o| (o, (0..n).map(|fi| yr.row(fi, y - o as i32)).collect()))
            .collect();
        let mut names = vec![];
        let mut jobs = vec![];
        for (o, rows) in &idx {
            for (f, _) in cm.target_yearly.iter().filter(|(_, oo)| oo == o) {
                names.push(col_name_yearly(*f, *o));
                jobs.push((col(&yr.batch, &p.facts[*f].name)?, rows));
            }
        }
        for (name, a) in names.into_iter().zip(gather_all(&jobs)?) {
            fields.push(Field::new(name, a.data_type().clone(), true));
            cols.push(a);
        }
    }
    e(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols))
}

/// The panel: every firm × every year from its first year with any data (yearly or monthly)
/// up to Y − 1, with the statics and the yearly facts `p{f}_{k}` at `year − k`. None when no
/// firm has an earlier year.
fn panel_batch(
    cm: &Compiler<'_>,
    statics: &[(String, String)],
    firms: &RecordBatch,
    yr: &Yearly,
    monthly: Option<&RecordBatch>,
    n: usize,
) -> R<Option<RecordBatch>> {
    let (p, y) = (cm.p, cm.year);
    let mut first: Vec<Option<i32>> = (0..n).map(|fi| yr.first_year(fi)).collect();
    if let Some(m) = monthly {
        let fis = m
            .column(0)
            .as_primitive_opt::<datafusion::arrow::datatypes::Int32Type>()
            .ok_or_else(|| not_int32("monthly fi"))?;
        let years = col(m, scol::YEAR)?
            .as_primitive_opt::<datafusion::arrow::datatypes::Int32Type>()
            .ok_or_else(|| not_int32("monthly.year"))?;
        for i in 0..m.num_rows() {
            let (f, yy) = (fis.value(i) as usize, years.value(i));
            first[f] = Some(first[f].map_or(yy, |x| x.min(yy)));
        }
    }
    let mut pfi: Vec<i32> = vec![];
    let mut pyear: Vec<i32> = vec![];
    for (fi, fy) in first.iter().enumerate() {
        if let Some(fy) = fy {
            for yy in *fy..y {
                pfi.push(fi as i32);
                pyear.push(yy);
            }
        }
    }
    if pfi.is_empty() {
        return Ok(None);
    }
    let mut fields = vec![
        Field::new("fi", DataType::Int32, false),
        Field::new(scol::YEAR, DataType::Int32, false),
    ];
    let fidx = UInt32Array::from_iter_values(pfi.iter().map(|&x| x as u32));
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(Int32Array::from(pfi.clone())),
        Arc::new(Int32Array::from(pyear.clone())),
    ];
    let ks: BTreeSet<u32> = cm.panel_yearly.iter().map(|(_, k)| *k).collect();
    let idx: Vec<(u32, UInt32Array)> = ks
        .into_iter()
        .map(|k| {
            let rows = pfi
                .iter()
                .zip(&pyear)
                .map(|(&fi, &yy)| yr.row(fi as usize, yy - k as i32))
                .collect();
            (k, rows)
        })
        .collect();
    let mut names = vec![];
    let mut jobs = vec![];
    for (name, alias) in statics {
        names.push(alias.clone());
        jobs.push((col(firms, name)?, &fidx));
    }
    for (k, rows) in &idx {
        for (f, _) in cm.panel_yearly.iter().filter(|(_, kk)| kk == k) {
            names.push(format!("p{f}_{k}"));
            jobs.push((col(&yr.batch, &p.facts[*f].name)?, rows));
        }
    }
    for (name, a) in names.into_iter().zip(gather_all(&jobs)?) {
        fields.push(Field::new(name, a.data_type().clone(), true));
        cols.push(a);
    }
    Ok(Some(e(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        cols,
    ))?))
}

/// The firms of `chunk` (all firms when None), with `fi` counted from the chunk's first firm.
pub fn load_rows(dir: &Path, cm: &Compiler<'_>, chunk: Option<&Chunk>) -> R<Loaded> {
    let need = Needs::of(cm);
    let t = read_tables(dir, &need, chunk)?;
    let firm_ids = utf8(col(&t.firms, scol::FIRM_ID)?)?;
    let n = firm_ids.len();
    let index = FirmIndex::new(&firm_ids)?;
    // A table with `fi` in front of its columns.
    let keyed = |b: Option<RecordBatch>, table: &str| -> R<Option<RecordBatch>> {
        match b {
            Some(b) => {
                let fi = index.rows(&utf8(col(&b, scol::FIRM_ID)?)?, table)?;
                Ok(Some(with_fi(&b, fi)?))
            }
            None => Ok(None),
        }
    };
    let yearly = match t.yearly {
        Some(b) => {
            let fi = index.rows(&utf8(col(&b, scol::FIRM_ID)?)?, snapshot::YEARLY)?;
            Some(Yearly::new(b, fi, n)?)
        }
        None => None,
    };
    let base = base_batch(cm, &need.statics, &t.firms, yearly.as_ref(), n)?;
    let monthly = keyed(t.monthly, snapshot::MONTHLY)?;
    let panel = match (need.panel, &yearly) {
        (false, _) => None,
        (true, Some(yr)) => panel_batch(cm, &need.statics, &t.firms, yr, monthly.as_ref(), n)?,
        (true, None) => return Err("panel without yearly table".into()),
    };
    let events = keyed(t.events, snapshot::EVENTS)?;
    let awards = keyed(t.awards, snapshot::AWARDS)?;
    let sorted = index.sorted;
    drop(index);
    Ok(Loaded {
        firm_ids,
        sorted,
        base,
        panel,
        events,
        monthly,
        awards,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> StringArray {
        StringArray::from(v.to_vec())
    }

    #[test]
    fn firm_index_merges_sorted_and_hashes_unsorted() {
        let firms = ids(&["A", "B", "C"]);
        let fx = FirmIndex::new(&firms).unwrap();
        assert!(fx.sorted);
        assert_eq!(
            fx.rows(&ids(&["A", "A", "C", "C"]), "yearly").unwrap(),
            vec![0, 0, 2, 2]
        );
        // A table out of order falls back to the map and still finds every firm.
        assert_eq!(
            fx.rows(&ids(&["C", "A", "B", "A"]), "events").unwrap(),
            vec![2, 0, 1, 0]
        );
        let e = fx
            .rows(&ids(&["A", "Z"]), "events")
            .unwrap_err()
            .to_string();
        assert!(e.contains("events names firm Z"), "{e}");
        let e = fx
            .rows(&ids(&["Z", "A"]), "events")
            .unwrap_err()
            .to_string();
        assert!(e.contains("firm Z"), "{e}");

        // Firms out of order: the map from the start.
        let firms = ids(&["C", "A", "B"]);
        let fx = FirmIndex::new(&firms).unwrap();
        assert!(!fx.sorted);
        assert_eq!(
            fx.rows(&ids(&["A", "B", "C"]), "yearly").unwrap(),
            vec![1, 2, 0]
        );
    }

    #[test]
    fn a_firm_twice_is_an_error() {
        assert!(FirmIndex::new(&ids(&["A", "A"])).is_err());
        assert!(FirmIndex::new(&ids(&["B", "A", "B"])).is_err());
    }

    #[test]
    fn yearly_rows_are_found_by_firm_and_year_in_any_order() {
        let schema = Arc::new(Schema::new(vec![
            Field::new(scol::YEAR, DataType::Int32, false),
            Field::new("v", DataType::Int32, false),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int32Array::from(vec![2022, 2021, 2023, 2021])),
                Arc::new(Int32Array::from(vec![10, 11, 12, 13])),
            ],
        )
        .unwrap();
        // Rows: (firm 1, 2022), (firm 0, 2021), (firm 1, 2023), (firm 1, 2021) — not sorted.
        let y = Yearly::new(batch, vec![1, 0, 1, 1], 3).unwrap();
        let v = |r: Option<u32>| {
            r.map(|r| {
                y.batch
                    .column(1)
                    .as_primitive::<datafusion::arrow::datatypes::Int32Type>()
                    .value(r as usize)
            })
        };
        assert_eq!(v(y.row(1, 2021)), Some(13));
        assert_eq!(v(y.row(1, 2022)), Some(10));
        assert_eq!(v(y.row(1, 2023)), Some(12));
        assert_eq!(v(y.row(0, 2021)), Some(11));
        assert_eq!(y.row(0, 2022), None);
        assert_eq!(y.row(2, 2021), None);
        assert_eq!(y.first_year(1), Some(2021));
        assert_eq!(y.first_year(2), None);
    }
}
