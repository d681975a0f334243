//! An indicator set: a directory of TOML files (`[set]`, `[[indicator]]`, `[[target]]`),
//! loaded, checked and hashed like a policy pack. Every error names `file:line:col` and says
//! how to fix it; a set that loads is internally consistent (ids unique, ratios over sums and
//! counts, targets on known indicators). [`IndicatorSet::check_schema`] then checks it against
//! a snapshot's schema (facts exist, with the period and type each use needs).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use toml::Spanned;

use crate::error::Error;

/// What an indicator aggregates over its firm set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Measure {
    /// Σ of a money or count fact: months 1..=M of the year for a monthly fact (累计), the
    /// year's value for a yearly one.
    Sum,
    /// The number of firms in the set (a stock at the period's end).
    Count,
    /// Firms whose first-ever record of an event fact (with one of `values`) falls in
    /// 1..=M月 of the year: 新增, where a renewal is not new.
    New,
    /// `numerator` ÷ `denominator`, two other indicators of the set.
    Ratio,
    /// Firms a run selected for `clause` (qualified and within its places — a 遴选 such as
    /// 瞪羚): read from the run's results, not from the snapshot.
    Selected,
    /// 固投: Σ of the investment completed 1..=M月 by the projects in the zone (the snapshot's
    /// projects table); its "firms" are projects.
    Investment,
}

impl Measure {
    fn parse(s: &str) -> Option<Measure> {
        Some(match s {
            "sum" => Measure::Sum,
            "count" => Measure::Count,
            "new" => Measure::New,
            "ratio" => Measure::Ratio,
            "selected" => Measure::Selected,
            "investment" => Measure::Investment,
            _ => return None,
        })
    }
    /// Figures that accumulate over the months of a year (a 序时进度 applies by default).
    pub fn cumulative(self) -> bool {
        matches!(self, Measure::Sum | Measure::New | Measure::Investment)
    }
}

/// The unit a figure is shown in; figures are stored exact (元, firms, or a fraction).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Yuan,
    Wan,
    Yi,
    Firms,
    Percent,
}

impl Unit {
    fn parse(s: &str) -> Option<Unit> {
        Some(match s {
            "元" => Unit::Yuan,
            "万元" => Unit::Wan,
            "亿元" => Unit::Yi,
            "家" => Unit::Firms,
            "%" => Unit::Percent,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Yuan => "元",
            Unit::Wan => "万元",
            Unit::Yi => "亿元",
            Unit::Firms => "家",
            Unit::Percent => "%",
        }
    }
    /// How many stored units (元, firms, or 1 = 100%) one shown unit is.
    pub fn factor(self) -> Decimal {
        match self {
            Unit::Yuan | Unit::Firms => Decimal::ONE,
            Unit::Wan => Decimal::from(10_000),
            Unit::Yi => Decimal::from(100_000_000),
            Unit::Percent => Decimal::new(1, 2),
        }
    }
    fn money(self) -> bool {
        matches!(self, Unit::Yuan | Unit::Wan | Unit::Yi)
    }
}

/// One condition of a firm set: a fact and the values that pass.
#[derive(Clone, Debug, PartialEq)]
pub struct Cond {
    pub fact: String,
    pub test: Test,
    /// Where it was written, for diagnostics against a snapshot's schema.
    pub at: Loc,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Test {
    /// An enum fact (static, per year, or an event's value held at the as-of date) in a list.
    OneOf(Vec<String>),
    /// A bool fact, or whether an event record (without a value) is held at the as-of date.
    Is(bool),
}

#[derive(Clone, Debug)]
pub struct Indicator {
    pub id: String,
    pub label: String,
    pub measure: Measure,
    /// The fact summed (Sum) or whose first record counts (New).
    pub fact: Option<String>,
    /// Event values that count for New (empty: any record).
    pub values: Vec<String>,
    pub conds: Vec<Cond>,
    pub numerator: Option<String>,
    pub denominator: Option<String>,
    /// The clause whose selection a `selected` indicator counts.
    pub clause: Option<String>,
    /// Which run a `selected` indicator reads: the one whose period is the indicator's year plus
    /// this (0, or −1 when a year's selection is made on the previous year's annual figures).
    pub run_offset: i32,
    pub unit: Unit,
    pub source: String,
    pub definition: String,
    /// Zones the indicator is reported for (empty: every zone).
    pub zones: Vec<String>,
    /// A heading that groups indicators on the dashboard.
    pub group: String,
    pub at: Loc,
}

/// How a target's 序时进度 is paced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pace {
    /// M/12 after month M: cumulative figures.
    Months,
    /// 100% whatever the month: a stock that must stand at the target by year end.
    YearEnd,
}

#[derive(Clone, Debug)]
pub struct Target {
    pub indicator: String,
    pub zone: String,
    pub year: i32,
    /// In the indicator's unit (`value`), or a growth in percent (`growth`).
    pub value: Option<Decimal>,
    pub growth: Option<Decimal>,
    pub department: String,
    pub pace: Pace,
}

/// A loaded set.
#[derive(Clone, Debug)]
pub struct IndicatorSet {
    pub name: String,
    pub version: String,
    /// The event fact whose value names a firm's zone.
    pub zone_fact: String,
    /// 序时进度 colour: amber when the gap is within this many percentage points, red below.
    pub amber_pp: Decimal,
    /// Cells of fewer firms than this are suppressed outside officer roles (统计法).
    pub min_cell: u64,
    pub indicators: Vec<Indicator>,
    pub targets: Vec<Target>,
    /// SHA-256 over the set's files (name, a zero byte, bytes; in name order).
    pub hash: String,
    pub dir: PathBuf,
}

/// A position in one of the set's files.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Loc {
    pub file: String,
    pub line: usize,
    pub col: usize,
}

impl std::fmt::Display for Loc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

fn loc(file: &str, text: &str, offset: usize) -> Loc {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Loc {
        file: file.to_string(),
        line,
        col,
    }
}

// The files as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFile {
    set: Option<Spanned<RawHead>>,
    #[serde(default)]
    indicator: Vec<Spanned<RawIndicator>>,
    #[serde(default)]
    target: Vec<Spanned<RawTarget>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHead {
    name: String,
    version: String,
    zone_fact: String,
    amber_pp: Option<Spanned<toml::Value>>,
    min_cell: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIndicator {
    id: Spanned<String>,
    label: Option<String>,
    measure: Spanned<String>,
    fact: Option<Spanned<String>>,
    #[serde(default)]
    values: Vec<String>,
    #[serde(rename = "where", default)]
    conds: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    numerator: Option<Spanned<String>>,
    denominator: Option<Spanned<String>>,
    clause: Option<Spanned<String>>,
    data_year: Option<Spanned<String>>,
    unit: Spanned<String>,
    source: String,
    definition: String,
    #[serde(default)]
    zones: Vec<String>,
    #[serde(default)]
    group: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    indicator: Spanned<String>,
    zone: String,
    year: i32,
    value: Option<Spanned<toml::Value>>,
    growth: Option<Spanned<toml::Value>>,
    department: String,
    pace: Option<Spanned<String>>,
}

/// A number written as a TOML integer, float-looking literal or string, read exactly from its
/// text (never through f64: `2000.1` stays 2000.1).
fn number(file: &str, text: &str, v: &Spanned<toml::Value>) -> Result<Decimal, Error> {
    let span = v.span();
    let raw = match v.get_ref() {
        toml::Value::String(s) => s.trim().trim_end_matches('%').to_string(),
        toml::Value::Integer(_) | toml::Value::Float(_) => text[span.clone()].replace('_', ""),
        _ => String::new(),
    };
    raw.parse::<Decimal>().map_err(|_| {
        Error::at(
            loc(file, text, span.start),
            "应为数字（如 100、2000.5 或 \"5.7%\"）".into(),
            "expected a number (like 100, 2000.5 or \"5.7%\")".into(),
        )
    })
}

impl IndicatorSet {
    /// Loads every `*.toml` of `dir` (in name order) as one set.
    pub fn load(dir: &Path) -> Result<IndicatorSet, Error> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| Error::io(dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        if paths.is_empty() {
            return Err(Error::plain(
                format!("{}：没有指标文件（*.toml）", dir.display()),
                format!("{}: no indicator files (*.toml)", dir.display()),
            ));
        }
        let mut hasher = Sha256::new();
        let mut head: Option<(RawHead, Loc, String, String)> = None;
        let mut indicators = vec![];
        let mut raw_targets = vec![];
        for p in &paths {
            let bytes = std::fs::read(p).map_err(|e| Error::io(p, e))?;
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            hasher.update(name.as_bytes());
            hasher.update([0]);
            hasher.update(&bytes);
            let file = p.display().to_string();
            let text = String::from_utf8(bytes).map_err(|_| {
                Error::plain(
                    format!("{file}：不是 UTF-8 文本"),
                    format!("{file}: not UTF-8 text"),
                )
            })?;
            let raw: RawFile = toml::from_str(&text).map_err(|e| {
                let start = e.span().map_or(0, |s| s.start);
                let at = loc(&file, &text, start);
                // TOML's bare keys are ASCII only: `行业 = …` must be written `"行业" = …`.
                let cjk_key = text
                    .get(start..)
                    .and_then(|t| t.chars().next())
                    .is_some_and(|c| !c.is_ascii());
                let (hz, he) = if cjk_key {
                    (
                        "\n  提示：中文键名须加引号，如 \"行业\" = \"制造业\"",
                        "\n  hint: quote non-ASCII keys, e.g. \"行业\" = \"制造业\"",
                    )
                } else {
                    ("", "")
                };
                Error::at(
                    at,
                    format!("{}{hz}", e.message()),
                    format!("{}{he}", e.message()),
                )
            })?;
            if let Some(h) = raw.set {
                let at = loc(&file, &text, h.span().start);
                if let Some((_, first, _, _)) = &head {
                    return Err(Error::at(
                        at,
                        format!("[set] 只能写一次（已在 {first} 写过）"),
                        format!("[set] may appear once (already at {first})"),
                    ));
                }
                head = Some((h.into_inner(), at, file.clone(), text.clone()));
            }
            for i in raw.indicator {
                indicators.push(indicator(&file, &text, i)?);
            }
            for t in raw.target {
                raw_targets.push((file.clone(), text.clone(), t));
            }
        }
        let Some((head, _, hfile, htext)) = head else {
            return Err(Error::plain(
                format!("{}：缺少 [set]（name、version、zone_fact）", dir.display()),
                format!(
                    "{}: no [set] table (name, version, zone_fact)",
                    dir.display()
                ),
            ));
        };
        let amber_pp = match &head.amber_pp {
            Some(v) => number(&hfile, &htext, v)?,
            None => Decimal::from(5),
        };
        let mut ids: HashMap<String, Loc> = HashMap::new();
        for i in &indicators {
            if let Some(first) = ids.insert(i.id.clone(), i.at.clone()) {
                return Err(Error::at(
                    i.at.clone(),
                    format!("指标“{}”重复（首次在 {first}）", i.id),
                    format!("indicator `{}` is defined twice (first at {first})", i.id),
                ));
            }
        }
        let by_id: HashMap<&str, &Indicator> =
            indicators.iter().map(|i| (i.id.as_str(), i)).collect();
        for i in &indicators {
            for part in [&i.numerator, &i.denominator].into_iter().flatten() {
                match by_id.get(part.as_str()) {
                    None => {
                        return Err(Error::at(
                            i.at.clone(),
                            format!("比率指标“{}”引用了不存在的指标“{part}”", i.id),
                            format!("ratio `{}` refers to `{part}`, which is not defined", i.id),
                        ))
                    }
                    Some(p) if p.measure == Measure::Ratio => {
                        return Err(Error::at(
                            i.at.clone(),
                            format!("比率指标“{}”的分子分母须是合计或计数，“{part}”是比率", i.id),
                            format!(
                                "ratio `{}`: `{part}` is itself a ratio; use sums or counts",
                                i.id
                            ),
                        ))
                    }
                    _ => {}
                }
            }
        }
        let mut targets = vec![];
        for (file, text, t) in raw_targets {
            let at = loc(&file, &text, t.span().start);
            let t = t.into_inner();
            let iat = loc(&file, &text, t.indicator.span().start);
            let Some(ind) = by_id.get(t.indicator.get_ref().as_str()) else {
                return Err(Error::at(
                    iat,
                    format!("目标引用了不存在的指标“{}”", t.indicator.get_ref()),
                    format!(
                        "the target names `{}`, which is not defined",
                        t.indicator.get_ref()
                    ),
                ));
            };
            let value = t
                .value
                .as_ref()
                .map(|v| number(&file, &text, v))
                .transpose()?;
            let growth = t
                .growth
                .as_ref()
                .map(|v| number(&file, &text, v))
                .transpose()?;
            if value.is_some() == growth.is_some() {
                return Err(Error::at(
                    at,
                    "目标须写 value（数值）或 growth（增速）之一".into(),
                    "a target has exactly one of `value` and `growth`".into(),
                ));
            }
            let pace = match t.pace.as_ref().map(|p| p.get_ref().as_str()) {
                None if ind.measure.cumulative() => Pace::Months,
                None => Pace::YearEnd,
                Some("months") => Pace::Months,
                Some("year_end") => Pace::YearEnd,
                Some(other) => {
                    return Err(Error::at(
                        loc(&file, &text, t.pace.as_ref().map_or(0, |p| p.span().start)),
                        format!("pace 只能是 months（按月序时）或 year_end（年末），不是“{other}”"),
                        format!("pace is `months` or `year_end`, not `{other}`"),
                    ))
                }
            };
            targets.push(Target {
                indicator: ind.id.clone(),
                zone: t.zone,
                year: t.year,
                value,
                growth,
                department: t.department,
                pace,
            });
        }
        Ok(IndicatorSet {
            name: head.name,
            version: head.version,
            zone_fact: head.zone_fact,
            amber_pp,
            min_cell: head.min_cell.unwrap_or(3),
            indicators,
            targets,
            hash: hasher
                .finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
            dir: dir.to_path_buf(),
        })
    }

    pub fn indicator(&self, id: &str) -> Option<&Indicator> {
        self.indicators.iter().find(|i| i.id == id)
    }

    /// Checks every fact the set names against a snapshot's schema (fact → `{type, period,
    /// values}`, as in its manifest): it exists, has the period and type its use needs, and
    /// each value written is one of its enum's. The zones of targets must be the zone fact's.
    pub fn check_schema(
        &self,
        schema: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), Error> {
        let fact = |name: &str, at: &Loc| -> Result<FactInfo, Error> {
            let f = schema.get(name).ok_or_else(|| {
                Error::at(
                    at.clone(),
                    format!("快照中没有事实“{name}”"),
                    format!("the snapshot has no fact `{name}`"),
                )
            })?;
            Ok(FactInfo::of(f))
        };
        let zone_at = Loc::default();
        let z = fact(&self.zone_fact, &zone_at)?;
        if z.period != "event" || z.values.is_empty() {
            return Err(Error::plain(
                format!(
                    "zone_fact“{}”须是带枚举值的事件事实（园区归属，含迁入迁出日期）",
                    self.zone_fact
                ),
                format!(
                    "zone_fact `{}` must be an event fact with enum values (dated zone membership)",
                    self.zone_fact
                ),
            ));
        }
        for i in &self.indicators {
            if let Some(name) = &i.fact {
                let f = fact(name, &i.at)?;
                let ok = match i.measure {
                    Measure::Sum => {
                        matches!(f.period.as_str(), "per month" | "per year")
                            && matches!(f.ty.as_str(), "money" | "count")
                    }
                    Measure::New => f.period == "event",
                    _ => true,
                };
                if !ok {
                    return Err(Error::at(
                        i.at.clone(),
                        format!("指标“{}”：事实“{name}”（{} {}）不能用于 {:?}：合计须是按年或按月的金额或计数，新增须是事件", i.id, f.ty, f.period, i.measure),
                        format!("indicator `{}`: fact `{name}` ({} {}) does not fit {:?}: a sum needs a per-year or per-month money or count fact, `new` an event fact", i.id, f.ty, f.period, i.measure),
                    ));
                }
                if i.measure == Measure::Sum && f.ty == "money" && !i.unit.money() {
                    return Err(Error::at(
                        i.at.clone(),
                        format!("指标“{}”合计金额，单位须是 元、万元 或 亿元", i.id),
                        format!(
                            "indicator `{}` sums money: its unit is 元, 万元 or 亿元",
                            i.id
                        ),
                    ));
                }
                for v in &i.values {
                    if !f.values.contains(v) {
                        return Err(Error::at(
                            i.at.clone(),
                            format!(
                                "指标“{}”：“{v}”不是事实“{name}”的取值（{}）",
                                i.id,
                                f.values.join("、")
                            ),
                            format!(
                                "indicator `{}`: `{v}` is not a value of `{name}` ({})",
                                i.id,
                                f.values.join(", ")
                            ),
                        ));
                    }
                }
            }
            for c in &i.conds {
                let f = fact(&c.fact, &c.at)?;
                let ok = match &c.test {
                    Test::OneOf(vs) => {
                        for v in vs {
                            if !f.values.contains(v) {
                                return Err(Error::at(
                                    c.at.clone(),
                                    format!(
                                        "“{v}”不是事实“{}”的取值（{}）",
                                        c.fact,
                                        f.values.join("、")
                                    ),
                                    format!(
                                        "`{v}` is not a value of `{}` ({})",
                                        c.fact,
                                        f.values.join(", ")
                                    ),
                                ));
                            }
                        }
                        !f.values.is_empty() && f.period != "per month"
                    }
                    Test::Is(_) => {
                        (f.ty == "bool" && matches!(f.period.as_str(), "static" | "per year"))
                            || (f.period == "event" && f.values.is_empty())
                    }
                };
                if !ok {
                    return Err(Error::at(
                        c.at.clone(),
                        format!("条件“{}”（{} {}）不适用：枚举事实写取值（或取值列表），是否类事实和无取值事件写 true/false", c.fact, f.ty, f.period),
                        format!("condition on `{}` ({} {}) does not fit: an enum fact takes a value (or a list), a bool fact or a valueless event takes true/false", c.fact, f.ty, f.period),
                    ));
                }
            }
            for zone in &i.zones {
                if !z.values.contains(zone) {
                    return Err(Error::at(
                        i.at.clone(),
                        format!(
                            "“{zone}”不是“{}”的取值（{}）",
                            self.zone_fact,
                            z.values.join("、")
                        ),
                        format!(
                            "`{zone}` is not a value of `{}` ({})",
                            self.zone_fact,
                            z.values.join(", ")
                        ),
                    ));
                }
            }
        }
        for t in &self.targets {
            if !z.values.contains(&t.zone) {
                return Err(Error::plain(
                    format!(
                        "目标（{}）的园区“{}”不是“{}”的取值",
                        t.indicator, t.zone, self.zone_fact
                    ),
                    format!(
                        "target ({}): zone `{}` is not a value of `{}`",
                        t.indicator, t.zone, self.zone_fact
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// A fact as a snapshot's manifest describes it.
pub(crate) struct FactInfo {
    pub ty: String,
    pub period: String,
    pub values: Vec<String>,
}

impl FactInfo {
    pub fn of(f: &serde_json::Value) -> FactInfo {
        let s = |k: &str| f.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
        FactInfo {
            ty: s("type"),
            period: s("period"),
            values: f
                .get("values")
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

fn indicator(file: &str, text: &str, i: Spanned<RawIndicator>) -> Result<Indicator, Error> {
    let at = loc(file, text, i.span().start);
    let r = i.into_inner();
    let measure = Measure::parse(r.measure.get_ref()).ok_or_else(|| {
        Error::at(
            loc(file, text, r.measure.span().start),
            format!(
                "measure 只能是 sum、count、new、ratio、selected 或 investment，不是“{}”",
                r.measure.get_ref()
            ),
            format!(
                "measure is sum, count, new, ratio, selected or investment, not `{}`",
                r.measure.get_ref()
            ),
        )
    })?;
    let unit = Unit::parse(r.unit.get_ref()).ok_or_else(|| {
        Error::at(
            loc(file, text, r.unit.span().start),
            format!(
                "unit 只能是 元、万元、亿元、家 或 %，不是“{}”",
                r.unit.get_ref()
            ),
            format!(
                "unit is 元, 万元, 亿元, 家 or %, not `{}`",
                r.unit.get_ref()
            ),
        )
    })?;
    let id = r.id.get_ref().trim().to_string();
    let need = |ok: bool, zh: &str, en: &str| -> Result<(), Error> {
        if ok {
            Ok(())
        } else {
            Err(Error::at(
                at.clone(),
                format!("指标“{id}”：{zh}"),
                format!("indicator `{id}`: {en}"),
            ))
        }
    };
    need(!id.is_empty(), "id 不能为空", "the id is empty")?;
    match measure {
        Measure::Sum | Measure::New => need(
            r.fact.is_some() && r.numerator.is_none() && r.denominator.is_none(),
            "sum 与 new 须写 fact，不写 numerator/denominator",
            "sum and new take `fact`, not numerator/denominator",
        )?,
        Measure::Count => need(
            r.fact.is_none() && r.numerator.is_none() && r.denominator.is_none(),
            "count 数的是企业，不写 fact、numerator、denominator",
            "count counts firms: no fact, numerator or denominator",
        )?,
        Measure::Ratio => need(
            r.fact.is_none() && r.numerator.is_some() && r.denominator.is_some(),
            "ratio 须写 numerator 与 denominator（两个指标的 id），不写 fact",
            "ratio takes numerator and denominator (two indicator ids), not fact",
        )?,
        Measure::Selected => need(
            r.fact.is_none()
                && r.numerator.is_none()
                && r.denominator.is_none()
                && r.clause.is_some(),
            "selected 须写 clause（所数遴选的条款），不写 fact、numerator、denominator",
            "selected takes `clause` (the clause whose selection it counts), not fact, numerator or denominator",
        )?,
        Measure::Investment => need(
            r.fact.is_none()
                && r.numerator.is_none()
                && r.denominator.is_none()
                && r.conds.is_empty(),
            "investment 合计项目库的投资，不写 fact、where、numerator、denominator（项目按自身所属园区计）",
            "investment sums the projects table: no fact, where, numerator or denominator (a project counts in its own zone)",
        )?,
    }
    need(
        (r.clause.is_none() && r.data_year.is_none()) || measure == Measure::Selected,
        "clause 与 data_year 只用于 selected",
        "clause and data_year are for `selected` only",
    )?;
    let run_offset = match r.data_year.as_ref().map(|d| d.get_ref().as_str()) {
        None | Some("same") => 0,
        Some("previous") => -1,
        Some(other) => {
            return Err(Error::at(
                loc(file, text, r.data_year.as_ref().map_or(0, |d| d.span().start)),
                format!("data_year 只能是 same（当年运行）或 previous（上年数据的运行），不是“{other}”"),
                format!("data_year is `same` (the year's run) or `previous` (the run on the previous year's figures), not `{other}`"),
            ))
        }
    };
    need(
        r.values.is_empty() || measure == Measure::New,
        "values 只用于 new（按事件取值计新增）",
        "values is for `new` only",
    )?;
    need(
        matches!(
            (measure, unit),
            (Measure::Sum, _) | (Measure::Count | Measure::New | Measure::Selected, Unit::Firms)
        ) || (measure == Measure::Ratio && unit == Unit::Percent)
            || (measure == Measure::Investment && unit.money()),
        "单位与口径不符：计数与新增用“家”，比率用“%”，投资用 元、万元 或 亿元",
        "the unit does not fit the measure: counts and `new` in 家, ratios in %, investment in 元, 万元 or 亿元",
    )?;
    let mut conds = vec![];
    for (k, v) in r.conds {
        let cat = loc(file, text, k.span().start);
        let test = match v.get_ref() {
            toml::Value::String(s) => Test::OneOf(vec![s.clone()]),
            toml::Value::Boolean(b) => Test::Is(*b),
            toml::Value::Array(a) if !a.is_empty() => Test::OneOf(
                a.iter()
                    .map(|x| x.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| {
                        Error::at(
                            loc(file, text, v.span().start),
                            "取值列表只能含文字".into(),
                            "a list of values holds strings only".into(),
                        )
                    })?,
            ),
            _ => {
                return Err(Error::at(
                    loc(file, text, v.span().start),
                    "条件的值写枚举取值（\"制造业\"）、取值列表或 true/false".into(),
                    "a condition is an enum value (\"制造业\"), a list of them, or true/false"
                        .into(),
                ))
            }
        };
        conds.push(Cond {
            fact: k.into_inner(),
            test,
            at: cat,
        });
    }
    Ok(Indicator {
        label: r.label.unwrap_or_else(|| id.clone()),
        id,
        measure,
        fact: r.fact.map(Spanned::into_inner),
        values: r.values,
        conds,
        numerator: r.numerator.map(Spanned::into_inner),
        denominator: r.denominator.map(Spanned::into_inner),
        clause: r.clause.map(|c| c.into_inner().trim().to_string()),
        run_offset,
        unit,
        source: r.source,
        definition: r.definition,
        zones: r.zones,
        group: r.group,
        at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(files: &[(&str, &str)]) -> Result<IndicatorSet, Error> {
        let d = std::env::temp_dir().join(format!(
            "huiqi-ind-set-{}-{}",
            std::process::id(),
            files.len() + files.iter().map(|f| f.1.len()).sum::<usize>()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        for (n, t) in files {
            std::fs::write(d.join(n), t).unwrap();
        }
        let r = IndicatorSet::load(&d);
        let _ = std::fs::remove_dir_all(&d);
        r
    }

    const HEAD: &str = "[set]\nname = \"t\"\nversion = \"1\"\nzone_fact = \"所属园区\"\n";

    #[test]
    fn errors_name_file_line_and_column() {
        let e = load(&[(
            "a.toml",
            &format!("{HEAD}\n[[indicator]]\nid = \"x\"\nmeasure = \"avg\"\nunit = \"家\"\nsource = \"s\"\ndefinition = \"d\"\n"),
        )])
        .unwrap_err();
        let s = e.to_string();
        assert!(s.contains("a.toml:8:11"), "{s}");
        assert!(s.contains("avg"), "{s}");
        let e = load(&[(
            "a.toml",
            &format!("{HEAD}\n[[indicator]]\nid = \"x\"\nmeasure = \"count\"\nunit = \"家\"\nsource = \"s\"\ndefinition = \"d\"\n[[target]]\nindicator = \"y\"\nzone = \"z\"\nyear = 2022\nvalue = 1\ndepartment = \"d\"\n"),
        )])
        .unwrap_err();
        assert!(e.to_string().contains("a.toml:13:13"), "{e}");
        // A bare Chinese key (TOML allows ASCII bare keys only) gets the hint to quote it.
        let e = load(&[(
            "a.toml",
            &format!("{HEAD}[[indicator]]\nid = \"x\"\nmeasure = \"count\"\nwhere = {{ 行业 = \"制造业\" }}\nunit = \"家\"\nsource = \"s\"\ndefinition = \"d\"\n"),
        )])
        .unwrap_err();
        assert!(
            e.zh.contains("a.toml:8:") && e.zh.contains("加引号"),
            "{}",
            e.zh
        );
        // A typo in a key is refused, not ignored.
        let e = load(&[("a.toml", &format!("{HEAD}amber = 5\n"))]).unwrap_err();
        assert!(e.to_string().contains("a.toml:"), "{e}");
    }

    #[test]
    fn numbers_are_read_exactly_and_ratios_checked() {
        let s = load(&[(
            "a.toml",
            &format!("{HEAD}amber_pp = 2.5\n[[indicator]]\nid = \"n\"\nmeasure = \"count\"\nunit = \"家\"\nsource = \"s\"\ndefinition = \"d\"\n[[indicator]]\nid = \"r\"\nmeasure = \"ratio\"\nnumerator = \"n\"\ndenominator = \"n\"\nunit = \"%\"\nsource = \"s\"\ndefinition = \"d\"\n[[target]]\nindicator = \"r\"\nzone = \"z\"\nyear = 2022\ngrowth = \"5.7%\"\ndepartment = \"d\"\n"),
        )])
        .unwrap();
        assert_eq!(s.amber_pp, Decimal::new(25, 1));
        assert_eq!(s.targets[0].growth, Some(Decimal::new(57, 1)));
        assert_eq!(s.targets[0].pace, Pace::YearEnd);
        let e = load(&[(
            "a.toml",
            &format!("{HEAD}[[indicator]]\nid = \"r\"\nmeasure = \"ratio\"\nnumerator = \"r\"\ndenominator = \"q\"\nunit = \"%\"\nsource = \"s\"\ndefinition = \"d\"\n"),
        )])
        .unwrap_err();
        assert!(e.to_string().contains("ratio"), "{e}");
    }
}
