//! Differential tests: the columnar engine must agree with the reference evaluator for every
//! firm, clause and tranche — amount to the 分 and reason.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code)]
mod common;

use std::path::Path;

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
