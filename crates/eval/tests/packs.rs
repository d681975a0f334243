//! The seed pack and the example packs of `policies/examples` (each cites the measure it
//! encodes) pass their own tests on the reference evaluator, in both languages.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use huiqi_eval::runner::run_tests;

fn policies() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies")
}

/// Loads the pack at `dir` and runs its tests in Chinese and English: all pass.
fn passes_its_tests(dir: &Path) {
    let loaded = huiqi_lang::load_pack(dir).unwrap_or_else(|(sm, ds)| {
        panic!(
            "{} does not check:\n{}",
            dir.display(),
            ds.iter()
                .map(|d| sm.render(d, huiqi_lang::Lang::En, false))
                .collect::<String>()
        )
    });
    let p = &loaded.program;
    assert!(!p.tests.is_empty(), "{} has no tests", dir.display());
    for en in [false, true] {
        let rep = run_tests(p, None, en);
        let failures: Vec<String> = rep
            .failed
            .iter()
            .map(|f| format!("{}\n{}", f.test, f.message))
            .collect();
        assert!(
            failures.is_empty(),
            "{}:\n{}",
            dir.display(),
            failures.join("\n")
        );
        assert_eq!(rep.passed, p.tests.len());
    }
}

#[test]
fn seed_pack_tests_pass() {
    passes_its_tests(&policies().join("ningbo"));
}

/// Two packs run together (`import`): each one's negative list and cap over several years keep
/// to its own clauses and their history.
#[test]
fn imported_packs_keep_their_rules_to_their_own_clauses() {
    passes_its_tests(&policies().join("../tests/fixtures/import-scope/district"));
    passes_its_tests(&policies().join("../tests/fixtures/import-scope/city"));
}

#[test]
fn example_packs_pass_their_tests() {
    let packs = huiqi_lang::find_packs(&policies().join("examples")).expect("policies/examples");
    assert!(!packs.is_empty());
    for dir in packs {
        passes_its_tests(&dir);
    }
}

/// `explain` shows what a cap over several years has left: the years, what they used, the room.
#[test]
fn explain_shows_the_room_a_cap_over_years_leaves() {
    let root = policies().join("examples/fuqing-hq");
    let loaded = huiqi_lang::load_pack(&root).unwrap_or_else(|_| panic!("pack"));
    let p = &loaded.program;
    let t = p
        .tests
        .iter()
        .find(|t| t.name.starts_with("三年累计上限：此前两年"))
        .expect("the test");
    let outs = huiqi_eval::evaluate_population(p, &t.firms, t.period, true);
    let zh = huiqi_eval::explain::explain_text(p, &t.firms[0], &outs[0], t.period, None, false);
    assert!(
        zh.contains("三年累计上限（3年累计 1500万元）：2022–2023年已获 1150万元，本年余额 350万元"),
        "{zh}"
    );
    let en = huiqi_eval::explain::explain_text(p, &t.firms[0], &outs[0], t.period, None, true);
    assert!(en.contains("2022–2023 already awarded"), "{en}");
}

/// `explain` of a firm a group cap cut names the group and what its sister firms took before it.
#[test]
fn explain_names_the_group_and_who_used_its_room() {
    let root = policies().join("examples/group-cap");
    let loaded = huiqi_lang::load_pack(&root).unwrap_or_else(|_| panic!("pack"));
    let p = &loaded.program;
    let t = p
        .tests
        .iter()
        .find(|t| t.name.starts_with("同一集团：先认定"))
        .expect("the test");
    let outs = huiqi_eval::evaluate_population(p, &t.firms, t.period, true);
    // 甲二 is the second firm: 甲一 took 250万 of the group's 400万 first.
    let zh = huiqi_eval::explain::explain_text(p, &t.firms[1], &outs[1], t.period, None, false);
    assert!(
        zh.contains("集团上限 同一集团年度上限（甲集团）：集团额度已由 甲一 使用 250万元"),
        "{zh}"
    );
    let en = huiqi_eval::explain::explain_text(p, &t.firms[1], &outs[1], t.period, None, true);
    assert!(
        en.contains(
            "group cap 同一集团年度上限 (甲集团): the group's room was used by 甲一 (250 wan yuan)"
        ),
        "{en}"
    );
}

/// A clawback's amount is explained from the award it takes back: the year, what the history
/// held, the share and the amount.
#[test]
fn a_clawback_explains_the_award_it_takes_back() {
    let root = policies().join("examples/clawback");
    let loaded = huiqi_lang::load_pack(&root).unwrap_or_else(|_| panic!("pack"));
    let p = &loaded.program;
    let t = p
        .tests
        .iter()
        .find(|t| t.name.starts_with("2024年迁出"))
        .expect("the test");
    let recs = huiqi_eval::clawback::clawbacks(p, &t.firms[0], t.period).expect("in range");
    let zh: Vec<String> = recs
        .iter()
        .map(|r| huiqi_eval::clawback::recovery_text(p, r, false))
        .collect();
    assert_eq!(
        zh,
        [
            "追回 迁出追回：2022年 研发投入奖励 已获 300万元，按剩余3/5年限追回 180万元",
            "追回 迁出追回：2023年 研发投入奖励 已获 200万元，按剩余4/5年限追回 160万元"
        ]
    );
    let en = huiqi_eval::clawback::recovery_text(p, &recs[0], true);
    assert!(
        en.contains("3/5 of the term remaining, 180 wan yuan recovered"),
        "{en}"
    );
    // A test that expects the wrong amount fails and shows the recoveries.
    let mut wrong = p.clone();
    wrong.tests.retain(|x| x.name == t.name);
    wrong.tests[0].expects.retain(|e| e.clawback.is_some());
    wrong.tests[0].expects[0].amount = rust_decimal::Decimal::from(3_000_000);
    let rep = huiqi_eval::runner::run_tests(&wrong, None, false);
    assert_eq!(rep.failed.len(), 1);
    assert!(
        rep.failed[0].message.contains("按剩余3/5年限追回"),
        "{}",
        rep.failed[0].message
    );
}
