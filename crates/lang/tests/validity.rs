//! `held` on an event fact without a declared validity warns (records without an end would be
//! valid for ever); `valid 3年` / `valid forever` silence it, and the pack still loads either way.

#![allow(clippy::unwrap_used, clippy::panic)]

const HEAD: &str = r#"
policy 测试 { issuer "测试" version "1" effective 2022-01-01 .. 2024-12-31 rounding 分 }
clause 持证奖励 {
  ref "第一条"
  text "持证奖励"
  require 持证: held(证书)
  amount 5万
}
"#;

fn load(fact: &str) -> huiqi_lang::Loaded {
    let dir = std::env::temp_dir().join(format!(
        "huiqi-validity-{}-{}",
        std::process::id(),
        fact.len()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("p.hq"), format!("{fact}\n{HEAD}")).unwrap();
    let l = match huiqi_lang::load_pack(&dir) {
        Ok(l) => l,
        Err((sm, ds)) => panic!(
            "{}",
            ds.iter()
                .map(|d| sm.render(d, huiqi_lang::Lang::En, false))
                .collect::<String>()
        ),
    };
    let _ = std::fs::remove_dir_all(&dir);
    l
}

#[test]
fn held_without_a_declared_validity_warns_and_still_loads() {
    let l = load(r#"fact 证书: event { label "证书" source "科技" }"#);
    assert_eq!(l.warnings.len(), 1);
    assert_eq!(l.warnings[0].code, "W0401");
    assert_eq!(l.program.clauses.len(), 1, "a warning keeps the clause");
}

#[test]
fn a_declared_validity_silences_the_warning() {
    for decl in ["valid 3年", "valid forever", "valid 18个月", "valid 90天"] {
        let l = load(&format!(
            r#"fact 证书: event {{ label "证书" source "科技" {decl} }}"#
        ));
        assert!(l.warnings.is_empty(), "{decl}");
        assert!(l.program.facts[0].validity.is_some(), "{decl}");
    }
}

/// The hint of the only error in a pack with `clause_body` (Chinese and English).
fn hint_of(require: &str) -> (String, String) {
    let dir = std::env::temp_dir().join(format!(
        "huiqi-date-hint-{}-{}",
        std::process::id(),
        require.len()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let src = format!(
        r#"policy 测试 {{ issuer "测试" version "1" effective 2022-01-01 .. 2024-12-31 rounding 分 }}
enum 阶段 {{ 辅导备案, 上市 }}
fact 上市进程: event 阶段 {{ label "上市进程" source "金融办" }}
clause 上市奖励 {{
  ref "第一条"
  text "奖励"
  require 条件: {require}
  amount 5万
}}
"#
    );
    std::fs::write(dir.join("p.hq"), src).unwrap();
    let r = huiqi_lang::load_pack(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    let Err((_, ds)) = r else {
        panic!("{require} checked")
    };
    (
        ds[0].hint(huiqi_lang::Lang::Zh).to_string(),
        ds[0].hint(huiqi_lang::Lang::En).to_string(),
    )
}

#[test]
fn date_arithmetic_errors_hint_at_dates_not_money() {
    let cases = [
        (
            "date_of(上市进程, 上市) - date_of(上市进程, 辅导备案, ever) <= 365",
            "days_between",
        ),
        ("date_of(上市进程, 上市) + 3 <= period_end()", "3年"),
        (
            "date_of(上市进程, 上市) * 2 <= period_end()",
            "days_between",
        ),
        ("date_of(上市进程, 上市) >= 30", "2023-07-01"),
    ];
    for (require, want) in cases {
        let (zh, en) = hint_of(require);
        assert!(
            zh.contains(want) && en.contains(want),
            "{require}: {zh} / {en}"
        );
        assert!(
            !zh.contains("金额") && !en.contains("money"),
            "{require}: {zh} / {en}"
        );
    }
}
