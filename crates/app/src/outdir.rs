//! Output directories that never destroy what they did not write, and appear whole or not at
//! all: a run writes into a sibling directory and renames it into place, so a killed run leaves
//! the previous results and manifest together, never truncated files beside an old manifest.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// What an output directory holds, judged by a marker file and a test on its contents.
pub struct Kind<'a> {
    /// The marker file, e.g. `manifest.json`.
    pub marker: &'a str,
    /// Whether the marker's text is this kind's (a run manifest, say, not a snapshot's).
    pub is_own: fn(&str) -> bool,
    pub zh: &'a str,
    pub en: &'a str,
}

/// Refuses to write into `dir` when it exists, is not empty and is not a previous output of
/// this kind — unless `force`.
pub fn check_writable(dir: &Path, kind: &Kind<'_>, force: bool) -> Result<()> {
    if force || !dir.exists() {
        return Ok(());
    }
    if !dir.is_dir() {
        return Err(refuse(dir, kind, "不是目录", "is not a directory"));
    }
    let empty = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .next()
        .is_none();
    let own = std::fs::read_to_string(dir.join(kind.marker))
        .map(|t| (kind.is_own)(&t))
        .unwrap_or(false);
    if empty || own {
        Ok(())
    } else {
        Err(refuse(
            dir,
            kind,
            "已存在且不是之前的输出",
            "exists and is not a previous output",
        ))
    }
}

fn refuse(dir: &Path, kind: &Kind<'_>, zh: &str, en: &str) -> Error {
    Error::usage(
        format!(
            "{}：{zh}（{}），拒绝覆盖；确需覆盖请加 --force",
            dir.display(),
            kind.zh
        ),
        format!(
            "{}: {en} ({}); refusing to overwrite it (add --force if you mean it)",
            dir.display(),
            kind.en
        ),
    )
}

/// A directory being written beside its final place.
pub struct Staged {
    pub dir: PathBuf,
    target: PathBuf,
}

fn sibling(target: &Path, tag: &str) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    target.with_file_name(format!(".{name}.{tag}-{}", std::process::id()))
}

/// Starts writing `target` aside; leftovers of earlier interrupted writes are removed first.
pub fn stage(target: &Path) -> Result<Staged> {
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
    remove_leftovers(&parent, target);
    let dir = sibling(target, "writing");
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    Ok(Staged {
        dir,
        target: target.to_path_buf(),
    })
}

fn remove_leftovers(parent: &Path, target: &Path) {
    let Some(name) = target.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return;
    };
    let Ok(rd) = std::fs::read_dir(parent) else {
        return;
    };
    for e in rd.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        let ours =
            n.starts_with(&format!(".{name}.writing-")) || n.starts_with(&format!(".{name}.old-"));
        if ours {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

impl Staged {
    /// Puts the written directory in place of the target (the old one is removed after).
    pub fn commit(self) -> Result<()> {
        let old = sibling(&self.target, "old");
        let had_old = self.target.exists();
        if had_old {
            std::fs::rename(&self.target, &old).map_err(|e| Error::io(&self.target, e))?;
        }
        if let Err(e) = std::fs::rename(&self.dir, &self.target) {
            if had_old {
                let _ = std::fs::rename(&old, &self.target);
            }
            return Err(Error::io(&self.target, e));
        }
        if had_old {
            let _ = std::fs::remove_dir_all(&old);
        }
        Ok(())
    }

    /// Gives up: the target is left as it was.
    pub fn abandon(self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
