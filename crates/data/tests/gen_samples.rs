//! Sample firms (firm files) written into a generated zone: after the generated firms, through
//! the same files, ingested back exactly; a fact the files have no column for is an error that
//! names the firm and the fact, and nothing is written.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use huiqi_data::firmfile::parse_firm;
use huiqi_data::gen::{generate_with, SampleFirms};
use huiqi_data::{generate, ingest, load_snapshot, Error};
use huiqi_ir::{Firm, Program};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn load(dir: &Path) -> Program {
    match huiqi_lang::load_pack(dir) {
        Ok(l) => l.program,
        Err((_, ds)) => panic!("{} does not load: {} errors", dir.display(), ds.len()),
    }
}

fn tmp(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("data-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The firms of examples/firms, in file name order.
fn examples(p: &Program) -> Vec<Firm> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("examples/firms"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|f| f.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 6);
    files
        .iter()
        .map(|f| parse_firm(p, &std::fs::read_to_string(f).unwrap(), false).unwrap())
        .collect()
}

#[test]
fn sample_firms_round_trip_exactly_after_the_generated_ones() {
    let p = load(&root().join("policies/ningbo"));
    let samples = examples(&p);
    assert!(samples.iter().any(|f| !f.awards.is_empty()));
    let d = tmp("samples");
    let s = SampleFirms {
        program: &p,
        firms: &samples,
    };
    let stats = generate_with(&d.join("gen"), 40, 2019, 2023, 7, true, Some(s)).unwrap();
    assert_eq!(
        stats.files[0],
        ("企业名录".to_string(), 40 + samples.len() as u64)
    );
    let awards = samples.iter().map(|f| f.awards.len() as u64).sum();
    assert_eq!(stats.files.last(), Some(&("兑现记录".to_string(), awards)));

    // The generated firms' rows are the same bytes as without sample firms: each file of the
    // plain zone is the beginning of the file with samples.
    generate(&d.join("plain"), 40, 2019, 2023, 7, false).unwrap();
    for (name, _) in &stats.files[..stats.files.len() - 1] {
        let plain = std::fs::read(d.join(format!("plain/{name}.csv"))).unwrap();
        let with = std::fs::read(d.join(format!("gen/{name}.csv"))).unwrap();
        assert!(with.starts_with(&plain), "{name}");
    }
    let tax = std::fs::read_to_string(d.join("gen/税务_年度申报.csv")).unwrap();
    assert!(
        tax.contains("91330201MA2AFK3J07,宁波东港新材料有限公司,2023,968000,\n"),
        "{tax}"
    );
    let loans = std::fs::read_to_string(d.join("gen/金融办_新增贷款.csv")).unwrap();
    assert!(
        loans.contains("91330201144057209R,2023-03-15,\"80,000,000.00\",\"2,800,000.00\"\n"),
        "{loans}"
    );

    // Ingested from the CSV files and from the XLSX copies, each sample firm is its file.
    for mapping in ["mapping.toml", "mapping-xlsx.toml"] {
        let info = ingest(&d.join("gen").join(mapping), &p, &d.join("snap"), 20)
            .unwrap_or_else(|r| panic!("{mapping}: {r}"));
        let firms = load_snapshot(&info.dir, &p).unwrap();
        assert_eq!(firms.len(), 40 + samples.len(), "{mapping}");
        for f in &samples {
            let got = firms
                .iter()
                .find(|g| g.id == f.id)
                .expect("in the snapshot");
            assert_eq!(got, f, "{mapping}: {}", f.name);
        }
    }
}

#[test]
fn a_sample_fact_without_a_column_is_an_error_naming_firm_and_fact() {
    let d = tmp("samples-no-column");
    // The seed pack plus a fact the generated files have no column for.
    let pack = d.join("pack");
    std::fs::create_dir_all(&pack).unwrap();
    for e in std::fs::read_dir(root().join("policies/ningbo")).unwrap() {
        let e = e.unwrap().path();
        std::fs::copy(&e, pack.join(e.file_name().unwrap())).unwrap();
    }
    let schema = pack.join("schema.hq");
    let mut text = std::fs::read_to_string(&schema).unwrap();
    text.push_str("\nfact 从业人数: count per year { label \"年末从业人数\" source \"人社\" }\n");
    std::fs::write(&schema, text).unwrap();
    let p = load(&pack);
    let firm = parse_firm(
        &p,
        r#"
id = "91330201MA2AFK3J07"
name = "宁波东港新材料有限公司"
[facts]
"营业收入" = { 2023 = "96.8亿" }
"从业人数" = { 2023 = 120 }
"#,
        false,
    )
    .unwrap();
    let out = d.join("gen");
    let s = SampleFirms {
        program: &p,
        firms: std::slice::from_ref(&firm),
    };
    let err = generate_with(&out, 10, 2019, 2023, 7, false, Some(s)).unwrap_err();
    let Error::SampleFirm { firm: id, fact, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(
        (id.as_str(), fact.as_str()),
        ("91330201MA2AFK3J07", "从业人数")
    );
    for msg in [err.zh(), err.en()] {
        assert!(
            msg.contains("91330201MA2AFK3J07") && msg.contains("从业人数"),
            "{msg}"
        );
    }
    assert!(err.zh().contains("没有存放该事实的表和列"), "{}", err.zh());
    assert!(
        err.en().contains("no generated file has a column"),
        "{}",
        err.en()
    );
    assert!(!out.exists(), "nothing is written");

    // A sample firm with a generated firm's credit code is refused too.
    let mut twin = firm.clone();
    twin.facts = vec![huiqi_ir::FactData::None; p.facts.len()];
    twin.id = huiqi_data::gen::credit_code(3, 7);
    let s = SampleFirms {
        program: &p,
        firms: std::slice::from_ref(&twin),
    };
    let err = generate_with(&out, 10, 2019, 2023, 7, false, Some(s)).unwrap_err();
    assert!(err.en().contains("generated firm 3"), "{err}");
}
