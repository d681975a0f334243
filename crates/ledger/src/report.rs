//! Reading the ledger: verify, a firm's status, the 公示 list, the payment file, the
//! reconciliation, and the award history the engine reads back.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use crate::audit::{check_chain, load_events, Problem, VerifyReport};
use crate::db::Db;
use crate::{args, wan, yuan, Error, Ledger, State};

/// States whose amount counts as awarded (decided and not undone).
const AWARDED: &str = "'approved', 'announced', 'objected', 'confirmed', 'paid'";

pub(crate) async fn verify(db: &mut Db) -> Result<VerifyReport, Error> {
    let head = db
        .row("SELECT seq, hash FROM audit_head WHERE id = 1", &[])
        .await?
        .ok_or_else(|| Error::db("audit_head is missing"))?;
    let events = load_events(db).await?;
    let mut problems = check_chain(&events, head.i(0), &head.s(1));
    if problems.is_empty() {
        // The current state of every line is the state its last audit event left it in.
        let mut last: HashMap<i64, String> = HashMap::new();
        for e in &events {
            if let Some(id) = e.entity.strip_prefix("item:").and_then(|s| s.parse().ok()) {
                let st = serde_json::from_str::<serde_json::Value>(&e.after)
                    .ok()
                    .and_then(|v| v.get("state").and_then(|s| s.as_str()).map(str::to_string))
                    .unwrap_or_default();
                last.insert(id, st);
            }
        }
        for r in db
            .rows("SELECT id, state FROM items ORDER BY id", &[])
            .await?
        {
            let (id, st) = (r.i(0), r.s(1));
            let want = last
                .get(&id)
                .cloned()
                .unwrap_or_else(|| State::Computed.as_str().to_string());
            if st != want {
                problems.push(Problem::StateMismatch {
                    entity: format!("item:{id}"),
                    detail: format!("state is {st}, the audit trail says {want}"),
                });
                break;
            }
        }
        // Every paid line has its one payment of its amount, and every payment a paid line.
        for r in db
            .rows(
                "SELECT i.id, i.state, i.amount_fen, p.amount_fen FROM items i LEFT JOIN payments p ON p.item_id = i.id WHERE i.state IN ('paid', 'recovered') OR p.id IS NOT NULL ORDER BY i.id",
                &[],
            )
            .await?
        {
            let ok = matches!(r.s(1).as_str(), "paid" | "recovered") && r.oi(3) == Some(r.i(2));
            if !ok {
                problems.push(Problem::StateMismatch {
                    entity: format!("item:{}", r.i(0)),
                    detail: format!(
                        "state {} with payment {:?} of a line of {} fen",
                        r.s(1),
                        r.oi(3),
                        r.i(2)
                    ),
                });
                break;
            }
        }
    }
    Ok(VerifyReport {
        events: events.len() as i64,
        head_seq: head.i(0),
        problems,
    })
}

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
    pub fen: i64,
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
            for ev in db
                .rows(
                    "SELECT action, at FROM audit_events WHERE entity = $1 ORDER BY seq",
                    &args![format!("item:{line}")],
                )
                .await?
            {
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

    async fn list(&mut self, cond: &str, a: Vec<crate::db::Arg>) -> Result<Vec<ListRow>, Error> {
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

    /// What the ledger says was awarded (`paid_only`: paid) for periods before `before`, net of
    /// adjustments, per (firm, clause, period, tranche) — the engine's award history.
    pub async fn awards(&mut self, before: i64, paid_only: bool) -> Result<Vec<AwardOut>, Error> {
        let states = if paid_only { "'paid'" } else { AWARDED };
        let rows = self
            .db
            .rows(
                &format!(
                    "SELECT e.firm_id, e.clause, e.period, e.tranche, CAST(SUM(i.amount_fen) AS BIGINT) \
                     FROM items i JOIN entitlements e ON e.id = i.entitlement_id \
                     WHERE e.period < $1 AND i.state IN ({states}) \
                     GROUP BY e.firm_id, e.clause, e.period, e.tranche ORDER BY e.firm_id, e.clause, e.period, e.tranche"
                ),
                &args![before],
            )
            .await?;
        Ok(rows
            .into_iter()
            .filter(|r| r.i(4) > 0)
            .map(|r| AwardOut {
                firm_id: r.s(0),
                clause: r.s(1),
                period: r.i(2),
                tranche: r.s(3),
                fen: r.i(4),
            })
            .collect())
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
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

/// Writes the 公示 list as CSV (UTF-8 with BOM, for spreadsheet programs).
pub fn write_notice_csv(rows: &[ListRow], p: &Path) -> Result<(), Error> {
    let mut s = String::from("\u{feff}");
    s.push_str(&NOTICE_HEAD.join(","));
    s.push('\n');
    for (k, r) in rows.iter().enumerate() {
        s.push_str(&format!(
            "{},{},{},{},{},{},{},{},{}\n",
            k + 1,
            csv_field(&r.name),
            r.firm_id,
            csv_field(&r.clause),
            r.period,
            csv_field(&r.tranche),
            wan(r.fen),
            yuan(r.fen),
            r.line
        ));
    }
    std::fs::write(p, s).map_err(io(p))
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

/// The payment file for the treasury: confirmed lines; the treasury fills `支付流水号` and
/// returns it to `huiqi ledger pay --file`.
pub fn write_payment_csv(rows: &[ListRow], p: &Path) -> Result<(), Error> {
    let mut s = String::from(
        "\u{feff}明细号,统一社会信用代码,企业名称,条款,年度,分期,金额（元）,金额（分）,支付流水号\n",
    );
    for r in rows {
        s.push_str(&format!(
            "{},{},{},{},{},{},{},{},\n",
            r.line,
            r.firm_id,
            csv_field(&r.name),
            csv_field(&r.clause),
            r.period,
            csv_field(&r.tranche),
            yuan(r.fen),
            r.fen
        ));
    }
    std::fs::write(p, s).map_err(io(p))
}
