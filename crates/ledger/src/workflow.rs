//! The 免申即享 workflow: each step a checked transition of award lines, inside one write
//! transaction, all or nothing. A transition is `UPDATE … WHERE id = ? AND state = <expected>`
//! with the rows affected checked, so two processes can never both move the same line; a
//! payment is also a row in `payments`, UNIQUE per line.

use std::collections::HashSet;
use std::path::Path;

use crate::audit::Chain;
use crate::db::{Arg, Db};
use crate::record::state_json;
use crate::{args, Ctx, Error, Ledger, State};

/// Which award lines a step applies to: explicit line ids (each must be in a state the step
/// accepts), or every line in such a state that matches the filters.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    pub ids: Vec<i64>,
    pub firm: Option<String>,
    pub clause: Option<String>,
    pub period: Option<i64>,
    /// With no ids: select by the filters (required, so a bare command never moves everything
    /// by accident).
    pub all: bool,
    /// At most this many lines (in line order).
    pub limit: Option<i64>,
}

#[derive(Clone, Debug)]
pub enum Action {
    Approve,
    Reject {
        reason: String,
    },
    /// 公示: publish the lines in a notice open for objections and confirmation from `opens` to
    /// `closes` (RFC 3339).
    Announce {
        title: String,
        opens: String,
        closes: String,
    },
    Object {
        reason: String,
    },
    Confirm,
    Pay {
        reference: String,
    },
    Recover {
        reason: String,
    },
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::Approve => "approve",
            Action::Reject { .. } => "reject",
            Action::Announce { .. } => "announce",
            Action::Object { .. } => "object",
            Action::Confirm => "confirm",
            Action::Pay { .. } => "pay",
            Action::Recover { .. } => "recover",
        }
    }
    fn zh(&self) -> &'static str {
        match self {
            Action::Approve => "审核通过",
            Action::Reject { .. } => "驳回",
            Action::Announce { .. } => "公示",
            Action::Object { .. } => "提出异议",
            Action::Confirm => "确认",
            Action::Pay { .. } => "拨付",
            Action::Recover { .. } => "追回",
        }
    }
    /// The states a line may be in for this step.
    pub fn from(&self) -> &'static [State] {
        match self {
            Action::Approve => &[State::Computed],
            Action::Reject { .. } => &[State::Computed, State::Approved, State::Objected],
            Action::Announce { .. } => &[State::Approved, State::Objected],
            Action::Object { .. } | Action::Confirm => &[State::Announced],
            Action::Pay { .. } => &[State::Confirmed],
            Action::Recover { .. } => &[State::Paid],
        }
    }
    pub fn to(&self) -> State {
        match self {
            Action::Approve => State::Approved,
            Action::Reject { .. } => State::Rejected,
            Action::Announce { .. } => State::Announced,
            Action::Object { .. } => State::Objected,
            Action::Confirm => State::Confirmed,
            Action::Pay { .. } => State::Paid,
            Action::Recover { .. } => State::Recovered,
        }
    }
    fn reason(&self) -> Option<&str> {
        match self {
            Action::Reject { reason } | Action::Object { reason } | Action::Recover { reason } => {
                Some(reason)
            }
            _ => None,
        }
    }
}

fn illegal(id: i64, st: State, a: &Action) -> Error {
    let need: Vec<&str> = a.from().iter().map(|s| s.zh()).collect();
    let need_en: Vec<&str> = a.from().iter().map(|s| s.as_str()).collect();
    Error::input(
        format!(
            "明细 {id} 当前为“{}”，不能{}（需要：{}）",
            st.zh(),
            a.zh(),
            need.join("、")
        ),
        format!(
            "line {id} is {}; cannot {} it (needs: {})",
            st.as_str(),
            a.name(),
            need_en.join(", ")
        ),
    )
}

struct Line {
    id: i64,
    state: State,
    amount: i64,
    notice: Option<i64>,
}

async fn select(db: &mut Db, sel: &Selection, a: &Action) -> Result<Vec<Line>, Error> {
    let base = "SELECT i.id, i.state, i.amount_fen, i.notice_id FROM items i JOIN entitlements e ON e.id = i.entitlement_id";
    let to_line = |r: &crate::db::Row| Line {
        id: r.i(0),
        state: State::parse(&r.s(1)).unwrap_or(State::Superseded),
        amount: r.i(2),
        notice: r.oi(3),
    };
    if !sel.ids.is_empty() {
        let mut out = vec![];
        let mut seen = HashSet::new();
        for &id in &sel.ids {
            if !seen.insert(id) {
                continue;
            }
            let r = db
                .row(&format!("{base} WHERE i.id = $1"), &args![id])
                .await?
                .ok_or_else(|| {
                    Error::input(
                        format!("没有编号为 {id} 的奖励明细"),
                        format!("no award line {id}"),
                    )
                })?;
            let l = to_line(&r);
            if !a.from().contains(&l.state) {
                return Err(illegal(id, l.state, a));
            }
            out.push(l);
        }
        return Ok(out);
    }
    if !sel.all {
        return Err(Error::input(
            "请用 --id 指定明细，或用 --all（可加 --firm/--clause/--period 过滤）选择全部符合状态的明细",
            "name lines with --id, or select every line in the right state with --all (filter with --firm/--clause/--period)",
        ));
    }
    let states: Vec<String> = a
        .from()
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    let mut sql = format!("{base} WHERE i.state IN ({})", states.join(", "));
    let mut args: Vec<Arg> = vec![];
    if let Some(f) = &sel.firm {
        args.push(f.into());
        sql.push_str(&format!(" AND e.firm_id = ${}", args.len()));
    }
    if let Some(c) = &sel.clause {
        args.push(c.into());
        sql.push_str(&format!(" AND e.clause = ${}", args.len()));
    }
    if let Some(p) = sel.period {
        args.push(p.into());
        sql.push_str(&format!(" AND e.period = ${}", args.len()));
    }
    sql.push_str(" ORDER BY i.id");
    if let Some(n) = sel.limit {
        sql.push_str(&format!(" LIMIT {}", n.max(0)));
    }
    Ok(db.rows(&sql, &args).await?.iter().map(to_line).collect())
}

/// Moves one line from `from` to `a.to()`, or fails if another writer moved it first.
async fn step(
    db: &mut Db,
    chain: &mut Chain,
    ctx: &Ctx,
    l: &Line,
    a: &Action,
    notice: Option<i64>,
    extra: serde_json::Value,
) -> Result<(), Error> {
    let to = a.to();
    let n = db
        .exec(
            "UPDATE items SET state = $1, updated_at = $2, reason = COALESCE($3, reason), notice_id = COALESCE($4, notice_id) WHERE id = $5 AND state = $6",
            &args![to.as_str(), &ctx.at, a.reason().map(str::to_string), notice, l.id, l.state.as_str()],
        )
        .await?;
    if n != 1 {
        let now = db
            .row("SELECT state FROM items WHERE id = $1", &args![l.id])
            .await?
            .and_then(|r| State::parse(&r.s(0)))
            .unwrap_or(l.state);
        return Err(illegal(l.id, now, a));
    }
    let mut after = serde_json::json!({"state": to.as_str()});
    if let Some(r) = a.reason() {
        after["reason"] = r.into();
    }
    if let serde_json::Value::Object(m) = extra {
        for (k, v) in m {
            after[k] = v;
        }
    }
    chain.push(
        ctx,
        a.name(),
        &format!("item:{}", l.id),
        &state_json(l.state, None),
        &after.to_string(),
    );
    Ok(())
}

async fn window_check(db: &mut Db, ctx: &Ctx, l: &Line, a: &Action) -> Result<(), Error> {
    let Some(nid) = l.notice else {
        return Ok(());
    };
    let r = db
        .row(
            "SELECT opens, closes FROM notices WHERE id = $1",
            &args![nid],
        )
        .await?
        .ok_or_else(|| Error::db(format!("notice {nid} is missing")))?;
    let (opens, closes) = (r.s(0), r.s(1));
    if ctx.at < opens || ctx.at > closes {
        return Err(Error::input(
            format!(
                "明细 {} 的公示期为 {opens} 至 {closes}，{} 不在公示期内，不能{}",
                l.id,
                ctx.at,
                a.zh()
            ),
            format!(
                "line {}: the notice window is {opens} to {closes}; {} is outside it, so it cannot be {}",
                l.id,
                ctx.at,
                match a {
                    Action::Confirm => "confirmed",
                    _ => "objected to",
                }
            ),
        ));
    }
    Ok(())
}

async fn apply_tx(db: &mut Db, ctx: &Ctx, sel: &Selection, a: &Action) -> Result<Vec<i64>, Error> {
    if let Some(r) = a.reason() {
        if r.trim().is_empty() {
            return Err(Error::input(
                "需要说明理由（--reason）",
                "a reason is required (--reason)",
            ));
        }
    }
    let lines = select(db, sel, a).await?;
    if lines.is_empty() {
        return Ok(vec![]);
    }
    let mut chain = Chain::open(db).await?;
    let mut notice = None;
    match a {
        Action::Announce {
            title,
            opens,
            closes,
        } => {
            if opens >= closes {
                return Err(Error::input(
                    format!("公示期的开始 {opens} 不早于结束 {closes}"),
                    format!("the notice window opens at {opens}, not before it closes at {closes}"),
                ));
            }
            let id = db
                .int("SELECT COALESCE(MAX(id), 0) FROM notices", &[])
                .await?
                + 1;
            db.exec(
                "INSERT INTO notices (id, title, opens, closes, created_at, actor) VALUES ($1, $2, $3, $4, $5, $6)",
                &args![id, title, opens, closes, &ctx.at, &ctx.actor],
            )
            .await?;
            chain.push(
                ctx,
                "notice",
                &format!("notice:{id}"),
                "{}",
                &serde_json::json!({"title": title, "opens": opens, "closes": closes, "lines": lines.len()}).to_string(),
            );
            notice = Some(id);
        }
        Action::Pay { .. } if lines.len() != 1 => {
            return Err(Error::input(
                "一个支付流水号只能拨付一条明细；批量拨付请用 --file（支付结果文件）",
                "one payment reference pays one line; pay many with --file (a payment result file)",
            ));
        }
        _ => {}
    }
    let mut next_pay = db
        .int("SELECT COALESCE(MAX(id), 0) FROM payments", &[])
        .await?
        + 1;
    let mut next_rec = db
        .int("SELECT COALESCE(MAX(id), 0) FROM recoveries", &[])
        .await?
        + 1;
    for l in &lines {
        let mut extra = serde_json::json!({});
        match a {
            Action::Confirm | Action::Object { .. } => window_check(db, ctx, l, a).await?,
            Action::Announce { .. } => extra = serde_json::json!({"notice": notice}),
            Action::Pay { reference } => {
                pay_row(db, ctx, l.id, l.amount, reference, next_pay).await?;
                next_pay += 1;
                extra = serde_json::json!({"reference": reference, "amount_fen": l.amount});
            }
            Action::Recover { reason } => {
                db.exec(
                    "INSERT INTO recoveries (id, item_id, amount_fen, reason, at, actor) VALUES ($1, $2, $3, $4, $5, $6)",
                    &args![next_rec, l.id, l.amount, reason, &ctx.at, &ctx.actor],
                )
                .await?;
                next_rec += 1;
                extra = serde_json::json!({"amount_fen": l.amount});
            }
            _ => {}
        }
        step(db, &mut chain, ctx, l, a, notice, extra).await?;
    }
    chain.flush(db).await?;
    Ok(lines.iter().map(|l| l.id).collect())
}

async fn pay_row(
    db: &mut Db,
    ctx: &Ctx,
    item: i64,
    amount: i64,
    reference: &str,
    id: i64,
) -> Result<(), Error> {
    if reference.trim().is_empty() {
        return Err(Error::input(
            "需要支付流水号（--reference）",
            "a payment reference is required (--reference)",
        ));
    }
    if let Some(r) = db
        .row(
            "SELECT item_id FROM payments WHERE reference = $1",
            &args![reference],
        )
        .await?
    {
        return Err(Error::input(
            format!("支付流水号 {reference} 已用于明细 {}", r.i(0)),
            format!("payment reference {reference} already paid line {}", r.i(0)),
        ));
    }
    db.exec(
        "INSERT INTO payments (id, item_id, reference, amount_fen, paid_at, actor) VALUES ($1, $2, $3, $4, $5, $6)",
        &args![id, item, reference, amount, &ctx.at, &ctx.actor],
    )
    .await?;
    Ok(())
}

/// One line of a payment result file.
#[derive(Clone, Debug)]
pub struct PaymentLine {
    pub line: usize,
    pub item: i64,
    pub reference: String,
    pub fen: Option<i64>,
    pub firm_id: Option<String>,
}

/// Reads a payment result file: CSV with the header of `huiqi ledger export payments`
/// (`明细号`, …, `金额（分）`, `支付流水号`), the reference filled in by the treasury.
pub fn read_payment_file(p: &Path) -> Result<Vec<PaymentLine>, Error> {
    let bad = |zh: String, en: String| {
        Error::input(
            format!("{}：{zh}", p.display()),
            format!("{}: {en}", p.display()),
        )
    };
    let text = std::fs::read_to_string(p).map_err(|e| bad(e.to_string(), e.to_string()))?;
    let text = text.trim_start_matches('\u{feff}');
    let mut rd = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let head: Vec<String> = rd
        .headers()
        .map_err(|e| bad(e.to_string(), e.to_string()))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let col = |names: &[&str]| head.iter().position(|h| names.contains(&h.as_str()));
    let ci = col(&["明细号", "line"])
        .ok_or_else(|| bad("缺少“明细号”列".into(), "no 明细号 (line) column".into()))?;
    let cr = col(&["支付流水号", "reference"]).ok_or_else(|| {
        bad(
            "缺少“支付流水号”列".into(),
            "no 支付流水号 (reference) column".into(),
        )
    })?;
    let cf = col(&["金额（分）", "amount_fen"]);
    let cc = col(&["统一社会信用代码", "firm_id"]);
    let mut out = vec![];
    let mut errs = vec![];
    for (k, rec) in rd.records().enumerate() {
        let line = k + 2;
        let rec = rec.map_err(|e| bad(e.to_string(), e.to_string()))?;
        if rec.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let get = |c: usize| rec.get(c).unwrap_or("").trim().to_string();
        let item = match get(ci).parse::<i64>() {
            Ok(v) => v,
            Err(_) => {
                errs.push((
                    format!("第{line}行：明细号“{}”不是整数", get(ci)),
                    format!("line {line}: line number `{}` is not an integer", get(ci)),
                ));
                continue;
            }
        };
        let fen = match cf.map(get) {
            Some(s) if !s.is_empty() => match s.parse::<i64>() {
                Ok(v) => Some(v),
                Err(_) => {
                    errs.push((
                        format!("第{line}行：金额（分）“{s}”不是整数"),
                        format!("line {line}: amount (fen) `{s}` is not an integer"),
                    ));
                    continue;
                }
            },
            _ => None,
        };
        out.push(PaymentLine {
            line,
            item,
            reference: get(cr),
            fen,
            firm_id: cc.map(get).filter(|s| !s.is_empty()),
        });
    }
    if !errs.is_empty() {
        let (zh, en): (Vec<String>, Vec<String>) = errs.into_iter().unzip();
        return Err(bad(zh.join("；"), en.join("; ")));
    }
    Ok(out)
}

/// What applying a payment file did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PayFileSummary {
    pub paid: u64,
    pub paid_fen: i64,
    /// Lines already paid with the same reference (the file was applied before).
    pub already: u64,
}

async fn pay_file_tx(
    db: &mut Db,
    ctx: &Ctx,
    lines: &[PaymentLine],
) -> Result<PayFileSummary, Error> {
    let mut errs: Vec<(String, String)> = vec![];
    let mut todo = vec![];
    let mut sum = PayFileSummary::default();
    let mut refs = HashSet::new();
    let mut items = HashSet::new();
    for pl in lines {
        let line = pl.line;
        if pl.reference.is_empty() {
            errs.push((
                format!("第{line}行：没有支付流水号"),
                format!("line {line}: no payment reference"),
            ));
            continue;
        }
        if !refs.insert(pl.reference.clone()) {
            errs.push((
                format!("第{line}行：支付流水号 {} 在文件中重复", pl.reference),
                format!(
                    "line {line}: payment reference {} appears twice in the file",
                    pl.reference
                ),
            ));
            continue;
        }
        if !items.insert(pl.item) {
            errs.push((
                format!("第{line}行：明细 {} 在文件中重复", pl.item),
                format!("line {line}: line {} appears twice in the file", pl.item),
            ));
            continue;
        }
        let Some(r) = db
            .row(
                "SELECT i.state, i.amount_fen, e.firm_id, p.reference FROM items i JOIN entitlements e ON e.id = i.entitlement_id LEFT JOIN payments p ON p.item_id = i.id WHERE i.id = $1",
                &args![pl.item],
            )
            .await?
        else {
            errs.push((
                format!("第{line}行：没有编号为 {} 的奖励明细", pl.item),
                format!("line {line}: no award line {} (unknown entitlement)", pl.item),
            ));
            continue;
        };
        let st = State::parse(&r.s(0)).unwrap_or(State::Superseded);
        let amount = r.i(1);
        if let Some(f) = &pl.firm_id {
            if *f != r.s(2) {
                errs.push((
                    format!("第{line}行：明细 {} 属于 {}，不是 {f}", pl.item, r.s(2)),
                    format!(
                        "line {line}: line {} belongs to {}, not {f}",
                        pl.item,
                        r.s(2)
                    ),
                ));
                continue;
            }
        }
        if let Some(f) = pl.fen {
            if f != amount {
                errs.push((
                    format!(
                        "第{line}行：金额 {f} 分与明细 {} 的 {amount} 分不符",
                        pl.item
                    ),
                    format!(
                        "line {line}: amount {f} fen differs from line {}'s {amount} fen",
                        pl.item
                    ),
                ));
                continue;
            }
        }
        match (st, r.os(3)) {
            (State::Paid | State::Recovered, Some(have)) if have == pl.reference => sum.already += 1,
            (State::Paid | State::Recovered, Some(have)) => errs.push((
                format!("第{line}行：明细 {} 已以流水号 {have} 拨付，不能再次拨付", pl.item),
                format!("line {line}: line {} was already paid (reference {have}); it cannot be paid again", pl.item),
            )),
            (State::Confirmed, _) => todo.push((pl, amount)),
            (st, _) => {
                let e = illegal(pl.item, st, &Action::Pay { reference: String::new() });
                errs.push((format!("第{line}行：{}", e.zh), format!("line {line}: {}", e.en)));
            }
        }
    }
    if !errs.is_empty() {
        let n = errs.len();
        errs.truncate(20);
        let (zh, en): (Vec<String>, Vec<String>) = errs.into_iter().unzip();
        return Err(Error::input(
            format!(
                "支付结果文件有 {n} 处错误，未做任何拨付：\n  {}",
                zh.join("\n  ")
            ),
            format!(
                "the payment file has {n} error(s); nothing was paid:\n  {}",
                en.join("\n  ")
            ),
        ));
    }
    let mut chain = Chain::open(db).await?;
    let mut next_pay = db
        .int("SELECT COALESCE(MAX(id), 0) FROM payments", &[])
        .await?
        + 1;
    for (pl, amount) in todo {
        let a = Action::Pay {
            reference: pl.reference.clone(),
        };
        pay_row(db, ctx, pl.item, amount, &pl.reference, next_pay).await?;
        next_pay += 1;
        let l = Line {
            id: pl.item,
            state: State::Confirmed,
            amount,
            notice: None,
        };
        step(
            db,
            &mut chain,
            ctx,
            &l,
            &a,
            None,
            serde_json::json!({"reference": pl.reference, "amount_fen": amount}),
        )
        .await?;
        sum.paid += 1;
        sum.paid_fen += amount;
    }
    chain.flush(db).await?;
    Ok(sum)
}

impl Ledger {
    /// Applies one workflow step to the selected lines, all or nothing; returns the line ids.
    pub async fn apply(
        &mut self,
        ctx: &Ctx,
        sel: &Selection,
        a: &Action,
    ) -> Result<Vec<i64>, Error> {
        self.write(async |db: &mut Db| apply_tx(db, ctx, sel, a).await)
            .await
    }

    /// Pays the lines a payment result file names, all or nothing. Lines already paid with the
    /// same reference are skipped, so applying a file twice pays nothing twice.
    pub async fn pay_file(
        &mut self,
        ctx: &Ctx,
        lines: &[PaymentLine],
    ) -> Result<PayFileSummary, Error> {
        self.write(async |db: &mut Db| pay_file_tx(db, ctx, lines).await)
            .await
    }
}
