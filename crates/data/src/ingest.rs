//! `ingest`: read every source of a mapping, validate every cell, and write an immutable snapshot
//! (docs/SNAPSHOT.md) — all or nothing.
//!
//! Sources are read into compact columns (money as integer 分, keys packed into a `u64`), sorted,
//! checked for duplicates, then merged per (firm, year[, month]) while the Parquet files are
//! written into a temporary directory that is renamed to the hash only when everything succeeded.

use std::path::{Path, PathBuf};

use huiqi_ir::{ClauseBody, PeriodKind, Program, Ty};
use sha2::{Digest, Sha256};

use crate::dates::{from_days, to_days};
use crate::error::{DataError, Errors, IngestReport, Reason};
use crate::mapping::{self, EventFact, FactCol, FileRef, PeriodPlan, Plan};
use crate::parse;
use crate::schema;
use crate::snapshot::{Manifest, Rows, SourceInfo};
use crate::source::{self, Cell};
use crate::write::Table;

/// What `ingest` wrote (or found already written).
#[derive(Clone, Debug)]
pub struct SnapshotInfo {
    /// Full SHA-256 (hex); the directory is named by its first 16 digits.
    pub hash: String,
    pub dir: PathBuf,
    pub rows: Rows,
    /// The snapshot already existed (same data) and was reused.
    pub reused: bool,
}

const NULL: i64 = i64::MIN;
const NULL128: i128 = i128::MIN;
/// 分 → Decimal128 at scale 12 (元 with 12 places).
const FEN_TO_DEC: i128 = 10_000_000_000;

#[derive(Clone, Copy, PartialEq)]
enum Val {
    Null,
    I64(i64),
    I128(i128),
}

/// One fact's values for the rows of a source: money in 分, counts, bools 0/1, dates as days,
/// enum variants by index — all `i64` — and ratios at scale 12.
enum Vals {
    I64(Vec<i64>),
    I128(Vec<i128>),
}

impl Vals {
    fn for_type(t: Ty) -> Vals {
        match t {
            Ty::Ratio => Vals::I128(vec![]),
            _ => Vals::I64(vec![]),
        }
    }
    fn push(&mut self, v: Val) {
        match (self, v) {
            (Vals::I64(x), Val::I64(v)) => x.push(v),
            (Vals::I64(x), _) => x.push(NULL),
            (Vals::I128(x), Val::I128(v)) => x.push(v),
            (Vals::I128(x), _) => x.push(NULL128),
        }
    }
    fn get(&self, i: usize) -> Val {
        match self {
            Vals::I64(x) if x[i] == NULL => Val::Null,
            Vals::I64(x) => Val::I64(x[i]),
            Vals::I128(x) if x[i] == NULL128 => Val::Null,
            Vals::I128(x) => Val::I128(x[i]),
        }
    }
    fn permute(&self, perm: &[u32]) -> Vals {
        match self {
            Vals::I64(x) => Vals::I64(perm.iter().map(|&i| x[i as usize]).collect()),
            Vals::I128(x) => Vals::I128(perm.iter().map(|&i| x[i as usize]).collect()),
        }
    }
}

fn parse_fact(p: &Program, fc: &FactCol, c: &Cell) -> Result<Val, Reason> {
    let o = |v: Option<i64>| v.map_or(Val::Null, Val::I64);
    Ok(match p.facts[fc.fact].ty {
        Ty::Money => o(parse::money(c, fc.unit)?),
        Ty::Count => o(parse::count(c)?),
        Ty::Ratio => parse::ratio(c)?.map_or(Val::Null, Val::I128),
        Ty::Bool => o(parse::boolean(c, &fc.bools)?.map(i64::from)),
        Ty::Date => o(parse::date(c)?.map(|d| to_days(d) as i64)),
        Ty::Enum(e) => {
            let en = &p.enums[e];
            o(parse::variant(c, &en.name, &en.variants)?.map(i64::from))
        }
        Ty::Text => Val::Null,
    })
}

fn err(file: &FileRef, row: u64, col: &str, r: Reason) -> DataError {
    DataError::new(&file.shown, r.zh, r.en).at(row).col(col)
}

/// The firm register, sorted by credit code once read.
struct Firms {
    ids: Vec<[u8; 18]>,
    names: String,
    name_ends: Vec<usize>,
    /// Static facts, one per mapped column.
    facts: Vec<Vals>,
}

impl Firms {
    fn find(&self, id: &[u8; 18]) -> Option<u32> {
        self.ids.binary_search(id).ok().map(|i| i as u32)
    }
    fn id(&self, i: usize) -> &str {
        std::str::from_utf8(&self.ids[i]).expect("credit codes are ASCII")
    }
    fn name(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.name_ends[i - 1] };
        &self.names[start..self.name_ends[i]]
    }
}

/// Rows of one yearly or monthly source.
struct PeriodRows {
    /// firm << 32 | year << 4 | month.
    keys: Vec<u64>,
    rows: Vec<u32>,
    facts: Vec<Vals>,
}

fn pack(firm: u32, year: i32, month: u32) -> u64 {
    (firm as u64) << 32 | (year as u64) << 4 | month as u64
}

fn key_firm(k: u64) -> usize {
    (k >> 32) as usize
}

fn key_year(k: u64) -> i32 {
    ((k >> 4) & 0x0FFF_FFFF) as i32
}

fn key_month(k: u64) -> i32 {
    (k & 0xF) as i32
}

struct Event {
    firm: u32,
    fact: u32,
    date: i32,
    until: i32,
    value: u32,
    row: u32,
    src: u16,
}
const NO_DATE: i32 = i32::MIN;
const NO_VALUE: u32 = u32::MAX;

struct AwardRow {
    firm: u32,
    clause: u32,
    period: i32,
    tranche: String,
    fen: i64,
    row: u32,
    src: u16,
}

/// Ranks of names in byte order: the snapshot sorts `fact`, `value` and `clause` as strings.
fn ranks(names: &[&str]) -> Vec<u32> {
    let mut order: Vec<usize> = (0..names.len()).collect();
    order.sort_by_key(|&i| names[i]);
    let mut r = vec![0; names.len()];
    for (k, i) in order.into_iter().enumerate() {
        r[i] = k as u32;
    }
    r
}

/// Reads, validates and snapshots the data a mapping describes. On any problem nothing is
/// written and the report lists up to `max_errors` of them.
pub fn ingest(
    mapping_path: &Path,
    program: &Program,
    snapshots_dir: &Path,
    max_errors: usize,
) -> Result<SnapshotInfo, IngestReport> {
    let plan = mapping::load(mapping_path, program).map_err(|es| {
        let mut e = Errors::new(max_errors);
        es.into_iter().for_each(|x| e.push(x));
        e.into_report()
    })?;
    let mut errs = Errors::new(max_errors);
    let mut sources = vec![];
    let firms = read_firms(&plan, program, &mut errs, &mut sources);
    let Some(firms) = firms else {
        return Err(errs.into_report());
    };
    let yearly: Vec<_> = plan
        .yearly
        .iter()
        .map(|s| read_period(s, program, &firms, &mut errs, &mut sources))
        .collect();
    let monthly: Vec<_> = plan
        .monthly
        .iter()
        .map(|s| read_period(s, program, &firms, &mut errs, &mut sources))
        .collect();
    let events = read_events(&plan, program, &firms, &mut errs, &mut sources);
    let awards = read_awards(&plan, program, &firms, &mut errs, &mut sources);
    if !errs.is_empty() {
        return Err(errs.into_report());
    }
    let mut source_info = vec![];
    for (f, rows) in sources {
        match source::sha256_file(&f.path) {
            Ok(sha256) => source_info.push(SourceInfo {
                file: f.name.clone(),
                sha256,
                rows,
            }),
            Err(e) => errs.push(DataError::new(
                &f.shown,
                format!("读取失败：{e}"),
                format!("read error: {e}"),
            )),
        }
    }
    if !errs.is_empty() {
        return Err(errs.into_report());
    }
    let data = Data {
        program,
        plan: &plan,
        firms,
        yearly,
        monthly,
        events,
        awards,
    };
    data.write(snapshots_dir, source_info)
        .map_err(|e| IngestReport {
            errors: vec![DataError::new(
                snapshots_dir.display().to_string(),
                format!("写入快照失败：{e}"),
                format!("writing the snapshot failed: {e}"),
            )],
            truncated: false,
        })
}

fn read_firms(
    plan: &Plan,
    p: &Program,
    errs: &mut Errors,
    sources: &mut Vec<(FileRef, u64)>,
) -> Option<Firms> {
    let s = &plan.firms;
    let mut cols: Vec<&str> = vec![&s.id, &s.name];
    cols.extend(s.facts.iter().map(|f| f.column.as_str()));
    let mut ids = vec![];
    let mut names = String::new();
    let mut name_ends = vec![];
    let mut rows = vec![];
    let mut facts: Vec<Vals> = s
        .facts
        .iter()
        .map(|f| Vals::for_type(p.facts[f.fact].ty))
        .collect();
    let file = &s.file;
    let n = source::scan(file, &cols, errs, &mut |errs, row, cells| {
        let id = match parse::uscc(&cells[0]) {
            Ok(id) => id,
            Err(r) => return errs.push(err(file, row, &s.id, r)),
        };
        let mut buf = String::new();
        match parse::text(&cells[1], &mut buf) {
            Ok(Some(n)) => names.push_str(n),
            Ok(None) => errs.push(err(
                file,
                row,
                &s.name,
                Reason {
                    zh: "企业名称为空".into(),
                    en: "the firm name is empty".into(),
                },
            )),
            Err(r) => errs.push(err(file, row, &s.name, r)),
        }
        name_ends.push(names.len());
        ids.push(id);
        rows.push(row as u32);
        for (k, fc) in s.facts.iter().enumerate() {
            let v = parse_fact(p, fc, &cells[2 + k]).unwrap_or_else(|r| {
                errs.push(err(file, row, &fc.column, r));
                Val::Null
            });
            facts[k].push(v);
        }
    })?;
    sources.push((file.clone(), n));
    if n == 0 {
        errs.push(DataError::new(
            &file.shown,
            "企业名录没有数据行",
            "the firm register has no data rows",
        ));
        return None;
    }
    let mut perm: Vec<u32> = (0..ids.len() as u32).collect();
    perm.sort_unstable_by_key(|&i| (ids[i as usize], rows[i as usize]));
    for w in perm.windows(2) {
        let (a, b) = (w[0] as usize, w[1] as usize);
        if ids[a] == ids[b] {
            let code = std::str::from_utf8(&ids[a]).unwrap_or("");
            errs.push(
                DataError::new(
                    &file.shown,
                    format!("统一社会信用代码 `{code}` 重复（与第{}行相同）", rows[a]),
                    format!("duplicate credit code `{code}` (same as row {})", rows[a]),
                )
                .at(rows[b] as u64)
                .col(&s.id),
            );
        }
    }
    let mut sorted = Firms {
        ids: perm.iter().map(|&i| ids[i as usize]).collect(),
        names: String::with_capacity(names.len()),
        name_ends: Vec::with_capacity(ids.len()),
        facts: facts.iter().map(|v| v.permute(&perm)).collect(),
    };
    let unsorted = Firms {
        ids: vec![],
        names,
        name_ends,
        facts: vec![],
    };
    for &i in &perm {
        sorted.names.push_str(unsorted.name(i as usize));
        sorted.name_ends.push(sorted.names.len());
    }
    Some(sorted)
}

fn unknown_firm(file: &FileRef, row: u64, col: &str, id: &[u8; 18]) -> DataError {
    let code = std::str::from_utf8(id).unwrap_or("");
    DataError::new(
        &file.shown,
        format!("企业名录中没有统一社会信用代码为 `{code}` 的企业"),
        format!("unknown firm: `{code}` is not in the firm register"),
    )
    .at(row)
    .col(col)
}

fn read_period(
    s: &PeriodPlan,
    p: &Program,
    firms: &Firms,
    errs: &mut Errors,
    sources: &mut Vec<(FileRef, u64)>,
) -> PeriodRows {
    let mut cols: Vec<&str> = vec![&s.id, &s.year];
    if let Some(m) = &s.month {
        cols.push(m);
    }
    let base = cols.len();
    cols.extend(s.facts.iter().map(|f| f.column.as_str()));
    let mut out = PeriodRows {
        keys: vec![],
        rows: vec![],
        facts: s
            .facts
            .iter()
            .map(|f| Vals::for_type(p.facts[f.fact].ty))
            .collect(),
    };
    let file = &s.file;
    let n = source::scan(file, &cols, errs, &mut |errs, row, cells| {
        let firm = match parse::uscc(&cells[0]) {
            Ok(id) => match firms.find(&id) {
                Some(f) => Some(f),
                None => {
                    errs.push(unknown_firm(file, row, &s.id, &id));
                    None
                }
            },
            Err(r) => {
                errs.push(err(file, row, &s.id, r));
                None
            }
        };
        let year = parse::year(&cells[1]).map_err(|r| errs.push(err(file, row, &s.year, r)));
        let month = match &s.month {
            Some(m) => parse::month(&cells[2]).map_err(|r| errs.push(err(file, row, m, r))),
            None => Ok(0),
        };
        let vals: Vec<Val> = s
            .facts
            .iter()
            .enumerate()
            .map(|(k, fc)| {
                parse_fact(p, fc, &cells[base + k]).unwrap_or_else(|r| {
                    errs.push(err(file, row, &fc.column, r));
                    Val::Null
                })
            })
            .collect();
        if let (Some(f), Ok(y), Ok(m)) = (firm, year, month) {
            out.keys.push(pack(f, y, m));
            out.rows.push(row as u32);
            for (k, v) in vals.into_iter().enumerate() {
                out.facts[k].push(v);
            }
        }
    });
    if let Some(n) = n {
        sources.push((file.clone(), n));
    }
    // Sort by key (then source row, so duplicate reports are stable) and reject duplicates.
    let mut perm: Vec<u32> = (0..out.keys.len() as u32).collect();
    perm.sort_unstable_by_key(|&i| (out.keys[i as usize], out.rows[i as usize]));
    for w in perm.windows(2) {
        let (a, b) = (w[0] as usize, w[1] as usize);
        if out.keys[a] == out.keys[b] {
            let k = out.keys[a];
            let period = match &s.month {
                Some(_) => format!("{}-{:02}", key_year(k), key_month(k)),
                None => format!("{}", key_year(k)),
            };
            let code = firms.id(key_firm(k));
            errs.push(
                DataError::new(
                    &file.shown,
                    format!(
                        "企业 `{code}` 的 {period} 数据重复（与第{}行相同）",
                        out.rows[a]
                    ),
                    format!(
                        "duplicate row for firm `{code}`, period {period} (same as row {})",
                        out.rows[a]
                    ),
                )
                .at(out.rows[b] as u64)
                .col(s.month.as_deref().unwrap_or(&s.year)),
            );
        }
    }
    PeriodRows {
        keys: perm.iter().map(|&i| out.keys[i as usize]).collect(),
        rows: vec![],
        facts: out.facts.iter().map(|v| v.permute(&perm)).collect(),
    }
}

fn read_events(
    plan: &Plan,
    p: &Program,
    firms: &Firms,
    errs: &mut Errors,
    sources: &mut Vec<(FileRef, u64)>,
) -> Vec<Event> {
    let mut out = vec![];
    for (si, s) in plan.events.iter().enumerate() {
        let mut cols: Vec<&str> = vec![&s.id, &s.date];
        if let EventFact::Column(c) = &s.fact {
            cols.push(c);
        }
        let until_at = s.until.as_ref().map(|u| {
            cols.push(u);
            cols.len() - 1
        });
        let value_at = s.value.as_ref().map(|v| {
            cols.push(v);
            cols.len() - 1
        });
        let file = &s.file;
        let event_facts: Vec<&str> = p
            .facts
            .iter()
            .filter(|f| f.kind == PeriodKind::Event)
            .map(|f| f.name.as_str())
            .collect();
        let n = source::scan(file, &cols, errs, &mut |errs, row, cells| {
            let firm = match parse::uscc(&cells[0]) {
                Ok(id) => firms.find(&id).or_else(|| {
                    errs.push(unknown_firm(file, row, &s.id, &id));
                    None
                }),
                Err(r) => {
                    errs.push(err(file, row, &s.id, r));
                    None
                }
            };
            let fact = match &s.fact {
                EventFact::Fixed(f) => Some(*f),
                EventFact::Column(c) => {
                    let mut buf = String::new();
                    let name = parse::text(&cells[2], &mut buf)
                        .ok()
                        .flatten()
                        .unwrap_or("");
                    match p.fact_by_name(name) {
                        Some(f) if p.facts[f].kind == PeriodKind::Event => Some(f),
                        _ => {
                            errs.push(
                                DataError::new(
                                    &file.shown,
                                    format!("`{name}` 不是政策包中的事件事实；事件事实有：{}", event_facts.join("、")),
                                    format!("`{name}` is not an event fact of the pack; the event facts are: {}", event_facts.join(", ")),
                                )
                                .at(row)
                                .col(c.as_str()),
                            );
                            None
                        }
                    }
                }
            };
            let date = match parse::date(&cells[1]) {
                Ok(Some(d)) => Some(d),
                Ok(None) => {
                    errs.push(err(
                        file,
                        row,
                        &s.date,
                        Reason {
                            zh: "日期为空".into(),
                            en: "the date is empty".into(),
                        },
                    ));
                    None
                }
                Err(r) => {
                    errs.push(err(file, row, &s.date, r));
                    None
                }
            };
            let until = match until_at {
                Some(k) => match parse::date(&cells[k]) {
                    Ok(u) => u,
                    Err(r) => {
                        errs.push(err(file, row, s.until.as_deref().unwrap_or(""), r));
                        None
                    }
                },
                None => None,
            };
            if let (Some(d), Some(u)) = (date, until) {
                if u < d {
                    errs.push(err(
                        file,
                        row,
                        s.until.as_deref().unwrap_or(""),
                        Reason {
                            zh: format!("有效期止 {u} 早于日期 {d}"),
                            en: format!("valid-until {u} is before the date {d}"),
                        },
                    ));
                }
            }
            let Some(fact) = fact else { return };
            let value = match (p.facts[fact].ty, value_at) {
                (Ty::Enum(e), Some(k)) => {
                    let en = &p.enums[e];
                    match parse::variant(&cells[k], &en.name, &en.variants) {
                        Ok(Some(v)) => Some(v),
                        Ok(None) => {
                            errs.push(err(
                                file,
                                row,
                                s.value.as_deref().unwrap_or(""),
                                Reason {
                                    zh: format!(
                                        "事件 `{}` 需要取值（{}），此处为空",
                                        p.facts[fact].name,
                                        en.variants.join("、")
                                    ),
                                    en: format!(
                                        "event `{}` needs a value ({}); the cell is empty",
                                        p.facts[fact].name,
                                        en.variants.join(", ")
                                    ),
                                },
                            ));
                            return;
                        }
                        Err(r) => {
                            errs.push(err(file, row, s.value.as_deref().unwrap_or(""), r));
                            return;
                        }
                    }
                }
                (Ty::Enum(_), None) => {
                    errs.push(
                        DataError::new(
                            &file.shown,
                            format!(
                                "事件 `{}` 需要取值，但映射文件没有给出 value 列",
                                p.facts[fact].name
                            ),
                            format!(
                                "event `{}` needs a value but the mapping gives no `value` column",
                                p.facts[fact].name
                            ),
                        )
                        .at(row),
                    );
                    return;
                }
                (_, Some(k)) if !cells[k].is_empty() => {
                    errs.push(err(
                        file,
                        row,
                        s.value.as_deref().unwrap_or(""),
                        Reason {
                            zh: format!("事件 `{}` 不带取值，此格应为空", p.facts[fact].name),
                            en: format!(
                                "event `{}` carries no value; this cell should be empty",
                                p.facts[fact].name
                            ),
                        },
                    ));
                    return;
                }
                _ => None,
            };
            if let (Some(firm), Some(date)) = (firm, date) {
                out.push(Event {
                    firm,
                    fact: fact as u32,
                    date: to_days(date),
                    until: until.map_or(NO_DATE, to_days),
                    value: value.unwrap_or(NO_VALUE),
                    row: row as u32,
                    src: si as u16,
                });
            }
        });
        if let Some(n) = n {
            sources.push((file.clone(), n));
        }
    }
    let fact_names: Vec<&str> = p.facts.iter().map(|f| f.name.as_str()).collect();
    let fact_rank = ranks(&fact_names);
    let value_rank: Vec<Vec<u32>> = p
        .facts
        .iter()
        .map(|f| match f.ty {
            Ty::Enum(e) => ranks(
                &p.enums[e]
                    .variants
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>(),
            ),
            _ => vec![],
        })
        .collect();
    let vrank = |e: &Event| {
        if e.value == NO_VALUE {
            0
        } else {
            1 + value_rank[e.fact as usize][e.value as usize]
        }
    };
    out.sort_unstable_by_key(|e| {
        (
            e.firm,
            fact_rank[e.fact as usize],
            e.date,
            vrank(e),
            e.src,
            e.row,
        )
    });
    for w in out.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        if (a.firm, a.fact, a.date, a.value) == (b.firm, b.fact, b.date, b.value) {
            let s = &plan.events[b.src as usize];
            let other = if a.src == b.src {
                format!("第{}行", a.row)
            } else {
                format!("{} 第{}行", plan.events[a.src as usize].file.shown, a.row)
            };
            let other_en = if a.src == b.src {
                format!("row {}", a.row)
            } else {
                format!("{} row {}", plan.events[a.src as usize].file.shown, a.row)
            };
            errs.push(
                DataError::new(
                    &s.file.shown,
                    format!(
                        "重复的事件记录：企业 `{}` 的 `{}` 在 {} 已有一条（{other}）",
                        firms.id(a.firm as usize),
                        p.facts[a.fact as usize].name,
                        from_days(a.date)
                    ),
                    format!(
                        "duplicate event: firm `{}` already has `{}` on {} ({other_en})",
                        firms.id(a.firm as usize),
                        p.facts[a.fact as usize].name,
                        from_days(a.date)
                    ),
                )
                .at(b.row as u64)
                .col(&s.date),
            );
        }
    }
    out
}

fn tranche_names(p: &Program, clause: usize) -> Vec<String> {
    match &p.clauses[clause].body {
        ClauseBody::Amount(_) => vec![String::new()],
        ClauseBody::Tranches(ts) => ts.iter().map(|t| t.name.clone()).collect(),
        ClauseBody::Schedule(s) => {
            let vs = match p.facts[s.fact].ty {
                Ty::Enum(e) => &p.enums[e].variants,
                _ => return vec![],
            };
            s.stages
                .iter()
                .map(|(v, _)| vs[*v as usize].clone())
                .collect()
        }
    }
}

fn read_awards(
    plan: &Plan,
    p: &Program,
    firms: &Firms,
    errs: &mut Errors,
    sources: &mut Vec<(FileRef, u64)>,
) -> Vec<AwardRow> {
    let mut out = vec![];
    let clause_names: Vec<&str> = p.clauses.iter().map(|c| c.name.as_str()).collect();
    for (si, s) in plan.awards.iter().enumerate() {
        let mut cols: Vec<&str> = vec![&s.id, &s.clause, &s.period, &s.amount];
        if let Some(t) = &s.tranche {
            cols.push(t);
        }
        let file = &s.file;
        let n = source::scan(file, &cols, errs, &mut |errs, row, cells| {
            let firm = match parse::uscc(&cells[0]) {
                Ok(id) => firms.find(&id).or_else(|| {
                    errs.push(unknown_firm(file, row, &s.id, &id));
                    None
                }),
                Err(r) => {
                    errs.push(err(file, row, &s.id, r));
                    None
                }
            };
            let mut buf = String::new();
            let name = parse::text(&cells[1], &mut buf)
                .ok()
                .flatten()
                .unwrap_or("")
                .to_string();
            let clause = p.clause_by_name(&name);
            if clause.is_none() {
                errs.push(err(
                    file,
                    row,
                    &s.clause,
                    Reason {
                        zh: format!(
                            "政策包中没有条款 `{name}`；条款有：{}",
                            clause_names.join("、")
                        ),
                        en: format!(
                            "the pack has no clause `{name}`; its clauses are: {}",
                            clause_names.join(", ")
                        ),
                    },
                ));
            }
            let period =
                parse::year(&cells[2]).map_err(|r| errs.push(err(file, row, &s.period, r)));
            let fen = match parse::money(&cells[3], s.unit) {
                Ok(Some(f)) if f >= 0 => Some(f),
                Ok(_) => {
                    errs.push(err(
                        file,
                        row,
                        &s.amount,
                        Reason {
                            zh: "兑现金额为空或为负".into(),
                            en: "the amount is empty or negative".into(),
                        },
                    ));
                    None
                }
                Err(r) => {
                    errs.push(err(file, row, &s.amount, r));
                    None
                }
            };
            let mut buf = String::new();
            let tranche = if s.tranche.is_some() {
                parse::text(&cells[4], &mut buf)
                    .ok()
                    .flatten()
                    .unwrap_or("")
                    .to_string()
            } else {
                String::new()
            };
            let Some(c) = clause else { return };
            let allowed = tranche_names(p, c);
            if !allowed.contains(&tranche) {
                let list = allowed
                    .iter()
                    .map(|t| {
                        if t.is_empty() {
                            "（空）".to_string()
                        } else {
                            t.clone()
                        }
                    })
                    .collect::<Vec<_>>();
                errs.push(err(
                    file,
                    row,
                    s.tranche.as_deref().unwrap_or(&s.clause),
                    Reason {
                        zh: format!(
                            "条款 `{name}` 没有分项 `{tranche}`；可用：{}",
                            list.join("、")
                        ),
                        en: format!(
                            "clause `{name}` has no tranche `{tranche}`; use one of: {}",
                            list.join(", ")
                        ),
                    },
                ));
                return;
            }
            if let (Some(firm), Ok(period), Some(fen)) = (firm, period, fen) {
                out.push(AwardRow {
                    firm,
                    clause: c as u32,
                    period,
                    tranche,
                    fen,
                    row: row as u32,
                    src: si as u16,
                });
            }
        });
        if let Some(n) = n {
            sources.push((file.clone(), n));
        }
    }
    let crank = ranks(&clause_names);
    out.sort_by(|a, b| {
        (
            a.firm,
            crank[a.clause as usize],
            a.period,
            &a.tranche,
            a.src,
            a.row,
        )
            .cmp(&(
                b.firm,
                crank[b.clause as usize],
                b.period,
                &b.tranche,
                b.src,
                b.row,
            ))
    });
    for w in out.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        if (a.firm, a.clause, a.period, &a.tranche) == (b.firm, b.clause, b.period, &b.tranche) {
            let s = &plan.awards[b.src as usize];
            errs.push(
                DataError::new(
                    &s.file.shown,
                    format!(
                        "重复的兑现记录（与第{}行相同的企业、条款、年度和分项）",
                        a.row
                    ),
                    format!(
                        "duplicate award (same firm, clause, period and tranche as row {})",
                        a.row
                    ),
                )
                .at(b.row as u64)
                .col(&s.clause),
            );
        }
    }
    out
}

struct Data<'a> {
    program: &'a Program,
    plan: &'a Plan,
    firms: Firms,
    yearly: Vec<PeriodRows>,
    monthly: Vec<PeriodRows>,
    events: Vec<Event>,
    awards: Vec<AwardRow>,
}

/// Removes the temporary directory unless the snapshot was committed.
struct TempDir(Option<PathBuf>);

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_dir_all(p);
        }
    }
}

fn put(col: &mut crate::write::Col, p: &Program, fact: usize, v: Val) {
    let ty = p.facts[fact].ty;
    match (ty, v) {
        (Ty::Money, Val::I64(f)) => col.dec(Some(f as i128 * FEN_TO_DEC)),
        (Ty::Ratio, Val::I128(r)) => col.dec(Some(r)),
        (Ty::Money | Ty::Ratio, _) => col.dec(None),
        (Ty::Count, Val::I64(c)) => col.i64(Some(c)),
        (Ty::Count, _) => col.i64(None),
        (Ty::Bool, Val::I64(b)) => col.bool(Some(b != 0)),
        (Ty::Bool, _) => col.bool(None),
        (Ty::Date, Val::I64(d)) => col.i32(Some(d as i32)),
        (Ty::Date, _) => col.i32(None),
        (Ty::Enum(e), Val::I64(i)) => col.str(Some(&p.enums[e].variants[i as usize])),
        (Ty::Enum(_) | Ty::Text, _) => col.str(None),
    }
}

impl Data<'_> {
    fn write(self, snapshots: &Path, sources: Vec<SourceInfo>) -> Result<SnapshotInfo, String> {
        std::fs::create_dir_all(snapshots).map_err(|e| e.to_string())?;
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let tmp = snapshots.join(format!(".tmp-{}-{stamp}", std::process::id()));
        std::fs::create_dir(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
        let mut guard = TempDir(Some(tmp.clone()));
        let p = self.program;
        let mut rows = Rows::default();

        let mut t = Table::create(&tmp, "firms", schema::firms(p), Sha256::new())?;
        let statics = schema::facts_of(p, PeriodKind::Static);
        let static_col: Vec<Option<usize>> = statics
            .iter()
            .map(|&f| self.plan.firms.facts.iter().position(|c| c.fact == f))
            .collect();
        for i in 0..self.firms.ids.len() {
            t.cols[0].str(Some(self.firms.id(i)));
            t.cols[1].str(Some(self.firms.name(i)));
            for (k, &f) in statics.iter().enumerate() {
                let v = static_col[k].map_or(Val::Null, |c| self.firms.facts[c].get(i));
                put(&mut t.cols[2 + k], p, f, v);
            }
            t.end_row()?;
        }
        rows.firms = t.rows;
        let h = t.finish()?;

        let (h, n) = self.write_periods(&tmp, h, PeriodKind::Year)?;
        rows.yearly = n;
        let (h, n) = self.write_periods(&tmp, h, PeriodKind::Month)?;
        rows.monthly = n;

        let mut t = Table::create(&tmp, "events", schema::events(), h)?;
        for e in &self.events {
            let f = &p.facts[e.fact as usize];
            t.cols[0].str(Some(self.firms.id(e.firm as usize)));
            t.cols[1].str(Some(&f.name));
            t.cols[2].i32(Some(e.date));
            t.cols[3].i32((e.until != NO_DATE).then_some(e.until));
            let value = match f.ty {
                Ty::Enum(en) if e.value != NO_VALUE => {
                    Some(p.enums[en].variants[e.value as usize].as_str())
                }
                _ => None,
            };
            t.cols[4].str(value);
            t.end_row()?;
        }
        rows.events = t.rows;
        let h = t.finish()?;

        let mut t = Table::create(&tmp, "awards", schema::awards(), h)?;
        for a in &self.awards {
            t.cols[0].str(Some(self.firms.id(a.firm as usize)));
            t.cols[1].str(Some(&p.clauses[a.clause as usize].name));
            t.cols[2].i32(Some(a.period));
            t.cols[3].str(Some(&a.tranche));
            t.cols[4].dec(Some(a.fen as i128 * FEN_TO_DEC));
            t.end_row()?;
        }
        rows.awards = t.rows;
        let hash = crate::source::hex(&t.finish()?.finalize());

        let manifest = Manifest {
            hash: hash.clone(),
            schema: manifest_schema(p),
            sources,
            rows,
            created_by: format!("huiqi-data {}", env!("CARGO_PKG_VERSION")),
        };
        let json = serde_json::to_string_pretty(&manifest).map_err(|e| e.to_string())? + "\n";
        std::fs::write(tmp.join("manifest.json"), json).map_err(|e| e.to_string())?;

        let dir = snapshots.join(&hash[..16]);
        let reused = if dir.exists() {
            true
        } else {
            match std::fs::rename(&tmp, &dir) {
                Ok(()) => {
                    guard.0 = None;
                    false
                }
                // Another ingest of the same data won the race: the snapshot is immutable, reuse it.
                Err(_) if dir.exists() => true,
                Err(e) => return Err(format!("{}: {e}", dir.display())),
            }
        };
        drop(guard);
        Ok(SnapshotInfo {
            hash,
            dir,
            rows,
            reused,
        })
    }

    /// Merges the sources of one period kind in key order into one table; rows where every
    /// fact is missing carry no data and are left out.
    fn write_periods(
        &self,
        tmp: &Path,
        h: Sha256,
        kind: PeriodKind,
    ) -> Result<(Sha256, u64), String> {
        let p = self.program;
        let (name, sch, plans, srcs) = match kind {
            PeriodKind::Year => ("yearly", schema::yearly(p), &self.plan.yearly, &self.yearly),
            _ => (
                "monthly",
                schema::monthly(p),
                &self.plan.monthly,
                &self.monthly,
            ),
        };
        let monthly = kind == PeriodKind::Month;
        let base = if monthly { 3 } else { 2 };
        let facts = schema::facts_of(p, kind);
        // (source, column in source) → column in the table.
        let target: Vec<Vec<usize>> = plans
            .iter()
            .map(|s| {
                s.facts
                    .iter()
                    .map(|fc| {
                        facts
                            .iter()
                            .position(|&f| f == fc.fact)
                            .expect("checked kind")
                    })
                    .collect()
            })
            .collect();
        let mut t = Table::create(tmp, name, sch, h)?;
        let mut heads = vec![0usize; srcs.len()];
        let mut vals = vec![Val::Null; facts.len()];
        loop {
            let key = (0..srcs.len())
                .filter(|&s| heads[s] < srcs[s].keys.len())
                .map(|s| srcs[s].keys[heads[s]])
                .min();
            let Some(key) = key else { break };
            vals.iter_mut().for_each(|v| *v = Val::Null);
            for s in 0..srcs.len() {
                let i = heads[s];
                if i < srcs[s].keys.len() && srcs[s].keys[i] == key {
                    for (c, &tc) in target[s].iter().enumerate() {
                        vals[tc] = srcs[s].facts[c].get(i);
                    }
                    heads[s] += 1;
                }
            }
            if vals.iter().all(|v| *v == Val::Null) {
                continue;
            }
            t.cols[0].str(Some(self.firms.id(key_firm(key))));
            t.cols[1].i32(Some(key_year(key)));
            if monthly {
                t.cols[2].i32(Some(key_month(key)));
            }
            for (k, &f) in facts.iter().enumerate() {
                put(&mut t.cols[base + k], p, f, vals[k]);
            }
            t.end_row()?;
        }
        let n = t.rows;
        Ok((t.finish()?, n))
    }
}

fn manifest_schema(p: &Program) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    for f in &p.facts {
        let mut e = serde_json::Map::new();
        e.insert(
            "type".into(),
            schema::type_name(p, f).map_or(serde_json::Value::Null, Into::into),
        );
        e.insert("period".into(), schema::period_name(f.kind).into());
        if let Ty::Enum(en) = f.ty {
            e.insert("values".into(), p.enums[en].variants.clone().into());
        }
        m.insert(f.name.clone(), e.into());
    }
    m
}
