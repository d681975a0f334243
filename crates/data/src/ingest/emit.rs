//! Writing the validated rows as the snapshot's Parquet tables and manifest, into a temporary
//! directory renamed to the hash at the end.

use std::path::{Path, PathBuf};

use huiqi_files::snapshot as layout;
use huiqi_ir::{PeriodKind, Program, Ty};
use sha2::{Digest, Sha256};

use super::store::*;
use super::SnapshotInfo;
use crate::error::Error;
use crate::mapping::Plan;
use crate::schema;
use crate::snapshot::{Manifest, Rows, SourceInfo};
use crate::write::Table;

pub(super) struct Data<'a> {
    pub(super) program: &'a Program,
    pub(super) plan: &'a Plan,
    pub(super) firms: Firms,
    pub(super) yearly: Vec<PeriodRows>,
    pub(super) monthly: Vec<PeriodRows>,
    pub(super) events: Events,
    pub(super) awards: Vec<AwardRow>,
    pub(super) projects: Vec<super::projects::ProjectRow>,
    pub(super) texts: Texts,
}

/// Removes the temporary directory unless the snapshot was committed.
pub(super) struct TempDir(Option<PathBuf>);

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_dir_all(p);
        }
    }
}

pub(super) fn put(col: &mut crate::write::Col, p: &Program, texts: &Texts, fact: usize, v: Val) {
    let ty = p.facts[fact].ty;
    match (ty, v) {
        (Ty::Text, Val::I64(i)) => col.str(texts.get(i)),
        (Ty::Money, Val::I64(f)) => col.dec(Some(f as i128 * FEN_TO_DEC)),
        (Ty::Ratio, Val::I128(r)) => col.dec(Some(r)),
        (Ty::Money | Ty::Ratio, _) => col.dec(None),
        (Ty::Count, Val::I64(c)) => col.i64(Some(c)),
        (Ty::Count, _) => col.i64(None),
        (Ty::Bool, Val::I64(b)) => col.bool(Some(b != 0)),
        (Ty::Bool, _) => col.bool(None),
        (Ty::Date, Val::I64(d)) => col.i32(Some(d as i32)),
        (Ty::Date, _) => col.i32(None),
        (Ty::Enum(e), Val::I64(i)) => col.str(Some(&p.enums[e].variants[i as usize])),
        (Ty::Enum(_) | Ty::Text, _) => col.str(None),
    }
}

impl Data<'_> {
    /// Writes every table and the manifest into a temporary directory under `snapshots`, then
    /// renames it to the content hash (or reuses the snapshot already there).
    pub(super) fn write(
        self,
        snapshots: &Path,
        sources: Vec<SourceInfo>,
    ) -> Result<SnapshotInfo, Error> {
        std::fs::create_dir_all(snapshots).map_err(Error::lib)?;
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let tmp = snapshots.join(format!(".tmp-{}-{stamp}", std::process::id()));
        std::fs::create_dir(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let mut guard = TempDir(Some(tmp.clone()));
        let mut rows = Rows::default();

        // The tables in hash order, each handing the running hash on to the next.
        let (h, n) = self.write_firms(&tmp)?;
        rows.firms = n;
        let (h, n) = self.write_periods(&tmp, h, PeriodKind::Year)?;
        rows.yearly = n;
        let (h, n) = self.write_periods(&tmp, h, PeriodKind::Month)?;
        rows.monthly = n;
        let (h, n) = self.write_events(&tmp, h)?;
        rows.events = n;
        let (h, n) = self.write_awards(&tmp, h)?;
        rows.awards = n;
        // The optional tables follow, only when the mapping has them (a snapshot without keeps
        // the hash it always had).
        let h = if self.plan.projects.is_empty() {
            h
        } else {
            let (h, n) = self.write_projects(&tmp, h)?;
            rows.projects = Some(n);
            h
        };
        let hash = crate::source::hex(&h.finalize());

        let manifest = Manifest {
            hash: hash.clone(),
            schema: manifest_schema(self.program),
            sources: sources.clone(),
            rows,
            created_by: format!("huiqi-data {}", env!("CARGO_PKG_VERSION")),
        };
        let json = serde_json::to_string_pretty(&manifest).map_err(Error::lib)? + "\n";
        std::fs::write(tmp.join(layout::MANIFEST), json).map_err(Error::lib)?;

        let dir = snapshots.join(&hash[..16]);
        let reused = if dir.exists() {
            true
        } else {
            match std::fs::rename(&tmp, &dir) {
                Ok(()) => {
                    guard.0 = None;
                    false
                }
                // Another ingest of the same data won the race: the snapshot is immutable, reuse it.
                Err(_) if dir.exists() => true,
                Err(e) => return Err(Error::io(&dir, e)),
            }
        };
        drop(guard);
        Ok(SnapshotInfo {
            hash,
            dir,
            rows,
            reused,
            sources,
        })
    }

    /// The firms table: id, name and every static fact (missing where the register has no column).
    fn write_firms(&self, tmp: &Path) -> Result<(Sha256, u64), Error> {
        let p = self.program;
        let mut t = Table::create(tmp, layout::FIRMS, schema::firms(p), Sha256::new())?;
        let statics = schema::facts_of(p, PeriodKind::Static);
        let static_col: Vec<Option<usize>> = statics
            .iter()
            .map(|&f| self.plan.firms.facts.iter().position(|c| c.fact == f))
            .collect();
        for i in 0..self.firms.ids.len() {
            t.cols[0].str(Some(self.firms.id(i)));
            t.cols[1].str(Some(self.firms.name(i)));
            for (k, &f) in statics.iter().enumerate() {
                let v = static_col[k].map_or(Val::Null, |c| self.firms.facts[c].get(i));
                put(&mut t.cols[2 + k], p, &self.texts, f, v);
            }
            t.end_row()?;
        }
        let n = t.rows;
        Ok((t.finish()?, n))
    }

    fn write_events(&self, tmp: &Path, h: Sha256) -> Result<(Sha256, u64), Error> {
        let p = self.program;
        let mut t = Table::create(tmp, layout::EVENTS, schema::events(p), h)?;
        // The field columns after the five of every record: (fact, field).
        let fields = schema::event_fields(p);
        for e in &self.events.rows {
            let f = &p.facts[e.fact as usize];
            t.cols[0].str(Some(self.firms.id(e.firm as usize)));
            t.cols[1].str(Some(&f.name));
            t.cols[2].i32(Some(e.date));
            t.cols[3].i32((e.until != NO_DATE).then_some(e.until));
            let value = match f.ty {
                Ty::Enum(en) if e.value != NO_VALUE => {
                    Some(p.enums[en].variants[e.value as usize].as_str())
                }
                _ => None,
            };
            t.cols[4].str(value);
            let nums = self.events.nums(e, f.fields.len());
            for (k, &(fact, j)) in fields.iter().enumerate() {
                let v = (fact == e.fact as usize)
                    .then(|| nums.get(j).copied())
                    .flatten()
                    .filter(|&v| v != NULL128);
                t.cols[5 + k].dec(v);
            }
            t.end_row()?;
        }
        let n = t.rows;
        Ok((t.finish()?, n))
    }

    fn write_awards(&self, tmp: &Path, h: Sha256) -> Result<(Sha256, u64), Error> {
        let p = self.program;
        let mut t = Table::create(tmp, layout::AWARDS, schema::awards(), h)?;
        for a in &self.awards {
            t.cols[0].str(Some(self.firms.id(a.firm as usize)));
            t.cols[1].str(Some(&p.clauses[a.clause as usize].name));
            t.cols[2].i32(Some(a.period));
            t.cols[3].str(Some(&a.tranche));
            t.cols[4].dec(Some(a.fen as i128 * FEN_TO_DEC));
            t.end_row()?;
        }
        let n = t.rows;
        Ok((t.finish()?, n))
    }

    fn write_projects(&self, tmp: &Path, h: Sha256) -> Result<(Sha256, u64), Error> {
        let mut t = Table::create(tmp, layout::PROJECTS, schema::projects(), h)?;
        for r in &self.projects {
            t.cols[0].str(Some(&r.id));
            t.cols[1].str(Some(&r.name));
            t.cols[2].str(Some(&r.zone));
            t.cols[3].str(r.firm.as_deref());
            t.cols[4].i32(Some(r.year));
            t.cols[5].i32(Some(r.month as i32));
            t.cols[6].dec(Some(r.fen as i128 * FEN_TO_DEC));
            t.end_row()?;
        }
        let n = t.rows;
        Ok((t.finish()?, n))
    }

    /// Merges the sources of one period kind in key order into one table; rows where every
    /// fact is missing carry no data and are left out.
    fn write_periods(
        &self,
        tmp: &Path,
        h: Sha256,
        kind: PeriodKind,
    ) -> Result<(Sha256, u64), Error> {
        let p = self.program;
        let (name, sch, plans, srcs) = match kind {
            PeriodKind::Year => (
                layout::YEARLY,
                schema::yearly(p),
                &self.plan.yearly,
                &self.yearly,
            ),
            _ => (
                layout::MONTHLY,
                schema::monthly(p),
                &self.plan.monthly,
                &self.monthly,
            ),
        };
        let monthly = kind == PeriodKind::Month;
        let base = if monthly { 3 } else { 2 };
        let facts = schema::facts_of(p, kind);
        // (source, column in source) → column in the table. The mapping was checked to put
        // only facts of this kind here.
        let target: Vec<Vec<Option<usize>>> = plans
            .iter()
            .map(|s| {
                s.facts
                    .iter()
                    .map(|fc| facts.iter().position(|&f| f == fc.fact))
                    .collect()
            })
            .collect();
        let mut t = Table::create(tmp, name, sch, h)?;
        let mut heads = vec![0usize; srcs.len()];
        let mut vals = vec![Val::Null; facts.len()];
        loop {
            let key = (0..srcs.len())
                .filter(|&s| heads[s] < srcs[s].keys.len())
                .map(|s| srcs[s].keys[heads[s]])
                .min();
            let Some(key) = key else { break };
            vals.iter_mut().for_each(|v| *v = Val::Null);
            for s in 0..srcs.len() {
                let i = heads[s];
                if i < srcs[s].keys.len() && srcs[s].keys[i] == key {
                    for (c, tc) in target[s].iter().enumerate() {
                        if let Some(tc) = *tc {
                            vals[tc] = srcs[s].facts[c].get(i);
                        }
                    }
                    heads[s] += 1;
                }
            }
            if vals.iter().all(|v| *v == Val::Null) {
                continue;
            }
            t.cols[0].str(Some(self.firms.id(key_firm(key))));
            t.cols[1].i32(Some(key_year(key)));
            if monthly {
                t.cols[2].i32(Some(key_month(key)));
            }
            for (k, &f) in facts.iter().enumerate() {
                put(&mut t.cols[base + k], p, &self.texts, f, vals[k]);
            }
            t.end_row()?;
        }
        let n = t.rows;
        Ok((t.finish()?, n))
    }
}

pub(super) fn manifest_schema(p: &Program) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    for f in &p.facts {
        let mut e = serde_json::Map::new();
        e.insert(
            "type".into(),
            schema::type_name(p, f).map_or(serde_json::Value::Null, Into::into),
        );
        e.insert("period".into(), schema::period_name(f.kind).into());
        if let Ty::Enum(en) = f.ty {
            e.insert("values".into(), p.enums[en].variants.clone().into());
        }
        // Only when the fact has fields, so that older manifests stay as they were.
        if !f.fields.is_empty() {
            let fields: serde_json::Map<String, serde_json::Value> = (f.fields.iter())
                .map(|x| (x.name.clone(), schema::field_type_name(x.ty).into()))
                .collect();
            e.insert("fields".into(), fields.into());
        }
        m.insert(f.name.clone(), e.into());
    }
    m
}
