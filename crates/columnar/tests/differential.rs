//! Differential tests: the columnar engine must agree with the reference evaluator for every
//! firm, clause and tranche — amount to the 分 and reason.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code)]
use crate::common;

use std::path::Path;

use huiqi_ir::*;

#[test]
fn seed_pack_tests_agree() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    pack_tests_agree(&root.join("policies/ningbo"));
}

/// The example packs of `policies/examples` (multi-year bases, windows and caps, with award
/// histories): every test's firms, whole and chunked.
#[test]
fn example_pack_tests_agree() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies/examples");
    let packs = huiqi_lang::find_packs(&root).unwrap();
    assert!(!packs.is_empty());
    for dir in packs {
        pack_tests_agree(&dir);
    }
}

/// Two packs run together (`import`), whose rules keep to their own clauses.
#[test]
fn imported_pack_tests_agree() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/import-scope");
    pack_tests_agree(&root.join("district"));
}

fn pack_tests_agree(dir: &Path) {
    let loaded = huiqi_lang::load_pack(dir).unwrap_or_else(|_| panic!("{}", dir.display()));
    let p = &loaded.program;
    // Labels name the scratch directories: unique per pack, as the packs run side by side.
    let pack = dir.file_name().and_then(|n| n.to_str()).unwrap_or("pack");
    let mut problems = vec![];
    for (i, t) in p.tests.iter().enumerate() {
        let mut firms = t.firms.clone();
        // Whole, and one firm per chunk.
        if let Err(e) =
            common::compare_whole_and_chunked(p, &mut firms, t.period, &format!("{pack}-t{i}"))
        {
            problems.push(format!("test \"{}\": {e}", t.name));
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {} tests disagree:\n{}",
        problems.len(),
        p.tests.len(),
        problems.join("\n")
    );
}

/// Clawbacks at the edges, by both engines: a history at the largest amount a result carries
/// is recovered to the 分; one beyond it refuses the run, naming the firm and the rule (the
/// first such firm in credit-code order); odd 分 round half up the same way.
#[test]
fn clawbacks_agree_at_the_edges() {
    use rust_decimal::Decimal;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies/examples/clawback");
    let loaded = huiqi_lang::load_pack(&root).unwrap_or_else(|_| panic!("pack"));
    let p = &loaded.program;
    let moved = p.fact_by_name("迁出本区").unwrap();
    let firm = |id: &str, awards: &[(i32, Decimal)]| {
        let mut f = Firm::new(id, id, p.facts.len());
        f.facts[moved] = FactData::Events(vec![EventRec {
            date: Date::new(2024, 6, 30).unwrap(),
            until: None,
            value: None,
            nums: vec![],
        }]);
        f.awards = awards
            .iter()
            .map(|(y, a)| Award {
                clause: 0,
                period: *y,
                tranche: String::new(),
                amount: *a,
            })
            .collect();
        f
    };
    let top = Decimal::new(999_999_999_999_999_999, 2);
    let mut ok = vec![
        firm("A1", &[(2023, top), (2022, Decimal::new(1, 2))]),
        firm("A2", &[(2021, Decimal::new(123_457, 2)), (2019, top)]),
        firm("A3", &[(2020, Decimal::new(5, 3))]),
    ];
    let dir = std::env::temp_dir().join(format!("huiqi-claw-edge-{}", std::process::id()));
    common::support::write_snapshot(p, &ok, &dir);
    common::compare_clawbacks(p, &ok, &dir, 2024, "edge").unwrap();
    let recs = huiqi_eval::clawback::population_clawbacks(p, &ok, 2024).unwrap();
    // 4/5 of the largest amount, to the 分: 7,999,999,999,999,999.99 元 is 799,999,999,999,999,999.2 分.
    assert_eq!(recs[0][1].amount_fen, 799_999_999_999_999_999);
    // 1分 × 3/5 rounds to 1分; 0.5厘 × 1/5 to nothing.
    assert_eq!(recs[0][0].amount_fen, 1);
    assert!(recs[2].is_empty());
    let _ = std::fs::remove_dir_all(&dir);
    // One firm beyond: refused by both, naming it.
    ok.push(firm(
        "A4",
        &[(2023, Decimal::from(20_000_000_000_000_000i64))],
    ));
    let dir = std::env::temp_dir().join(format!("huiqi-claw-edge2-{}", std::process::id()));
    common::support::write_snapshot(p, &ok, &dir);
    common::compare_clawbacks(p, &ok, &dir, 2024, "beyond").unwrap();
    let err = huiqi_eval::clawback::population_clawbacks(p, &ok, 2024).unwrap_err();
    assert_eq!((err.firm.as_str(), err.rule.as_str()), ("A4", "迁出追回"));
    let _ = std::fs::remove_dir_all(&dir);
}
