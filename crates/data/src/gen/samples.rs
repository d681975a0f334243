//! Sample firms (firm files such as `examples/firms/*.toml`) written into a generated zone after
//! the generated firms: through the same files and columns, money in each file's unit (万元 in
//! the tax and statistics exports, 元 with thousands separators in the loan export — a loan's
//! 本金 and 实付利息 beside its date), dates in
//! each export's spelling, and their award history in `兑现记录.csv`. Ingesting the zone gives
//! back each sample firm's figures exactly; a fact the files have no column for is an error
//! naming the firm and the fact, never dropped.

use std::collections::{BTreeMap, HashSet};

use huiqi_ir::{Date, EventRec, FactData, Firm, PeriodKind, Program, Ty, Value};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use super::{cn, credit_code, fmt_money, slash, Out, Tbl, F};
use crate::error::Error;
use crate::mapping::Unit;

/// Firms read from firm files, to add to a generated zone, and the program their facts were
/// read against (it names the facts, enum values and clauses).
#[derive(Clone, Copy, Debug)]
pub struct SampleFirms<'a> {
    pub program: &'a Program,
    pub firms: &'a [Firm],
}

/// A cell of a sample firm's row. Rows are built (and checked) before any file is written.
enum Cell {
    T(String),
    /// 分, in the unit with the decimals and grouping of [`F::Money`].
    Money(i64, Unit, u32, bool),
    Empty,
}

impl Cell {
    fn f(&self) -> F<'_> {
        match self {
            Cell::T(s) => F::T(s),
            Cell::Money(fen, unit, dp, grouped) => F::Money(*fen, *unit, *dp, *grouped),
            Cell::Empty => F::Empty,
        }
    }
}

/// The sample firms' rows, file by file, in the order written.
pub(super) struct Rows(Vec<(Tbl, Vec<Cell>)>);

impl Rows {
    pub(super) fn write(&self, o: &mut Out) -> Result<(), Error> {
        for (t, cells) in &self.0 {
            let fields: Vec<F<'_>> = cells.iter().map(Cell::f).collect();
            if let Some(sheet) = o.sheet(*t) {
                sheet.row(&fields)?;
            }
        }
        Ok(())
    }
}

/// How a yearly column is written.
#[derive(Clone, Copy)]
enum Col {
    /// Money in this unit; `true`: with thousands separators (the loan export).
    Money(Unit, bool),
    /// 是/否.
    Bool,
}

/// Yearly facts: the file, the column (index in the file's header) and how it is written, as
/// `mapping_text` maps them.
const YEARLY: [(&str, Tbl, usize, Col); 4] = [
    ("营业收入", Tbl::Tax, 3, Col::Money(Unit::Wan, false)),
    ("研发费用", Tbl::Tax, 4, Col::Money(Unit::Wan, false)),
    ("规上企业", Tbl::Stats, 2, Col::Bool),
    ("商品销售额", Tbl::Stats, 3, Col::Money(Unit::Wan, false)),
];

/// The fields of 新增贷款 and their columns in the loan export (元 with thousands separators).
const LOAN_FIELDS: [(&str, usize); 2] = [("本金", 2), ("实付利息", 3)];

/// Event facts and their file.
const EVENTS: [(&str, Tbl); 6] = [
    ("新增贷款", Tbl::Loans),
    ("上市进程", Tbl::Listing),
    ("荣誉称号", Tbl::Titles),
    ("高企证书", Tbl::Hightech),
    ("严重失信名单", Tbl::Credit),
    ("所属园区", Tbl::Zones),
];

/// The static fact of the firm register and its column.
const INDUSTRY: (&str, usize) = ("行业", 2);

/// An empty row of a yearly file for (firm, year).
fn year_row(t: Tbl, f: &Firm, y: i32) -> Vec<Cell> {
    let id = Cell::T(f.id.clone());
    let year = Cell::T(y.to_string());
    match t {
        Tbl::Tax => vec![id, Cell::T(f.name.clone()), year, Cell::Empty, Cell::Empty],
        _ => vec![id, year, Cell::Empty, Cell::Empty],
    }
}

/// What went wrong with one fact of one sample firm.
fn bad(f: &Firm, fact: &str, zh: impl Into<String>, en: impl Into<String>) -> Error {
    Error::SampleFirm {
        firm: f.id.clone(),
        name: f.name.clone(),
        fact: fact.to_string(),
        zh: zh.into(),
        en: en.into(),
    }
}

/// Decimals of a unit's smallest step (分).
fn natural_dp(unit: Unit) -> u32 {
    match unit {
        Unit::Yuan => 2,
        Unit::Wan => 6,
        Unit::Yi => 10,
    }
}

/// An exact amount of 元 as a money cell: 元 columns with two decimals, as the loan export
/// writes them; 万元 columns with as few decimals as the amount needs (`96.8亿` → `968000`,
/// `1234.56元` → `0.123456`). XLSX cells are numbers: more than 15 significant digits would not
/// survive, and are refused.
fn money(
    f: &Firm,
    fact: &str,
    yuan: Decimal,
    unit: Unit,
    grouped: bool,
    xlsx: bool,
) -> Result<Cell, Error> {
    let fen = yuan
        .checked_mul(Decimal::ONE_HUNDRED)
        .filter(|x| x.fract().is_zero())
        .and_then(|x| x.to_i64())
        .ok_or_else(|| {
            bad(
                f,
                fact,
                format!("金额 {yuan} 元不是整分数，或超出范围"),
                format!("the amount {yuan} yuan is not a whole number of fen, or is out of range"),
            )
        })?;
    let natural = natural_dp(unit);
    let dp = if unit == Unit::Yuan {
        2
    } else {
        (0..=natural)
            .find(|&dp| fen % 10i64.pow(natural - dp) == 0)
            .unwrap_or(natural)
    };
    if xlsx {
        let mut text = String::new();
        fmt_money(&mut text, fen, unit, dp, false);
        let digits = text
            .chars()
            .filter(char::is_ascii_digit)
            .skip_while(|&c| c == '0')
            .count();
        if digits > 15 {
            return Err(bad(
                f,
                fact,
                format!("金额 {yuan} 元有效数字超过15位，XLSX 数值单元格无法精确保存"),
                format!(
                    "the amount {yuan} yuan has more than 15 significant digits: an XLSX number cell cannot hold it exactly"
                ),
            ));
        }
    }
    Ok(Cell::Money(fen, unit, dp, grouped))
}

/// A yearly value as its column writes it.
fn year_cell(f: &Firm, fact: &str, y: i32, v: &Value, col: Col, xlsx: bool) -> Result<Cell, Error> {
    match (col, v) {
        (Col::Money(unit, grouped), Value::Money(m)) => money(f, fact, *m, unit, grouped, xlsx),
        (Col::Bool, Value::Bool(b)) => Ok(Cell::T(if *b { "是" } else { "否" }.into())),
        (col, v) => {
            let want = match col {
                Col::Money(..) => ("金额", "money"),
                Col::Bool => ("是/否", "yes/no"),
            };
            Err(bad(
                f,
                fact,
                format!("{y} 年的值 {v:?} 不是生成文件中该列的类型（{}）", want.0),
                format!(
                    "the {y} value {v:?} is not of the generated file's column type ({})",
                    want.1
                ),
            ))
        }
    }
}

/// The name of enum value `v` of fact `fid`'s type.
fn variant(p: &Program, ty: Ty, v: u32) -> Option<String> {
    match ty {
        Ty::Enum(e) => p.enums.get(e)?.variants.get(v as usize).cloned(),
        _ => None,
    }
}

/// A loan (新增贷款) as a row of the loan export: the ISO date of the loan, then 本金 and 实付利息
/// in 元 with thousands separators (empty where missing). The pack's fact must have exactly
/// those money fields, and a loan no end date or value.
fn loan_row(
    p: &Program,
    f: &Firm,
    fact: &str,
    e: &EventRec,
    xlsx: bool,
) -> Result<Vec<Cell>, Error> {
    let Some(fid) = p.fact_by_name(fact) else {
        return Err(bad(
            f,
            fact,
            "政策包中没有该事实",
            "the pack has no such fact",
        ));
    };
    let declared = &p.facts[fid].fields;
    let names: Vec<&str> = declared.iter().map(|x| x.name.as_str()).collect();
    let want: Vec<&str> = LOAN_FIELDS.iter().map(|(n, _)| *n).collect();
    if names != want || declared.iter().any(|x| x.ty != Ty::Money) {
        return Err(bad(
            f,
            fact,
            format!(
                "生成的贷款文件只有 {} 两个金额列，政策包的字段是 {}",
                want.join("、"),
                names.join("、")
            ),
            format!(
                "the generated loan file has the money columns {} only; the pack's fields are {}",
                want.join(", "),
                names.join(", ")
            ),
        ));
    }
    if e.until.is_some() || e.value.is_some() {
        return Err(bad(
            f,
            fact,
            format!("{} 的贷款带有截止日期或取值，生成的贷款文件没有这些列", e.date),
            format!(
                "the loan on {} has an end date or a value; the generated loan file has no such column",
                e.date
            ),
        ));
    }
    let mut row = vec![
        Cell::T(f.id.clone()),
        Cell::T(e.date.to_string()),
        Cell::Empty,
        Cell::Empty,
    ];
    for (j, &(name, col)) in LOAN_FIELDS.iter().enumerate() {
        row[col] = match e.nums.get(j) {
            None | Some(Value::Missing) => Cell::Empty,
            Some(Value::Money(m)) => money(f, fact, *m, Unit::Yuan, true, xlsx)?,
            Some(v) => {
                return Err(bad(
                    f,
                    fact,
                    format!("{} 的贷款的{name} {v:?} 不是金额", e.date),
                    format!("the {name} {v:?} of the loan on {} is not money", e.date),
                ))
            }
        };
    }
    Ok(row)
}

/// One event as a row of its file: 上市进程 (ISO date, the stage, no end), 荣誉称号 (`2023/3/1`,
/// the title, valid until), 高企证书 (ISO dates, no certificate number on file), 严重失信名单
/// (`2023年3月1日`, removal date), 所属园区 (the zone, ISO 迁入 and 迁出 dates).
fn event_row(
    p: &Program,
    f: &Firm,
    fact: &str,
    ty: Ty,
    t: Tbl,
    e: &EventRec,
    xlsx: bool,
) -> Result<Vec<Cell>, Error> {
    let id = Cell::T(f.id.clone());
    let value = match e.value {
        Some(v) => Some(variant(p, ty, v).ok_or_else(|| {
            bad(
                f,
                fact,
                format!("{} 的事件取值 {v} 不在政策包的枚举中", e.date),
                format!(
                    "the value {v} of the event on {} is not in the pack's enum",
                    e.date
                ),
            )
        })?),
        None => None,
    };
    if t == Tbl::Loans {
        return loan_row(p, f, fact, e, xlsx);
    }
    if e.nums.iter().any(|v| !v.is_missing()) {
        return Err(bad(
            f,
            fact,
            format!("{} 的事件带有字段数值，生成文件中没有字段列", e.date),
            format!(
                "the event on {} carries field numbers; the generated file has no column for them",
                e.date
            ),
        ));
    }
    let valued = matches!(t, Tbl::Listing | Tbl::Titles | Tbl::Zones);
    if valued != value.is_some() {
        return Err(if valued {
            bad(
                f,
                fact,
                format!("{} 的事件缺少取值，生成文件的该列必填", e.date),
                format!(
                    "the event on {} has no value; the generated file's value column needs one",
                    e.date
                ),
            )
        } else {
            bad(
                f,
                fact,
                format!("{} 的事件带有取值，生成文件中没有取值列", e.date),
                format!(
                    "the event on {} carries a value; the generated file has no value column",
                    e.date
                ),
            )
        });
    }
    if t == Tbl::Listing && e.until.is_some() {
        return Err(bad(
            f,
            fact,
            format!(
                "{} 的事件有截止日期，金融办_上市进程 没有截止日期列",
                e.date
            ),
            format!(
                "the event on {} has an end date; 金融办_上市进程 has no end-date column",
                e.date
            ),
        ));
    }
    let date = |d: Date, style: fn(Date) -> String| Cell::T(style(d));
    let until = |style: fn(Date) -> String| e.until.map_or(Cell::Empty, |u| date(u, style));
    let iso = |d: Date| d.to_string();
    let value = value.map_or(Cell::Empty, Cell::T);
    Ok(match t {
        Tbl::Listing => vec![id, Cell::T(f.name.clone()), value, date(e.date, iso)],
        Tbl::Titles => vec![id, value, date(e.date, slash), until(slash)],
        Tbl::Hightech => vec![id, Cell::Empty, date(e.date, iso), until(iso)],
        Tbl::Zones => vec![id, value, date(e.date, iso), until(iso)],
        _ => vec![id, date(e.date, cn), until(cn)],
    })
}

/// Every row of one sample firm: the register, the yearly files, the events, the awards.
fn firm_rows(
    p: &Program,
    f: &Firm,
    xlsx: bool,
    out: &mut Vec<(Tbl, Vec<Cell>)>,
) -> Result<(), Error> {
    let mut register = vec![
        Cell::T(f.id.clone()),
        Cell::T(f.name.clone()),
        Cell::Empty,
        Cell::Empty, // 成立日期: not a fact; a firm file has none.
    ];
    // (file, year) → row, so that facts of one file share a row per year.
    let mut years: BTreeMap<(usize, i32), (Tbl, Vec<Cell>)> = BTreeMap::new();
    let mut events = vec![];
    for (fid, data) in f.facts.iter().enumerate() {
        if *data == FactData::None {
            continue;
        }
        let fact = p.facts.get(fid).ok_or_else(|| {
            bad(
                f,
                &format!("#{fid}"),
                "企业的事实多于政策包声明的事实",
                "the firm has more facts than the pack declares",
            )
        })?;
        let name = fact.name.as_str();
        let kind_zh = match fact.kind {
            PeriodKind::Static => "静态",
            PeriodKind::Year => "按年",
            PeriodKind::Month => "按月",
            PeriodKind::Event => "事件",
        };
        let wrong_shape = |zh_where: &str, en_where: &str| {
            bad(
                f,
                name,
                format!("生成文件中该事实在 {zh_where}，数据形状不符（{kind_zh}）"),
                format!(
                    "the generated files hold this fact in {en_where}; the data has another shape ({:?})",
                    fact.kind
                ),
            )
        };
        if name == INDUSTRY.0 {
            let FactData::Static(Value::Enum(v)) = data else {
                return Err(wrong_shape("企业名录（枚举）", "企业名录 (an enum)"));
            };
            let text = variant(p, fact.ty, *v)
                .ok_or_else(|| wrong_shape("企业名录（枚举）", "企业名录 (an enum)"))?;
            register[INDUSTRY.1] = Cell::T(text);
        } else if let Some(&(_, t, col, how)) = YEARLY.iter().find(|r| r.0 == name) {
            let FactData::Yearly(ys) = data else {
                return Err(wrong_shape("年度文件", "a yearly file"));
            };
            for (y, v) in ys {
                let cell = year_cell(f, name, *y, v, how, xlsx)?;
                let row = years
                    .entry((t as usize, *y))
                    .or_insert_with(|| (t, year_row(t, f, *y)));
                row.1[col] = cell;
            }
        } else if let Some(&(_, t)) = EVENTS.iter().find(|r| r.0 == name) {
            let FactData::Events(es) = data else {
                return Err(wrong_shape("事件文件", "an event file"));
            };
            for e in es {
                events.push((t, event_row(p, f, name, fact.ty, t, e, xlsx)?));
            }
        } else {
            return Err(bad(
                f,
                name,
                "生成的园区文件中没有存放该事实的表和列（huiqi gen 只写宁波示范政策包的事实）",
                "no generated file has a column for this fact (huiqi gen writes the facts of the Ningbo seed pack only)",
            ));
        }
    }
    out.push((Tbl::Firms, register));
    out.extend(years.into_values());
    out.extend(events);
    for a in &f.awards {
        let clause = p.clauses.get(a.clause).ok_or_else(|| {
            bad(
                f,
                "awards",
                format!("{} 年的兑现记录指向不存在的条款 #{}", a.period, a.clause),
                format!(
                    "the {} award names no clause of the pack (#{})",
                    a.period, a.clause
                ),
            )
        })?;
        let amount = money(f, "awards", a.amount, Unit::Yuan, false, xlsx)?;
        out.push((
            Tbl::Awards,
            vec![
                Cell::T(f.id.clone()),
                Cell::T(clause.name.clone()),
                Cell::T(a.period.to_string()),
                Cell::T(a.tranche.clone()),
                amount,
            ],
        ));
    }
    Ok(())
}

/// The sample firms' rows, after checking that their credit codes are distinct and none is
/// one of the `firms` generated codes of `seed`.
pub(super) fn rows(s: SampleFirms<'_>, firms: u64, seed: u64, xlsx: bool) -> Result<Rows, Error> {
    let mut ids = HashSet::new();
    for f in s.firms {
        if !ids.insert(f.id.as_str()) {
            return Err(bad(
                f,
                "id",
                "样例企业的统一社会信用代码重复",
                "two sample firms have this credit code",
            ));
        }
    }
    if !ids.is_empty() {
        for i in 0..firms {
            let code = credit_code(i, seed);
            if let Some(f) = s.firms.iter().find(|f| f.id == code) {
                return Err(bad(
                    f,
                    "id",
                    format!("与第 {i} 家生成企业的统一社会信用代码相同；请换一个种子"),
                    format!("the credit code of generated firm {i} too; use another seed"),
                ));
            }
        }
    }
    let mut out = vec![];
    for f in s.firms {
        firm_rows(s.program, f, xlsx, &mut out)?;
    }
    Ok(Rows(out))
}
