//! The bad-data corpus (tests/bad/data) and bad inputs too big or too binary to commit (a 2 MB
//! line, GBK text, an XLSX text cell): each must fail at the right file:row:column and leave
//! nothing in the snapshots directory.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use huiqi_data::{ingest, IngestReport};
use huiqi_ir::Program;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn ningbo() -> Program {
    match huiqi_lang::load_pack(&root().join("policies/ningbo")) {
        Ok(l) => l.program,
        Err((_, ds)) => panic!("seed pack does not load: {} errors", ds.len()),
    }
}

fn tmp(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("bad-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn corpus() -> PathBuf {
    root().join("tests/bad/data")
}

/// Ingests and expects failure with an error at `location` whose reason contains `reason`;
/// the snapshots directory must be left empty.
fn fails_at(mapping: &Path, location: &str, reason: &str) -> IngestReport {
    let p = ningbo();
    let snaps = tmp(&format!(
        "snaps-{}",
        mapping
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
    ));
    let rep = match ingest(mapping, &p, &snaps, 20) {
        Ok(i) => panic!("{} ingested as {}", mapping.display(), i.hash),
        Err(r) => r,
    };
    assert!(
        rep.errors
            .iter()
            .any(|e| e.location().contains(location)
                && (e.zh.contains(reason) || e.en.contains(reason))),
        "{}: expected an error at `{location}` about `{reason}`, got:\n{rep}",
        mapping.display()
    );
    for e in &rep.errors {
        assert!(!e.zh.is_empty() && !e.en.is_empty(), "{e}");
        assert!(
            e.en.is_ascii() || e.en.chars().any(|c| c.is_ascii_alphabetic()),
            "{e}"
        );
    }
    let left: Vec<_> = std::fs::read_dir(&snaps).unwrap().collect();
    assert!(
        left.is_empty(),
        "{}: left {} entries in the snapshots dir",
        mapping.display(),
        left.len()
    );
    rep
}

#[test]
fn corpus_cases_fail_at_the_right_place() {
    let text = std::fs::read_to_string(corpus().join("expect.toml")).unwrap();
    let expect: toml::Table = toml::from_str(&text).unwrap();
    let mut dirs: Vec<String> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().is_dir() && e.file_name() != "common")
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 15, "{dirs:?}");
    for d in &dirs {
        let e = expect
            .get(d)
            .unwrap_or_else(|| panic!("no expectation for case {d}"));
        let loc = e["location"].as_str().unwrap();
        let reason = e["reason"].as_str().unwrap();
        fails_at(&corpus().join(d).join("mapping.toml"), loc, reason);
    }
    for k in expect.keys() {
        assert!(
            dirs.contains(k),
            "expectation without a case directory: {k}"
        );
    }
}

#[test]
fn the_common_files_are_valid() {
    let snaps = tmp("common-ok");
    let info = ingest(&corpus().join("common/mapping.toml"), &ningbo(), &snaps, 20)
        .unwrap_or_else(|r| panic!("{r}"));
    // Events: 2 listing stages, 1 certificate and 3 loans (two of one firm on one day, with
    // different principals: not duplicates).
    assert_eq!(
        (info.rows.firms, info.rows.yearly, info.rows.events),
        (3, 3, 6)
    );
}

#[test]
fn projects_ingest_into_a_table_of_their_own_and_enter_the_hash() {
    let plain = ingest(
        &corpus().join("common/mapping.toml"),
        &ningbo(),
        &tmp("projects-plain"),
        20,
    )
    .unwrap_or_else(|r| panic!("{r}"));
    assert_eq!(plain.rows.projects, None);
    assert!(!plain.dir.join("projects.parquet").exists());
    let d = tmp("projects-ok");
    let m = std::fs::read_to_string(corpus().join("project-two-zones/mapping.toml"))
        .unwrap()
        .replace(
            "../common/",
            &format!("{}/", corpus().join("common").display()),
        );
    std::fs::write(d.join("mapping.toml"), m).unwrap();
    // A builder outside the register is fine; an empty builder too; amounts in 万元 exactly.
    std::fs::write(
        d.join("项目.csv"),
        "项目代码,项目名称,所属园区,建设单位统一社会信用代码,年度,月份,本月完成投资（万元）
         P2,乙项目,成都高新区,,2022,1,0.0001
         P1,甲项目,宁波高新区,91330201MA2H4A3X2L,2022,3,1200.5
         P1,甲项目,宁波高新区,91330201MA2H4A3X2L,2021,12,300
",
    )
    .unwrap();
    let info = ingest(&d.join("mapping.toml"), &ningbo(), &d.join("snaps"), 20)
        .unwrap_or_else(|r| panic!("{r}"));
    assert_eq!(info.rows.projects, Some(3));
    assert_ne!(info.hash, plain.hash, "the projects table enters the hash");
    assert_eq!(
        huiqi_files::snapshot::content_hash(&info.dir).unwrap(),
        info.hash
    );
    // Sorted by project, year, month; 1200.5万元 = 12,005,000 元 exactly.
    let f = std::fs::File::open(info.dir.join("projects.parquet")).unwrap();
    let batches: Vec<_> = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap())
        .collect();
    use arrow::array::{Array, AsArray};
    let b = &batches[0];
    let ids: Vec<&str> = b.column(0).as_string::<i32>().iter().flatten().collect();
    assert_eq!(ids, ["P1", "P1", "P2"]);
    let inv = b
        .column(6)
        .as_primitive::<arrow::datatypes::Decimal128Type>();
    assert_eq!(inv.value(1), 12_005_000 * 1_000_000_000_000);
    assert_eq!(inv.value(2), 1_000_000_000_000, "0.0001万元 = 1 元");
    assert!(b.column(3).is_null(2), "no builder");
}

/// A case directory in the temp dir: the common files, plus `files`, plus a mapping whose
/// yearly source is `tax` (with `extra` mapping lines for it).
fn case(name: &str, tax: &str, tax_extra: &str) -> PathBuf {
    let d = tmp(name);
    for f in ["企业名录.csv", "上市.csv", "高企.csv", "贷款.csv"] {
        std::fs::copy(corpus().join("common").join(f), d.join(f)).unwrap();
    }
    let m = std::fs::read_to_string(corpus().join("common/mapping.toml"))
        .unwrap()
        .replace("../common/", "")
        .replace(
            "file = \"税务.csv\"",
            &format!("file = \"{tax}\"\n{tax_extra}"),
        );
    std::fs::write(d.join("mapping.toml"), m).unwrap();
    d
}

const J: &str = "91330201MA2H4A3X2L";

#[test]
fn a_2mb_line_is_refused_without_reading_it_whole() {
    let d = case("long-line", "税务.csv", "");
    let mut s =
        format!("统一社会信用代码,年度,营业收入（万元）,研发费用（万元）\n{J},2022,1,1\n{J},2023,");
    s.push_str(&"9".repeat(2 << 20));
    s.push_str(",1\n");
    std::fs::write(d.join("税务.csv"), s).unwrap();
    fails_at(&d.join("mapping.toml"), "税务.csv:3", "MiB");
}

#[test]
fn gbk_is_detected_and_decoded_when_declared() {
    let text = format!(
        "统一社会信用代码,年度,营业收入（万元）,研发费用（万元）\n{J},2023,12000.50,600.25\n"
    );
    let (bytes, _, bad) = encoding_rs::GBK.encode(&text);
    assert!(!bad);
    let d = case("gbk", "税务.csv", "");
    std::fs::write(d.join("税务.csv"), &bytes).unwrap();
    fails_at(&d.join("mapping.toml"), "税务.csv:1", "GBK");

    let d = case("gbk-declared", "税务.csv", "encoding = \"gbk\"");
    std::fs::write(d.join("税务.csv"), &bytes).unwrap();
    let info = ingest(&d.join("mapping.toml"), &ningbo(), &d.join("snaps"), 20)
        .unwrap_or_else(|r| panic!("{r}"));
    assert_eq!(info.rows.yearly, 1);

    // Declared GBK but the bytes are not GBK at all.
    let d = case("gbk-broken", "税务.csv", "encoding = \"gbk\"");
    let mut broken = bytes.to_vec();
    broken.extend_from_slice(b"91330201MA2H4B1Y3L,2023,\x81\x20,1\n");
    std::fs::write(d.join("税务.csv"), &broken).unwrap();
    fails_at(&d.join("mapping.toml"), "税务.csv", "GBK");
}

#[test]
fn xlsx_text_in_a_money_column() {
    let d = case("xlsx-text", "税务.xlsx", "");
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (c, h) in [
        "统一社会信用代码",
        "年度",
        "营业收入（万元）",
        "研发费用（万元）",
    ]
    .iter()
    .enumerate()
    {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    ws.write_string(1, 0, J).unwrap();
    ws.write_number(1, 1, 2022).unwrap();
    ws.write_number(1, 2, 12000.5).unwrap();
    ws.write_number(1, 3, 600.25).unwrap();
    ws.write_string(2, 0, J).unwrap();
    ws.write_number(2, 1, 2023).unwrap();
    ws.write_string(2, 2, "约1.5亿").unwrap();
    wb.save(d.join("税务.xlsx")).unwrap();
    fails_at(
        &d.join("mapping.toml"),
        "税务.xlsx:3:营业收入（万元）",
        "金额",
    );
}

#[test]
fn xlsx_float_more_precise_than_fen() {
    let d = case("xlsx-subfen", "税务.xlsx", "");
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (c, h) in [
        "统一社会信用代码",
        "年度",
        "营业收入（万元）",
        "研发费用（万元）",
    ]
    .iter()
    .enumerate()
    {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    ws.write_string(1, 0, J).unwrap();
    ws.write_number(1, 1, 2023).unwrap();
    ws.write_number(1, 2, 1.0 / 3.0).unwrap();
    wb.save(d.join("税务.xlsx")).unwrap();
    fails_at(
        &d.join("mapping.toml"),
        "税务.xlsx:2:营业收入（万元）",
        "分",
    );
}

#[test]
fn errors_stop_at_max_errors() {
    let d = case("many", "税务.csv", "");
    let mut s = "统一社会信用代码,年度,营业收入（万元）,研发费用（万元）\n".to_string();
    for y in 1950..2000 {
        s.push_str(&format!("{J},{y},abc,1\n"));
    }
    std::fs::write(d.join("税务.csv"), s).unwrap();
    let snaps = d.join("snaps");
    let rep = ingest(&d.join("mapping.toml"), &ningbo(), &snaps, 5).unwrap_err();
    assert_eq!(rep.errors.len(), 5);
    assert!(rep.truncated);
    assert!(
        rep.errors[0]
            .location()
            .ends_with("税务.csv:2:营业收入（万元）"),
        "{rep}"
    );
    assert!(!snaps.exists());
}

#[test]
fn rows_are_counted_as_a_spreadsheet_shows_them() {
    // Row 2 holds a quoted note spanning two lines, row 3 is blank: the bad amount is row 4.
    let d = case("multiline", "税务.csv", "");
    let s = format!(
        "统一社会信用代码,年度,营业收入（万元）,研发费用（万元）,备注\n{J},2022,1,1,\"第一行\n第二行\"\n\n{J},2023,x,1,\n"
    );
    std::fs::write(d.join("税务.csv"), s).unwrap();
    fails_at(
        &d.join("mapping.toml"),
        "税务.csv:4:营业收入（万元）",
        "金额格式不对",
    );
}

// Issue 14 §8: inputs that used to pass silently or be reported without the useful hint.

#[test]
fn a_header_unit_the_mapping_contradicts() {
    // The header says 万元, the mapping reads the column in 元 (the default): every amount would
    // be 10,000 times too small.
    let d = tmp("unit-wan-as-yuan");
    for f in ["企业名录.csv", "税务.csv"] {
        std::fs::copy(corpus().join("common").join(f), d.join(f)).unwrap();
    }
    std::fs::write(
        d.join("mapping.toml"),
        "[firms]\nfile = \"企业名录.csv\"\nid = \"统一社会信用代码\"\nname = \"企业名称\"\n\n\
         [[yearly]]\nfile = \"税务.csv\"\nid = \"统一社会信用代码\"\nyear = \"年度\"\n\
         facts = { \"营业收入\" = \"营业收入（万元）\" }\n",
    )
    .unwrap();
    let rep = fails_at(
        &d.join("mapping.toml"),
        "税务.csv:1:营业收入（万元）",
        "万元",
    );
    assert!(rep.errors[0].zh.contains("unit = \"万元\""), "{rep}");

    // The header says 元, the mapping reads it in 万元 (half-width brackets this time).
    let d = case("unit-yuan-as-wan", "税务.csv", "");
    std::fs::write(
        d.join("税务.csv"),
        format!("统一社会信用代码,年度,营业收入(元),研发费用（万元）\n{J},2023,1200000,1\n"),
    )
    .unwrap();
    let m = std::fs::read_to_string(d.join("mapping.toml"))
        .unwrap()
        .replace("\"营业收入（万元）\"", "\"营业收入(元)\"");
    std::fs::write(d.join("mapping.toml"), m).unwrap();
    let rep = fails_at(
        &d.join("mapping.toml"),
        "税务.csv:1:营业收入(元)",
        "unit = \"元\"",
    );
    assert!(rep.errors[0].en.contains("10000"), "{rep}");
}

/// An XLSX tax sheet with the common header and one data row written by `row`.
fn tax_xlsx(name: &str, row: impl FnOnce(&mut rust_xlsxwriter::Worksheet)) -> PathBuf {
    let d = case(name, "税务.xlsx", "");
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (c, h) in [
        "统一社会信用代码",
        "年度",
        "营业收入（万元）",
        "研发费用（万元）",
    ]
    .iter()
    .enumerate()
    {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    ws.write_string(1, 0, J).unwrap();
    ws.write_number(1, 1, 2023).unwrap();
    row(ws);
    wb.save(d.join("税务.xlsx")).unwrap();
    d
}

/// Removes the saved results of a sheet's formulas (`<f>…</f><v>…</v>` → `<f>…</f>`), as
/// programs that write XLSX without a calculation engine leave them.
fn drop_formula_results(xlsx: &Path) {
    use std::io::{Read, Write};
    let mut zin = zip::ZipArchive::new(std::fs::File::open(xlsx).unwrap()).unwrap();
    let mut entries = vec![];
    for i in 0..zin.len() {
        let mut e = zin.by_index(i).unwrap();
        let mut bytes = vec![];
        e.read_to_end(&mut bytes).unwrap();
        entries.push((e.name().unwrap().to_string(), bytes));
    }
    let mut out = zip::ZipWriter::new(std::fs::File::create(xlsx).unwrap());
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, bytes) in entries {
        let bytes = if name.starts_with("xl/worksheets/") {
            let xml = String::from_utf8(bytes).unwrap();
            let mut s = String::new();
            let mut rest = xml.as_str();
            while let Some(i) = rest.find("</f><v>") {
                s.push_str(&rest[..i + 4]);
                let after = &rest[i + 4..];
                rest = &after[after.find("</v>").unwrap() + 4..];
            }
            s.push_str(rest);
            assert_ne!(s, xml, "no formula result to drop");
            s.into_bytes()
        } else {
            bytes
        };
        out.start_file(name, stored).unwrap();
        out.write_all(&bytes).unwrap();
    }
    out.finish().unwrap();
}

#[test]
fn an_xlsx_formula_without_a_saved_result() {
    let d = tax_xlsx("xlsx-formula", |ws| {
        ws.write_formula(1, 2, "=1000+200").unwrap();
    });
    drop_formula_results(&d.join("税务.xlsx"));
    fails_at(
        &d.join("mapping.toml"),
        "税务.xlsx:2:营业收入（万元）",
        "公式",
    );

    // With a saved result the value is read.
    let d = tax_xlsx("xlsx-formula-cached", |ws| {
        let f = rust_xlsxwriter::Formula::new("=1000+200").set_result("1200");
        ws.write_formula(1, 2, f).unwrap();
    });
    let info = ingest(&d.join("mapping.toml"), &ningbo(), &d.join("snaps"), 20)
        .unwrap_or_else(|r| panic!("{r}"));
    assert_eq!(info.rows.yearly, 1);
}

#[test]
fn an_unclosed_quote_on_the_last_row() {
    // Row 3's last cell opens a quote that never closes: the csv reader takes the rest of the
    // file as that cell, so `800` used to be read as the amount.
    let d = case("quote-last", "税务.csv", "");
    let s = format!(
        "统一社会信用代码,年度,营业收入（万元）,研发费用（万元）\n{J},2022,1,1\n{J},2023,1,\"800\n"
    );
    std::fs::write(d.join("税务.csv"), s).unwrap();
    fails_at(&d.join("mapping.toml"), "税务.csv:3:研发费用（万元）", "\"");

    // Without the final newline too.
    let d = case("quote-last-no-newline", "税务.csv", "");
    let s = format!(
        "统一社会信用代码,年度,营业收入（万元）,研发费用（万元）\n{J},2022,1,1\n{J},2023,1,\"800"
    );
    std::fs::write(d.join("税务.csv"), s).unwrap();
    fails_at(&d.join("mapping.toml"), "税务.csv:3", "引号");

    // A quote opened on row 2 swallows rows 3 and 4: reported on row 2, where it opens.
    let d = case("quote-middle", "税务.csv", "");
    let s = format!(
        "统一社会信用代码,年度,营业收入（万元）,研发费用（万元）\n{J},2021,\"1,1\n{J},2022,1,1\n{J},2023,1,1\n"
    );
    std::fs::write(d.join("税务.csv"), s).unwrap();
    let rep = fails_at(&d.join("mapping.toml"), "税务.csv:2", "quote");
    assert_eq!(rep.errors.len(), 1, "{rep}");
}

#[test]
fn a_value_outside_the_mappings_range() {
    let d = case("range", "税务.csv", "");
    std::fs::write(
        d.join("税务.csv"),
        format!("统一社会信用代码,年度,营业收入（万元）,研发费用（万元）\n{J},2022,100,1\n{J},2023,-5,1\n"),
    )
    .unwrap();
    let m = std::fs::read_to_string(d.join("mapping.toml"))
        .unwrap()
        .replace(
            "\"营业收入\" = \"营业收入（万元）\"",
            "\"营业收入\" = { column = \"营业收入（万元）\", min = 0 }",
        );
    std::fs::write(d.join("mapping.toml"), m).unwrap();
    fails_at(
        &d.join("mapping.toml"),
        "税务.csv:3:营业收入（万元）",
        "min = 0",
    );

    // A maximum, written with its unit.
    let m = std::fs::read_to_string(d.join("mapping.toml"))
        .unwrap()
        .replace("min = 0", "max = \"50万\"");
    std::fs::write(d.join("mapping.toml"), m).unwrap();
    fails_at(
        &d.join("mapping.toml"),
        "税务.csv:2:营业收入（万元）",
        "max = 50万",
    );

    // A bound on a fact that is not a number, and one that does not parse.
    for (bad, why) in [
        (
            "\"规上企业\" = { column = \"研发费用（万元）\", min = 0 }",
            "min/max",
        ),
        (
            "\"营业收入\" = { column = \"营业收入（万元）\", min = \"零\" }",
            "金额格式不对",
        ),
    ] {
        let m = std::fs::read_to_string(corpus().join("common/mapping.toml"))
            .unwrap()
            .replace("../common/", "")
            .replace("\"营业收入\" = \"营业收入（万元）\"", bad);
        std::fs::write(d.join("mapping.toml"), m).unwrap();
        fails_at(&d.join("mapping.toml"), "mapping.toml", why);
    }
}

#[test]
fn excel_date_serials_and_full_width_digits_get_a_hint() {
    let d = case("serial", "税务.csv", "");
    std::fs::write(
        d.join("高企.csv"),
        format!("统一社会信用代码,发证日期,有效期至\n{J},45000,\n{J},２０２３-０３-０１,\n"),
    )
    .unwrap();
    std::fs::write(
        d.join("税务.csv"),
        format!("统一社会信用代码,年度,营业收入（万元）,研发费用（万元）\n{J},2022,１２００,1\n{J},２０２３,1,1\n"),
    )
    .unwrap();
    let rep = fails_at(&d.join("mapping.toml"), "高企.csv:2:发证日期", "2023-03-15");
    let has = |loc: &str, what: &str| {
        rep.errors
            .iter()
            .any(|e| e.location().ends_with(loc) && e.zh.contains(what))
    };
    assert!(has("高企.csv:2:发证日期", "序列号"), "{rep}");
    assert!(has("高企.csv:3:发证日期", "全角"), "{rep}");
    assert!(has("税务.csv:2:营业收入（万元）", "全角字符 `１`"), "{rep}");
    assert!(has("税务.csv:3:年度", "全角"), "{rep}");
}
