//! Property-based fuzzing of the front end: whatever the input, the lexer, parser, checker and
//! formatter return a value or a diagnostic — never a panic — and formatting is idempotent.
//! Inputs that once broke something are kept in tests/fuzz-corpus and replayed every run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use huiqi_lang::{check, fmt, parser, SourceMap};
use proptest::prelude::*;

fn seed_sources() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies/ningbo");
    // The pack's sources (the directory also holds groups.toml, the 政策沙盘's groupings).
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "hq"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    out.sort();
    out
}

/// Runs the whole front end on one source; panics only on a bug.
fn front_end(src: &str) {
    let mut sm = SourceMap::default();
    let id = sm.add("fuzz.hq".into(), src.to_string());
    if let Ok(file) = parser::parse_file(id, src) {
        let formatted = fmt::format_file(&file, src);
        // The formatted text parses, and formatting it again changes nothing.
        let again = parser::parse_file(0, &formatted).unwrap_or_else(|d| {
            panic!(
                "formatted output does not parse: {} in\n{formatted}",
                d.msg_en
            )
        });
        assert_eq!(
            fmt::format_file(&again, &formatted),
            formatted,
            "formatting is not idempotent"
        );
        let _ = check::check(&[file], &sm);
    }
}

const TOKENS: &[&str] = &[
    "policy",
    "clause",
    "fact",
    "table",
    "require",
    "amount",
    "tranche",
    "schedule",
    "test",
    "firm",
    "expect",
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    ",",
    ":",
    "=>",
    "..",
    "=",
    ">=",
    "<",
    "+",
    "-",
    "*",
    "/",
    "??",
    "100亿",
    "3%",
    "0",
    "2022-01-01",
    "2023-13",
    "营业收入",
    "\"原文\"",
    "∞",
    "money",
    "per",
    "year",
    "event",
    "if",
    "then",
    "else",
    "and",
    "not",
    "in",
    "#注释\n",
    "\n",
    "1.234元",
    "99999999999999999999999999亿",
];

proptest! {
    // 256 cases by default; `PROPTEST_CASES=50000 cargo test -p huiqi-lang --test fuzz` fuzzes for a while.

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,200}") {
        front_end(&s);
    }

    #[test]
    fn token_soup_never_panics(toks in proptest::collection::vec(proptest::sample::select(TOKENS), 0..80)) {
        front_end(&toks.join(" "));
    }

    #[test]
    fn mutated_seed_files_never_panic(file in 0usize..64, pos in any::<prop::sample::Index>(), cut in 0usize..40, insert in proptest::sample::select(TOKENS)) {
        let srcs = seed_sources();
        let src = &srcs[file % srcs.len()];
        let chars: Vec<char> = src.chars().collect();
        let at = pos.index(chars.len().max(1));
        let mut m: String = chars[..at].iter().collect();
        m.push_str(insert);
        m.extend(chars[(at + cut).min(chars.len())..].iter());
        front_end(&m);
    }
}

#[test]
fn kept_corpus_replays() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Kept fuzz finds, and the hand-written bad-input corpus.
    for dir in [
        here.join("tests/fuzz-corpus"),
        here.join("../../tests/bad/policy"),
    ] {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "hq") {
                front_end(&std::fs::read_to_string(&p).unwrap());
            }
        }
    }
}

#[test]
fn seed_pack_formats_idempotently() {
    for s in seed_sources() {
        front_end(&s);
        let f = fmt::format_source(&s).unwrap();
        assert_eq!(f, s, "the seed pack is not in canonical form");
    }
}
