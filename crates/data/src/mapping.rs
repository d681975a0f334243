//! Mapping files: which source file and which (Chinese) column header holds the firm id, the
//! period and each fact, in which unit money is written and how yes/no is spelled.
//!
//! ```toml
//! [firms]                                  # the firm register: one row per firm
//! file = "企业名录.csv"                     # relative to this mapping file; .csv, .xlsx/.xls, .parquet
//! id   = "统一社会信用代码"
//! name = "企业名称"
//! facts = { "行业" = "国民经济行业门类" }    # static facts: fact = column
//!
//! [[yearly]]                               # any number of per-year files, joined on (firm, year)
//! file  = "税务_年度.csv"
//! id    = "统一社会信用代码"
//! year  = "年度"
//! unit  = "万元"                           # money columns of this file: 元 | 万元 | 亿元 (default 元)
//! bools = "是/否"                          # how true/false are written (default 是/否)
//! facts = { "营业收入" = "营业收入（万元）", "贷款本金" = { column = "贷款（元）", unit = "元" } }
//! # a fact's column as a table: its own unit, yes/no words, and bounds on its values
//! # ("研发费用" = { column = "研发费用（万元）", min = 0, max = "50000" })
//!
//! [[monthly]]                              # like yearly, plus `month`
//!
//! [[events]]                               # dated records of event facts
//! file  = "上市进程.csv"
//! fact  = "上市进程"                        # every row is this fact; or fact_column = "事项"
//! id    = "统一社会信用代码"
//! date  = "日期"
//! until = "有效期至"                        # optional
//! value = "阶段"                            # required for facts with an enum value
//!
//! [[events]]                               # an event fact with numbers (`field 本金: money`)
//! file   = "贷款.csv"
//! fact   = "贷款"
//! id     = "统一社会信用代码"
//! date   = "放款日期"
//! until  = "到期日"
//! unit   = "万元"                          # money fields of this file (default 元)
//! fields = { "本金" = "贷款本金（万元）", "实付利息" = "实付利息（万元）" }
//! # every field the fact declares needs its column (an empty cell is missing data); with
//! # fact_column the keys name the fact too: fields = { "贷款.本金" = "本金（万元）" }
//!
//! [[awards]]                               # award history (the ledger's export), optional
//! file = "兑现记录.csv"
//! id = "统一社会信用代码"
//! clause = "条款"
//! period = "年度"
//! tranche = "分项"                          # optional
//! amount = "金额（元）"
//! unit = "元"
//! ```
//!
//! Every source may also say `sheet = "…"` (XLSX; default the first sheet), `encoding = "gbk"`
//! (CSV; default UTF-8) and `delimiter = "\t"` (CSV; default `,`).
//!
//! Exports as they are (docs/SNAPSHOT.md, "Exports as they are"): every source may also say
//!
//! ```toml
//! where     = { "状态" = "有效", "结清日期" = "" }   # read only rows whose cells are these
//! where_not = { "备注" = ["作废", "撤回"] }          # leave out rows whose cell is one of these
//! derive    = { "年度" = { year_of = "发放日期" } }  # or month_of, const = "…", sum = ["列", …]
//! values    = { "阶段代码" = { "01" = "辅导期" } }    # codes → the names the pack knows
//! unknown   = "ignore"                              # or { "阶段代码" = "ignore" }; default refuse
//! ```
//!
//! and `[[events]]` / `[[awards]]` `duplicates = "keep-one"` (default `"refuse"`). `[[awards]]`
//! takes `date = "发放日期"` instead of `period` (the period is the date's year; payments of one
//! year on different dates add up), and a staged clause's award without a stage (a prior lump
//! sum, tranche ""). What was filtered, passed over as unknown or dropped as a duplicate is
//! counted per source in the manifest.
//!
//! `min` / `max` (money, count and ratio columns) are written as a cell of the column would be,
//! in its unit; a value outside them is refused at its cell. The policy language declares no
//! ranges, so a zone states what its exports may hold here. A money column whose header names a
//! unit in brackets (`营业收入（万元）`, `金额(元)`) must be mapped in that unit.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use huiqi_files::snapshot::event_field_col;
use huiqi_ir::{ClauseBody, FactId, PeriodKind, Program, Ty};
use serde::Deserialize;

use crate::error::DataError;
use crate::parse;
use crate::source::Cell;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    pub firms: FirmSource,
    #[serde(default)]
    pub yearly: Vec<PeriodSource>,
    #[serde(default)]
    pub monthly: Vec<PeriodSource>,
    #[serde(default)]
    pub events: Vec<EventSource>,
    #[serde(default)]
    pub awards: Vec<AwardSource>,
    #[serde(default)]
    pub projects: Vec<ProjectSource>,
}

/// A fact's column: just the header, or the header with its own unit / yes-no words.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum FactColumn {
    Header(String),
    Detailed(DetailedColumn),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetailedColumn {
    pub column: String,
    pub unit: Option<String>,
    pub bools: Option<String>,
    /// The smallest value a cell may hold (money, count and ratio columns), written as a cell
    /// of the column would be: `min = 0`, `min = "0.5%"`.
    pub min: Option<toml::Value>,
    /// The largest value a cell may hold.
    pub max: Option<toml::Value>,
}

/// One derived column: exactly one of its keys.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeriveSpec {
    /// The year of a date column.
    pub year_of: Option<String>,
    /// The month (1–12) of a date column.
    pub month_of: Option<String>,
    /// The same text on every row.
    #[serde(rename = "const")]
    pub constant: Option<toml::Value>,
    /// The exact sum of number columns (empty cells count as 0; all empty → empty).
    pub sum: Option<Vec<String>>,
}

/// `unknown = "ignore"` for every name column of a section, or per column.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum UnknownSpec {
    All(String),
    Columns(BTreeMap<String, String>),
}

// serde's `flatten` cannot be combined with `deny_unknown_fields` (which catches typos in
// keys), so the file options are repeated in each source kind.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirmSource {
    pub file: String,
    pub sheet: Option<String>,
    pub encoding: Option<String>,
    pub delimiter: Option<String>,
    /// Row filters: a row is read only when each named cell is one of the texts given.
    #[serde(default, rename = "where")]
    pub where_: BTreeMap<String, toml::Value>,
    /// Row filters: a row is left out when a named cell is one of the texts given.
    #[serde(default)]
    pub where_not: BTreeMap<String, toml::Value>,
    /// Columns computed from the file's: name → how.
    #[serde(default)]
    pub derive: BTreeMap<String, DeriveSpec>,
    /// Value maps: column → (the file's code → the name the pack knows).
    #[serde(default)]
    pub values: BTreeMap<String, BTreeMap<String, String>>,
    /// `"ignore"`: a name the pack does not know is passed over (counted) instead of refused;
    /// or per column, `{ "阶段" = "ignore" }`.
    pub unknown: Option<UnknownSpec>,
    pub id: String,
    pub name: String,
    pub unit: Option<String>,
    pub bools: Option<String>,
    #[serde(default)]
    pub facts: BTreeMap<String, FactColumn>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodSource {
    pub file: String,
    pub sheet: Option<String>,
    pub encoding: Option<String>,
    pub delimiter: Option<String>,
    /// Row filters: a row is read only when each named cell is one of the texts given.
    #[serde(default, rename = "where")]
    pub where_: BTreeMap<String, toml::Value>,
    /// Row filters: a row is left out when a named cell is one of the texts given.
    #[serde(default)]
    pub where_not: BTreeMap<String, toml::Value>,
    /// Columns computed from the file's: name → how.
    #[serde(default)]
    pub derive: BTreeMap<String, DeriveSpec>,
    /// Value maps: column → (the file's code → the name the pack knows).
    #[serde(default)]
    pub values: BTreeMap<String, BTreeMap<String, String>>,
    /// `"ignore"`: a name the pack does not know is passed over (counted) instead of refused;
    /// or per column, `{ "阶段" = "ignore" }`.
    pub unknown: Option<UnknownSpec>,
    pub id: String,
    pub year: String,
    /// Only for `[[monthly]]`.
    pub month: Option<String>,
    pub unit: Option<String>,
    pub bools: Option<String>,
    #[serde(default)]
    pub facts: BTreeMap<String, FactColumn>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSource {
    pub file: String,
    pub sheet: Option<String>,
    pub encoding: Option<String>,
    pub delimiter: Option<String>,
    /// Row filters: a row is read only when each named cell is one of the texts given.
    #[serde(default, rename = "where")]
    pub where_: BTreeMap<String, toml::Value>,
    /// Row filters: a row is left out when a named cell is one of the texts given.
    #[serde(default)]
    pub where_not: BTreeMap<String, toml::Value>,
    /// Columns computed from the file's: name → how.
    #[serde(default)]
    pub derive: BTreeMap<String, DeriveSpec>,
    /// Value maps: column → (the file's code → the name the pack knows).
    #[serde(default)]
    pub values: BTreeMap<String, BTreeMap<String, String>>,
    /// `"ignore"`: a name the pack does not know is passed over (counted) instead of refused;
    /// or per column, `{ "阶段" = "ignore" }`.
    pub unknown: Option<UnknownSpec>,
    pub id: String,
    /// Every row is this fact …
    pub fact: Option<String>,
    /// … or this column names the fact of each row.
    pub fact_column: Option<String>,
    pub date: String,
    pub until: Option<String>,
    pub value: Option<String>,
    /// The unit of the money fields' columns (default 元).
    pub unit: Option<String>,
    /// The columns of the fact's fields (`field 本金: money`): field = column. With
    /// `fact_column`, the keys name the fact too (`"贷款.本金"`).
    #[serde(default)]
    pub fields: BTreeMap<String, FactColumn>,
    /// `"keep-one"`: of exact duplicate records (same firm, fact, date, until, value and
    /// numbers) one is kept and the rest counted; default `"refuse"`.
    pub duplicates: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwardSource {
    pub file: String,
    pub sheet: Option<String>,
    pub encoding: Option<String>,
    pub delimiter: Option<String>,
    /// Row filters: a row is read only when each named cell is one of the texts given.
    #[serde(default, rename = "where")]
    pub where_: BTreeMap<String, toml::Value>,
    /// Row filters: a row is left out when a named cell is one of the texts given.
    #[serde(default)]
    pub where_not: BTreeMap<String, toml::Value>,
    /// Columns computed from the file's: name → how.
    #[serde(default)]
    pub derive: BTreeMap<String, DeriveSpec>,
    /// Value maps: column → (the file's code → the name the pack knows).
    #[serde(default)]
    pub values: BTreeMap<String, BTreeMap<String, String>>,
    /// `"ignore"`: a name the pack does not know is passed over (counted) instead of refused;
    /// or per column, `{ "阶段" = "ignore" }`.
    pub unknown: Option<UnknownSpec>,
    pub id: String,
    pub clause: String,
    /// The period's column (a year) …
    pub period: Option<String>,
    /// … or a date column: the period is its year, and payments of one firm, clause, year and
    /// tranche on different dates are added up.
    pub date: Option<String>,
    pub tranche: Option<String>,
    pub amount: String,
    pub unit: Option<String>,
    /// `"keep-one"`: of exact duplicate rows one is kept and the rest counted.
    pub duplicates: Option<String>,
}

/// Investment projects (固定资产投资项目库): one row per project and month — the project's own
/// zone (a value of an enum-valued event fact such as 所属园区), its builder (optional: a credit
/// code, which need not be a firm of the register) and the investment completed that month.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectSource {
    pub file: String,
    pub sheet: Option<String>,
    pub encoding: Option<String>,
    pub delimiter: Option<String>,
    /// Row filters: a row is read only when each named cell is one of the texts given.
    #[serde(default, rename = "where")]
    pub where_: BTreeMap<String, toml::Value>,
    /// Row filters: a row is left out when a named cell is one of the texts given.
    #[serde(default)]
    pub where_not: BTreeMap<String, toml::Value>,
    /// Columns computed from the file's: name → how.
    #[serde(default)]
    pub derive: BTreeMap<String, DeriveSpec>,
    /// Value maps: column → (the file's code → the name the pack knows).
    #[serde(default)]
    pub values: BTreeMap<String, BTreeMap<String, String>>,
    /// `"ignore"`: a name the pack does not know is passed over (counted) instead of refused;
    /// or per column, `{ "阶段" = "ignore" }`.
    pub unknown: Option<UnknownSpec>,
    pub id: String,
    pub name: String,
    pub zone: String,
    /// The enum-valued event fact whose values the zone column takes (e.g. 所属园区).
    pub zone_fact: String,
    pub firm: Option<String>,
    pub year: String,
    pub month: String,
    pub investment: String,
    pub unit: Option<String>,
}

/// Money units of source columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Yuan,
    Wan,
    Yi,
}

impl Unit {
    pub fn parse(s: &str) -> Option<Unit> {
        match s.trim() {
            "元" => Some(Unit::Yuan),
            "万元" | "万" => Some(Unit::Wan),
            "亿元" | "亿" => Some(Unit::Yi),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Unit::Yuan => "元",
            Unit::Wan => "万元",
            Unit::Yi => "亿元",
        }
    }
    /// 分 per unit.
    pub fn fen(self) -> i128 {
        match self {
            Unit::Yuan => 100,
            Unit::Wan => 1_000_000,
            Unit::Yi => 10_000_000_000,
        }
    }
}

/// How a source spells true and false, e.g. `是/否`, `true/false`, `1/0`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BoolWords {
    pub yes: String,
    pub no: String,
}

impl BoolWords {
    pub fn parse(s: &str) -> Option<BoolWords> {
        let (a, b) = s.split_once('/')?;
        let (a, b) = (a.trim(), b.trim());
        if a.is_empty() || b.is_empty() || a == b || b.contains('/') {
            return None;
        }
        Some(BoolWords {
            yes: a.into(),
            no: b.into(),
        })
    }
    pub fn spec(&self) -> String {
        format!("{}/{}", self.yes, self.no)
    }
}

impl Default for BoolWords {
    fn default() -> Self {
        BoolWords {
            yes: "是".into(),
            no: "否".into(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    /// GBK / GB2312 / GB18030, decoded as GB18030 (a superset).
    Gb18030,
}

/// A source file, resolved against the mapping's directory.
#[derive(Clone, Debug)]
pub struct FileRef {
    /// The path as the mapping writes it (recorded in the manifest).
    pub name: String,
    pub path: PathBuf,
    /// How errors name the file.
    pub shown: String,
    pub sheet: Option<String>,
    pub encoding: Encoding,
    pub delimiter: u8,
}

/// One fact's column in a source (or one field's of an event fact: see [`FieldCol`]).
#[derive(Clone, Debug)]
pub struct FactCol {
    pub fact: FactId,
    /// The type of the column's values: the fact's, or the field's.
    pub ty: Ty,
    pub column: String,
    pub unit: Unit,
    pub bools: BoolWords,
    /// Bounds on the column's values (`min` / `max` in the mapping).
    pub min: Option<Bound>,
    pub max: Option<Bound>,
}

/// A bound on a numeric column: the value as ingest holds it (分 for money, the count, a ratio
/// at scale 12) and as the mapping writes it (for messages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bound {
    pub value: i128,
    pub text: String,
}

/// How a section reshapes its rows before they are read: row filters, derived columns, value
/// maps, and the name columns whose unknown names are passed over. Empty for a mapping without
/// these keys (rows are then read as they always were).
#[derive(Clone, Debug, Default)]
pub struct Shape {
    pub filters: Vec<Filter>,
    pub derived: Vec<Derived>,
    /// Column → (the file's code → the name the pack knows; "" leaves the cell empty).
    pub values: BTreeMap<String, BTreeMap<String, String>>,
    /// Name columns under `unknown = "ignore"`.
    pub ignore_unknown: BTreeSet<String>,
}

impl Shape {
    /// No filters, derived columns or value maps: the file's cells are read as they are.
    pub fn is_plain(&self) -> bool {
        self.filters.is_empty() && self.derived.is_empty() && self.values.is_empty()
    }
    /// A name the pack does not know in `column` is passed over rather than refused.
    pub fn ignores(&self, column: &str) -> bool {
        self.ignore_unknown.contains(column)
    }
    /// `column` has a value map.
    pub fn maps(&self, column: &str) -> bool {
        self.values.contains_key(column)
    }
}

/// `where` (keep) / `where_not` (drop): rows whose cell in `column`, as the file holds it, is
/// one of `texts` ("" = empty).
#[derive(Clone, Debug)]
pub struct Filter {
    pub column: String,
    /// The mapping key, for messages (`events[0].where.结清日期`).
    pub key: String,
    pub texts: Vec<String>,
    /// true: `where` (the row is read only on a match); false: `where_not`.
    pub keep: bool,
}

/// A column computed from the file's.
#[derive(Clone, Debug)]
pub struct Derived {
    pub name: String,
    /// The mapping key, for messages (`awards[0].derive.年度`).
    pub key: String,
    pub op: DeriveOp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeriveOp {
    YearOf(String),
    MonthOf(String),
    Const(String),
    Sum(Vec<String>),
}

impl DeriveOp {
    /// The file's columns it reads.
    pub fn sources(&self) -> Vec<&str> {
        match self {
            DeriveOp::YearOf(c) | DeriveOp::MonthOf(c) => vec![c],
            DeriveOp::Const(_) => vec![],
            DeriveOp::Sum(cs) => cs.iter().map(String::as_str).collect(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct FirmPlan {
    pub file: FileRef,
    pub id: String,
    pub name: String,
    pub facts: Vec<FactCol>,
    pub shape: Shape,
}

#[derive(Clone, Debug)]
pub struct PeriodPlan {
    pub file: FileRef,
    pub id: String,
    pub year: String,
    pub month: Option<String>,
    pub facts: Vec<FactCol>,
    pub shape: Shape,
}

#[derive(Clone, Debug)]
pub enum EventFact {
    Fixed(FactId),
    Column(String),
}

/// The column of a number each record of an event fact carries (`field 本金: money`).
#[derive(Clone, Debug)]
pub struct FieldCol {
    /// The field's index in the fact's `fields`.
    pub field: usize,
    /// The column: `col.fact` is the event fact, `col.ty` the field's type.
    pub col: FactCol,
}

#[derive(Clone, Debug)]
pub struct EventPlan {
    pub file: FileRef,
    pub id: String,
    pub fact: EventFact,
    pub date: String,
    pub until: Option<String>,
    pub value: Option<String>,
    /// The field columns, for the fixed fact's fields or (with a fact column) any event fact's.
    pub fields: Vec<FieldCol>,
    pub shape: Shape,
    /// `duplicates = "keep-one"`.
    pub keep_one: bool,
}

#[derive(Clone, Debug)]
pub struct AwardPlan {
    pub file: FileRef,
    pub id: String,
    pub clause: String,
    /// The period's column: a year, or with `by_date` a date (the period is its year).
    pub period: String,
    pub by_date: bool,
    pub tranche: Option<String>,
    pub amount: String,
    pub unit: Unit,
    pub shape: Shape,
    /// `duplicates = "keep-one"`.
    pub keep_one: bool,
}

#[derive(Clone, Debug)]
pub struct ProjectPlan {
    pub file: FileRef,
    pub id: String,
    pub name: String,
    pub zone: String,
    /// The zone column's allowed values (the zone fact's enum).
    pub zones: Vec<String>,
    pub firm: Option<String>,
    pub year: String,
    pub month: String,
    pub investment: String,
    pub unit: Unit,
    pub shape: Shape,
}

/// A mapping checked against a program: every fact exists and sits in a source of its period kind.
#[derive(Clone, Debug)]
pub struct Plan {
    pub firms: FirmPlan,
    pub yearly: Vec<PeriodPlan>,
    pub monthly: Vec<PeriodPlan>,
    pub events: Vec<EventPlan>,
    pub awards: Vec<AwardPlan>,
    pub projects: Vec<ProjectPlan>,
}

impl Plan {
    /// Every source file, in mapping order (firms, yearly, monthly, events, awards, projects).
    pub fn files(&self) -> Vec<&FileRef> {
        let mut v = vec![&self.firms.file];
        v.extend(self.yearly.iter().map(|s| &s.file));
        v.extend(self.monthly.iter().map(|s| &s.file));
        v.extend(self.events.iter().map(|s| &s.file));
        v.extend(self.awards.iter().map(|s| &s.file));
        v.extend(self.projects.iter().map(|s| &s.file));
        v
    }
}

/// Reads and checks a mapping file.
pub fn load(path: &Path, program: &Program) -> Result<Plan, Vec<DataError>> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![DataError::new(
            &shown,
            format!("无法读取映射文件：{e}"),
            format!("cannot read the mapping file: {e}"),
        )]
    })?;
    let dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
    parse(&text, &shown, &dir, program)
}

/// Parses and checks mapping text; `shown` names it in errors, `dir` resolves its paths.
pub fn parse(
    text: &str,
    shown: &str,
    dir: &Path,
    program: &Program,
) -> Result<Plan, Vec<DataError>> {
    let m: Mapping = toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() as u64 + 1);
        let msg = e.message().to_string();
        let mut d = DataError::new(
            shown,
            format!("映射文件格式错误：{msg}"),
            format!("malformed mapping file: {msg}"),
        );
        d.row = line;
        vec![d]
    })?;
    Checker {
        shown,
        dir,
        program,
        errors: vec![],
        seen: BTreeMap::new(),
    }
    .check(m)
}

/// The money unit a header names in brackets at its end: `营业收入（万元）`, `金额(元)`,
/// `收入（单位：亿元）`.
pub fn header_unit(header: &str) -> Option<Unit> {
    let h = header.trim_end();
    let inner = h.strip_suffix('）').or_else(|| h.strip_suffix(')'))?;
    let (i, open) = inner
        .char_indices()
        .rev()
        .find(|(_, c)| *c == '（' || *c == '(')?;
    let unit = inner[i + open.len_utf8()..].trim();
    let unit = unit
        .strip_prefix("单位")
        .map_or(unit, |u| u.trim_start_matches(['：', ':']));
    Unit::parse(unit)
}

/// How many of the smaller unit one of the larger holds: `100`, `10000`, `1000000`.
fn ratio_text(a: Unit, b: Unit) -> String {
    let (x, y) = (a.fen(), b.fen());
    (x.max(y) / x.min(y)).to_string()
}

/// How messages name a column's subject: a fact, or a field of an event fact.
struct Subject {
    zh: String,
    en: String,
}

impl Subject {
    fn fact(name: &str) -> Subject {
        Subject {
            zh: format!("事实 `{name}`"),
            en: format!("fact `{name}`"),
        }
    }
    fn field(fact: &str, field: &str) -> Subject {
        let c = event_field_col(fact, field);
        Subject {
            zh: format!("字段 `{c}`"),
            en: format!("field `{c}`"),
        }
    }
}

/// A section's shape keys as the mapping writes them.
struct RawShape<'a> {
    where_: &'a BTreeMap<String, toml::Value>,
    where_not: &'a BTreeMap<String, toml::Value>,
    derive: &'a BTreeMap<String, DeriveSpec>,
    values: &'a BTreeMap<String, BTreeMap<String, String>>,
    unknown: &'a Option<UnknownSpec>,
}

macro_rules! raw_shape {
    ($s:expr) => {
        RawShape {
            where_: &$s.where_,
            where_not: &$s.where_not,
            derive: &$s.derive,
            values: &$s.values,
            unknown: &$s.unknown,
        }
    };
}

/// A column whose cells are names the pack knows — an enum's values, event facts, clauses,
/// tranches, zones: what `values` may map to, and where `unknown` applies.
struct NameCol {
    column: String,
    names: Vec<String>,
    /// An empty cell means something (missing, no value, a lump sum).
    empty_ok: bool,
    zh: String,
    en: String,
}

/// The tranche names an award of clause `clause` may carry: "" for a clause without tranches,
/// each tranche's name, or each stage of a schedule — and "" there too, a prior lump sum paid
/// without a stage, which `awarded()` and `total cap` count like any other award.
pub(crate) fn tranche_names(p: &Program, clause: usize) -> Vec<String> {
    match &p.clauses[clause].body {
        ClauseBody::Amount(_) => vec![String::new()],
        ClauseBody::Tranches(ts) => ts.iter().map(|t| t.name.clone()).collect(),
        ClauseBody::Schedule(s) => {
            let vs = match p.facts[s.fact].ty {
                Ty::Enum(e) => &p.enums[e].variants,
                _ => return vec![],
            };
            let mut names: Vec<String> = s
                .stages
                .iter()
                .map(|(v, _)| vs[*v as usize].clone())
                .collect();
            names.push(String::new());
            names
        }
    }
}

/// The money columns among `facts`, with the unit each is read in.
fn money_cols(facts: &[FactCol]) -> impl Iterator<Item = (&str, Unit)> {
    (facts.iter())
        .filter(|f| f.ty == Ty::Money)
        .map(|f| (f.column.as_str(), f.unit))
}

/// The texts of a `where` / `where_not` entry: a text, a whole number, or a list of them.
fn filter_texts(v: &toml::Value) -> Option<Vec<String>> {
    let one = |v: &toml::Value| match v {
        toml::Value::String(s) => Some(s.trim().to_string()),
        toml::Value::Integer(i) => Some(i.to_string()),
        _ => None,
    };
    match v {
        toml::Value::Array(a) if !a.is_empty() => a.iter().map(one).collect(),
        toml::Value::Array(_) => None,
        v => one(v).map(|t| vec![t]),
    }
}

struct Checker<'a> {
    shown: &'a str,
    dir: &'a Path,
    program: &'a Program,
    errors: Vec<DataError>,
    /// Fact → the mapping key that first mapped it (a fact may come from one source only).
    seen: BTreeMap<FactId, String>,
}

fn kind_zh(k: PeriodKind) -> &'static str {
    match k {
        PeriodKind::Static => "静态（static）",
        PeriodKind::Year => "按年（per year）",
        PeriodKind::Month => "按月（per month）",
        PeriodKind::Event => "事件（event）",
    }
}

fn kind_en(k: PeriodKind) -> &'static str {
    match k {
        PeriodKind::Static => "static",
        PeriodKind::Year => "per year",
        PeriodKind::Month => "per month",
        PeriodKind::Event => "event",
    }
}

fn section(k: PeriodKind) -> &'static str {
    match k {
        PeriodKind::Static => "[firms] facts",
        PeriodKind::Year => "[[yearly]]",
        PeriodKind::Month => "[[monthly]]",
        PeriodKind::Event => "[[events]]",
    }
}

impl Checker<'_> {
    fn err(&mut self, key: &str, zh: String, en: String) {
        self.errors
            .push(DataError::new(self.shown, zh, en).col(key.to_string()));
    }

    fn file(
        &mut self,
        key: &str,
        file: &str,
        sheet: &Option<String>,
        encoding: &Option<String>,
        delimiter: &Option<String>,
    ) -> FileRef {
        let path = self.dir.join(file);
        let enc = match encoding.as_deref().map(|s| s.trim().to_ascii_lowercase()) {
            None => Encoding::Utf8,
            Some(e) if e == "utf-8" || e == "utf8" => Encoding::Utf8,
            Some(e) if e == "gbk" || e == "gb2312" || e == "gb18030" => Encoding::Gb18030,
            Some(e) => {
                self.err(
                    &format!("{key}.encoding"),
                    format!("不支持的编码 `{e}`（可用：utf-8、gbk、gb18030）"),
                    format!("unsupported encoding `{e}` (use utf-8, gbk or gb18030)"),
                );
                Encoding::Utf8
            }
        };
        let delim = match delimiter.as_deref() {
            None => b',',
            Some(d) if d.len() == 1 => d.as_bytes()[0],
            Some(d) => {
                self.err(
                    &format!("{key}.delimiter"),
                    format!("分隔符应为单个 ASCII 字符，实为 `{d}`"),
                    format!("the delimiter must be one ASCII character, not `{d}`"),
                );
                b','
            }
        };
        FileRef {
            name: file.to_string(),
            shown: path.display().to_string(),
            path,
            sheet: sheet.clone(),
            encoding: enc,
            delimiter: delim,
        }
    }

    fn unit(&mut self, key: &str, u: &Option<String>, default: Unit) -> Unit {
        match u {
            None => default,
            Some(s) => Unit::parse(s).unwrap_or_else(|| {
                self.err(
                    key,
                    format!("金额单位 `{s}` 不对（可用：元、万元、亿元）"),
                    format!("unknown money unit `{s}` (use 元, 万元 or 亿元)"),
                );
                default
            }),
        }
    }

    fn bools(&mut self, key: &str, b: &Option<String>, default: &BoolWords) -> BoolWords {
        match b {
            None => default.clone(),
            Some(s) => BoolWords::parse(s).unwrap_or_else(|| {
                self.err(
                    key,
                    format!("是/否的写法 `{s}` 不对，应写成“真/假”两个词，如 是/否、true/false、1/0"),
                    format!("`{s}` is not a yes/no spelling; write the two words as yes/no, e.g. 是/否, true/false, 1/0"),
                );
                default.clone()
            }),
        }
    }

    /// A mapped fact: it exists, has the source's period kind, and is mapped only once.
    fn fact(&mut self, key: &str, name: &str, kind: PeriodKind) -> Option<FactId> {
        let Some(id) = self.program.fact_by_name(name) else {
            let mut names: Vec<&str> = self
                .program
                .facts
                .iter()
                .filter(|f| f.kind == kind)
                .map(|f| f.name.as_str())
                .collect();
            if names.is_empty() {
                names.push("—");
            }
            self.err(
                key,
                format!(
                    "政策包中没有事实 `{name}`；{}事实有：{}",
                    kind_zh(kind),
                    names.join("、")
                ),
                format!(
                    "the pack declares no fact `{name}`; its {} facts are: {}",
                    kind_en(kind),
                    names.join(", ")
                ),
            );
            return None;
        };
        let f = &self.program.facts[id];
        if f.kind != kind {
            self.err(
                key,
                format!(
                    "事实 `{name}` 是{}的，不能放在{}里；应放在 {}",
                    kind_zh(f.kind),
                    section(kind),
                    section(f.kind)
                ),
                format!(
                    "fact `{name}` is {}, it cannot be mapped in {}; map it in {}",
                    kind_en(f.kind),
                    section(kind),
                    section(f.kind)
                ),
            );
            return None;
        }
        if let Some(prev) = self.seen.get(&id) {
            let prev = prev.clone();
            self.err(
                key,
                format!("事实 `{name}` 已在 {prev} 映射过；一个事实只能来自一个数据源"),
                format!(
                    "fact `{name}` is already mapped at {prev}; a fact comes from one source only"
                ),
            );
            return None;
        }
        self.seen.insert(id, key.to_string());
        Some(id)
    }

    fn fact_cols(
        &mut self,
        key: &str,
        file: &FileRef,
        facts: &BTreeMap<String, FactColumn>,
        kind: PeriodKind,
        unit: Unit,
        bools: &BoolWords,
    ) -> Vec<FactCol> {
        let mut out = vec![];
        for (name, col) in facts {
            let k = format!("{key}.facts.{name}");
            let Some(id) = self.fact(&k, name, kind) else {
                continue;
            };
            let ty = self.program.facts[id].ty;
            if let Some(fc) = self.column(&k, file, &Subject::fact(name), id, ty, col, unit, bools)
            {
                out.push(fc);
            }
        }
        out
    }

    /// The column of `subject` (fact `id`'s values of type `ty`) at mapping key `k`: a header,
    /// or a table with its own unit, yes/no words and bounds. None after reporting an empty
    /// header; a money column's header unit is checked against the unit it is read in.
    #[allow(clippy::too_many_arguments)]
    fn column(
        &mut self,
        k: &str,
        file: &FileRef,
        subject: &Subject,
        id: FactId,
        ty: Ty,
        col: &FactColumn,
        unit: Unit,
        bools: &BoolWords,
    ) -> Option<FactCol> {
        let fc = match col {
            FactColumn::Header(h) => FactCol {
                fact: id,
                ty,
                column: h.clone(),
                unit,
                bools: bools.clone(),
                min: None,
                max: None,
            },
            FactColumn::Detailed(d) => self.detailed(k, subject, id, ty, d, unit, bools),
        };
        if fc.column.trim().is_empty() {
            self.err(k, "列名为空".into(), "the column header is empty".into());
            return None;
        }
        let column = fc.column.trim().to_string();
        if ty == Ty::Money {
            self.header_unit(file, &column, fc.unit, k);
        }
        Some(FactCol { column, ..fc })
    }

    /// A column written as a table: its own unit, yes/no words and bounds.
    #[allow(clippy::too_many_arguments)]
    fn detailed(
        &mut self,
        k: &str,
        subject: &Subject,
        id: FactId,
        ty: Ty,
        d: &DetailedColumn,
        unit: Unit,
        bools: &BoolWords,
    ) -> FactCol {
        let (sz, se) = (&subject.zh, &subject.en);
        if d.unit.is_some() && ty != Ty::Money {
            self.err(
                &format!("{k}.unit"),
                format!("{sz} 不是金额，不能指定金额单位"),
                format!("{se} is not money; it takes no unit"),
            );
        }
        if d.bools.is_some() && ty != Ty::Bool {
            self.err(
                &format!("{k}.bools"),
                format!("{sz} 不是是/否型，不能指定 bools"),
                format!("{se} is not a bool; it takes no `bools`"),
            );
        }
        let u = self.unit(&format!("{k}.unit"), &d.unit, unit);
        let b = self.bools(&format!("{k}.bools"), &d.bools, bools);
        let min = self.bound(&format!("{k}.min"), subject, ty, u, &d.min);
        let max = self.bound(&format!("{k}.max"), subject, ty, u, &d.max);
        if let (Some(lo), Some(hi)) = (&min, &max) {
            if lo.value > hi.value {
                self.err(
                    k,
                    format!("min（{}）大于 max（{}）", lo.text, hi.text),
                    format!("min ({}) is greater than max ({})", lo.text, hi.text),
                );
            }
        }
        FactCol {
            fact: id,
            ty,
            column: d.column.clone(),
            unit: u,
            bools: b,
            min,
            max,
        }
    }

    /// A `min` or `max`, parsed as a cell of the column would be.
    fn bound(
        &mut self,
        key: &str,
        subject: &Subject,
        ty: Ty,
        unit: Unit,
        v: &Option<toml::Value>,
    ) -> Option<Bound> {
        let v = v.as_ref()?;
        let text = match v {
            toml::Value::String(s) => s.trim().to_string(),
            other => other.to_string(),
        };
        let cell = Cell::Text(&text);
        let parsed = match ty {
            Ty::Money => parse::money(&cell, unit).map(|o| o.map(i128::from)),
            Ty::Count => parse::count(&cell).map(|o| o.map(i128::from)),
            Ty::Ratio => parse::ratio(&cell),
            _ => {
                self.err(
                    key,
                    format!("{} 不是金额、计数或比例，不能指定 min/max", subject.zh),
                    format!(
                        "{} is not money, a count or a ratio; it takes no min/max",
                        subject.en
                    ),
                );
                return None;
            }
        };
        match parsed {
            Ok(Some(value)) => Some(Bound { value, text }),
            Ok(None) => {
                self.err(key, "取值为空".into(), "the value is empty".into());
                None
            }
            Err(r) => {
                self.err(key, r.zh, r.en);
                None
            }
        }
    }

    /// A money column whose header names a unit in brackets (`营业收入（万元）`) must be read in
    /// that unit: a mapping that says otherwise would scale every amount by 100 or 10,000. The
    /// error names the data file's header cell, where the user sees the unit.
    fn header_unit(&mut self, file: &FileRef, column: &str, unit: Unit, key: &str) {
        let Some(said) = header_unit(column) else {
            return;
        };
        if said == unit {
            return;
        }
        let (h, m) = (said.name(), unit.name());
        self.errors.push(
            DataError::new(
                &file.shown,
                format!(
                    "表头写的单位是{h}，映射文件（{key}）却按{m}读取此列：金额会差 {}倍；请在映射文件中写 unit = \"{h}\"，或改正表头",
                    ratio_text(said, unit)
                ),
                format!(
                    "the header says the unit is {h} but the mapping ({key}) reads this column in {m}: every amount would be off by a factor of {}; write unit = \"{h}\" in the mapping, or correct the header",
                    ratio_text(said, unit)
                ),
            )
            .at(1)
            .col(column),
        );
    }

    /// `duplicates = "refuse" | "keep-one"`: true for keep-one.
    fn keep_one(&mut self, key: &str, d: &Option<String>) -> bool {
        match d.as_deref().map(str::trim) {
            None | Some("refuse") => false,
            Some("keep-one") => true,
            Some(other) => {
                self.err(
                    &format!("{key}.duplicates"),
                    format!("duplicates 应为 \"refuse\"（默认：重复即报错）或 \"keep-one\"（完全相同的行保留一行并计数），实为 `{other}`"),
                    format!("duplicates must be \"refuse\" (the default: a duplicate is an error) or \"keep-one\" (of exact duplicate rows one is kept, the rest counted), not `{other}`"),
                );
                false
            }
        }
    }

    /// Money columns computed as a `sum`: each source header naming a unit must name the one
    /// the sum is read in (as for a money column of the file itself).
    fn sum_units<'c>(
        &mut self,
        file: &FileRef,
        shape: &Shape,
        money: impl IntoIterator<Item = (&'c str, Unit)>,
    ) {
        for (column, unit) in money {
            for d in shape.derived.iter().filter(|d| d.name == column) {
                if let DeriveOp::Sum(cs) = &d.op {
                    for c in cs {
                        self.header_unit(file, c, unit, &d.key);
                    }
                }
            }
        }
    }

    /// The name columns of a source's enum facts.
    fn enum_names(&self, facts: &[FactCol]) -> Vec<NameCol> {
        let p = self.program;
        facts
            .iter()
            .filter_map(|fc| match fc.ty {
                Ty::Enum(e) => Some(NameCol {
                    column: fc.column.clone(),
                    names: p.enums[e].variants.clone(),
                    empty_ok: true,
                    zh: format!("枚举 {} 的取值", p.enums[e].name),
                    en: format!("a value of enum {}", p.enums[e].name),
                }),
                _ => None,
            })
            .collect()
    }

    /// A section's filters, derived columns, value maps and unknown-name policy, checked:
    /// `names` are its name columns (what `values` and `unknown` may name).
    fn shape(&mut self, key: &str, r: RawShape<'_>, names: &[NameCol], used: &[&str]) -> Shape {
        let mut out = Shape::default();
        // A derived column is used by the section, or (an error reported below) by another.
        let sources: Vec<&str> = (r.derive.values())
            .flat_map(|d| {
                let one = [&d.year_of, &d.month_of].into_iter().flatten();
                one.chain(d.sum.iter().flatten()).map(|c| c.trim())
            })
            .collect();
        for (name, d) in r.derive {
            let k = format!("{key}.derive.{name}");
            let name = name.trim();
            if name.is_empty() {
                self.err(
                    &k,
                    "派生列的名字为空".into(),
                    "the derived column's name is empty".into(),
                );
                continue;
            }
            let mut ops = vec![];
            if let Some(c) = &d.year_of {
                ops.push(DeriveOp::YearOf(c.trim().into()));
            }
            if let Some(c) = &d.month_of {
                ops.push(DeriveOp::MonthOf(c.trim().into()));
            }
            if let Some(v) = &d.constant {
                match v {
                    toml::Value::String(t) => ops.push(DeriveOp::Const(t.trim().into())),
                    toml::Value::Integer(i) => ops.push(DeriveOp::Const(i.to_string())),
                    _ => {
                        self.err(
                            &format!("{k}.const"),
                            "const 应为文本或整数，如 const = \"宁波高新区\" 或 const = 2023".into(),
                            "const must be a text or a whole number, e.g. const = \"宁波高新区\" or const = 2023".into(),
                        );
                        continue;
                    }
                }
            }
            if let Some(cs) = &d.sum {
                if cs.is_empty() {
                    self.err(
                        &format!("{k}.sum"),
                        "sum 至少要列出一列，如 sum = [\"本金\", \"利息\"]".into(),
                        "sum needs at least one column, e.g. sum = [\"本金\", \"利息\"]".into(),
                    );
                    continue;
                }
                ops.push(DeriveOp::Sum(
                    cs.iter().map(|c| c.trim().to_string()).collect(),
                ));
            }
            if ops.len() != 1 {
                self.err(
                    &k,
                    "派生列须恰好写一种算法：year_of（日期列的年份）、month_of（日期列的月份）、const（固定值）或 sum（数值列之和）".into(),
                    "a derived column takes exactly one of year_of (a date column's year), month_of (its month), const (a fixed text) or sum (number columns added up)".into(),
                );
                continue;
            }
            if !used.contains(&name) && !sources.contains(&name) {
                self.err(
                    &k,
                    format!("本节没有用到派生列 `{name}`：它应是本节某个列名（如 year、facts 中的列）；本节用到的列有：{}", used.join("、")),
                    format!("this section uses no column `{name}`: a derived column is one the section names (in year, facts, …); the section's columns are: {}", used.join(", ")),
                );
                continue;
            }
            out.derived.push(Derived {
                name: name.into(),
                key: k,
                op: ops.remove(0),
            });
        }
        let derived: Vec<String> = out.derived.iter().map(|d| d.name.clone()).collect();
        for d in &out.derived {
            for src in d.op.sources() {
                if src.is_empty() {
                    self.err(
                        &d.key,
                        "列名为空".into(),
                        "the column header is empty".into(),
                    );
                } else if derived.iter().any(|x| x == src) {
                    self.err(
                        &d.key,
                        format!("派生列只能由文件中的列算出，`{src}` 本身是派生列"),
                        format!("a derived column is computed from the file's columns; `{src}` is itself derived"),
                    );
                }
            }
        }
        for (neg, map, word) in [(false, r.where_, "where"), (true, r.where_not, "where_not")] {
            for (col, v) in map {
                let k = format!("{key}.{word}.{col}");
                let col = col.trim();
                if col.is_empty() {
                    self.err(&k, "列名为空".into(), "the column header is empty".into());
                    continue;
                }
                if derived.iter().any(|x| x == col) {
                    self.err(
                        &k,
                        format!("{word} 比较的是文件中的单元格（在派生与 values 映射之前），派生列 `{col}` 不能用作筛选条件"),
                        format!("{word} compares the file's cells (before derived columns and value maps); the derived column `{col}` cannot be a filter"),
                    );
                    continue;
                }
                let Some(texts) = filter_texts(v) else {
                    self.err(
                        &k,
                        "筛选条件应为文本、整数或它们的列表，如 \"\"（空）、\"存续\"、[\"01\", \"02\"]".into(),
                        "a filter is a text, a whole number or a list of them, e.g. \"\" (empty), \"存续\", [\"01\", \"02\"]".into(),
                    );
                    continue;
                };
                out.filters.push(Filter {
                    column: col.into(),
                    key: k,
                    texts,
                    keep: !neg,
                });
            }
        }
        let list = |names: &[NameCol], sep: &str| -> String {
            let mut cols: Vec<&str> = names.iter().map(|n| n.column.as_str()).collect();
            cols.dedup();
            if cols.is_empty() {
                "—".into()
            } else {
                cols.join(sep)
            }
        };
        for (col, m) in r.values {
            let k = format!("{key}.values.{col}");
            let col = col.trim();
            let roles: Vec<&NameCol> = names.iter().filter(|n| n.column == col).collect();
            if roles.is_empty() {
                self.err(
                    &k,
                    format!("values 只能用于取值为名称的列（枚举事实、事件取值、事实名、条款、分项、园区）；本节这样的列有：{}", list(names, "、")),
                    format!("values applies to columns of names (enum facts, event values, fact names, clauses, tranches, zones); this section's are: {}", list(names, ", ")),
                );
                continue;
            }
            let mut mm = BTreeMap::new();
            for (code, target) in m {
                let kc = format!("{k}.{code}");
                let (code, target) = (code.trim(), target.trim());
                for role in &roles {
                    if target.is_empty() && !role.empty_ok {
                        self.err(
                            &kc,
                            format!("此列不能为空，`{code}` 不能映射为空文本"),
                            format!(
                                "this column cannot be empty; `{code}` cannot map to an empty text"
                            ),
                        );
                    } else if !target.is_empty() && !role.names.iter().any(|n| n == target) {
                        self.err(
                            &kc,
                            format!(
                                "`{target}` 不是{}；可用：{}",
                                role.zh,
                                role.names
                                    .iter()
                                    .filter(|n| !n.is_empty())
                                    .cloned()
                                    .collect::<Vec<_>>()
                                    .join("、")
                            ),
                            format!(
                                "`{target}` is not {}; use one of: {}",
                                role.en,
                                role.names
                                    .iter()
                                    .filter(|n| !n.is_empty())
                                    .cloned()
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        );
                    }
                }
                mm.insert(code.to_string(), target.to_string());
            }
            out.values.insert(col.into(), mm);
        }
        let policy = |s: &str| match s.trim() {
            "ignore" => Some(true),
            "refuse" => Some(false),
            _ => None,
        };
        let bad_policy = |this: &mut Self, k: &str, s: &str| {
            this.err(
                k,
                format!("unknown 应为 \"ignore\"（不认识的名称跳过并计数）或 \"refuse\"（默认：报错），实为 `{s}`"),
                format!("unknown must be \"ignore\" (names the pack does not know are passed over and counted) or \"refuse\" (the default: an error), not `{s}`"),
            );
        };
        let ku = format!("{key}.unknown");
        match r.unknown {
            None => {}
            Some(UnknownSpec::All(v)) => match policy(v) {
                Some(true) if names.is_empty() => self.err(
                    &ku,
                    "本节没有取值为名称的列（枚举事实、事件取值、事实名、条款、分项、园区），unknown 无处可用".into(),
                    "this section has no column of names (enum facts, event values, fact names, clauses, tranches, zones) for unknown to apply to".into(),
                ),
                Some(true) => out
                    .ignore_unknown
                    .extend(names.iter().map(|n| n.column.clone())),
                Some(false) => {}
                None => bad_policy(self, &ku, v),
            },
            Some(UnknownSpec::Columns(m)) => {
                for (col, v) in m {
                    let k = format!("{ku}.{col}");
                    let col = col.trim();
                    if !names.iter().any(|n| n.column == col) {
                        self.err(
                            &k,
                            format!("unknown 只能用于取值为名称的列；本节这样的列有：{}", list(names, "、")),
                            format!("unknown applies to columns of names; this section's are: {}", list(names, ", ")),
                        );
                        continue;
                    }
                    match policy(v) {
                        Some(true) => {
                            out.ignore_unknown.insert(col.into());
                        }
                        Some(false) => {}
                        None => bad_policy(self, &k, v),
                    }
                }
            }
        }
        out
    }

    fn period(&mut self, key: &str, s: &PeriodSource, kind: PeriodKind) -> PeriodPlan {
        let file = self.file(key, &s.file, &s.sheet, &s.encoding, &s.delimiter);
        let unit = self.unit(&format!("{key}.unit"), &s.unit, Unit::Yuan);
        let bools = self.bools(&format!("{key}.bools"), &s.bools, &BoolWords::default());
        match (kind, &s.month) {
            (PeriodKind::Month, None) => self.err(
                &format!("{key}.month"),
                "按月数据源缺少 month（月份列）".into(),
                "a monthly source needs `month` (the month column)".into(),
            ),
            (PeriodKind::Year, Some(_)) => self.err(
                &format!("{key}.month"),
                "按年数据源不能有 month；按月数据请写在 [[monthly]] 中".into(),
                "a yearly source has no `month`; put monthly data in [[monthly]]".into(),
            ),
            _ => {}
        }
        let facts = self.fact_cols(key, &file, &s.facts, kind, unit, &bools);
        let names = self.enum_names(&facts);
        let mut used: Vec<&str> = vec![s.id.trim(), s.year.trim()];
        used.extend(s.month.as_deref().map(str::trim));
        used.extend(facts.iter().map(|f| f.column.as_str()));
        let shape = self.shape(key, raw_shape!(s), &names, &used);
        self.sum_units(&file, &shape, money_cols(&facts));
        PeriodPlan {
            file,
            id: s.id.trim().into(),
            year: s.year.trim().into(),
            month: s.month.as_ref().map(|m| m.trim().to_string()),
            facts,
            shape,
        }
    }

    /// An event source's `fields`: each key names a field of the source's fact (`本金`), or
    /// with a fact column a fact and its field (`贷款.本金`). A fixed fact's every field needs
    /// its column: money left out of a mapping would be missing without anyone noticing.
    fn event_fields(
        &mut self,
        key: &str,
        file: &FileRef,
        fact: &EventFact,
        fields: &BTreeMap<String, FactColumn>,
        unit: Unit,
    ) -> Vec<FieldCol> {
        let p = self.program;
        let fkey = format!("{key}.fields");
        let mut out: Vec<FieldCol> = vec![];
        if let EventFact::Fixed(f) = fact {
            let fact = &p.facts[*f];
            if fact.fields.is_empty() && !fields.is_empty() {
                self.err(
                    &fkey,
                    format!(
                        "事件 `{}` 没有声明字段（field），不能给出 fields",
                        fact.name
                    ),
                    format!(
                        "event fact `{}` declares no fields; remove `fields`",
                        fact.name
                    ),
                );
                return out;
            }
        }
        let bools = BoolWords::default();
        for (name, col) in fields {
            let k = format!("{fkey}.{name}");
            let name = name.trim();
            let Some((f, j)) = self.field_of(&k, fact, name) else {
                continue;
            };
            if out.iter().any(|c| (c.col.fact, c.field) == (f, j)) {
                let c = event_field_col(&p.facts[f].name, &p.facts[f].fields[j].name);
                self.err(
                    &k,
                    format!("字段 `{c}` 映射了两次"),
                    format!("field `{c}` is mapped twice"),
                );
                continue;
            }
            let (fname, field) = (&p.facts[f].name, &p.facts[f].fields[j]);
            let subject = Subject::field(fname, &field.name);
            if let Some(col) = self.column(&k, file, &subject, f, field.ty, col, unit, &bools) {
                out.push(FieldCol { field: j, col });
            }
        }
        if let EventFact::Fixed(f) = fact {
            let fact = &p.facts[*f];
            let missing: Vec<&str> = (fact.fields.iter().enumerate())
                .filter(|(j, _)| {
                    !fields
                        .keys()
                        .any(|k| self.field_of_quiet(*f, k.trim()) == Some(*j))
                })
                .map(|(_, x)| x.name.as_str())
                .collect();
            if !missing.is_empty() {
                let example = missing
                    .iter()
                    .map(|m| format!("\"{m}\" = \"…\""))
                    .collect::<Vec<_>>()
                    .join(", ");
                self.err(
                    &fkey,
                    format!(
                        "事件 `{}` 的字段 {} 没有映射列：每个字段都须给出所在列（空单元格即为缺失），如 fields = {{ {example} }}",
                        fact.name,
                        missing.join("、")
                    ),
                    format!(
                        "no column for field(s) {} of event fact `{}`: every field needs its column (an empty cell is missing data), e.g. fields = {{ {example} }}",
                        missing.join(", "),
                        fact.name
                    ),
                );
            }
        }
        out
    }

    /// The field `name` of the fixed fact `f` (its name, or `fact.field`), without reporting.
    fn field_of_quiet(&self, f: FactId, name: &str) -> Option<usize> {
        let fact = &self.program.facts[f];
        fact.fields
            .iter()
            .position(|x| x.name == name || event_field_col(&fact.name, &x.name) == name)
    }

    /// The (fact, field) a `fields` key names, or None after reporting why not.
    fn field_of(&mut self, k: &str, fact: &EventFact, name: &str) -> Option<(FactId, usize)> {
        let p = self.program;
        match fact {
            EventFact::Fixed(f) => {
                let found = self.field_of_quiet(*f, name);
                if found.is_none() {
                    let fact = &p.facts[*f];
                    let (zh, en) = crate::schema::field_list(fact);
                    self.err(
                        k,
                        format!("事件 `{}` 没有字段 `{name}`；它的字段有：{zh}", fact.name),
                        format!(
                            "event fact `{}` has no field `{name}`; its fields are: {en}",
                            fact.name
                        ),
                    );
                }
                found.map(|j| (*f, j))
            }
            EventFact::Column(_) => {
                let all: Vec<(FactId, usize)> = (0..p.facts.len())
                    .filter(|&f| p.facts[f].kind == PeriodKind::Event)
                    .flat_map(|f| (0..p.facts[f].fields.len()).map(move |j| (f, j)))
                    .collect();
                let col = |&(f, j): &(FactId, usize)| {
                    event_field_col(&p.facts[f].name, &p.facts[f].fields[j].name)
                };
                if let Some(x) = all.iter().find(|x| col(x) == name) {
                    return Some(*x);
                }
                let mut names: Vec<String> = all.iter().map(col).collect();
                if names.is_empty() {
                    names.push("—".into());
                }
                self.err(
                    k,
                    format!(
                        "没有字段 `{name}`：按 fact_column 读取时，键写作“事实.字段”；可用：{}",
                        names.join("、")
                    ),
                    format!(
                        "no field `{name}`: with fact_column, a key names the fact and its field (`fact.field`); available: {}",
                        names.join(", ")
                    ),
                );
                None
            }
        }
    }

    /// An event source's name columns: the value column (a fixed fact's enum, or with a fact
    /// column any event fact's) and the fact column.
    fn event_names(&self, fact: &EventFact, value: Option<&str>) -> Vec<NameCol> {
        let p = self.program;
        let mut out = vec![];
        match fact {
            EventFact::Fixed(f) => {
                if let (Ty::Enum(e), Some(v)) = (p.facts[*f].ty, value) {
                    out.push(NameCol {
                        column: v.into(),
                        names: p.enums[e].variants.clone(),
                        empty_ok: false,
                        zh: format!("枚举 {} 的取值", p.enums[e].name),
                        en: format!("a value of enum {}", p.enums[e].name),
                    });
                }
            }
            EventFact::Column(c) => {
                let events = || p.facts.iter().filter(|f| f.kind == PeriodKind::Event);
                out.push(NameCol {
                    column: c.clone(),
                    names: events().map(|f| f.name.clone()).collect(),
                    empty_ok: false,
                    zh: "政策包中的事件事实".into(),
                    en: "an event fact of the pack".into(),
                });
                if let Some(v) = value {
                    let mut names: Vec<String> = vec![];
                    for f in events() {
                        if let Ty::Enum(e) = f.ty {
                            for x in &p.enums[e].variants {
                                if !names.contains(x) {
                                    names.push(x.clone());
                                }
                            }
                        }
                    }
                    out.push(NameCol {
                        column: v.into(),
                        names,
                        empty_ok: true,
                        zh: "任何带枚举值的事件事实的取值".into(),
                        en: "a value of any enum-valued event fact".into(),
                    });
                }
            }
        }
        out
    }

    /// An award source's name columns: the clause and the tranche.
    fn award_names(&self, clause: &str, tranche: Option<&str>) -> Vec<NameCol> {
        let p = self.program;
        let mut out = vec![NameCol {
            column: clause.into(),
            names: p.clauses.iter().map(|c| c.name.clone()).collect(),
            empty_ok: false,
            zh: "政策包中的条款".into(),
            en: "a clause of the pack".into(),
        }];
        if let Some(t) = tranche {
            let mut names: Vec<String> = vec![];
            for c in 0..p.clauses.len() {
                for x in tranche_names(p, c) {
                    if !x.is_empty() && !names.contains(&x) {
                        names.push(x);
                    }
                }
            }
            out.push(NameCol {
                column: t.into(),
                names,
                empty_ok: true,
                zh: "任何条款的分项（分期或阶段）".into(),
                en: "a tranche (or stage) of some clause".into(),
            });
        }
        out
    }

    fn check(mut self, m: Mapping) -> Result<Plan, Vec<DataError>> {
        let f = &m.firms;
        let file = self.file("firms", &f.file, &f.sheet, &f.encoding, &f.delimiter);
        let unit = self.unit("firms.unit", &f.unit, Unit::Yuan);
        let bools = self.bools("firms.bools", &f.bools, &BoolWords::default());
        let facts = self.fact_cols("firms", &file, &f.facts, PeriodKind::Static, unit, &bools);
        let names = self.enum_names(&facts);
        let mut used: Vec<&str> = vec![f.id.trim(), f.name.trim()];
        used.extend(facts.iter().map(|f| f.column.as_str()));
        let shape = self.shape("firms", raw_shape!(f), &names, &used);
        self.sum_units(&file, &shape, money_cols(&facts));
        let firms = FirmPlan {
            file,
            id: f.id.trim().into(),
            name: f.name.trim().into(),
            facts,
            shape,
        };
        let yearly = (m.yearly.iter().enumerate())
            .map(|(i, s)| self.period(&format!("yearly[{i}]"), s, PeriodKind::Year))
            .collect();
        let monthly = (m.monthly.iter().enumerate())
            .map(|(i, s)| self.period(&format!("monthly[{i}]"), s, PeriodKind::Month))
            .collect();
        let mut events = vec![];
        for (i, s) in m.events.iter().enumerate() {
            let key = format!("events[{i}]");
            let file = self.file(&key, &s.file, &s.sheet, &s.encoding, &s.delimiter);
            let fact = match (&s.fact, &s.fact_column) {
                (Some(name), None) => {
                    let Some(id) =
                        self.fact(&format!("{key}.fact"), name.trim(), PeriodKind::Event)
                    else {
                        continue;
                    };
                    let enum_valued = matches!(self.program.facts[id].ty, Ty::Enum(_));
                    if enum_valued && s.value.is_none() {
                        self.err(
                            &format!("{key}.value"),
                            format!("事件 `{name}` 带枚举值，需要 value（取值列）"),
                            format!(
                                "event fact `{name}` carries a value; give `value` (its column)"
                            ),
                        );
                    }
                    if !enum_valued && s.value.is_some() {
                        self.err(
                            &format!("{key}.value"),
                            format!("事件 `{name}` 不带取值，不能指定 value"),
                            format!("event fact `{name}` carries no value; remove `value`"),
                        );
                    }
                    EventFact::Fixed(id)
                }
                (None, Some(col)) => EventFact::Column(col.trim().into()),
                _ => {
                    self.err(
                        &key,
                        "事件数据源需要 fact（固定事实名）或 fact_column（事实名所在列），二者取一".into(),
                        "an event source needs exactly one of `fact` (a fact name) or `fact_column` (the column naming the fact)".into(),
                    );
                    continue;
                }
            };
            let unit = self.unit(&format!("{key}.unit"), &s.unit, Unit::Yuan);
            let fields = self.event_fields(&key, &file, &fact, &s.fields, unit);
            let value = s.value.as_ref().map(|x| x.trim().to_string());
            let names = self.event_names(&fact, value.as_deref());
            let mut used: Vec<&str> = vec![s.id.trim(), s.date.trim()];
            if let EventFact::Column(c) = &fact {
                used.push(c);
            }
            used.extend(s.until.as_deref().map(str::trim));
            used.extend(value.as_deref());
            used.extend(fields.iter().map(|f| f.col.column.as_str()));
            let shape = self.shape(&key, raw_shape!(s), &names, &used);
            let cols: Vec<FactCol> = fields.iter().map(|f| f.col.clone()).collect();
            self.sum_units(&file, &shape, money_cols(&cols));
            let keep_one = self.keep_one(&key, &s.duplicates);
            events.push(EventPlan {
                file,
                id: s.id.trim().into(),
                fact,
                date: s.date.trim().into(),
                until: s.until.as_ref().map(|x| x.trim().to_string()),
                value,
                fields,
                shape,
                keep_one,
            });
        }
        let mut awards = vec![];
        for (i, s) in m.awards.iter().enumerate() {
            let key = format!("awards[{i}]");
            let file = self.file(&key, &s.file, &s.sheet, &s.encoding, &s.delimiter);
            let unit = self.unit(&format!("{key}.unit"), &s.unit, Unit::Yuan);
            self.header_unit(&file, s.amount.trim(), unit, &format!("{key}.unit"));
            let (period, by_date) = match (&s.period, &s.date) {
                (Some(p), None) => (p.trim().to_string(), false),
                (None, Some(d)) => (d.trim().to_string(), true),
                _ => {
                    self.err(
                        &format!("{key}.period"),
                        "兑现记录需要 period（年度列）或 date（日期列，取其年份为年度）二者之一".into(),
                        "an award source needs exactly one of `period` (the year column) or `date` (a date column; the period is its year)".into(),
                    );
                    continue;
                }
            };
            let clause = s.clause.trim().to_string();
            let tranche = s.tranche.as_ref().map(|x| x.trim().to_string());
            let names = self.award_names(&clause, tranche.as_deref());
            let mut used: Vec<&str> = vec![s.id.trim(), &clause, &period, s.amount.trim()];
            used.extend(tranche.as_deref());
            let shape = self.shape(&key, raw_shape!(s), &names, &used);
            self.sum_units(&file, &shape, [(s.amount.trim(), unit)]);
            let keep_one = self.keep_one(&key, &s.duplicates);
            awards.push(AwardPlan {
                file,
                id: s.id.trim().into(),
                clause,
                period,
                by_date,
                tranche,
                amount: s.amount.trim().into(),
                unit,
                shape,
                keep_one,
            });
        }
        let mut projects = vec![];
        for (i, s) in m.projects.iter().enumerate() {
            let key = format!("projects[{i}]");
            let file = self.file(&key, &s.file, &s.sheet, &s.encoding, &s.delimiter);
            let unit = self.unit(&format!("{key}.unit"), &s.unit, Unit::Yuan);
            self.header_unit(&file, s.investment.trim(), unit, &format!("{key}.unit"));
            let zf = s.zone_fact.trim();
            let zones = match self
                .program
                .fact_by_name(zf)
                .map(|id| &self.program.facts[id])
            {
                Some(f) if f.kind == PeriodKind::Event => match f.ty {
                    Ty::Enum(e) => self.program.enums[e].variants.clone(),
                    _ => vec![],
                },
                _ => vec![],
            };
            if zones.is_empty() {
                self.err(
                    &format!("{key}.zone_fact"),
                    format!("zone_fact `{zf}` 应是政策包中带枚举值的事件事实（如 所属园区）"),
                    format!("zone_fact `{zf}` must be an event fact of the pack with enum values (such as 所属园区)"),
                );
            }
            let names: Vec<NameCol> = if zones.is_empty() {
                vec![]
            } else {
                vec![NameCol {
                    column: s.zone.trim().into(),
                    names: zones.clone(),
                    empty_ok: false,
                    zh: format!("`{zf}` 的取值"),
                    en: format!("a value of `{zf}`"),
                }]
            };
            let mut used: Vec<&str> = vec![
                s.id.trim(),
                s.name.trim(),
                s.zone.trim(),
                s.year.trim(),
                s.month.trim(),
                s.investment.trim(),
            ];
            used.extend(s.firm.as_deref().map(str::trim));
            let shape = self.shape(&key, raw_shape!(s), &names, &used);
            self.sum_units(&file, &shape, [(s.investment.trim(), unit)]);
            projects.push(ProjectPlan {
                file,
                id: s.id.trim().into(),
                name: s.name.trim().into(),
                zone: s.zone.trim().into(),
                zones,
                firm: s.firm.as_ref().map(|x| x.trim().to_string()),
                year: s.year.trim().into(),
                month: s.month.trim().into(),
                investment: s.investment.trim().into(),
                unit,
                shape,
            });
        }
        if self.errors.is_empty() {
            Ok(Plan {
                firms,
                yearly,
                monthly,
                events,
                awards,
                projects,
            })
        } else {
            Err(self.errors)
        }
    }
}
