//! 数据有误: a firm says a figure on file is wrong. The request (which fact, which year, the
//! value on file, the value the firm claims, its note and contact) goes into a queue an officer
//! works: accepted (the source department corrects it; the next snapshot carries it) or
//! dismissed, with a resolution the firm sees. Nothing here changes a figure or an award — the
//! data still comes only through ingest. Every request and resolution is an audit event
//! (`correction:<id>`) carrying its full content.

use crate::audit::Chain;
use crate::db::Row;
use crate::{args, Ctx, Error, Ledger};

/// What a firm asks to be corrected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewCorrection {
    pub firm_id: String,
    /// The fact's name (`营业收入`).
    pub fact: String,
    /// The year, for a yearly fact.
    pub period: Option<i64>,
    /// The value on file as shown to the firm (empty: none).
    pub on_file: String,
    /// The value the firm says is right.
    pub claimed: String,
    pub note: String,
    /// Who to call back (name and phone), required.
    pub contact: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Correction {
    pub id: i64,
    pub req: NewCorrection,
    /// `open`, `accepted` or `dismissed`.
    pub state: String,
    pub created_at: String,
    pub created_by: String,
    pub resolved_at: Option<String>,
    pub resolved_by: Option<String>,
    pub resolution: Option<String>,
}

const COLS: &str = "id, firm_id, fact, period, on_file, claimed, note, contact, state, created_at, created_by, resolved_at, resolved_by, resolution";

fn correction_of(r: &Row) -> Correction {
    Correction {
        id: r.i(0),
        req: NewCorrection {
            firm_id: r.s(1),
            fact: r.s(2),
            period: r.oi(3),
            on_file: r.s(4),
            claimed: r.s(5),
            note: r.s(6),
            contact: r.s(7),
        },
        state: r.s(8),
        created_at: r.s(9),
        created_by: r.s(10),
        resolved_at: r.os(11),
        resolved_by: r.os(12),
        resolution: r.os(13),
    }
}

/// Text fields are bounded: a request is a note, not a document.
const MAX_TEXT: usize = 1000;

fn bounded(field: &str, v: &str, required: bool) -> Result<(), Error> {
    if required && v.trim().is_empty() {
        return Err(Error::input(
            format!("{field} 不能为空"),
            format!("{field} is required"),
        ));
    }
    if v.chars().count() > MAX_TEXT {
        return Err(Error::input(
            format!("{field} 过长（最多{MAX_TEXT}字）"),
            format!("{field} is too long (at most {MAX_TEXT} characters)"),
        ));
    }
    Ok(())
}

impl Ledger {
    /// Files a correction request; its id.
    pub async fn request_correction(&mut self, ctx: &Ctx, c: &NewCorrection) -> Result<i64, Error> {
        bounded("fact", &c.fact, true)?;
        bounded("on_file", &c.on_file, false)?;
        bounded("claimed", &c.claimed, true)?;
        bounded("note", &c.note, false)?;
        bounded("contact", &c.contact, true)?;
        let c = c.clone();
        self.write(async |db| {
            let id = db
                .int("SELECT COALESCE(MAX(id), 0) + 1 FROM corrections", &[])
                .await?;
            db.exec(
                "INSERT INTO corrections (id, firm_id, fact, period, on_file, claimed, note, contact, state, created_at, created_by, resolved_at, resolved_by, resolution) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open', $9, $10, NULL, NULL, NULL)",
                &args![
                    id,
                    c.firm_id.clone(),
                    c.fact.clone(),
                    c.period,
                    c.on_file.clone(),
                    c.claimed.clone(),
                    c.note.clone(),
                    c.contact.clone(),
                    ctx.at.clone(),
                    ctx.actor.clone()
                ],
            )
            .await?;
            let after = serde_json::json!({
                "firm": c.firm_id, "fact": c.fact, "period": c.period, "on_file": c.on_file,
                "claimed": c.claimed, "note": c.note, "contact": c.contact, "state": "open",
            });
            let mut chain = Chain::open(db).await?;
            chain.push(ctx, "correction", &format!("correction:{id}"), "{}", &after.to_string());
            chain.flush(db).await?;
            Ok(id)
        })
        .await
    }

    /// One request.
    pub async fn correction(&mut self, id: i64) -> Result<Option<Correction>, Error> {
        let sql = format!("SELECT {COLS} FROM corrections WHERE id = $1");
        Ok(self
            .db
            .row(&sql, &args![id])
            .await?
            .map(|r| correction_of(&r)))
    }

    /// Requests, newest first, optionally of one firm and in one state: `(total, page)`.
    pub async fn corrections(
        &mut self,
        firm: Option<&str>,
        state: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> Result<(i64, Vec<Correction>), Error> {
        let filter = "($1 IS NULL OR firm_id = $1) AND ($2 IS NULL OR state = $2)";
        let (f, s) = (firm.map(str::to_string), state.map(str::to_string));
        let total = self
            .db
            .int(
                &format!("SELECT COUNT(*) FROM corrections WHERE {filter}"),
                &args![f.clone(), s.clone()],
            )
            .await?;
        let sql = format!(
            "SELECT {COLS} FROM corrections WHERE {filter} ORDER BY id DESC LIMIT $3 OFFSET $4"
        );
        let rows = self
            .db
            .rows(&sql, &args![f, s, limit.clamp(1, 1000), offset.max(0)])
            .await?;
        Ok((total, rows.iter().map(correction_of).collect()))
    }

    /// Accepts or dismisses an open request with a resolution the firm will read.
    pub async fn resolve_correction(
        &mut self,
        ctx: &Ctx,
        id: i64,
        accept: bool,
        resolution: &str,
    ) -> Result<Correction, Error> {
        bounded("resolution", resolution, true)?;
        let state = if accept { "accepted" } else { "dismissed" };
        let resolution = resolution.to_string();
        self.write(async |db| {
            let n = db
                .exec(
                    "UPDATE corrections SET state = $2, resolved_at = $3, resolved_by = $4, resolution = $5 WHERE id = $1 AND state = 'open'",
                    &args![id, state, ctx.at.clone(), ctx.actor.clone(), resolution.clone()],
                )
                .await?;
            if n == 0 {
                return Err(Error::input(
                    format!("更正申请 {id} 不存在或已处理"),
                    format!("correction request {id} does not exist or was already handled"),
                ));
            }
            let mut chain = Chain::open(db).await?;
            let after = serde_json::json!({"state": state, "resolution": resolution});
            chain.push(
                ctx,
                "resolve_correction",
                &format!("correction:{id}"),
                r#"{"state":"open"}"#,
                &after.to_string(),
            );
            chain.flush(db).await
        })
        .await?;
        self.correction(id)
            .await?
            .ok_or_else(|| Error::input("更正申请不存在", "no such correction request"))
    }
}
