//! Shared set-up for the fuzz targets: the seed pack, checked once per process.
use std::path::PathBuf;
use std::sync::OnceLock;

use huiqi_ir::Program;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The seed pack's program (the facts firm files and mappings are checked against).
pub fn seed() -> &'static Program {
    static P: OnceLock<Program> = OnceLock::new();
    P.get_or_init(
        || match huiqi_lang::load_pack(&repo().join("policies/ningbo")) {
            Ok(l) => l.program,
            Err(_) => panic!("the seed pack must check"),
        },
    )
}

/// A scratch directory per process (on tmpfs when there is one): ingest targets write here.
pub fn scratch() -> &'static PathBuf {
    static D: OnceLock<PathBuf> = OnceLock::new();
    D.get_or_init(|| {
        let base = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let d = base.join(format!("huiqi-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        d
    })
}

/// libFuzzer's panic hook aborts on every panic, even one the code under test catches. calamine
/// 0.38 panics on a doctored cell reference (tafia/calamine #709); huiqi catches that around its
/// calls into calamine (`crates/data/src/source.rs`) and reports the sheet as unreadable. So a
/// panic raised inside calamine unwinds to that catch; any other panic — and a calamine panic
/// nothing catches, which libfuzzer-sys aborts on at the target's boundary — is still a crash.
fn tolerate_caught_calamine_panics() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let libfuzzer = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_calamine = info
                .location()
                .is_some_and(|l| l.file().contains("calamine-"));
            if !in_calamine {
                libfuzzer(info);
            }
        }));
    });
}

/// Ingests the corpus's common firm list and events with `data` as the yearly tax file `name`.
/// Either a snapshot or an error report; a panic is the bug.
pub fn ingest_with(name: &str, _kind: &str, data: &[u8]) {
    tolerate_caught_calamine_panics();
    let d = scratch();
    let common = repo().join("tests/bad/data/common");
    let tax = d.join(name);
    std::fs::write(&tax, data).unwrap_or_else(|e| panic!("{}: {e}", tax.display()));
    let mapping = d.join("mapping.toml");
    if !mapping.exists() {
        let text = format!(
            r#"[firms]
file = "{c}/企业名录.csv"
id = "统一社会信用代码"
name = "企业名称"
facts = {{ "行业" = "国民经济行业门类" }}

[[yearly]]
file = "{name}"
id = "统一社会信用代码"
year = "年度"
unit = "万元"
facts = {{ "营业收入" = "营业收入（万元）", "研发费用" = "研发费用（万元）" }}
"#,
            c = common.display()
        );
        std::fs::write(&mapping, text).unwrap_or_else(|e| panic!("{e}"));
    }
    let snaps = d.join("snapshots");
    let _ = huiqi_data::ingest(&mapping, seed(), &snaps, 20);
    // Keep the scratch small: successful snapshots are removed after each input.
    let _ = std::fs::remove_dir_all(&snaps);
}
