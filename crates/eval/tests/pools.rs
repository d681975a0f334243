//! Budget pools: whatever the demands, an oversubscribed pro-rata pool pays out exactly its
//! budget to the 分, nobody gets more than they were entitled to, and the split is reproducible.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use huiqi_eval::evaluate_population;
use huiqi_ir::{FactData, Firm, Value};
use proptest::prelude::*;
use rust_decimal::Decimal;

const PACK: &str = r#"
policy 资金池测试 { issuer "测试" version "1" effective 2022-01-01 .. 2030-12-31 }
fact 补助基数: money per year { label "补助基数" source "测试" }
clause 补助 {
  ref "第一条" text "按基数补助"
  require 有基数: 补助基数 > 0
  amount 补助基数
}
pool 资金池 { clauses [补助] budget 1000000.01元 pro_rata }
"#;

fn program() -> huiqi_ir::Program {
    let dir = std::env::temp_dir().join(format!("huiqi-pool-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("p.hq"), PACK).unwrap();
    huiqi_lang::load_pack(&dir)
        .unwrap_or_else(|_| panic!("pack"))
        .program
}

proptest! {
    #[test]
    fn pro_rata_is_exact(fens in proptest::collection::vec(1i64..500_000_000, 1..40)) {
        let p = program();
        let firms: Vec<Firm> = fens.iter().enumerate().map(|(i, f)| {
            let mut firm = Firm::new(format!("F{i:03}"), "", p.facts.len());
            firm.facts[0] = FactData::Yearly(vec![(2023, Value::Money(Decimal::new(*f, 2)))]);
            firm
        }).collect();
        let outs = evaluate_population(&p, &firms, 2023, false);
        let demand: i64 = fens.iter().sum();
        let budget = 100_000_001i64;
        let paid: Vec<i64> = outs.iter().map(|o| huiqi_ir::money::to_fen(o.total())).collect();
        for (got, want) in paid.iter().zip(&fens) {
            prop_assert!(got <= want);
        }
        let total: i64 = paid.iter().sum();
        prop_assert_eq!(total, demand.min(budget));
        let again: Vec<i64> = evaluate_population(&p, &firms, 2023, false).iter().map(|o| huiqi_ir::money::to_fen(o.total())).collect();
        prop_assert_eq!(paid, again);
    }
}
