//! The 政策沙盘's groupings of firms beyond the static facts — size class (大中小微), 规上 or
//! not, 高企 or not — declared in a pack directory's `groups.toml` as ordered classes, each with
//! a condition in the policy language:
//!
//! ```toml
//! [[group]]
//! name       = "规模"
//! definition = "统计上大中小微型企业划分办法（2017），按营业收入"
//! [[group.class]]
//! value = "大型"
//! when  = "行业 = 制造业 and 营业收入 >= 4亿"
//! ```
//!
//! A firm is in the first class whose condition holds; none (or data missing) is `(未划型)`.
//! The conditions are checked against the pack's facts and evaluated over the snapshot by the
//! columnar engine as clauses of their own (one per grouping, its class as the amount), in a
//! program holding only them: nothing is paid, and the pack's hash does not change.

use std::path::Path;

use huiqi_columnar::delta::Delta;
use huiqi_ir::Date;

use crate::simulate::Grouping0;
use crate::{Error, Result};

/// The file beside a pack's `.hq` files.
pub const FILE: &str = "groups.toml";

/// A firm no class takes.
pub const UNCLASSIFIED: &str = "(未划型)";

const PROBE: &str = "沙盘分组";

#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupDef {
    pub name: String,
    #[serde(default)]
    pub definition: Option<String>,
    #[serde(rename = "class")]
    pub classes: Vec<ClassDef>,
}

#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassDef {
    pub value: String,
    pub when: String,
}

/// The groupings of `groups.toml` in the pack directory; none when there is no such file.
pub fn read(pack: &Path) -> Result<Vec<GroupDef>> {
    let path = pack.join(FILE);
    if !pack.is_dir() || !path.exists() {
        return Ok(vec![]);
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        #[serde(default)]
        group: Vec<GroupDef>,
    }
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let f: File = toml::from_str(&text).map_err(|e| {
        Error::input(
            format!("{}：不是有效的分组定义：{e}", path.display()),
            format!("{}: not a valid grouping file: {e}", path.display()),
        )
    })?;
    for g in &f.group {
        let bad = |zh: &str, en: &str| {
            Error::input(
                format!("{}：分组「{}」{zh}", path.display(), g.name),
                format!("{}: grouping `{}`: {en}", path.display(), g.name),
            )
        };
        if g.classes.is_empty() {
            return Err(bad("没有 [[group.class]]", "has no [[group.class]]"));
        }
        for c in &g.classes {
            // A class is a property of the firm's data, not of what it was paid: a grouping that
            // read the award history would differ between a run with and without the ledger.
            if c.when.contains("awarded") {
                return Err(bad(
                    &format!("「{}」的条件不能读取奖励历史（awarded）", c.value),
                    &format!(
                        "class `{}`: a condition may not read awards (awarded)",
                        c.value
                    ),
                ));
            }
            if c.when.contains('\n') || c.when.contains('}') {
                return Err(bad(
                    &format!("「{}」的条件须是一行表达式", c.value),
                    &format!(
                        "class `{}`: a condition is one expression on one line",
                        c.value
                    ),
                ));
            }
        }
    }
    Ok(f.group)
}

/// The groupings as policy-language clauses: grouping k pays its class's position (1元, 2元 …)
/// when that class's condition is the first to hold. One line per class, so a diagnostic's
/// line names the class.
fn probe_source(defs: &[GroupDef]) -> String {
    let mut src = String::new();
    for (k, g) in defs.iter().enumerate() {
        src.push_str(&format!(
            "clause {PROBE}{k} {{ ref \"{}\" text \"政策沙盘分组\" rounding 分\n  amount\n",
            g.name.replace(['"', '\\'], "")
        ));
        for (j, c) in g.classes.iter().enumerate() {
            src.push_str(&format!(
                "    {}if ({}) then {}元\n",
                if j == 0 { "" } else { "else " },
                c.when,
                j + 1
            ));
        }
        src.push_str("    else 0元\n}\n");
    }
    src
}

/// Each grouping's class per firm, in the delta's firm order (the snapshot's, sorted).
pub fn evaluate(
    pack: &Path,
    defs: &[GroupDef],
    snapshot: &Path,
    period: i32,
    d: &Delta,
) -> Result<Vec<Grouping0>> {
    if defs.is_empty() {
        return Ok(vec![]);
    }
    let shown = format!("{}（政策沙盘分组）", pack.join(FILE).display());
    let loaded = huiqi_lang::load_pack_with_extra(pack, &[], &[(shown, probe_source(defs))])
        .map_err(|(sm, ds)| Error::Policy {
            path: pack.join(FILE),
            sources: Box::new(sm),
            diags: ds,
        })?;
    // Only the probes: no rule, no test, valid in any year.
    let mut p = loaded.program;
    p.clauses.retain(|c| c.name.starts_with(PROBE));
    for c in &mut p.clauses {
        c.window = (Date::year_start(1), Date::year_end(9999));
    }
    p.drop_cross_clause_rules();
    p.tests.clear();
    let (res, _) = crate::run::evaluate(&p, snapshot, period, huiqi_columnar::Options::default())?;
    if res.firms() != d.firms()
        || (0..d.firms()).any(|i| res.firm_ids.value(i) != d.firm_ids.value(i))
    {
        return Err(Error::plain(
            "the groupings did not read the runs' firms (not the same snapshot?)",
        ));
    }
    let mut out: Vec<Grouping0> = defs
        .iter()
        .map(|g| Grouping0 {
            by: g.name.clone(),
            definition: g.definition.clone(),
            order: g
                .classes
                .iter()
                .map(|c| c.value.clone())
                .chain([UNCLASSIFIED.to_string()])
                .collect(),
            values: vec![Some(UNCLASSIFIED.to_string()); d.firms()],
        })
        .collect();
    for i in 0..res.len() {
        let Some(k) = res
            .clause(i)
            .strip_prefix(PROBE)
            .and_then(|k| k.parse::<usize>().ok())
        else {
            continue;
        };
        let class = res.amount_fen[i] / 100;
        if let (Some(g), Ok(c)) = (out.get_mut(k), usize::try_from(class)) {
            if let Some(v) = c.checked_sub(1).and_then(|c| defs[k].classes.get(c)) {
                g.values[res.firm[i] as usize] = Some(v.value.clone());
            }
        }
    }
    Ok(out)
}
