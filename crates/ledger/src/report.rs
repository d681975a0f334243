//! Reading the ledger: verify, a firm's status, the 公示 list, the payment file, the
//! reconciliation, and the award history the engine reads back.

use std::collections::BTreeMap;
use std::path::Path;

use huiqi_files::csv::push_field;

use crate::batch::Batch;
use crate::{args, wan, yuan, Error, Ledger, State};

/// States whose amount counts as awarded (decided and not undone).
const AWARDED: &str = "'approved', 'announced', 'objected', 'confirmed', 'exported', 'paid'";

/// One award line of a firm, with the date of each step.
#[derive(Clone, Debug)]
pub struct StatusLine {
    pub firm_name: String,
    pub clause: String,
    pub period: i64,
    pub tranche: String,
    pub computed_fen: i64,
    pub line: i64,
    pub kind: String,
    pub amount_fen: i64,
    pub state: State,
    pub reason: Option<String>,
    pub reference: Option<String>,
    /// (action, at) in order, starting with `record`.
    pub steps: Vec<(String, String)>,
}

/// Firm, credit code, clause, … — a row of the 公示 list or the payment file.
#[derive(Clone, Debug)]
pub struct ListRow {
    pub line: i64,
    pub firm_id: String,
    pub name: String,
    pub clause: String,
    pub period: i64,
    pub tranche: String,
    pub fen: i64,
}

/// A budget the policy declares (a pool) over some clauses, per period, in 分.
#[derive(Clone, Debug)]
pub struct Budget {
    pub name: String,
    pub clauses: Vec<String>,
    pub fen: i64,
}

/// Budget vs approved vs paid for a clause (or a pool of clauses).
#[derive(Clone, Debug, Default)]
pub struct ReconRow {
    pub label: String,
    /// None: the policy declares no budget for it (paid as computed).
    pub budget: Option<i64>,
    pub budget_name: Option<String>,
    pub entitlements: i64,
    pub computed: i64,
    pub approved: i64,
    pub paid: i64,
    pub recovered: i64,
}

/// An earlier award, as the engine's `awards` table wants it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwardOut {
    pub firm_id: String,
    pub clause: String,
    pub period: i64,
    pub tranche: String,
    /// Net: 0 or less when it was recovered in full.
    pub fen: i64,
    /// The ledger holds the award itself (its entitlement): `fen` replaces any other record of
    /// it, and an award it leaves at 0 or less is gone. False: the ledger holds only clawbacks
    /// of an award it does not hold (the snapshot's own history, from before the ledger) —
    /// `fen` (negative) is what to take off that award.
    pub held: bool,
}

impl Ledger {
    pub async fn status(&mut self, firm_id: &str) -> Result<Vec<StatusLine>, Error> {
        let db = &mut self.db;
        let rows = db
            .rows(
                "SELECT COALESCE(f.name, ''), e.clause, e.period, e.tranche, e.computed_fen, i.id, i.kind, i.amount_fen, i.state, i.reason, p.reference, r.recorded_at \
                 FROM entitlements e JOIN items i ON i.entitlement_id = e.id LEFT JOIN firms f ON f.firm_id = e.firm_id \
                 LEFT JOIN payments p ON p.item_id = i.id JOIN runs r ON r.run_id = i.run_id \
                 WHERE e.firm_id = $1 ORDER BY e.period, e.clause, e.tranche, i.version",
                &args![firm_id],
            )
            .await?;
        let mut out = vec![];
        for r in rows {
            let line = r.i(5);
            let mut steps = vec![("record".to_string(), r.s(11))];
            let sql = format!(
                "SELECT a.action, a.at FROM {} JOIN audit_events a ON a.seq = l.seq WHERE l.item_id = $1 ORDER BY a.seq",
                db.line_events_as_l()
            );
            for ev in db.rows(&sql, &args![line]).await? {
                if ev.s(0) != "adjust" {
                    steps.push((ev.s(0), ev.s(1)));
                }
            }
            out.push(StatusLine {
                firm_name: r.s(0),
                clause: r.s(1),
                period: r.i(2),
                tranche: r.s(3),
                computed_fen: r.i(4),
                line,
                kind: r.s(6),
                amount_fen: r.i(7),
                state: State::parse(&r.s(8)).unwrap_or(State::Superseded),
                reason: r.os(9),
                reference: r.os(10),
                steps,
            });
        }
        Ok(out)
    }

    pub(crate) async fn list(
        &mut self,
        cond: &str,
        a: Vec<crate::db::Arg>,
    ) -> Result<Vec<ListRow>, Error> {
        let rows = self
            .db
            .rows(
                &format!(
                    "SELECT i.id, e.firm_id, COALESCE(f.name, ''), e.clause, e.period, e.tranche, i.amount_fen \
                     FROM items i JOIN entitlements e ON e.id = i.entitlement_id LEFT JOIN firms f ON f.firm_id = e.firm_id \
                     WHERE {cond} ORDER BY e.period, e.clause, e.firm_id, e.tranche, i.id"
                ),
                &a,
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| ListRow {
                line: r.i(0),
                firm_id: r.s(1),
                name: r.s(2),
                clause: r.s(3),
                period: r.i(4),
                tranche: r.s(5),
                fen: r.i(6),
            })
            .collect())
    }

    /// The lines of a 公示 notice (default: the latest notice), with its title and window.
    pub async fn notice_list(
        &mut self,
        notice: Option<i64>,
    ) -> Result<(i64, String, String, String, Vec<ListRow>), Error> {
        let id = match notice {
            Some(n) => n,
            None => {
                self.db
                    .int("SELECT COALESCE(MAX(id), 0) FROM notices", &[])
                    .await?
            }
        };
        let n = self
            .db
            .row(
                "SELECT title, opens, closes FROM notices WHERE id = $1",
                &args![id],
            )
            .await?
            .ok_or_else(|| {
                Error::input(
                    format!("没有第{id}号公示"),
                    format!("no notice {id} (announce some lines first)"),
                )
            })?;
        let rows = self
            .list(
                "i.notice_id = $1 AND i.state <> 'superseded'",
                args![id].to_vec(),
            )
            .await?;
        Ok((id, n.s(0), n.s(1), n.s(2), rows))
    }

    /// Lines confirmed by their firms and not yet paid: the payment file.
    pub async fn payable(&mut self) -> Result<Vec<ListRow>, Error> {
        self.list("i.state = 'confirmed'", vec![]).await
    }

    /// The policy hash of the latest run recorded for `period`, if any.
    pub async fn latest_policy_hash(&mut self, period: i64) -> Result<Option<String>, Error> {
        let r = self
            .db
            .row(
                "SELECT policy_hash FROM runs WHERE period = $1 ORDER BY recorded_at DESC, run_id LIMIT 1",
                &crate::args![period],
            )
            .await?;
        Ok(r.map(|r| r.s(0)))
    }

    /// The first `limit` lines in 公示 (announced), by line id, with their firms.
    pub async fn announced(&mut self, limit: i64) -> Result<Vec<(i64, String)>, Error> {
        let r = self
            .db
            .rows(
                "SELECT i.id, e.firm_id FROM items i JOIN entitlements e ON e.id = i.entitlement_id WHERE i.state = 'announced' ORDER BY i.id LIMIT $1",
                &crate::args![limit],
            )
            .await?;
        Ok(r.iter().map(|r| (r.i(0), r.s(1))).collect())
    }

    pub async fn periods(&mut self) -> Result<Vec<i64>, Error> {
        Ok(self
            .db
            .rows(
                "SELECT DISTINCT period FROM entitlements ORDER BY period",
                &[],
            )
            .await?
            .iter()
            .map(|r| r.i(0))
            .collect())
    }

    /// Budget vs computed vs approved vs paid, by clause, for one period; then a row per
    /// budget pool covering several clauses, then the total.
    pub async fn reconcile(
        &mut self,
        period: i64,
        budgets: &[Budget],
    ) -> Result<Vec<ReconRow>, Error> {
        let db = &mut self.db;
        let mut by: BTreeMap<String, ReconRow> = BTreeMap::new();
        for r in db
            .rows(
                "SELECT clause, COUNT(*), CAST(SUM(computed_fen) AS BIGINT) FROM entitlements WHERE period = $1 GROUP BY clause",
                &args![period],
            )
            .await?
        {
            let e = by.entry(r.s(0)).or_default();
            e.entitlements = r.i(1);
            e.computed = r.i(2);
        }
        for r in db
            .rows(
                &format!(
                    "SELECT e.clause, CAST(SUM(CASE WHEN i.state IN ({AWARDED}) THEN i.amount_fen ELSE 0 END) AS BIGINT), \
                     CAST(SUM(CASE WHEN i.state = 'paid' THEN i.amount_fen ELSE 0 END) AS BIGINT) \
                     FROM items i JOIN entitlements e ON e.id = i.entitlement_id WHERE e.period = $1 GROUP BY e.clause"
                ),
                &args![period],
            )
            .await?
        {
            let e = by.entry(r.s(0)).or_default();
            e.approved = r.i(1);
            e.paid = r.i(2);
        }
        for r in db
            .rows(
                "SELECT e.clause, CAST(SUM(c.amount_fen) AS BIGINT) FROM recoveries c JOIN items i ON i.id = c.item_id \
                 JOIN entitlements e ON e.id = i.entitlement_id WHERE e.period = $1 GROUP BY e.clause",
                &args![period],
            )
            .await?
        {
            by.entry(r.s(0)).or_default().recovered = r.i(1);
        }
        for b in budgets.iter().filter(|b| b.clauses.len() == 1) {
            let e = by.entry(b.clauses[0].clone()).or_default();
            e.budget = Some(b.fen);
            e.budget_name = Some(b.name.clone());
        }
        let mut out: Vec<ReconRow> = by
            .into_iter()
            .map(|(k, mut v)| {
                v.label = k;
                v
            })
            .collect();
        let mut total = ReconRow {
            label: "合计".into(),
            ..Default::default()
        };
        for r in &out {
            total.entitlements += r.entitlements;
            total.computed += r.computed;
            total.approved += r.approved;
            total.paid += r.paid;
            total.recovered += r.recovered;
        }
        for b in budgets.iter().filter(|b| b.clauses.len() > 1) {
            let mut g = ReconRow {
                label: format!("{}（{}）", b.name, b.clauses.join("、")),
                budget: Some(b.fen),
                budget_name: Some(b.name.clone()),
                ..Default::default()
            };
            for r in out.iter().filter(|r| b.clauses.contains(&r.label)) {
                g.entitlements += r.entitlements;
                g.computed += r.computed;
                g.approved += r.approved;
                g.paid += r.paid;
                g.recovered += r.recovered;
            }
            out.push(g);
        }
        out.push(total);
        Ok(out)
    }

    /// Lines of periods before `before` that `awards` does not count yet but may still be
    /// awarded (not yet approved; with `paid_only`, not yet paid): (lines, 分).
    pub async fn uncounted(&mut self, before: i64, paid_only: bool) -> Result<(i64, i64), Error> {
        let states = if paid_only {
            "'computed', 'approved', 'announced', 'objected', 'confirmed', 'exported'"
        } else {
            "'computed'"
        };
        let r = self
            .db
            .row(
                &format!(
                    "SELECT COUNT(*), CAST(COALESCE(SUM(i.amount_fen), 0) AS BIGINT) \
                     FROM items i JOIN entitlements e ON e.id = i.entitlement_id \
                     WHERE e.period < $1 AND i.state IN ({states})"
                ),
                &args![before],
            )
            .await?;
        Ok(r.map(|r| (r.i(0), r.i(1))).unwrap_or((0, 0)))
    }

    /// What the ledger says was awarded (`paid_only`: paid) for periods before `before`, net of
    /// adjustments and of clawbacks recorded before `before` (counted toward the award they
    /// recover from), per (firm, clause, period, tranche) — the engine's award history. Every
    /// key with a counted line is given, a fully recovered one at 0 (it must not fall back to
    /// another record of the award), and a clawback of an award the ledger does not hold as
    /// such (`AwardOut::held` false).
    pub async fn awards(&mut self, before: i64, paid_only: bool) -> Result<Vec<AwardOut>, Error> {
        self.awards_where(before, paid_only, None).await
    }

    /// [`Ledger::awards`] of one firm: the history a firm's check reads (the
    /// `UNIQUE (firm_id, …)` index finds its lines).
    pub async fn firm_awards(
        &mut self,
        firm_id: &str,
        before: i64,
        paid_only: bool,
    ) -> Result<Vec<AwardOut>, Error> {
        self.awards_where(before, paid_only, Some(firm_id)).await
    }

    /// The entitlements recorded after entitlement `after`, as (id, firm): which firms have
    /// any history at all. Ids only grow (writers serialise and number from the maximum), so a
    /// reader that remembers the last id it saw reads only what is new.
    pub async fn entitlement_firms_after(
        &mut self,
        after: i64,
    ) -> Result<Vec<(i64, String)>, Error> {
        Ok(self
            .db
            .rows(
                "SELECT id, firm_id FROM entitlements WHERE id > $1 ORDER BY id",
                &args![after],
            )
            .await?
            .into_iter()
            .map(|r| (r.i(0), r.s(1)))
            .collect())
    }

    async fn awards_where(
        &mut self,
        before: i64,
        paid_only: bool,
        firm: Option<&str>,
    ) -> Result<Vec<AwardOut>, Error> {
        let states = if paid_only { "'paid'" } else { AWARDED };
        // A clawback's lines count toward the award it recovers from (its target), so the
        // history is net of recoveries; it is chosen by its own period (a clawback recorded in
        // a later period is not part of an earlier period's history). A target's columns are
        // all set or all NULL.
        let sql = format!(
            "SELECT e.firm_id, COALESCE(e.target_clause, e.clause) AS c, COALESCE(e.target_period, e.period) AS p, \
             COALESCE(e.target_tranche, e.tranche) AS t, CAST(SUM(i.amount_fen) AS BIGINT), \
             MAX(CASE WHEN e.target_clause IS NULL THEN 1 ELSE 0 END) \
             FROM items i JOIN entitlements e ON e.id = i.entitlement_id \
             WHERE e.period < $1 AND i.state IN ({states}){} \
             GROUP BY e.firm_id, COALESCE(e.target_clause, e.clause), COALESCE(e.target_period, e.period), COALESCE(e.target_tranche, e.tranche) \
             ORDER BY e.firm_id, c, p, t",
            if firm.is_some() { " AND e.firm_id = $2" } else { "" }
        );
        let rows = match firm {
            Some(f) => self.db.rows(&sql, &args![before, f]).await?,
            None => self.db.rows(&sql, &args![before]).await?,
        };
        Ok(rows
            .into_iter()
            .map(|r| AwardOut {
                firm_id: r.s(0),
                clause: r.s(1),
                period: r.i(2),
                tranche: r.s(3),
                fen: r.i(4),
                held: r.i(5) == 1,
            })
            .collect())
    }
}

fn io(p: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::io(format!("{}: {e}", p.display()))
}

const NOTICE_HEAD: [&str; 9] = [
    "序号",
    "企业名称",
    "统一社会信用代码",
    "条款",
    "年度",
    "分期",
    "金额（万元）",
    "金额（元）",
    "明细号",
];

/// Writes the 公示 list as CSV (UTF-8 with BOM, for spreadsheet programs). Every text cell
/// goes through `huiqi_files::csv::push_field`: a name a spreadsheet would run as a formula is
/// neutralised, bidirectional controls are shown as code points.
pub fn write_notice_csv(rows: &[ListRow], p: &Path) -> Result<(), Error> {
    let mut s = String::from("\u{feff}");
    s.push_str(&NOTICE_HEAD.join(","));
    s.push('\n');
    for (k, r) in rows.iter().enumerate() {
        s.push_str(&format!("{},", k + 1));
        text_cells(&mut s, &[&r.name, &r.firm_id, &r.clause]);
        s.push_str(&format!("{},", r.period));
        text_cells(&mut s, &[&r.tranche]);
        s.push_str(&format!("{},{},{}\n", wan(r.fen), yuan(r.fen), r.line));
    }
    std::fs::write(p, s).map_err(io(p))
}

/// Text cells, each followed by a comma.
fn text_cells(s: &mut String, cells: &[&str]) {
    for c in cells {
        push_field(s, c);
        s.push(',');
    }
}

/// Writes the 公示 list as XLSX: a title row with the window, then the table.
pub fn write_notice_xlsx(
    title: &str,
    opens: &str,
    closes: &str,
    rows: &[ListRow],
    p: &Path,
) -> Result<(), Error> {
    use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Workbook};
    let e = |x: rust_xlsxwriter::XlsxError| Error::io(format!("{}: {x}", p.display()));
    let mut wb = Workbook::new();
    let when = ExcelDateTime::from_ymd(2000, 1, 1).map_err(e)?;
    wb.set_properties(
        &DocProperties::new()
            .set_creation_datetime(&when)
            .set_title(title),
    );
    let ws = wb.add_worksheet();
    ws.set_name("公示名单").map_err(e)?;
    let bold = Format::new().set_bold();
    let wanf = Format::new().set_num_format("#,##0.00####");
    let yuanf = Format::new().set_num_format("#,##0.00");
    ws.write_string_with_format(0, 0, title, &bold).map_err(e)?;
    ws.write_string(1, 0, format!("公示期：{opens} 至 {closes}"))
        .map_err(e)?;
    for (c, h) in NOTICE_HEAD.iter().enumerate() {
        ws.write_string_with_format(3, c as u16, *h, &bold)
            .map_err(e)?;
    }
    for (k, r) in rows.iter().enumerate() {
        let row = k as u32 + 4;
        ws.write_number(row, 0, (k + 1) as f64).map_err(e)?;
        ws.write_string(row, 1, &r.name).map_err(e)?;
        ws.write_string(row, 2, &r.firm_id).map_err(e)?;
        ws.write_string(row, 3, &r.clause).map_err(e)?;
        ws.write_number(row, 4, r.period as f64).map_err(e)?;
        ws.write_string(row, 5, &r.tranche).map_err(e)?;
        ws.write_number_with_format(row, 6, r.fen as f64 / 1_000_000.0, &wanf)
            .map_err(e)?;
        ws.write_number_with_format(row, 7, r.fen as f64 / 100.0, &yuanf)
            .map_err(e)?;
        ws.write_number(row, 8, r.line as f64).map_err(e)?;
    }
    ws.set_column_width(1, 28).map_err(e)?;
    ws.set_column_width(2, 22).map_err(e)?;
    ws.set_column_width(3, 16).map_err(e)?;
    wb.save(p).map_err(e)?;
    Ok(())
}

/// One row of a payment file from 明细号 on (text cells neutralised like the 公示 list's).
fn payment_row(s: &mut String, r: &ListRow) {
    s.push_str(&format!("{},", r.line));
    text_cells(s, &[&r.firm_id, &r.name, &r.clause]);
    s.push_str(&format!("{},", r.period));
    text_cells(s, &[&r.tranche]);
    s.push_str(&format!("{},{},\n", yuan(r.fen), r.fen));
}

/// The payment file for the treasury: confirmed lines; the treasury fills `支付流水号` and
/// returns it to `huiqi ledger pay --file`. (Prefer a batch: [`write_batch_csv`].)
pub fn write_payment_csv(rows: &[ListRow], p: &Path) -> Result<(), Error> {
    let mut s = String::from(
        "\u{feff}明细号,统一社会信用代码,企业名称,条款,年度,分期,金额（元）,金额（分）,支付流水号\n",
    );
    for r in rows {
        payment_row(&mut s, r);
    }
    std::fs::write(p, s).map_err(io(p))
}

/// A payment batch's file for the treasury: the batch id (`批次号`) on every line, then the
/// columns of [`write_payment_csv`]. The treasury fills `支付流水号` and returns it to
/// `Ledger::pay_batch` (read with `read_paid_file`).
pub fn write_batch_csv(b: &Batch, p: &Path) -> Result<(), Error> {
    let mut s = String::from(
        "\u{feff}批次号,明细号,统一社会信用代码,企业名称,条款,年度,分期,金额（元）,金额（分）,支付流水号\n",
    );
    for r in &b.rows {
        s.push_str(&format!("{},", b.id));
        payment_row(&mut s, r);
    }
    std::fs::write(p, s).map_err(io(p))
}
