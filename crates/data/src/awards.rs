//! A snapshot derived from another with a new `awards` table: the award history a ledger says
//! was awarded. The other tables are copied byte for byte; the result is content-hashed like
//! any snapshot, so a run over it names exactly what it read.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Decimal128Type, Int32Type};
use huiqi_files::snapshot as layout;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::ingest::SnapshotInfo;
use crate::schema;
use crate::snapshot::{read_manifest, Manifest, SourceInfo};
use crate::write::Table;

/// One earlier award, in 分.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct AwardIn {
    pub firm_id: String,
    pub clause: String,
    pub period: i32,
    pub tranche: String,
    pub fen: i64,
    /// True: this figure replaces the snapshot's award of the key (none when it is 0 or less).
    /// False: it is added to the snapshot's award of the key (a recovery from an award the
    /// snapshot holds and the ledger does not); without one it changes nothing.
    pub replaces: bool,
}

/// What `with_awards` wrote.
#[derive(Clone, Debug)]
pub struct Derived {
    pub info: SnapshotInfo,
    /// Awards of firms the snapshot does not hold (left out).
    pub unknown_firms: usize,
    /// Awards of the source snapshot that `awards` replaced (same firm, clause, period, tranche).
    pub replaced: usize,
}

const FEN_TO_DEC: i128 = 10_000_000_000;

/// Opens `<dir>/<table>.parquet` for reading.
fn open_table(dir: &Path, table: &str) -> Result<ParquetRecordBatchReaderBuilder<File>, Error> {
    let p = dir.join(layout::table_file(table));
    let f = File::open(&p).map_err(|e| Error::io(&p, e))?;
    ParquetRecordBatchReaderBuilder::try_new(f).map_err(Error::lib)
}

fn read_firm_ids(dir: &Path) -> Result<HashSet<String>, Error> {
    let b = open_table(dir, layout::FIRMS)?;
    let mask = parquet::arrow::ProjectionMask::roots(b.parquet_schema(), [0]);
    let mut out = HashSet::new();
    for batch in b.with_projection(mask).build().map_err(Error::lib)? {
        let batch = batch.map_err(Error::lib)?;
        let ids = batch.column(0).as_string::<i32>();
        for i in 0..batch.num_rows() {
            out.insert(ids.value(i).to_string());
        }
    }
    Ok(out)
}

/// (firm, clause, period, tranche, amount at scale 12) of a snapshot's awards table.
type Row = (String, String, i32, String, i128);

/// The awards table's rows; its columns in the order of [`schema::awards`].
fn read_awards(dir: &Path) -> Result<Vec<Row>, Error> {
    let b = open_table(dir, layout::AWARDS)?;
    let mut out = vec![];
    for batch in b.build().map_err(Error::lib)? {
        let batch = batch.map_err(Error::lib)?;
        let id = batch.column(0).as_string::<i32>();
        let cl = batch.column(1).as_string::<i32>();
        let pe = batch.column(2).as_primitive::<Int32Type>();
        let tr = batch.column(3).as_string::<i32>();
        let am = batch.column(4).as_primitive::<Decimal128Type>();
        for i in 0..batch.num_rows() {
            out.push((
                id.value(i).to_string(),
                cl.value(i).to_string(),
                pe.value(i),
                tr.value(i).to_string(),
                if am.is_null(i) { 0 } else { am.value(i) },
            ));
        }
    }
    Ok(out)
}

/// The source's awards that `awards` does not replace, plus `awards` for firms the source
/// holds, sorted: (rows, replaced, unknown firms).
fn merge(src: &Path, awards: &[AwardIn]) -> Result<(Vec<Row>, usize, usize), Error> {
    let firms = read_firm_ids(src)?;
    let key = |a: &'_ AwardIn| {
        (
            a.firm_id.clone(),
            a.clause.clone(),
            a.period,
            a.tranche.clone(),
        )
    };
    let keys: HashSet<(String, String, i32, String)> =
        awards.iter().filter(|a| a.replaces).map(key).collect();
    // Recoveries from awards only the snapshot holds: added to them.
    let mut less: HashMap<(String, String, i32, String), i128> = HashMap::new();
    for a in awards.iter().filter(|a| !a.replaces) {
        *less.entry(key(a)).or_insert(0) += a.fen as i128 * FEN_TO_DEC;
    }
    let mut rows: Vec<Row> = vec![];
    let mut replaced = 0;
    for mut r in read_awards(src)? {
        let k = (r.0.clone(), r.1.clone(), r.2, r.3.clone());
        if keys.contains(&k) {
            replaced += 1;
        } else if let Some(d) = less.get(&k) {
            replaced += 1;
            r.4 += d;
            if r.4 > 0 {
                rows.push(r);
            }
        } else {
            rows.push(r);
        }
    }
    let mut unknown_firms = 0;
    for a in awards.iter().filter(|a| a.replaces && a.fen > 0) {
        if firms.contains(&a.firm_id) {
            rows.push((
                a.firm_id.clone(),
                a.clause.clone(),
                a.period,
                a.tranche.clone(),
                a.fen as i128 * FEN_TO_DEC,
            ));
        } else {
            unknown_firms += 1;
        }
    }
    rows.sort();
    Ok((rows, replaced, unknown_firms))
}

/// Writes `<snapshots>/<hash16>/`: the tables of `src` with an awards table holding `awards`
/// plus those of `src`'s awards that `awards` does not replace (same key). Awards of firms
/// `src` does not hold are left out (counted). Reuses the directory when it already exists.
pub fn with_awards(
    src: &Path,
    awards: &[AwardIn],
    snapshots: &Path,
    origin: &str,
) -> Result<Derived, Error> {
    let manifest = read_manifest(src)?;
    let (rows, replaced, unknown_firms) = merge(src, awards)?;
    std::fs::create_dir_all(snapshots).map_err(|e| Error::io(snapshots, e))?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let tmp = snapshots.join(format!(".tmp-awards-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let result = write_derived(src, &tmp, snapshots, manifest, &rows, origin);
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(Derived {
        info: result?,
        unknown_firms,
        replaced,
    })
}

/// Copies the tables before `awards` into `tmp` (hashing them), writes the new awards table and
/// manifest, and renames `tmp` to the hash unless that snapshot exists already.
fn write_derived(
    src: &Path,
    tmp: &Path,
    snapshots: &Path,
    mut manifest: Manifest,
    rows: &[Row],
    origin: &str,
) -> Result<SnapshotInfo, Error> {
    let mut h = Sha256::new();
    for name in &layout::TABLES[..4] {
        let file = layout::table_file(name);
        let mut bytes = vec![];
        File::open(src.join(&file))
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(|e| Error::io(src.join(&file), e))?;
        h.update(file.as_bytes());
        h.update([0u8]);
        h.update(&bytes);
        let mut out = File::create(tmp.join(&file)).map_err(Error::lib)?;
        out.write_all(&bytes).map_err(Error::lib)?;
        out.sync_all().map_err(Error::lib)?;
    }
    let mut t = Table::create(tmp, layout::AWARDS, schema::awards(), h)?;
    let mut list = Sha256::new();
    for r in rows {
        t.cols[0].str(Some(&r.0));
        t.cols[1].str(Some(&r.1));
        t.cols[2].i32(Some(r.2));
        t.cols[3].str(Some(&r.3));
        t.cols[4].dec(Some(r.4));
        t.end_row()?;
        list.update(format!("{},{},{},{},{}\n", r.0, r.1, r.2, r.3, r.4).as_bytes());
    }
    manifest.rows.awards = t.rows;
    let mut h = t.finish()?;
    // The optional tables come over as they are, after the awards (their place in the hash).
    for name in [layout::PROJECTS] {
        let file = layout::table_file(name);
        if !src.join(&file).is_file() {
            continue;
        }
        let bytes = std::fs::read(src.join(&file)).map_err(|e| Error::io(src.join(&file), e))?;
        h.update(file.as_bytes());
        h.update([0u8]);
        h.update(&bytes);
        let mut out = File::create(tmp.join(&file)).map_err(Error::lib)?;
        out.write_all(&bytes).map_err(Error::lib)?;
        out.sync_all().map_err(Error::lib)?;
    }
    let hash = crate::source::hex(&h.finalize());
    manifest.sources.push(SourceInfo {
        file: origin.to_string(),
        sha256: crate::source::hex(&list.finalize()),
        rows: rows.len() as u64,
        ..SourceInfo::default()
    });
    manifest.created_by = format!(
        "huiqi-data {} (snapshot {} with awards from {origin})",
        env!("CARGO_PKG_VERSION"),
        &manifest.hash[..16.min(manifest.hash.len())]
    );
    manifest.hash = hash.clone();
    let json = serde_json::to_string_pretty(&manifest).map_err(Error::lib)? + "\n";
    std::fs::write(tmp.join(layout::MANIFEST), json).map_err(Error::lib)?;
    let dir = snapshots.join(&hash[..16]);
    let reused = if dir.exists() {
        true
    } else {
        match std::fs::rename(tmp, &dir) {
            Ok(()) => false,
            Err(_) if dir.exists() => true,
            Err(e) => return Err(Error::io(&dir, e)),
        }
    };
    Ok(SnapshotInfo {
        hash,
        dir,
        rows: manifest.rows,
        reused,
        sources: manifest.sources,
    })
}
