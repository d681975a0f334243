//! Firm files (TOML or JSON) → [`Firm`], validated against a program's fact schema. Every
//! problem names the field path and says how to fix it.

use huiqi_ir::*;
use rust_decimal::Decimal;
use serde_json::Value as J;
use std::str::FromStr;

#[derive(Debug, Clone)]
pub struct FirmError {
    /// Field path, e.g. `facts.营业收入.2023`.
    pub field: String,
    pub zh: String,
    pub en: String,
    pub hint_zh: String,
    pub hint_en: String,
}

fn fe(
    field: impl Into<String>,
    zh: impl Into<String>,
    en: impl Into<String>,
    hz: impl Into<String>,
    he: impl Into<String>,
) -> FirmError {
    FirmError {
        field: field.into(),
        zh: zh.into(),
        en: en.into(),
        hint_zh: hz.into(),
        hint_en: he.into(),
    }
}

/// Parses money written as policy texts do (`80亿`, `1234.56元`, `1234.56` = 元) or an integer of 元.
pub fn parse_money(v: &J) -> Result<Decimal, String> {
    match v {
        J::String(s) => parse_amount_text(s),
        J::Number(n) => {
            let t = n.to_string();
            if t.contains(['.', 'e', 'E']) {
                return Err(format!("浮点数 {t} 不能表示金额 / a floating-point number {t} cannot carry money"));
            }
            Decimal::from_str(&t).map_err(|e| e.to_string())
        }
        _ => Err("金额须为字符串（如 \"80亿\"）或整数元 / money must be a string such as \"80亿\" or an integer of yuan".into()),
    }
}

pub fn parse_amount_text(s: &str) -> Result<Decimal, String> {
    let t = s.trim();
    let (num, mult) = if let Some(x) = t.strip_suffix("亿元").or_else(|| t.strip_suffix('亿')) {
        (x, Decimal::from(100_000_000))
    } else if let Some(x) = t.strip_suffix("万元").or_else(|| t.strip_suffix('万')) {
        (x, Decimal::from(10_000))
    } else if let Some(x) = t.strip_suffix('元') {
        (x, Decimal::ONE)
    } else {
        (t, Decimal::ONE)
    };
    let n = num.trim().replace(',', "");
    if n.is_empty()
        || !n
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == '-')
    {
        return Err(format!("`{s}` 不是金额 / `{s}` is not an amount"));
    }
    let d =
        Decimal::from_str(&n).map_err(|_| format!("`{s}` 不是金额 / `{s}` is not an amount"))?;
    let d = d
        .checked_mul(mult)
        .ok_or_else(|| format!("`{s}` 超出范围 / `{s}` is out of range"))?;
    if d.normalize().scale() > 2 {
        return Err(format!("`{s}` 精确到分以下 / `{s}` is finer than 1 分"));
    }
    Ok(d.normalize())
}

fn parse_ratio(v: &J) -> Result<Decimal, String> {
    match v {
        J::String(s) => {
            let t = s.trim();
            if let Some(p) = t.strip_suffix('%') {
                Decimal::from_str(p.trim())
                    .map(|d| d / Decimal::from(100))
                    .map_err(|_| format!("`{s}` 不是比例 / not a ratio"))
            } else {
                Decimal::from_str(t).map_err(|_| format!("`{s}` 不是比例 / not a ratio"))
            }
        }
        J::Number(n) => Decimal::from_str(&n.to_string()).map_err(|e| e.to_string()),
        _ => Err("比例须写作 \"3%\" 或 \"0.03\" / write ratios as \"3%\" or \"0.03\"".into()),
    }
}

fn parse_date(v: &J) -> Option<Date> {
    match v {
        J::String(s) => Date::parse(s.trim()),
        _ => None,
    }
}

fn value_of(p: &Program, f: &Fact, v: &J, field: &str) -> Result<Value, FirmError> {
    let bad = |zh: String, en: String| {
        fe(
            field,
            zh,
            en,
            format!("`{}` 的类型是 {:?}", f.name, f.ty),
            format!("`{}` has type {:?}", f.name, f.ty),
        )
    };
    Ok(match f.ty {
        Ty::Money => Value::Money(
            parse_money(v)
                .map_err(|m| bad(format!("金额无效：{m}"), format!("invalid money: {m}")))?,
        ),
        Ty::Ratio => Value::Ratio(parse_ratio(v).map_err(|m| bad(m.clone(), m))?),
        Ty::Count => match v {
            J::Number(n) if n.is_i64() || n.is_u64() => {
                Value::Count(Decimal::from_str(&n.to_string()).unwrap())
            }
            J::String(s) if s.trim().parse::<i64>().is_ok() => {
                Value::Count(Decimal::from(s.trim().parse::<i64>().unwrap()))
            }
            _ => {
                return Err(bad(
                    format!("应为整数，实为 {v}"),
                    format!("expected an integer, found {v}"),
                ))
            }
        },
        Ty::Bool => match v {
            J::Bool(b) => Value::Bool(*b),
            _ => {
                return Err(bad(
                    format!("应为 true 或 false，实为 {v}"),
                    format!("expected true or false, found {v}"),
                ))
            }
        },
        Ty::Date => Value::Date(
            parse_date(v)
                .ok_or_else(|| bad(format!("无效的日期 {v}"), format!("invalid date {v}")))?,
        ),
        Ty::Enum(e) => {
            let names = &p.enums[e].variants;
            match v.as_str().and_then(|s| names.iter().position(|n| n == s)) {
                Some(i) => Value::Enum(i as u32),
                None => {
                    return Err(fe(
                        field,
                        format!("{v} 不是 {} 的取值", p.enums[e].name),
                        format!("{v} is not a value of {}", p.enums[e].name),
                        format!("可用取值：{}", names.join("、")),
                        format!("values: {}", names.join(", ")),
                    ))
                }
            }
        }
        Ty::Text => Value::Text(v.as_str().unwrap_or_default().to_string()),
    })
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

/// Parses a firm file's text; `json` selects the syntax.
pub fn parse_firm(p: &Program, text: &str, json: bool) -> Result<Firm, FirmError> {
    if text.trim().is_empty() {
        return Err(fe(
            "(file)",
            "文件为空",
            "the file is empty",
            "企业文件至少需要 id 和 [facts]",
            "a firm file needs at least id and [facts]",
        ));
    }
    let root: J = if json {
        serde_json::from_str(text).map_err(|e| {
            fe(
                format!("line {} column {}", e.line(), e.column()),
                format!("JSON 语法错误：{e}"),
                format!("JSON syntax error: {e}"),
                "检查逗号、引号和括号",
                "check commas, quotes and brackets",
            )
        })?
    } else {
        let t: toml::Value = toml::from_str(text).map_err(|e| {
            let at = e.span().map(|s| {
                let line = text[..s.start].matches('\n').count() + 1;
                let col = text[..s.start]
                    .rsplit('\n')
                    .next()
                    .map(|l| l.chars().count())
                    .unwrap_or(0)
                    + 1;
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
        normalize_toml(
            serde_json::to_value(t)
                .map_err(|e| fe("(file)", e.to_string(), e.to_string(), "", ""))?,
        )
    };
    let J::Object(obj) = &root else {
        return Err(fe(
            "(file)",
            "顶层须为对象",
            "the top level must be an object",
            "写出 id、name、facts",
            "give id, name and facts",
        ));
    };
    for k in obj.keys() {
        if !["id", "name", "facts", "awards"].contains(&k.as_str()) {
            return Err(fe(
                k.clone(),
                format!("未知的字段 `{k}`"),
                format!("unknown field `{k}`"),
                "可用字段：id、name、facts、awards",
                "fields: id, name, facts, awards",
            ));
        }
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
    let mut firm = Firm::new(id, name, p.facts.len());
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
            let f = &p.facts[fid];
            firm.facts[fid] = match f.kind {
                PeriodKind::Static => FactData::Static(value_of(p, f, v, &field)?),
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
                        FactData::Yearly(ys)
                    } else {
                        let mut ms = vec![];
                        for (m, val) in ps {
                            let mf = format!("{field}.{m}");
                            let parsed = m
                                .split_once('-')
                                .and_then(|(y, mm)| {
                                    Some((y.parse::<i32>().ok()?, mm.parse::<u32>().ok()?))
                                })
                                .filter(|(_, mm)| (1..=12).contains(mm));
                            let key = parsed.ok_or_else(|| {
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
                        FactData::Monthly(ms)
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
                    let mut recs = vec![];
                    for (i, ev) in es.iter().enumerate() {
                        let ef = format!("{field}[{i}]");
                        let date = ev.get("date").and_then(parse_date).ok_or_else(|| {
                            fe(
                                format!("{ef}.date"),
                                "缺少或无效的日期",
                                "missing or invalid date",
                                "写作 date = 2023-03-01",
                                "write date = 2023-03-01",
                            )
                        })?;
                        let until = match ev.get("until") {
                            None => None,
                            Some(u) => Some(parse_date(u).ok_or_else(|| {
                                fe(
                                    format!("{ef}.until"),
                                    "无效的日期",
                                    "invalid date",
                                    "写作 until = 2024-11-19",
                                    "write until = 2024-11-19",
                                )
                            })?),
                        };
                        let value = match (f.ty, ev.get("value")) {
                            (Ty::Enum(_), Some(val)) => {
                                match value_of(p, f, val, &format!("{ef}.value"))? {
                                    Value::Enum(i) => Some(i),
                                    _ => None,
                                }
                            }
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
                        recs.push(EventRec { date, until, value });
                    }
                    recs.sort_by_key(|r| r.date);
                    FactData::Events(recs)
                }
            };
        }
    }
    if let Some(aw) = obj.get("awards") {
        let J::Array(list) = aw else {
            return Err(fe(
                "awards",
                "awards 须为数组",
                "awards must be an array",
                "写作 [[awards]]",
                "write [[awards]]",
            ));
        };
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
            let amount = parse_money(a.get("amount").unwrap_or(&J::Null)).map_err(|m| {
                fe(
                    format!("{af}.amount"),
                    format!("金额无效：{m}"),
                    format!("invalid amount: {m}"),
                    "例如 amount = \"100万\"",
                    "e.g. amount = \"100万\"",
                )
            })?;
            let tranche = a
                .get("tranche")
                .and_then(|t| t.as_str())
                .unwrap_or_default()
                .to_string();
            firm.awards.push(Award {
                clause,
                period,
                tranche,
                amount,
            });
        }
    }
    Ok(firm)
}
