//! The seed pack's own tests pass on the reference evaluator, in both languages.

use std::path::Path;

use huiqi_eval::runner::run_tests;

#[test]
fn seed_pack_tests_pass() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let loaded = huiqi_lang::load_pack(&root.join("policies/ningbo"))
        .unwrap_or_else(|_| panic!("the seed pack does not check"));
    let p = &loaded.program;
    assert!(!p.tests.is_empty());
    for en in [false, true] {
        let rep = run_tests(p, None, en);
        let failures: Vec<String> = rep
            .failed
            .iter()
            .map(|f| format!("{}\n{}", f.test, f.message))
            .collect();
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        assert_eq!(rep.passed, p.tests.len());
    }
}
