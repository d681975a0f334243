//! Policy packs: load, check, format and test them.

use std::path::{Path, PathBuf};

use huiqi_eval::runner;
use huiqi_lang::{fmt, Diag, Loaded, SourceMap};

use crate::{Error, Result};

/// Loads and checks one pack (a directory of `.hq` files, or one file).
pub fn load(path: &Path) -> Result<Loaded> {
    load_with(path, &[])
}

/// Loads one pack with parameters set from outside (`--set`), checked as if written there.
pub fn load_with(path: &Path, sets: &[huiqi_lang::ParamSet]) -> Result<Loaded> {
    huiqi_lang::load_pack_with(path, sets).map_err(|(sm, ds)| Error::Policy {
        path: path.to_path_buf(),
        sources: Box::new(sm),
        diags: ds,
    })
}

/// The pack directories under each path (searched recursively), in order.
pub fn find(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = vec![];
    for p in paths {
        if !p.exists() {
            return Err(Error::usage(
                format!("{}: 路径不存在", p.display()),
                format!("{}: no such file or directory", p.display()),
            ));
        }
        match huiqi_lang::find_packs(p) {
            Ok(ps) if ps.is_empty() => {
                return Err(Error::input(
                    format!("{}: 没有找到 .hq 文件", p.display()),
                    format!("{}: no .hq files found", p.display()),
                ))
            }
            Ok(ps) => out.extend(ps),
            Err(e) => return Err(Error::io(p, e)),
        }
    }
    Ok(out)
}

/// The first pack under `root` whose content hash is `hash`: how the ledger, which records a
/// run's policy hash, finds the pack (and its budgets) a run was computed with.
pub fn find_by_hash(root: &Path, hash: &str) -> Option<(PathBuf, Loaded)> {
    let packs = huiqi_lang::find_packs(root).ok()?;
    packs.into_iter().find_map(|p| {
        let l = huiqi_lang::load_pack(&p).ok()?;
        (l.program.hash == hash).then_some((p, l))
    })
}

/// One pack's outcome: loaded (with its warnings) or its errors.
pub struct Checked {
    pub path: PathBuf,
    pub outcome: Result<Loaded>,
}

impl Checked {
    /// The warnings of a loaded pack, or the errors of one that did not load, to render.
    pub fn diags(&self) -> Option<(&SourceMap, &[Diag])> {
        match &self.outcome {
            Ok(l) => Some((&l.sources, &l.warnings)),
            Err(Error::Policy { sources, diags, .. }) => Some((sources, diags)),
            Err(_) => None,
        }
    }
}

/// Checks every pack under `paths`.
pub fn check(paths: &[PathBuf]) -> Result<Vec<Checked>> {
    check_with(paths, &[])
}

/// Checks every pack under `paths` with parameters set from outside (each pack must have them).
pub fn check_with(paths: &[PathBuf], sets: &[huiqi_lang::ParamSet]) -> Result<Vec<Checked>> {
    Ok(find(paths)?
        .into_iter()
        .map(|path| Checked {
            outcome: load_with(&path, sets),
            path,
        })
        .collect())
}

/// One pack's tests: the pack's outcome and, when it loaded, its test report.
pub struct Tested {
    pub checked: Checked,
    pub report: Option<runner::Report>,
}

/// Runs the test blocks of every pack under `paths`; failure messages in `lang`.
pub fn test(paths: &[PathBuf], filter: Option<&str>, lang: crate::Lang) -> Result<Vec<Tested>> {
    test_with(paths, filter, lang, &[])
}

/// [`test`] under parameters set from outside: which tests a changed figure breaks.
pub fn test_with(
    paths: &[PathBuf],
    filter: Option<&str>,
    lang: crate::Lang,
    sets: &[huiqi_lang::ParamSet],
) -> Result<Vec<Tested>> {
    Ok(check_with(paths, sets)?
        .into_iter()
        .map(|checked| {
            let report = checked
                .outcome
                .as_ref()
                .ok()
                .map(|l| runner::run_tests(&l.program, filter, lang == crate::Lang::En));
            Tested { checked, report }
        })
        .collect())
}

/// What formatting did to one file.
pub enum Formatted {
    Unchanged,
    /// Not in canonical form (and rewritten, unless only checking).
    Changed,
    /// Did not parse: the diagnostic to render.
    Unparsable(Box<SourceMap>, Diag),
    /// Could not be read or written.
    Failed(Error),
}

/// The `.hq` files under each path, sorted per directory.
pub fn hq_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = vec![];
    for p in paths {
        walk(p, &mut out).map_err(|e| {
            Error::usage(
                format!("{}: {e}", p.display()),
                format!("{}: {e}", p.display()),
            )
        })?;
    }
    Ok(out)
}

fn walk(p: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if p.is_file() {
        out.push(p.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(p)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for e in entries {
        if e.is_dir() {
            walk(&e, out)?;
        } else if e.extension().is_some_and(|x| x == "hq") {
            out.push(e);
        }
    }
    Ok(())
}

/// Formats one file in canonical form (comments kept); writes it back unless `check_only`.
pub fn format_file(f: &Path, check_only: bool) -> Formatted {
    let src = match std::fs::read_to_string(f) {
        Ok(s) => s,
        Err(e) => return Formatted::Failed(Error::io(f, e)),
    };
    let mut sm = SourceMap::default();
    let id = sm.add(f.display().to_string(), src.clone());
    let parsed = match huiqi_lang::parser::parse_file(id, &src) {
        Ok(p) => p,
        Err(d) => return Formatted::Unparsable(Box::new(sm), d),
    };
    let formatted = fmt::format_file(&parsed, &src);
    if formatted == src {
        return Formatted::Unchanged;
    }
    if !check_only {
        if let Err(e) = std::fs::write(f, &formatted) {
            return Formatted::Failed(Error::io(f, e));
        }
    }
    Formatted::Changed
}
