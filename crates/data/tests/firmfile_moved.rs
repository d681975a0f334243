//! The firm-file reader moved from `huiqi_eval::firmfile` to `huiqi_data::firmfile`, where it
//! reads money and dates with ingest's parsers. The bad firm-file corpus (tests/bad/firm) must
//! give the same messages through both, except where the parsers were unified (listed below);
//! valid firm files must give the same firms.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use huiqi_ir::Program;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn pack(dir: &str) -> Program {
    match huiqi_lang::load_pack(&root().join(dir)) {
        Ok(l) => l.program,
        Err((_, ds)) => panic!("{dir} does not load: {} errors", ds.len()),
    }
}

fn is_json(p: &Path) -> bool {
    p.extension().is_some_and(|x| x == "json")
}

/// (field, zh, en, hint_zh, hint_en) of the new reader's error and of eval's.
type Msg = [String; 5];

fn messages(p: &Program, path: &Path) -> (Msg, Msg) {
    let text = std::fs::read_to_string(path).unwrap();
    let new = huiqi_data::firmfile::parse_firm(p, &text, is_json(path))
        .expect_err("the new reader accepted a bad file");
    let old = huiqi_eval::firmfile::parse_firm(p, &text, is_json(path))
        .expect_err("eval's reader accepted a bad file");
    (
        [new.field, new.zh, new.en, new.hint_zh, new.hint_en],
        [old.field, old.zh, old.en, old.hint_zh, old.hint_en],
    )
}

/// The files whose messages changed, and the new zh and en text: money and dates are now read
/// by ingest's parsers (`huiqi_data::parse`), whose messages these are. Field paths and hints
/// are unchanged everywhere.
const UNIFIED: &[(&str, &str, &str)] = &[
    // Was: 金额无效：`一百万` 不是金额 / `一百万` is not an amount (the same text in zh and en).
    (
        "07-money-chinese-text.toml",
        "金额无效：金额格式不对：`一百万`（应为数字，如 1234.56 或 1,234.56，单位万元）",
        "invalid money: not an amount: `一百万` (expected a number such as 1234.56 or 1,234.56, in 万元)",
    ),
    // Was: 缺少或无效的日期 | missing or invalid date (still the message when `date` is missing).
    (
        "11-event-bad-date.json",
        "日期格式不对：`2023-02-30`（应为 2023-03-01、2023/3/1 或 2023年3月1日）",
        "not a date: `2023-02-30` (expected 2023-03-01, 2023/3/1 or 2023年3月1日)",
    ),
];

#[test]
fn bad_corpus_gives_the_same_messages_except_where_the_parsers_were_unified() {
    let p = pack("tests/bad/firm/pack");
    let dir = root().join("tests/bad/firm");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|f| f.is_file() && f.file_name().is_some_and(|n| n != "expect.toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 20, "{files:?}");
    let mut changed = vec![];
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let (new, old) = messages(&p, f);
        if new == old {
            continue;
        }
        assert_eq!(
            (&new[0], &new[3], &new[4]),
            (&old[0], &old[3], &old[4]),
            "{name}: only the message may change"
        );
        eprintln!(
            "{name}\n  old: {} | {}\n  new: {} | {}",
            old[1], old[2], new[1], new[2]
        );
        changed.push((name, new[1].clone(), new[2].clone()));
    }
    let want: Vec<(String, String, String)> = UNIFIED
        .iter()
        .map(|(f, z, e)| (f.to_string(), z.to_string(), e.to_string()))
        .collect();
    assert_eq!(changed, want);
}

#[test]
fn valid_firm_files_give_the_same_firms() {
    let cases = [(
        "tests/bad/firm/pack",
        root().join("tests/bad/firm/pack/ok.toml"),
    )];
    let ningbo = std::fs::read_dir(root().join("examples/firms"))
        .unwrap()
        .map(|e| ("policies/ningbo", e.unwrap().path()));
    let mut n = 0;
    for (dir, f) in cases.into_iter().chain(ningbo) {
        let p = pack(dir);
        let text = std::fs::read_to_string(&f).unwrap();
        let new = huiqi_data::firmfile::parse_firm(&p, &text, is_json(&f))
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let old = huiqi_eval::firmfile::parse_firm(&p, &text, is_json(&f))
            .unwrap_or_else(|e| panic!("{}: {} {}", f.display(), e.field, e.en));
        // Debug shows each Decimal's scale too.
        assert_eq!(format!("{new:?}"), format!("{old:?}"), "{}", f.display());
        n += 1;
    }
    assert!(n >= 5);
}
