//! `expect … because X` on a clause of several tranches: without naming a tranche, every
//! tranche must carry reason X — a reason of one tranche says nothing of the others' — and a
//! failure names the tranches that lack it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use huiqi_eval::runner::run_tests;

const PACK: &str = r#"
policy 分期 { issuer "测试" version "1" effective 2021-01-01 .. 2024-12-31 rounding 分 }
fact 营收: money per year { label "营收" source "税务" }
fact 证书: event { label "证书" source "科技" }

clause 认定奖励 {
  ref "1"
  text "首次认定5万元，重新认定2万元"
  require 当年获证: issued(证书)
  tranche 首次认定 {
    require 无往期证书: issued_before(证书) = 0
    amount 5万
  }
  tranche 重新认定 {
    require 有往期证书: issued_before(证书) >= 1
    amount 2万
  }
}

test "首次认定的企业" {
  period 2023
  firm 甲 {
    证书 = [2023-05-01 .. 2026-04-30]
  }
  # 首次认定 pays; only 重新认定 is zero for want of an earlier certificate.
  expect 甲.认定奖励.重新认定 = 0 because 有往期证书
  # Wrong: the clause as a whole is not zero, and 首次认定 does not carry that reason.
  expect 甲.认定奖励 = 5万 because 有往期证书
}

test "当年未获证" {
  period 2023
  firm 乙 {
    证书 = [2021-05-01 .. 2024-04-30]
  }
  # The clause's own condition fails for both tranches: right without naming one.
  expect 乙.认定奖励 = 0 because 当年获证
}
"#;

#[test]
fn because_without_a_tranche_must_hold_for_every_tranche() {
    let dir = std::env::temp_dir().join(format!("huiqi-because-{}", std::process::id()));
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
    let rep = run_tests(&loaded.program, None, true);
    assert_eq!(rep.passed, 1, "{:?}", rep.failed);
    assert_eq!(rep.failed.len(), 1);
    let f = &rep.failed[0];
    assert_eq!(f.test, "首次认定的企业");
    // Only the clause-wide expectation fails, naming the tranche without the reason.
    assert!(
        f.message.contains("not in tranche 首次认定"),
        "{}",
        f.message
    );
    assert!(!f.message.contains("重新认定)"), "{}", f.message);
    assert_eq!(
        f.message.matches("expected reason").count(),
        1,
        "{}",
        f.message
    );
    let zh = run_tests(&loaded.program, None, false);
    assert!(
        zh.failed[0].message.contains("分期 首次认定 不是此原因"),
        "{}",
        zh.failed[0].message
    );
}
