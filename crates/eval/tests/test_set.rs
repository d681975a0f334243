//! `set 参数 = 值` inside a test: the test runs with that value (for all time), other tests
//! with the pack's own; a value that does not fit the parameter's use is a check error.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use huiqi_eval::runner::run_tests;

const PACK: &str = r#"
policy 设定 { issuer "测试" version "1" effective 2022-01-01 .. 2024-12-31 rounding 分 }
fact 营收: money per year { label "营收" source "税务" }

param 名额: count {
  2022-01-01: 1
}
param 奖励额: money {
  2022-01-01: 10万
}

clause 领军奖励 {
  ref "1"
  text "营收前若干名奖励"
  require 达标: 营收 >= 1000万
  amount 奖励额
}

select 领军遴选 {
  clause 领军奖励
  score 营收
  top 名额
}

test "一个名额" {
  period 2023
  firm 甲 { 营收 = {2023: 5000万} }
  firm 乙 { 营收 = {2023: 4000万} }
  expect 甲.领军奖励 = 10万
  expect 乙.领军奖励 = 0 because 领军遴选
}

test "两个名额，奖励提高" {
  period 2023
  set 名额 = 2
  set 奖励额 = 15万
  firm 甲 { 营收 = {2023: 5000万} }
  firm 乙 { 营收 = {2023: 4000万} }
  expect 甲.领军奖励 = 15万
  expect 乙.领军奖励 = 15万
}
"#;

fn load(text: &str) -> Result<huiqi_lang::Loaded, String> {
    let dir = std::env::temp_dir().join(format!(
        "huiqi-test-set-{}-{}",
        std::process::id(),
        text.len()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("p.hq"), text).unwrap();
    let r = huiqi_lang::load_pack(&dir).map_err(|(sm, ds)| {
        ds.iter()
            .map(|d| format!("{} {}", d.code, sm.render(d, huiqi_lang::Lang::En, false)))
            .collect::<String>()
    });
    let _ = std::fs::remove_dir_all(&dir);
    r
}

#[test]
fn a_test_sets_parameters_for_itself_only() {
    let l = load(PACK).unwrap();
    let rep = run_tests(&l.program, None, true);
    assert!(rep.failed.is_empty(), "{:?}", rep.failed);
    assert_eq!(rep.passed, 2);
    // The pack itself is unchanged: its own value is still 1.
    assert_eq!(l.program.params[0].values.len(), 1);
    // Formatting keeps the statement.
    let f = huiqi_lang::fmt::format_source(PACK).unwrap();
    assert!(f.contains("  set 名额 = 2\n"), "{f}");
}

#[test]
fn a_set_that_does_not_fit_is_refused() {
    let bad = PACK.replace("set 名额 = 2", "set 名额 = 0");
    let e = load(&bad).err().unwrap();
    assert!(e.contains("E0418"), "{e}");
    let bad = PACK.replace("set 名额 = 2", "set 名额们 = 2");
    let e = load(&bad).err().unwrap();
    assert!(e.contains("E0330") && e.contains("名额"), "{e}");
    let bad = PACK.replace("set 奖励额 = 15万", "set 奖励额 = 15%");
    assert!(load(&bad).is_err());
}
