//! A workbook the fuzzer doctored (fuzz target ingest_xlsx, 637k executions): a cell reference
//! past what calamine 0.38 can count in a u32 (tafia/calamine #709). The ingest must refuse it
//! with an error naming the file — not panic, and not read cells into the wrong columns.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn a_cell_reference_past_the_range_is_an_error_not_a_panic() {
    let program = huiqi_lang::load_pack(&repo().join("policies/ningbo"))
        .unwrap_or_else(|_| panic!("the seed pack checks"))
        .program;
    let d = std::env::temp_dir().join(format!("huiqi-xlsx-doctored-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::copy(
        repo().join("tests/bad/workbook/cell-reference-overflow.xlsx"),
        d.join("税务.xlsx"),
    )
    .unwrap();
    let common = repo().join("tests/bad/data/common");
    let mapping = d.join("mapping.toml");
    std::fs::write(
        &mapping,
        format!(
            r#"[firms]
file = "{c}/企业名录.csv"
id = "统一社会信用代码"
name = "企业名称"
facts = {{ "行业" = "国民经济行业门类" }}

[[yearly]]
file = "税务.xlsx"
id = "统一社会信用代码"
year = "年度"
unit = "万元"
facts = {{ "营业收入" = "营业收入（万元）", "研发费用" = "研发费用（万元）" }}
"#,
            c = common.display()
        ),
    )
    .unwrap();
    let out = huiqi_data::ingest(&mapping, &program, &d.join("snapshots"), 20);
    let report = match out {
        Ok(_) => panic!("a doctored workbook was accepted"),
        Err(r) => r.render(false),
    };
    assert!(report.contains("税务.xlsx"), "{report}");
    assert!(report.contains("单元格引用超出"), "{report}");
    assert!(
        !d.join("snapshots").exists()
            || std::fs::read_dir(d.join("snapshots"))
                .unwrap()
                .next()
                .is_none()
    );
    let _ = std::fs::remove_dir_all(&d);
}
