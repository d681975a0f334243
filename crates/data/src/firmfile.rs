//! Firm files (TOML or JSON) → [`Firm`], validated against a program's fact schema. Every
//! problem names the field path and says how to fix it.
//!
//! Money and dates are read by ingest's parsers ([`crate::parse`]), so a firm file and a zone
//! export accept the same spellings: `1,234.56`, `¥80`, `80亿`, `1234.56万元`; `2023-03-01`,
//! `2023/3/1`, `2023年3月1日`, `20230301`. A firm file's money carries its own unit (the suffix;
//! none means 元) where an export column's unit comes from the mapping.

use std::str::FromStr;

use huiqi_ir::{Award, Date, EventRec, Fact, FactData, Firm, PeriodKind, Program, Ty, Value};
use rust_decimal::Decimal;
use serde_json::{Map, Value as J};

use crate::error::{reason, Reason};
use crate::mapping::Unit;
use crate::parse;
use crate::source::Cell;

/// What is wrong with a firm file, where (`field`) and how to fix it (`hint_*`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {zh} — {en}")]
pub struct FirmFileError {
    /// Field path, e.g. `facts.营业收入.2023`.
    pub field: String,
    pub zh: String,
    pub en: String,
    pub hint_zh: String,
    pub hint_en: String,
}

/// The name this error had in `huiqi_eval::firmfile`.
pub type FirmError = FirmFileError;

fn fe(
    field: impl Into<String>,
    zh: impl Into<String>,
    en: impl Into<String>,
    hz: impl Into<String>,
    he: impl Into<String>,
) -> FirmFileError {
    FirmFileError {
        field: field.into(),
        zh: zh.into(),
        en: en.into(),
        hint_zh: hz.into(),
        hint_en: he.into(),
    }
}

/// The unit a firm file's amount names by its suffix (`80亿`, `100万元`, `5元`); 元 without one.
fn unit_of(text: &str) -> Unit {
    let t = text.trim_end();
    if t.ends_with('亿') || t.ends_with("亿元") {
        Unit::Yi
    } else if t.ends_with('万') || t.ends_with("万元") {
        Unit::Wan
    } else {
        Unit::Yuan
    }
}

/// Money as a firm file writes it: a string in ingest's syntax whose unit is its own suffix
/// (`80亿`, `1,234.56元`, `1234.56` = 元), or an integer of 元. Floating-point numbers are
/// refused: a TOML float has already lost the exact amount.
pub fn parse_money(v: &J) -> Result<Decimal, Reason> {
    let fen = match v {
        J::String(s) => parse::money(&Cell::Text(s), unit_of(s))?,
        J::Number(n) => {
            let t = n.to_string();
            if t.contains(['.', 'e', 'E']) {
                return Err(both(format!(
                    "浮点数 {t} 不能表示金额 / a floating-point number {t} cannot carry money"
                )));
            }
            parse::money(&Cell::Text(&t), Unit::Yuan)?
        }
        _ => {
            return Err(both(
                "金额须为字符串（如 \"80亿\"）或整数元 / money must be a string such as \"80亿\" or an integer of yuan".into(),
            ))
        }
    };
    let fen = fen.ok_or_else(|| reason("金额为空", "the amount is empty"))?;
    Ok(Decimal::new(fen, 2).normalize())
}

/// A date in ingest's spellings; a JSON integer reads like a spreadsheet's number cell.
pub fn parse_date(v: &J) -> Result<Date, Reason> {
    let d = match v {
        J::String(s) => parse::date(&Cell::Text(s))?,
        J::Number(n) => match n.as_i64() {
            Some(i) => parse::date(&Cell::Int(i))?,
            None => parse::date(&Cell::Other(n.to_string()))?,
        },
        other => parse::date(&Cell::Other(other.to_string()))?,
    };
    d.ok_or_else(|| reason("日期为空", "the date is empty"))
}

/// A reason whose one text carries both languages: the firm file's own refusals (floating-point
/// money, ratios) read that way before the move, and still do.
fn both(m: String) -> Reason {
    reason(m.clone(), m)
}

/// A ratio `3%` or `0.03`.
fn parse_ratio(v: &J) -> Result<Decimal, Reason> {
    let not_ratio = |s: &str| both(format!("`{s}` 不是比例 / not a ratio"));
    match v {
        J::String(s) => {
            let t = s.trim();
            if let Some(p) = t.strip_suffix('%') {
                Decimal::from_str(p.trim())
                    .map(|d| d / Decimal::from(100))
                    .map_err(|_| not_ratio(s))
            } else {
                Decimal::from_str(t).map_err(|_| not_ratio(s))
            }
        }
        J::Number(n) => Decimal::from_str(&n.to_string()).map_err(|e| both(e.to_string())),
        _ => Err(both(
            "比例须写作 \"3%\" 或 \"0.03\" / write ratios as \"3%\" or \"0.03\"".into(),
        )),
    }
}

fn parse_count(v: &J) -> Option<Decimal> {
    match v {
        J::Number(n) if n.is_i64() || n.is_u64() => Decimal::from_str(&n.to_string()).ok(),
        J::String(s) => s.trim().parse::<i64>().ok().map(Decimal::from),
        _ => None,
    }
}

/// One value of fact `f` at `field`.
fn value_of(p: &Program, f: &Fact, v: &J, field: &str) -> Result<Value, FirmFileError> {
    typed_value(p, f.ty, &f.name, v, field)
}

/// One value of type `ty` (of the fact or record field `name`) at `field`.
fn typed_value(
    p: &Program,
    ty: Ty,
    name: &str,
    v: &J,
    field: &str,
) -> Result<Value, FirmFileError> {
    let bad = |zh: String, en: String| {
        fe(
            field,
            zh,
            en,
            format!("`{name}` 的类型是 {ty:?}"),
            format!("`{name}` has type {ty:?}"),
        )
    };
    Ok(match ty {
        Ty::Money => Value::Money(parse_money(v).map_err(|r| {
            bad(
                format!("金额无效：{}", r.zh),
                format!("invalid money: {}", r.en),
            )
        })?),
        Ty::Ratio => Value::Ratio(parse_ratio(v).map_err(|r| bad(r.zh, r.en))?),
        Ty::Count => Value::Count(parse_count(v).ok_or_else(|| {
            bad(
                format!("应为整数，实为 {v}"),
                format!("expected an integer, found {v}"),
            )
        })?),
        Ty::Bool => match v {
            J::Bool(b) => Value::Bool(*b),
            _ => {
                return Err(bad(
                    format!("应为 true 或 false，实为 {v}"),
                    format!("expected true or false, found {v}"),
                ))
            }
        },
        Ty::Date => Value::Date(parse_date(v).map_err(|r| bad(r.zh, r.en))?),
        Ty::Enum(e) => Value::Enum(variant(p, e, v, field)?),
        Ty::Text => Value::Text(v.as_str().unwrap_or_default().to_string()),
    })
}

/// The index of the enum value `v` names.
fn variant(p: &Program, e: usize, v: &J, field: &str) -> Result<u32, FirmFileError> {
    let names = &p.enums[e].variants;
    match v.as_str().and_then(|s| names.iter().position(|n| n == s)) {
        Some(i) => Ok(i as u32),
        None => Err(fe(
            field,
            format!("{v} 不是 {} 的取值", p.enums[e].name),
            format!("{v} is not a value of {}", p.enums[e].name),
            format!("可用取值：{}", names.join("、")),
            format!("values: {}", names.join(", ")),
        )),
    }
}

/// TOML dates become `{"$__toml_private_datetime": "…"}` through serde; flatten them to strings.
fn normalize_toml(v: J) -> J {
    match v {
        J::Object(m) => {
            if m.len() == 1 {
                if let Some(J::String(s)) = m.get("$__toml_private_datetime") {
                    return J::String(s.clone());
                }
            }
            J::Object(m.into_iter().map(|(k, v)| (k, normalize_toml(v))).collect())
        }
        J::Array(a) => J::Array(a.into_iter().map(normalize_toml).collect()),
        other => other,
    }
}

/// The file's syntax tree as JSON values (TOML converted), or where its syntax breaks.
fn read_tree(text: &str, json: bool) -> Result<J, FirmFileError> {
    if text.trim().is_empty() {
        return Err(fe(
            "(file)",
            "文件为空",
            "the file is empty",
            "企业文件至少需要 id 和 [facts]",
            "a firm file needs at least id and [facts]",
        ));
    }
    if json {
        return serde_json::from_str(text).map_err(|e| {
            fe(
                format!("line {} column {}", e.line(), e.column()),
                format!("JSON 语法错误：{e}"),
                format!("JSON syntax error: {e}"),
                "检查逗号、引号和括号",
                "check commas, quotes and brackets",
            )
        });
    }
    let t: toml::Value = toml::from_str(text).map_err(|e| {
        // `line L column C` in characters, as an editor shows it.
        let at = e.span().map(|s| {
            let before = &text[..s.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line} column {col}")
        });
        fe(
            at.unwrap_or_else(|| "(file)".into()),
            format!("TOML 语法错误：{}", e.message()),
            format!("TOML syntax error: {}", e.message()),
            "检查等号、引号和方括号",
            "check equals signs, quotes and brackets",
        )
    })?;
    let v =
        serde_json::to_value(t).map_err(|e| fe("(file)", e.to_string(), e.to_string(), "", ""))?;
    Ok(normalize_toml(v))
}

/// The top-level table: only known keys, and a valid credit code.
fn firm_head(root: &J, nfacts: usize) -> Result<(&Map<String, J>, Firm), FirmFileError> {
    let J::Object(obj) = root else {
        return Err(fe(
            "(file)",
            "顶层须为对象",
            "the top level must be an object",
            "写出 id、name、facts",
            "give id, name and facts",
        ));
    };
    if let Some(k) = obj
        .keys()
        .find(|k| !["id", "name", "facts", "awards"].contains(&k.as_str()))
    {
        return Err(fe(
            k.clone(),
            format!("未知的字段 `{k}`"),
            format!("unknown field `{k}`"),
            "可用字段：id、name、facts、awards",
            "fields: id, name, facts, awards",
        ));
    }
    let id = obj.get("id").and_then(|v| v.as_str()).ok_or_else(|| {
        fe(
            "id",
            "缺少 id（统一社会信用代码）",
            "missing id (the unified social credit code)",
            "写出 id = \"9133…\"",
            "add id = \"9133…\"",
        )
    })?;
    huiqi_ir::uscc::validate(id).map_err(|e| {
        fe(
            "id",
            e.zh(),
            e.en(),
            "18位代码，末位为 GB 32100-2015 校验码",
            "18 characters ending in the GB 32100-2015 check character",
        )
    })?;
    let name = obj.get("name").and_then(|v| v.as_str()).unwrap_or(id);
    Ok((obj, Firm::new(id, name, nfacts)))
}

/// Parses a firm file's text; `json` selects the syntax.
pub fn parse_firm(p: &Program, text: &str, json: bool) -> Result<Firm, FirmFileError> {
    let root = read_tree(text, json)?;
    let (obj, mut firm) = firm_head(&root, p.facts.len())?;
    if let Some(facts) = obj.get("facts") {
        let J::Object(fm) = facts else {
            return Err(fe(
                "facts",
                "facts 须为表",
                "facts must be a table",
                "写作 [facts]",
                "write [facts]",
            ));
        };
        for (k, v) in fm {
            let field = format!("facts.{k}");
            let Some(fid) = p.fact_by_name(k) else {
                return Err(fe(
                    field,
                    format!("未知的事实 `{k}`"),
                    format!("unknown fact `{k}`"),
                    "事实名称须与政策包 fact 声明一致",
                    "fact names must match the pack's fact declarations",
                ));
            };
            firm.facts[fid] = fact_data(p, &p.facts[fid], v, &field)?;
        }
    }
    if let Some(aw) = obj.get("awards") {
        firm.awards = awards(p, aw)?;
    }
    Ok(firm)
}

/// A fact's data in the shape its period kind asks for.
fn fact_data(p: &Program, f: &Fact, v: &J, field: &str) -> Result<FactData, FirmFileError> {
    match f.kind {
        PeriodKind::Static => Ok(FactData::Static(value_of(p, f, v, field)?)),
        PeriodKind::Year | PeriodKind::Month => {
            let J::Object(ps) = v else {
                return Err(fe(
                    field,
                    "按期数据须为表，键为年份或月份",
                    "periodic data must be a table keyed by year or month",
                    "例如 营业收入 = { 2022 = \"90亿\" }",
                    "e.g. revenue = { 2022 = \"90亿\" }",
                ));
            };
            if f.kind == PeriodKind::Year {
                yearly(p, f, ps, field)
            } else {
                monthly(p, f, ps, field)
            }
        }
        PeriodKind::Event => {
            let J::Array(es) = v else {
                return Err(fe(
                    field,
                    "事件数据须为数组",
                    "event data must be an array",
                    "例如 上市进程 = [ { date = 2023-03-01, value = \"辅导备案\" } ]",
                    "e.g. stages = [ { date = 2023-03-01, value = \"…\" } ]",
                ));
            };
            events(p, f, es, field)
        }
    }
}

fn yearly(
    p: &Program,
    f: &Fact,
    ps: &Map<String, J>,
    field: &str,
) -> Result<FactData, FirmFileError> {
    let mut ys = vec![];
    for (y, val) in ps {
        let yf = format!("{field}.{y}");
        let year: i32 = y
            .parse()
            .ok()
            .filter(|y| (1900..=2200).contains(y))
            .ok_or_else(|| {
                fe(
                    yf.clone(),
                    format!("`{y}` 不是年份"),
                    format!("`{y}` is not a year"),
                    "键写作四位年份，例如 2023",
                    "keys are four-digit years, e.g. 2023",
                )
            })?;
        ys.push((year, value_of(p, f, val, &yf)?));
    }
    ys.sort_by_key(|(y, _)| *y);
    Ok(FactData::Yearly(ys))
}

fn monthly(
    p: &Program,
    f: &Fact,
    ps: &Map<String, J>,
    field: &str,
) -> Result<FactData, FirmFileError> {
    let mut ms = vec![];
    for (m, val) in ps {
        let mf = format!("{field}.{m}");
        let key = m
            .split_once('-')
            .and_then(|(y, mm)| Some((y.parse::<i32>().ok()?, mm.parse::<u32>().ok()?)))
            .filter(|(_, mm)| (1..=12).contains(mm))
            .ok_or_else(|| {
                fe(
                    mf.clone(),
                    format!("`{m}` 不是月份"),
                    format!("`{m}` is not a month"),
                    "键写作 YYYY-MM，例如 2023-01",
                    "keys are YYYY-MM, e.g. 2023-01",
                )
            })?;
        ms.push((key, value_of(p, f, val, &mf)?));
    }
    ms.sort_by_key(|(k, _)| *k);
    Ok(FactData::Monthly(ms))
}

fn events(p: &Program, f: &Fact, es: &[J], field: &str) -> Result<FactData, FirmFileError> {
    let mut recs = vec![];
    for (i, ev) in es.iter().enumerate() {
        let ef = format!("{field}[{i}]");
        let date = match ev.get("date") {
            None => {
                return Err(fe(
                    format!("{ef}.date"),
                    "缺少或无效的日期",
                    "missing or invalid date",
                    "写作 date = 2023-03-01",
                    "write date = 2023-03-01",
                ))
            }
            Some(d) => parse_date(d).map_err(|r| {
                fe(
                    format!("{ef}.date"),
                    r.zh,
                    r.en,
                    "写作 date = 2023-03-01",
                    "write date = 2023-03-01",
                )
            })?,
        };
        let until = match ev.get("until") {
            None => None,
            Some(u) => Some(parse_date(u).map_err(|r| {
                fe(
                    format!("{ef}.until"),
                    r.zh,
                    r.en,
                    "写作 until = 2024-11-19",
                    "write until = 2024-11-19",
                )
            })?),
        };
        let value = match (f.ty, ev.get("value")) {
            (Ty::Enum(e), Some(val)) => Some(variant(p, e, val, &format!("{ef}.value"))?),
            (Ty::Enum(e), None) => {
                return Err(fe(
                    format!("{ef}.value"),
                    "缺少事件取值",
                    "missing the event value",
                    format!("取值：{}", p.enums[e].variants.join("、")),
                    format!("values: {}", p.enums[e].variants.join(", ")),
                ))
            }
            _ => None,
        };
        let nums = record_fields(p, f, ev, &ef)?;
        recs.push(EventRec {
            date,
            until,
            value,
            nums,
        });
    }
    recs.sort_by_key(|r| r.date);
    Ok(FactData::Events(recs))
}

/// The numbers of record `ev` (at `ef`) of a fact with fields, each a key beside `date`
/// (`"本金" = "1000万"`) read like a value of the field's type; an absent one is missing. On a
/// fact with fields, a key that is neither a field nor `date`, `until` (or `value`, for an
/// enum-valued fact) is refused.
fn record_fields(p: &Program, f: &Fact, ev: &J, ef: &str) -> Result<Vec<Value>, FirmFileError> {
    if f.fields.is_empty() {
        return Ok(vec![]);
    }
    if let J::Object(m) = ev {
        let enum_valued = matches!(f.ty, Ty::Enum(_));
        let known = |k: &str| {
            k == "date"
                || k == "until"
                || (k == "value" && enum_valued)
                || f.fields.iter().any(|x| x.name == k)
        };
        if let Some(k) = m.keys().find(|k| !known(k)) {
            let (zh, en) = crate::schema::field_list(f);
            let mut keys = vec!["date", "until"];
            if enum_valued {
                keys.push("value");
            }
            return Err(fe(
                format!("{ef}.{k}"),
                format!("`{}` 的记录没有 `{k}` 这一项", f.name),
                format!("a record of `{}` has no `{k}`", f.name),
                format!("可用：{}；字段：{zh}", keys.join("、")),
                format!("keys: {}; fields: {en}", keys.join(", ")),
            ));
        }
    }
    (f.fields.iter())
        .map(|x| match ev.get(&x.name) {
            None => Ok(Value::Missing),
            Some(v) => {
                let name = huiqi_files::snapshot::event_field_col(&f.name, &x.name);
                typed_value(p, x.ty, &name, v, &format!("{ef}.{}", x.name))
            }
        })
        .collect()
}

fn awards(p: &Program, aw: &J) -> Result<Vec<Award>, FirmFileError> {
    let J::Array(list) = aw else {
        return Err(fe(
            "awards",
            "awards 须为数组",
            "awards must be an array",
            "写作 [[awards]]",
            "write [[awards]]",
        ));
    };
    let mut out = vec![];
    for (i, a) in list.iter().enumerate() {
        let af = format!("awards[{i}]");
        let cname = a.get("clause").and_then(|c| c.as_str()).unwrap_or_default();
        let clause = p.clause_by_name(cname).ok_or_else(|| {
            fe(
                format!("{af}.clause"),
                format!("未知的条款 `{cname}`"),
                format!("unknown clause `{cname}`"),
                "条款名称须与政策包一致",
                "clause names must match the pack",
            )
        })?;
        let period = a.get("period").and_then(|x| x.as_i64()).ok_or_else(|| {
            fe(
                format!("{af}.period"),
                "缺少年度",
                "missing period",
                "写作 period = 2022",
                "write period = 2022",
            )
        })? as i32;
        let amount = parse_money(a.get("amount").unwrap_or(&J::Null)).map_err(|r| {
            fe(
                format!("{af}.amount"),
                format!("金额无效：{}", r.zh),
                format!("invalid amount: {}", r.en),
                "例如 amount = \"100万\"",
                "e.g. amount = \"100万\"",
            )
        })?;
        let tranche = a
            .get("tranche")
            .and_then(|t| t.as_str())
            .unwrap_or_default()
            .to_string();
        out.push(Award {
            clause,
            period,
            tranche,
            amount,
        });
    }
    Ok(out)
}

/// A value of fact `fact` typed into a form (the what-if calculator): the same spellings as a
/// firm file (`2500万`, `3%`, `2023-03-01`, an enum's name; `是`/`否` or `true`/`false`).
/// An empty text is a missing value.
pub fn parse_fact_text(p: &Program, fact: usize, text: &str) -> Result<Value, FirmFileError> {
    let f = &p.facts[fact];
    let field = format!("facts.{}", f.name);
    let t = text.trim();
    if t.is_empty() {
        return Ok(Value::Missing);
    }
    let j = match f.ty {
        Ty::Bool => match t {
            "true" | "是" | "yes" | "1" => J::Bool(true),
            "false" | "否" | "no" | "0" => J::Bool(false),
            _ => J::String(t.to_string()),
        },
        _ => J::String(t.to_string()),
    };
    value_of(p, f, &j, &field)
}

/// A value written back as a form's text that [`parse_fact_text`] reads to the same value:
/// money in 元/万元/亿元 (exact), ratios in percent, dates `YYYY-MM-DD`, enums by name.
pub fn fact_text(p: &Program, fact: usize, v: &Value) -> String {
    value_text(p, p.facts[fact].ty, v)
}

/// A value of type `ty` as the pack writes it (`2500万`, `3%`, `20`, an enum's name).
pub fn value_text(p: &Program, ty: Ty, v: &Value) -> String {
    match v {
        Value::Missing => String::new(),
        Value::Bool(b) => if *b { "是" } else { "否" }.into(),
        Value::Money(d) => {
            let exact = d.round_dp(2) == *d;
            if exact {
                huiqi_ir::money::fmt_money_zh(*d)
            } else {
                format!("{}元", d.normalize())
            }
        }
        Value::Ratio(d) => format!("{}%", (d * Decimal::from(100)).normalize()),
        Value::Count(d) => d.normalize().to_string(),
        Value::Date(d) => d.to_string(),
        Value::Enum(i) => match ty {
            Ty::Enum(e) => p.enums[e]
                .variants
                .get(*i as usize)
                .cloned()
                .unwrap_or_default(),
            _ => String::new(),
        },
        Value::Text(t) => t.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> J {
        J::String(x.into())
    }

    fn yuan(x: &str) -> Decimal {
        Decimal::from_str(x).unwrap()
    }

    #[test]
    fn money_is_read_as_ingest_reads_it_in_its_own_unit() {
        for (text, want) in [
            ("80亿", "8000000000"),
            ("80 亿元", "8000000000"),
            ("1234.56万元", "12345600"),
            ("1.5万", "15000"),
            ("1,234.56", "1234.56"),
            ("1,234.56元", "1234.56"),
            ("¥80", "80"),
            ("+5", "5"),
            ("-0.01", "-0.01"),
            (".5", "0.5"),
        ] {
            assert_eq!(parse_money(&s(text)), Ok(yuan(want)), "{text}");
            // The same text in a column of that unit gives the same 分.
            let fen = parse::money(&Cell::Text(text), unit_of(text))
                .unwrap()
                .unwrap();
            assert_eq!(Decimal::new(fen, 2), yuan(want), "{text}");
        }
        let n: J = serde_json::from_str("1200").unwrap();
        assert_eq!(parse_money(&n), Ok(yuan("1200")));
        for bad in [
            "1,2,3",
            ",100",
            "0.001",
            "1.2.3",
            "一百万",
            "1e3",
            "5元万",
            "",
        ] {
            assert!(parse_money(&s(bad)).is_err(), "{bad}");
            // Ingest refuses it too (an empty cell is missing data there, not an error).
            let ingest = parse::money(&Cell::Text(bad), unit_of(bad));
            assert!(
                ingest.is_err() || (bad.is_empty() && ingest == Ok(None)),
                "{bad}"
            );
        }
        let f: J = serde_json::from_str("1.5").unwrap();
        assert!(parse_money(&f).unwrap_err().zh.contains("浮点数"));
    }

    #[test]
    fn dates_are_read_as_ingest_reads_them() {
        let want = Date::new(2023, 3, 1).unwrap();
        for text in [
            "2023-03-01",
            "2023/3/1",
            "2023.3.1",
            "2023年3月1日",
            "20230301",
            "2023-03-01T09:30:00",
        ] {
            assert_eq!(parse_date(&s(text)), Ok(want), "{text}");
        }
        let n: J = serde_json::from_str("20230301").unwrap();
        assert_eq!(parse_date(&n), Ok(want));
        for bad in [
            "2023-02-30",
            "1800-01-01",
            "03/01/2023",
            "",
            "２０２３-０３-０１",
        ] {
            assert!(parse_date(&s(bad)).is_err(), "{bad}");
        }
        assert!(parse_date(&J::Bool(true)).is_err());
    }
}
