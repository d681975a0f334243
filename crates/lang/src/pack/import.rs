//! `import 政策名称 from "../目录"`: another policy pack taken into this one's runs.
//!
//! The imported pack's files are read into the same source map (its diagnostics point into its
//! own files), its clauses, parameters, tables and rules are renamed `政策名称.…` — names the
//! checker resolves in that pack's scope (`check::check_packs`) — and its tests are left out:
//! they run when the pack is checked alone. Facts and enums are data, one copy per firm: an
//! imported pack's fact or enum of a name this pack declares must be declared alike, and is
//! then the same.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::ast::{self, Ident, ItemKind};
use crate::check::ImportScope;
use crate::diag::{Diag, SourceMap, Span};

/// An import read: its scope for the checker and the imported pack's own content hash.
pub(crate) struct Imported {
    pub scope: ImportScope,
    pub hash: String,
}

/// Reads the packs `files` import (paths relative to `base`, the pack's directory) and appends
/// their files; each import's hash goes into `hasher`, so the pack's hash covers them.
pub(crate) fn take_imports(
    sm: &mut SourceMap,
    files: &mut Vec<ast::File>,
    base: &Path,
    hasher: &mut Sha256,
) -> Result<Vec<Imported>, Vec<Diag>> {
    let decls: Vec<(Ident, String, Span)> = files
        .iter()
        .flat_map(|f| f.items.iter())
        .filter_map(|it| match &it.kind {
            ItemKind::Import { name, path } => Some((name.clone(), path.0.clone(), path.1)),
            _ => None,
        })
        .collect();
    let own_dir = base.canonicalize().ok();
    let mut diags = vec![];
    let mut out: Vec<Imported> = vec![];
    for (name, rel, at) in decls {
        if out.iter().any(|o| o.scope.name.name == name.name) {
            diags.push(Diag::new(
                "E0306",
                name.span,
                format!("政策包 `{}` 重复引入", name.name),
                format!("pack `{}` is imported twice", name.name),
                "每个政策包只引入一次",
                "import each pack once",
            ));
            continue;
        }
        let dir = clean(&base.join(&rel));
        if dir.canonicalize().ok() == own_dir {
            diags.push(Diag::new(
                "E0341",
                at,
                "政策包不能引入自身",
                "a pack cannot import itself",
                "路径相对于本政策包的目录，例如 \"../市级政策\"",
                "the path is relative to this pack's directory, e.g. \"../city\"",
            ));
            continue;
        }
        let paths = match super::pack_files(&dir) {
            Ok(p) if !p.is_empty() => p,
            _ => {
                diags.push(Diag::new(
                    "E0343",
                    at,
                    format!(
                        "找不到被引入的政策包：{} 不是含有 .hq 文件的目录",
                        dir.display()
                    ),
                    format!(
                        "no pack to import: {} is not a directory of .hq files",
                        dir.display()
                    ),
                    "路径相对于本政策包的目录，例如 \"../市级政策\"",
                    "the path is relative to this pack's directory, e.g. \"../city\"",
                ));
                continue;
            }
        };
        let mut h = Sha256::new();
        let mut theirs = vec![];
        let mut ds = vec![];
        super::read_sources(sm, &paths, &mut h, &mut theirs, &mut ds);
        if !ds.is_empty() {
            diags.extend(ds);
            continue;
        }
        let hash = format!("{:x}", h.finalize());
        hasher.update(b"\0import\0");
        hasher.update(name.name.as_bytes());
        hasher.update([0]);
        hasher.update(hash.as_bytes());
        let mut declared = Declared::of(files);
        for f in &mut theirs {
            scope_items(f, &name.name, &mut declared, sm, &mut diags);
        }
        let ids = theirs.iter().map(|f| f.file).collect();
        files.extend(theirs);
        out.push(Imported {
            scope: ImportScope { name, files: ids },
            hash,
        });
    }
    if diags.is_empty() {
        Ok(out)
    } else {
        Err(diags)
    }
}

/// `a/b/../c` as `a/c`, without touching the file system: diagnostics show the imported
/// files' paths as a person would write them.
fn clean(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            c => out.push(c),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// The facts and enums declared so far, by name: their shape and where.
struct Declared {
    shapes: HashMap<String, (String, Span)>,
}

impl Declared {
    fn of(files: &[ast::File]) -> Declared {
        let mut shapes = HashMap::new();
        for it in files.iter().flat_map(|f| f.items.iter()) {
            if let Some((id, shape)) = shape(&it.kind) {
                shapes.entry(id.name.clone()).or_insert((shape, id.span));
            }
        }
        Declared { shapes }
    }
}

/// A fact's or enum's declaration without its labels and spans: what the data must look like.
fn shape(k: &ItemKind) -> Option<(&Ident, String)> {
    match k {
        ItemKind::Fact(f) => {
            let record: Vec<(&str, &str)> = f
                .record
                .iter()
                .map(|(n, t, _)| (n.name.as_str(), t.name.as_str()))
                .collect();
            let ty = f.ty.as_ref().map(|t| t.name.as_str());
            let valid = f.valid.as_ref().map(|v| &v.0);
            Some((
                &f.name,
                format!("fact {ty:?} {} {record:?} {valid:?}", f.kind),
            ))
        }
        ItemKind::Enum { name, variants } => {
            let vs: Vec<&str> = variants.iter().map(|v| v.name.as_str()).collect();
            Some((name, format!("enum {vs:?}")))
        }
        _ => None,
    }
}

/// Renames an imported file's clauses, parameters, tables and rules `包名.…`, drops its tests,
/// its imports' nesting (an error) and the facts and enums declared alike before.
fn scope_items(
    f: &mut ast::File,
    pack: &str,
    declared: &mut Declared,
    sm: &SourceMap,
    diags: &mut Vec<Diag>,
) {
    let q = |id: &mut Ident| id.name = format!("{pack}.{}", id.name);
    f.items.retain_mut(|it| {
        match &mut it.kind {
            ItemKind::Import { .. } => {
                diags.push(Diag::new(
                    "E0341",
                    it.keyword,
                    "被引入的政策包不能再引入其他政策包",
                    "an imported pack cannot import another pack",
                    "在本政策包中直接引入所需的每个政策包",
                    "import every pack needed from the pack that runs them",
                ));
                return false;
            }
            ItemKind::Test(_) => return false,
            ItemKind::Clause(c) => q(&mut c.name),
            ItemKind::Param(p) => q(&mut p.name),
            ItemKind::Table(t) => q(&mut t.name),
            ItemKind::Exclude { name, .. }
            | ItemKind::Select { name, .. }
            | ItemKind::Exclusive { name, .. }
            | ItemKind::Pool { name, .. }
            | ItemKind::FirmCap { name, .. }
            | ItemKind::GroupCap { name, .. }
            | ItemKind::Clawback { name, .. } => q(name),
            ItemKind::Policy(_) | ItemKind::Fact(_) | ItemKind::Enum { .. } => {}
        }
        let Some((id, s)) = shape(&it.kind) else {
            return true;
        };
        let Some((before, at)) = declared.shapes.get(&id.name) else {
            declared.shapes.insert(id.name.clone(), (s, id.span));
            return true;
        };
        if *before == s {
            return false;
        }
        let (l, c) = sm.line_col(*at);
        let path = sm.path(*at);
        diags.push(Diag::new(
            "E0342",
            id.span,
            format!("`{}` 与 {path}:{l}:{c} 的同名声明不一致", id.name),
            format!(
                "`{}` is declared differently at {path}:{l}:{c}",
                id.name
            ),
            "同一企业的数据只有一份：同名的事实（类型、周期、字段、有效期）或枚举（取值及顺序）须声明一致",
            "a firm's data exists once: facts (type, period, fields, validity) or enums (variants, in order) of one name must be declared alike",
        ));
        false
    });
}
