//! What every node of the cluster must agree on for one run: the pack, the snapshot, the
//! period and the chunks of firms. It travels inside the plan; each executor loads the pack and
//! reads the snapshot from storage every node reaches, and refuses both unless their hashes are
//! the ones the client ran with.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use huiqi_columnar::load::Chunk;
use huiqi_ir::Program;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One run of a pack over a snapshot, cut into chunks of firms: partition i of the plan is
/// chunk i.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// The pack's directory, absolute (every executor reads it there).
    pub pack: PathBuf,
    /// Parameters set from outside the pack, as `名称=值[@日期]`.
    pub sets: Vec<String>,
    /// The pack's content hash (covering the sets): an executor whose pack differs refuses.
    pub pack_hash: String,
    /// The snapshot's directory, absolute.
    pub snapshot: PathBuf,
    /// The snapshot's content hash from its manifest: an executor reading another refuses.
    pub snapshot_hash: String,
    pub period: i32,
    /// Each chunk's stand-alone amounts too (`Options::standalone`).
    pub standalone: bool,
    /// Bytes for each task's DataFusion memory pool.
    pub memory_limit: Option<usize>,
    pub chunks: Vec<ChunkRows>,
}

/// A chunk of firms and its rows of the yearly, monthly, events and awards tables
/// (`huiqi_columnar::load::Chunk`), as plain numbers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRows {
    pub firms: (usize, usize),
    pub tables: [(usize, usize); 4],
}

impl From<&Chunk> for ChunkRows {
    fn from(c: &Chunk) -> ChunkRows {
        ChunkRows {
            firms: (c.firms.start, c.firms.end),
            tables: std::array::from_fn(|t| (c.tables[t].start, c.tables[t].end)),
        }
    }
}

impl ChunkRows {
    pub fn chunk(&self) -> Chunk {
        Chunk {
            firms: self.firms.0..self.firms.1,
            tables: std::array::from_fn(|t| self.tables[t].0..self.tables[t].1),
        }
    }
}

type Key = (PathBuf, Vec<String>, String);

/// Programs an executor has loaded, by pack, sets and hash: a run's tasks load the pack once.
fn programs() -> &'static Mutex<HashMap<Key, Arc<Program>>> {
    static P: OnceLock<Mutex<HashMap<Key, Arc<Program>>>> = OnceLock::new();
    P.get_or_init(Default::default)
}

impl Job {
    /// The job's program, loaded from its pack on this node and checked against its hash.
    pub fn program(&self) -> Result<Arc<Program>> {
        let key = (self.pack.clone(), self.sets.clone(), self.pack_hash.clone());
        if let Some(p) = programs().lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(p);
        }
        let mut sets = vec![];
        for s in &self.sets {
            sets.push(huiqi_lang::ParamSet::parse(s).ok_or_else(|| {
                Error::new(
                    format!("参数设置无法解析: {s}"),
                    format!("cannot parse the parameter setting {s}"),
                )
            })?);
        }
        let loaded = huiqi_lang::load_pack_with(&self.pack, &sets).map_err(|(_, diags)| {
            let (zh, en) = diags
                .first()
                .map(|d| (d.msg_zh.clone(), d.msg_en.clone()))
                .unwrap_or_default();
            Error::new(
                format!("本节点无法加载政策包 {}: {zh}", self.pack.display()),
                format!(
                    "this node cannot load the pack {}: {en}",
                    self.pack.display()
                ),
            )
        })?;
        if loaded.program.hash != self.pack_hash {
            return Err(Error::new(
                format!(
                    "本节点的政策包 {} 与提交运行的不同 (哈希 {} ≠ {})：各节点须读取同一份政策包",
                    self.pack.display(),
                    loaded.program.hash,
                    self.pack_hash
                ),
                format!(
                    "the pack {} on this node differs from the one the run was submitted with \
                     (hash {} ≠ {}): every node must read the same pack",
                    self.pack.display(),
                    loaded.program.hash,
                    self.pack_hash
                ),
            ));
        }
        let p = Arc::new(loaded.program);
        if let Ok(mut m) = programs().lock() {
            m.insert(key, p.clone());
        }
        Ok(p)
    }

    /// Checks that the snapshot this node reads is the one the run was submitted with (its
    /// manifest's content hash; the client verified the content itself). Read again for every
    /// task, unlike the program: the manifest is a small file, and a snapshot replaced in the
    /// middle of a run is then refused by the next task instead of mixing two snapshots.
    pub fn check_snapshot(&self) -> Result<()> {
        let hash = snapshot_hash(&self.snapshot)?;
        if hash != self.snapshot_hash {
            return Err(Error::new(
                format!(
                    "本节点的快照 {} 与提交运行的不同 (哈希 {hash} ≠ {})：各节点须读取同一份快照",
                    self.snapshot.display(),
                    self.snapshot_hash
                ),
                format!(
                    "the snapshot {} on this node differs from the one the run was submitted \
                     with (hash {hash} ≠ {}): every node must read the same snapshot",
                    self.snapshot.display(),
                    self.snapshot_hash
                ),
            ));
        }
        Ok(())
    }
}

/// The content hash a snapshot's manifest names.
pub fn snapshot_hash(dir: &Path) -> Result<String> {
    let path = dir.join(huiqi_files::snapshot::MANIFEST);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::new(
            format!("本节点无法读取快照清单 {}: {e}", path.display()),
            format!(
                "this node cannot read the snapshot manifest {}: {e}",
                path.display()
            ),
        )
    })?;
    let m = serde_json::from_str::<huiqi_files::snapshot::Manifest>(&text).map_err(|e| {
        Error::new(
            format!("快照清单 {} 无法解析: {e}", path.display()),
            format!(
                "the snapshot manifest {} is unreadable: {e}",
                path.display()
            ),
        )
    })?;
    Ok(m.hash)
}
