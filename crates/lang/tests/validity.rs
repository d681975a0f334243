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
