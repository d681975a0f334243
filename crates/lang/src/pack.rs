//! A policy pack is a directory of `.hq` files sharing one namespace; subdirectories are
//! separate packs.

use std::path::{Path, PathBuf};

use huiqi_ir::Program;
use sha2::{Digest, Sha256};

use crate::ast;
use crate::diag::{Diag, SourceMap};

mod import;

/// A parameter set from outside the pack (`--set 名称=值`, a reform's override): from `from` on
/// (None: for all time) its value is `value`, in the pack's own notation (`8000万`, `3%`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamSet {
    pub name: String,
    pub from: Option<huiqi_ir::Date>,
    pub value: String,
}

impl ParamSet {
    /// `名称=值` as `--set` takes it, or `名称=值@2024-07-01` for a value from that day on (the
    /// earlier values stay), like a `reform.toml` entry with `from`.
    pub fn parse(arg: &str) -> Option<ParamSet> {
        let (n, v) = arg.split_once('=').or_else(|| arg.split_once('＝'))?;
        let (n, v) = (n.trim(), v.trim());
        let (v, from) = match v.rsplit_once(['@', '＠']) {
            Some((v, d)) => (v.trim(), Some(huiqi_ir::Date::parse(d.trim())?)),
            None => (v, None),
        };
        (!n.is_empty() && !v.is_empty()).then(|| ParamSet {
            name: n.to_string(),
            from,
            value: v.to_string(),
        })
    }
}

impl std::fmt::Display for ParamSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.from {
            Some(d) => write!(f, "{}={} (from {d})", self.name, self.value),
            None => write!(f, "{}={}", self.name, self.value),
        }
    }
}

pub struct Loaded {
    pub program: Program,
    pub sources: SourceMap,
    pub files: Vec<ast::File>,
    pub warnings: Vec<Diag>,
}

/// The `.hq` files directly inside `dir`, sorted by name.
pub fn pack_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "hq"))
        .collect();
    out.sort();
    Ok(out)
}

/// Every directory under `root` (itself included) that holds `.hq` files; a file path is its own pack.
pub fn find_packs(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = vec![];
    if root.is_file() {
        return Ok(vec![root.to_path_buf()]);
    }
    fn walk(d: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        if !pack_files(d)?.is_empty() {
            out.push(d.to_path_buf());
        }
        let mut subs: Vec<PathBuf> = std::fs::read_dir(d)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        subs.sort();
        for s in subs {
            walk(&s, out)?;
        }
        Ok(())
    }
    walk(root, &mut out)?;
    Ok(out)
}

/// Reads, parses and checks a pack (a directory, or a single file as a one-file pack).
/// On failure returns the source map (for rendering) and every diagnostic.
pub fn load_pack(path: &Path) -> Result<Loaded, (SourceMap, Vec<Diag>)> {
    load_pack_with(path, &[])
}

/// [`load_pack`] with parameters set from outside: each replaces the parameter's values (from
/// its date on, or all of them) before the pack is checked, so a set value is checked exactly
/// as a written one (its type, and every use: a cap, a budget, a select's size). The content
/// hash covers the sets too: a run with a set is not the pack's own run.
pub fn load_pack_with(path: &Path, sets: &[ParamSet]) -> Result<Loaded, (SourceMap, Vec<Diag>)> {
    load_pack_with_extra(path, sets, &[])
}

/// [`load_pack_with`] and further sources checked with the pack — `(shown name, text)`, e.g.
/// the 政策沙盘's groupings written as clauses over the pack's facts — which are not part of
/// the pack: they do not enter its hash.
pub fn load_pack_with_extra(
    path: &Path,
    sets: &[ParamSet],
    extra: &[(String, String)],
) -> Result<Loaded, (SourceMap, Vec<Diag>)> {
    let mut sm = SourceMap::default();
    let paths = if path.is_file() {
        vec![path.to_path_buf()]
    } else {
        match pack_files(path) {
            Ok(p) => p,
            Err(e) => {
                let f = sm.add(path.display().to_string(), String::new());
                return Err((sm, vec![io_diag(f, &e)]));
            }
        }
    };
    let mut files = vec![];
    let mut diags = vec![];
    let mut hasher = Sha256::new();
    read_sources(&mut sm, &paths, &mut hasher, &mut files, &mut diags);
    for (shown, text) in extra {
        let f = sm.add(shown.clone(), text.clone());
        match crate::parser::parse_file(f, &sm.files[f as usize].1) {
            Ok(file) => files.push(file),
            Err(d) => diags.push(d),
        }
    }
    if paths.is_empty() {
        let f = sm.add(path.display().to_string(), String::new());
        diags.push(Diag::new(
            "E0100",
            crate::Span {
                file: f,
                start: 0,
                end: 0,
            },
            "目录中没有 .hq 文件",
            "no .hq files in the directory",
            "政策包是一个包含 .hq 文件的目录",
            "a policy pack is a directory of .hq files",
        ));
    }
    if !diags.is_empty() {
        return Err((sm, diags));
    }
    let base = if path.is_file() {
        path.parent().unwrap_or(Path::new("."))
    } else {
        path
    };
    let imports = match import::take_imports(&mut sm, &mut files, base, &mut hasher) {
        Ok(i) => i,
        Err(d) => return Err((sm, d)),
    };
    for set in sets {
        hasher.update(b"\0--set\0");
        hasher.update(set.name.as_bytes());
        hasher.update([0]);
        hasher.update(
            set.from
                .map(|d| d.to_string())
                .unwrap_or_default()
                .as_bytes(),
        );
        hasher.update([0]);
        hasher.update(set.value.as_bytes());
        if let Err(d) = apply_set(&mut sm, &mut files, set) {
            diags.push(d);
        }
    }
    if !diags.is_empty() {
        return Err((sm, diags));
    }
    let (scopes, hashes): (Vec<_>, Vec<_>) = imports.into_iter().map(|i| (i.scope, i.hash)).unzip();
    match crate::check::check_packs(&files, &sm, &scopes) {
        Ok((mut program, warnings)) => {
            program.hash = format!("{:x}", hasher.finalize());
            for (p, h) in program.packs.iter_mut().zip(hashes) {
                p.hash = h;
            }
            Ok(Loaded {
                program,
                sources: sm,
                files,
                warnings,
            })
        }
        Err(d) => Err((sm, d)),
    }
}

/// Reads and parses `paths` into `files` (diagnostics into `diags`), hashing each file's name
/// and bytes.
fn read_sources(
    sm: &mut SourceMap,
    paths: &[PathBuf],
    hasher: &mut Sha256,
    files: &mut Vec<ast::File>,
    diags: &mut Vec<Diag>,
) {
    for p in paths {
        let shown = p.display().to_string();
        let bytes = match std::fs::read(p) {
            Ok(b) => b,
            Err(e) => {
                let f = sm.add(shown, String::new());
                diags.push(io_diag(f, &e));
                continue;
            }
        };
        hasher.update(
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
                .as_bytes(),
        );
        hasher.update([0]);
        hasher.update(&bytes);
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                let valid = e.utf8_error().valid_up_to();
                let text = String::from_utf8_lossy(&e.as_bytes()[..valid]).into_owned();
                let f = sm.add(shown, text);
                diags.push(Diag::new(
                    "E0100",
                    crate::Span {
                        file: f,
                        start: valid as u32,
                        end: valid as u32,
                    },
                    "文件不是 UTF-8 编码",
                    "the file is not UTF-8",
                    "请另存为 UTF-8（GBK 等编码不受支持）",
                    "save the file as UTF-8 (GBK and other encodings are not supported)",
                ));
                continue;
            }
        };
        let f = sm.add(shown, text);
        match crate::parser::parse_file(f, &sm.files[f as usize].1) {
            Ok(file) => files.push(file),
            Err(d) => diags.push(d),
        }
    }
}

/// Replaces a parameter's values in the parsed pack by `set`'s value: from `set.from` on, or
/// from the parameter's first date (so it is in force wherever the written values were).
/// The value is a source file of its own (`--set 名称`), where its diagnostics point.
fn apply_set(sm: &mut SourceMap, files: &mut [ast::File], set: &ParamSet) -> Result<(), Diag> {
    let f = sm.add(format!("--set {}", set.name), set.value.clone());
    let whole = crate::Span {
        file: f,
        start: 0,
        end: set.value.len() as u32,
    };
    let expr = crate::parser::parse_expr_in(f, &set.value)?;
    let mut names = vec![];
    for file in files.iter_mut() {
        for it in file.items.iter_mut() {
            let ast::ItemKind::Param(p) = &mut it.kind else {
                continue;
            };
            if p.name.name != set.name {
                names.push(p.name.name.clone());
                continue;
            }
            let first = p.values.iter().map(|v| v.0).min();
            let from = match (set.from, first) {
                (Some(d), _) => d,
                (None, Some(d)) => d,
                (None, None) => huiqi_ir::Date::year_start(1900),
            };
            p.values.retain(|v| v.0 < from);
            p.values.push((from, expr, whole));
            return Ok(());
        }
    }
    let near = crate::diag::did_you_mean(
        &set.name,
        names.iter().map(|s| s.as_str()),
        crate::diag::Near::Name,
    );
    Err(Diag::new(
        "E0330",
        whole,
        format!("--set：政策包中没有参数 `{}`", set.name),
        format!("--set: the pack has no parameter `{}`", set.name),
        match &near {
            Some(n) => format!("是否想写 `{n}`？"),
            None => "只能设定 param 声明的参数".into(),
        },
        match &near {
            Some(n) => format!("did you mean `{n}`?"),
            None => "only a declared param can be set".into(),
        },
    ))
}

fn io_diag(f: u32, e: &std::io::Error) -> Diag {
    Diag::new(
        "E0100",
        crate::Span {
            file: f,
            start: 0,
            end: 0,
        },
        format!("无法读取：{e}"),
        format!("cannot read: {e}"),
        "检查路径和权限",
        "check the path and permissions",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_may_be_dated() {
        let s = ParamSet::parse("高企首次认定奖励额=8万@2024-01-01").unwrap();
        assert_eq!(
            (s.name.as_str(), s.value.as_str()),
            ("高企首次认定奖励额", "8万")
        );
        assert_eq!(s.from, huiqi_ir::Date::new(2024, 1, 1));
        let s = ParamSet::parse("瞪羚名额 = 300").unwrap();
        assert_eq!((s.value.as_str(), s.from), ("300", None));
        assert!(ParamSet::parse("瞪羚名额=300@2024-13-01").is_none());
        assert!(ParamSet::parse("瞪羚名额=@2024-01-01").is_none());
    }
}
