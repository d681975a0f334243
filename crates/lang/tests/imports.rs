//! `import 政策名称 from "目录"`: another pack taken into a pack's runs. Its names are scoped,
//! its rules cover only its own clauses, its window and rounding stay its own, its data
//! declarations must agree with the importer's, and the importer's hash covers it.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};

const CITY: &str = r#"
policy 市级 { issuer "市" version "c1" effective 2021-01-01 .. 2025-12-31 rounding 元 }
fact 营业收入: money per year { label "营业收入" source "税务" }
fact 失信: bool per year { label "失信" source "信用" }
param 奖励比例: ratio { 2021-01-01: 1% }
clause 营收奖励 {
  ref "市第一条"  text "按营业收入的1%奖励"
  amount 营业收入 * 奖励比例
}
clause 研发奖励 {
  ref "市第二条"  text "研发奖励5万元"
  amount 5万
}
exclude 市级失信: 失信 ?? false
firm cap 市级上限 20万 priority [研发奖励]
test "市级自己的测试" {
  period 2023
  firm 甲 { 营业收入 = {2023: 100万} }
  expect 甲.营收奖励 = 1万
}
"#;

const DISTRICT: &str = r#"
policy 区级 { issuer "区" version "d1" effective 2023-01-01 .. 2024-12-31 rounding 分 }
import 市级 from "../city"
fact 营业收入: money per year { label "营业收入（区）" source "税务" }
param 奖励比例: ratio { 2023-01-01: 2% }
clause 营收奖励 {
  ref "区第一条"  text "按营业收入的2%奖励，已获市级奖励的按差额补足"
  amount 营业收入 * 奖励比例 - awarded(市级.营收奖励)
}
exclude 区级排除: 营业收入 < 1万
exclusive 市区就高 [营收奖励, 市级.营收奖励]
firm cap 区级上限 50万
"#;

/// Writes the packs (`name` → source) side by side in a fresh directory; returns it.
fn tree(tag: &str, packs: &[(&str, &str)]) -> PathBuf {
    let root = std::env::temp_dir().join(format!("huiqi-import-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    for (name, src) in packs {
        std::fs::create_dir_all(root.join(name)).unwrap();
        std::fs::write(root.join(name).join("p.hq"), src).unwrap();
    }
    root
}

fn load(dir: &Path) -> huiqi_lang::Loaded {
    match huiqi_lang::load_pack(dir) {
        Ok(l) => l,
        Err((sm, ds)) => panic!(
            "{}",
            ds.iter()
                .map(|d| sm.render(d, huiqi_lang::Lang::En, false))
                .collect::<String>()
        ),
    }
}

/// The rendered errors of a pack that must not load, with their codes.
fn errors(dir: &Path) -> (Vec<&'static str>, String) {
    match huiqi_lang::load_pack(dir) {
        Ok(_) => panic!("{} loaded", dir.display()),
        Err((sm, ds)) => (
            ds.iter().map(|d| d.code).collect(),
            ds.iter()
                .map(|d| sm.render(d, huiqi_lang::Lang::En, false))
                .collect(),
        ),
    }
}

#[test]
fn imported_names_are_scoped_and_rules_cover_their_own_pack() {
    let root = tree("scope", &[("city", CITY), ("district", DISTRICT)]);
    let p = load(&root.join("district")).program;
    let names: Vec<&str> = p.clauses.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["营收奖励", "市级.营收奖励", "市级.研发奖励"]);
    let params: Vec<&str> = p.params.iter().map(|x| x.name.as_str()).collect();
    assert_eq!(params, ["奖励比例", "市级.奖励比例"]);
    // One 营业收入: declared alike (labels may differ).
    assert_eq!(p.facts.iter().filter(|f| f.name == "营业收入").count(), 1);
    // The city's 营收奖励 reads the city's rate, the district's its own.
    let city = &p.clauses[1];
    let huiqi_ir::ClauseBody::Amount(a) = &city.body else {
        panic!("an amount")
    };
    assert!(format!("{:?}", a.expr).contains("Param(1)"), "{:?}", a.expr);
    // Each negative list and firm cap covers its own pack's clauses only.
    let ex = |n: &str| p.excludes.iter().find(|x| x.name == n).unwrap();
    assert_eq!(ex("区级排除").clauses, Some(vec![0]));
    assert_eq!(ex("市级.市级失信").clauses, Some(vec![1, 2]));
    let cap = |n: &str| p.firm_caps.iter().find(|x| x.name == n).unwrap();
    assert_eq!(cap("区级上限").priority, vec![0]);
    assert_eq!(cap("市级.市级上限").priority, vec![2, 1]);
    // A rule naming another pack's clause reaches it.
    assert_eq!(p.exclusives[0].clauses, vec![0, 1]);
    // The city's window and rounding stay its own; its tests stay out.
    assert_eq!(city.window.0, huiqi_ir::Date::new(2021, 1, 1).unwrap());
    assert_ne!(city.rounding, p.clauses[0].rounding);
    assert!(p.tests.is_empty());
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn the_hash_covers_every_imported_pack() {
    let root = tree("hash", &[("city", CITY), ("district", DISTRICT)]);
    let city = load(&root.join("city")).program;
    let before = load(&root.join("district")).program;
    assert_eq!(before.packs.len(), 1);
    assert_eq!(before.packs[0].hash, city.hash);
    assert_eq!(
        (
            before.packs[0].name.as_str(),
            before.packs[0].version.as_str()
        ),
        ("市级", "c1")
    );
    std::fs::write(
        root.join("city/p.hq"),
        CITY.replace("研发奖励5万元", "研发奖励6万元"),
    )
    .unwrap();
    let after = load(&root.join("district")).program;
    assert_ne!(after.hash, before.hash, "an edit of the imported pack");
    assert_ne!(after.packs[0].hash, before.packs[0].hash);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn a_pack_without_imports_keeps_its_rules_unscoped() {
    let root = tree("alone", &[("city", CITY)]);
    let p = load(&root.join("city")).program;
    assert!(p.packs.is_empty());
    assert_eq!(p.excludes[0].clauses, None, "every clause, as before");
    assert_eq!(p.tests.len(), 1);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn bad_imports_are_errors_at_their_line() {
    let cases: [(&str, String, &str, &str); 6] = [
        (
            "name",
            DISTRICT.replace("import 市级 from", "import 省级 from"),
            "E0340",
            "p.hq:3:",
        ),
        (
            "missing",
            DISTRICT.replace("\"../city\"", "\"../nowhere\""),
            "E0343",
            "p.hq:3:",
        ),
        (
            "itself",
            DISTRICT.replace("\"../city\"", "\".\""),
            "E0341",
            "p.hq:3:",
        ),
        (
            "twice",
            DISTRICT.replace(
                "import 市级 from \"../city\"",
                "import 市级 from \"../city\"\nimport 市级 from \"../city\"",
            ),
            "E0306",
            "p.hq:4:",
        ),
        (
            "unlike",
            DISTRICT.replace("营业收入: money per year", "营业收入: count per year"),
            "E0342",
            "p.hq:3:",
        ),
        (
            "unscoped",
            DISTRICT.replace("[营收奖励, 市级.营收奖励]", "[营收奖励, 研发奖励]"),
            "E0304",
            "p.hq:",
        ),
    ];
    for (tag, district, code, at) in cases {
        let root = tree(
            &format!("bad-{tag}"),
            &[("city", CITY), ("district", &district)],
        );
        let (codes, text) = errors(&root.join("district"));
        assert!(codes.contains(&code), "{tag}: {codes:?}\n{text}");
        assert!(text.contains(at), "{tag}: want {at}\n{text}");
        let _ = std::fs::remove_dir_all(&root);
    }
}

#[test]
fn an_imported_pack_cannot_import_and_its_errors_point_into_its_files() {
    let nested = CITY.replace(
        "fact 营业收入",
        "import 区级 from \"../district\"\nfact 营业收入",
    );
    let root = tree("nested", &[("city", &nested), ("district", DISTRICT)]);
    let (codes, text) = errors(&root.join("district"));
    assert!(codes.contains(&"E0341"), "{codes:?}\n{text}");
    assert!(text.contains("city/p.hq:3:"), "{text}");
    assert!(
        !text.contains("district/../city"),
        "paths are shown cleaned: {text}"
    );
    let broken = CITY.replace("amount 5万", "amount 5万 + 失信");
    let root = tree("broken", &[("city", &broken), ("district", DISTRICT)]);
    let (_, text) = errors(&root.join("district"));
    assert!(text.contains("city/p.hq:12:"), "{text}");
    let _ = std::fs::remove_dir_all(&root);
}
