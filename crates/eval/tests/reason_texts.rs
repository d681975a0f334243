//! A condition's and a negative list's own reason text (`reason "…"`): explanations give it
//! before the generic words, the results keep the stable code and name, the formatter keeps it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use huiqi_eval::explain::explain_text;
use huiqi_eval::{evaluate_population, Reason};
use huiqi_ir::*;
use rust_decimal::Decimal;

const PACK: &str = r#"policy 理由 { issuer "测试" version "1" effective 2021-01-01 .. 2024-12-31 rounding 分 }
enum 门类 { 制造业, 房地产业 }
fact 行业: 门类 static { label "行业" source "市场监管" }
fact 营收: money per year { label "营收" source "税务" }
fact 失信: bool per year { label "失信" source "信用" }

exclude 失信企业: 失信 reason "列入失信名单的企业不享受本政策"

clause 奖励 {
  ref "1"
  text "非房地产企业营收过亿奖励10万元"
  require 非房地产: 行业 != 房地产业 reason "房地产业企业不适用本条"
  require 营收过亿: 营收 >= 1亿
  amount 10万
}
"#;

fn program() -> Program {
    let dir = std::env::temp_dir().join(format!("huiqi-reason-texts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("p.hq"), PACK).unwrap();
    let loaded = match huiqi_lang::load_pack(&dir) {
        Ok(l) => l,
        Err((sm, ds)) => panic!(
            "{}",
            ds.iter()
                .map(|d| sm.render(d, huiqi_lang::Lang::En, false))
                .collect::<String>()
        ),
    };
    let _ = std::fs::remove_dir_all(&dir);
    loaded.program
}

fn firm(p: &Program, id: &str, industry: u32, revenue: &str, bad: bool) -> Firm {
    let f = |n: &str| p.fact_by_name(n).unwrap();
    let mut firm = Firm::new(id, id, p.facts.len());
    firm.facts[f("行业")] = FactData::Static(Value::Enum(industry));
    firm.facts[f("营收")] = FactData::Yearly(vec![(
        2023,
        Value::Money(revenue.parse::<Decimal>().unwrap()),
    )]);
    firm.facts[f("失信")] = FactData::Yearly(vec![(2023, Value::Bool(bad))]);
    firm
}

#[test]
fn explanations_give_the_officers_text_and_results_keep_the_name() {
    let p = program();
    let firms = vec![
        firm(&p, "地产", 1, "200000000", false),
        firm(&p, "失信", 0, "200000000", true),
        firm(&p, "小微", 0, "100", false),
    ];
    let outs = evaluate_population(&p, &firms, 2023, true);
    let reason = |i: usize| outs[i].clauses[0].tranches[0].reason.clone().unwrap();
    // The results' text is the stable code and name, whatever the wording.
    assert_eq!(reason(0).result_text(), "cond:非房地产");
    assert_eq!(reason(1).result_text(), "excl:失信企业");
    let text = |i: usize, en: bool| explain_text(&p, &firms[i], &outs[i], 2023, None, en);
    assert!(
        text(0, false).contains("房地产业企业不适用本条（不满足条件：非房地产）"),
        "{}",
        text(0, false)
    );
    assert!(
        text(0, true).contains("房地产业企业不适用本条 (condition not met: 非房地产)"),
        "{}",
        text(0, true)
    );
    assert!(
        text(1, false).contains("列入失信名单的企业不享受本政策（负面清单：失信企业）"),
        "{}",
        text(1, false)
    );
    // A condition without its own text keeps the generic words.
    assert!(matches!(reason(2), Reason::Condition { ref name, .. } if name == "营收过亿"));
    assert!(
        text(2, false).contains("原因： 不满足条件：营收过亿")
            || text(2, false).contains("不满足条件：营收过亿")
    );
}

#[test]
fn the_formatter_keeps_reason_texts() {
    let out = huiqi_lang::fmt::format_source(PACK).unwrap();
    assert!(
        out.contains(r#"require 非房地产: 行业 != 房地产业 reason "房地产业企业不适用本条""#),
        "{out}"
    );
    assert!(
        out.contains(r#"exclude 失信企业: 失信 reason "列入失信名单的企业不享受本政策""#),
        "{out}"
    );
    assert_eq!(huiqi_lang::fmt::format_source(&out).unwrap(), out);
}
