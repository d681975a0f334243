//! What the CLI's test files share: running the built `huiqi` from the repository's root, and
//! generating and ingesting a zone. Each test file uses a part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository's root: commands run there, so `policies/ningbo` and `examples/` resolve.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// `huiqi` with `args`, from the repository's root.
pub fn cmd(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_huiqi"));
    c.args(args).current_dir(root());
    c
}

pub fn huiqi(args: &[&str]) -> Output {
    cmd(args).output().expect("run huiqi")
}

/// stdout then stderr, for messages and assertions on either.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Fails the test with both streams unless the command succeeded.
pub fn assert_ok(o: &Output) {
    assert!(
        o.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

pub fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// `huiqi ingest` of `mapping` for `pack` into `work/snaps`; returns the snapshot's directory.
pub fn ingest(pack: &str, mapping: &str, work: &Path) -> PathBuf {
    assert_ok(&huiqi(&[
        "ingest",
        "--policy",
        pack,
        "--mapping",
        mapping,
        "--snapshots",
        &s(&work.join("snaps")),
    ]));
    std::fs::read_dir(work.join("snaps"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .unwrap()
}

/// `huiqi gen` with `gen_args` into `work/zone`, then its ingest for the seed pack; returns the
/// snapshot's directory.
pub fn gen_and_ingest(work: &Path, gen_args: &[&str]) -> PathBuf {
    let zone = s(&work.join("zone"));
    let mut args = vec!["gen"];
    args.extend(gen_args);
    args.extend(["--out", &zone]);
    assert_ok(&huiqi(&args));
    ingest("policies/ningbo", &s(&work.join("zone/mapping.toml")), work)
}
