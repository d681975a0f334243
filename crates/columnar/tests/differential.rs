//! Differential tests: the columnar engine must agree with the reference evaluator for every
//! firm, clause and tranche — amount to the 分 and reason.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code)]
mod common;

use std::path::Path;

#[test]
fn seed_pack_tests_agree() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let loaded =
        huiqi_lang::load_pack(&root.join("policies/ningbo")).unwrap_or_else(|_| panic!("pack"));
    let p = &loaded.program;
    let mut problems = vec![];
    for (i, t) in p.tests.iter().enumerate() {
        let mut firms = t.firms.clone();
        // Whole, and one firm per chunk.
        if let Err(e) = common::compare_whole_and_chunked(p, &mut firms, t.period, &format!("t{i}"))
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
