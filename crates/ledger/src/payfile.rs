//! Payment result files: the CSV of `export payments` with `支付流水号` filled in by the
//! treasury, and paying what they name.
//!
//! References must be plain text: one that starts like a formula (`=`, `+`, `-`, `@`, or `'`
//! before one of them) or holds control characters is refused, since a spreadsheet may have
//! rewritten it and its true text is ambiguous. A credit code cell may come back neutralised
//! (`'+…`, as `huiqi_files::csv::safe_cell` wrote it): it is compared with the ledger's code
//! in both forms. Names, clauses and tranches are not read.

use std::collections::HashSet;
use std::path::Path;

use huiqi_files::csv::safe_cell;

use crate::audit::Chain;
use crate::check::check_read;
use crate::db::Db;
use crate::workflow::{
    after_payments, illegal, line_of, next_payment, pay_line, Action, Line, LINE_COLS, LINE_NCOLS,
};
use crate::{args, Ctx, Error, Ledger, State};

/// One line of a payment result file.
#[derive(Clone, Debug)]
pub struct PaymentLine {
    pub line: usize,
    pub item: i64,
    pub reference: String,
    pub fen: Option<i64>,
    pub firm_id: Option<String>,
}

/// A line of a file that cannot be paid, and why (file line number; the award line when known).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineError {
    pub line: usize,
    pub item: Option<i64>,
    pub zh: String,
    pub en: String,
}

/// A paid file of a batch: the batch it names (`批次号`), its readable lines and the lines that
/// could not be read.
#[derive(Clone, Debug)]
pub struct PaidFile {
    pub batch: Option<i64>,
    pub lines: Vec<PaymentLine>,
    pub bad: Vec<LineError>,
}

fn file_err(p: &Path, zh: String, en: String) -> Error {
    Error::input(
        format!("{}：{zh}", p.display()),
        format!("{}: {en}", p.display()),
    )
}

/// A paid file's text: UTF-8 (with or without a BOM), or GBK — what a bank's or the treasury's
/// system (and Chinese Excel's "CSV") writes — read as GB18030, its superset. Anything else is
/// refused rather than read with replacement characters.
fn decode<'a>(p: &Path, bytes: &'a [u8]) -> Result<std::borrow::Cow<'a, str>, Error> {
    if let Ok(s) = std::str::from_utf8(bytes) {
        return Ok(std::borrow::Cow::Borrowed(s));
    }
    encoding_rs::GB18030
        .decode_without_bom_handling_and_without_replacement(bytes)
        .ok_or_else(|| {
            file_err(
                p,
                "文件既不是 UTF-8 也不是 GBK 编码：请另存为“CSV UTF-8”".into(),
                "the file is neither UTF-8 nor GBK: save it as \"CSV UTF-8\"".into(),
            )
        })
}

/// A payment file as read.
struct Parsed {
    lines: Vec<PaymentLine>,
    /// Lines that could not be read.
    errs: Vec<LineError>,
    /// (file line, batch id) of each line that names one.
    batches: Vec<(usize, i64)>,
}

fn parse(p: &Path) -> Result<Parsed, Error> {
    let bytes = std::fs::read(p).map_err(|e| file_err(p, e.to_string(), e.to_string()))?;
    let text = decode(p, &bytes)?;
    let text = text.trim_start_matches('\u{feff}');
    let mut rd = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let head: Vec<String> = rd
        .headers()
        .map_err(|e| file_err(p, e.to_string(), e.to_string()))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let col = |names: &[&str]| head.iter().position(|h| names.contains(&h.as_str()));
    let ci = col(&["明细号", "line"])
        .ok_or_else(|| file_err(p, "缺少“明细号”列".into(), "no 明细号 (line) column".into()))?;
    let cr = col(&["支付流水号", "reference"]).ok_or_else(|| {
        file_err(
            p,
            "缺少“支付流水号”列".into(),
            "no 支付流水号 (reference) column".into(),
        )
    })?;
    let (cf, cc, cb) = (
        col(&["金额（分）", "amount_fen"]),
        col(&["统一社会信用代码", "firm_id"]),
        col(&["批次号", "batch"]),
    );
    let (mut out, mut errs, mut batches) = (vec![], vec![], vec![]);
    for (k, rec) in rd.records().enumerate() {
        let line = k + 2;
        let rec = rec.map_err(|e| file_err(p, e.to_string(), e.to_string()))?;
        if rec.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let get = |c: usize| rec.get(c).unwrap_or("").trim().to_string();
        let mut bad = |item: Option<i64>, zh: String, en: String| {
            errs.push(LineError { line, item, zh, en });
        };
        let Ok(item) = get(ci).parse::<i64>() else {
            bad(
                None,
                format!("第{line}行：明细号“{}”不是整数", get(ci)),
                format!("line {line}: line number `{}` is not an integer", get(ci)),
            );
            continue;
        };
        if let Some(c) = cb {
            match get(c).parse::<i64>() {
                Ok(b) => batches.push((line, b)),
                Err(_) => {
                    bad(
                        Some(item),
                        format!("第{line}行：批次号“{}”不是整数", get(c)),
                        format!("line {line}: batch `{}` is not an integer", get(c)),
                    );
                    continue;
                }
            }
        }
        let fen = match cf.map(get) {
            Some(s) if !s.is_empty() => match s.parse::<i64>() {
                Ok(v) => Some(v),
                Err(_) => {
                    bad(
                        Some(item),
                        format!("第{line}行：金额（分）“{s}”不是整数"),
                        format!("line {line}: amount (fen) `{s}` is not an integer"),
                    );
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
    Ok(Parsed {
        lines: out,
        errs,
        batches,
    })
}

/// Reads a payment result file: CSV with the header of `huiqi ledger export payments`
/// (`明细号`, …, `金额（分）`, `支付流水号`), the reference filled in by the treasury. Any
/// unreadable line is an error for the whole file.
pub fn read_payment_file(p: &Path) -> Result<Vec<PaymentLine>, Error> {
    let Parsed { lines, errs, .. } = parse(p)?;
    if !errs.is_empty() {
        let (zh, en): (Vec<String>, Vec<String>) = errs.into_iter().map(|e| (e.zh, e.en)).unzip();
        return Err(file_err(p, zh.join("；"), en.join("; ")));
    }
    Ok(lines)
}

/// Reads a batch's paid file (the file of `export_batch`, `批次号` first): unreadable lines are
/// listed in `bad` (paid around only when asked, see [`Ledger::pay_batch`]); a file that names
/// two batches is refused whole.
pub fn read_paid_file(p: &Path) -> Result<PaidFile, Error> {
    let Parsed {
        lines,
        errs: bad,
        batches,
    } = parse(p)?;
    let mut ids: Vec<i64> = batches.iter().map(|b| b.1).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.len() > 1 {
        let list: Vec<String> = ids.iter().map(i64::to_string).collect();
        return Err(file_err(
            p,
            format!(
                "文件含多个批次（{}）：一个支付结果文件只能对应一个批次",
                list.join("、")
            ),
            format!(
                "the file names batches {}: one paid file is one batch",
                list.join(", ")
            ),
        ));
    }
    Ok(PaidFile {
        batch: ids.first().copied(),
        lines,
        bad,
    })
}

/// What applying a payment file did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PayFileSummary {
    pub paid: u64,
    pub paid_fen: i64,
    /// Lines already paid with the same reference (the file was applied before).
    pub already: u64,
    /// New lines for differences that waited for these payments (a rerun while exported).
    pub adjustments: u64,
}

/// Whether a reference can be taken as written (see the module's note).
fn plain_reference(r: &str) -> bool {
    let first = r.chars().next();
    !matches!(first, Some('=' | '+' | '-' | '@' | '\''))
        && !r.chars().any(|c| {
            c.is_control()
                || matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        })
}

/// What to do with one line of a file.
pub(crate) enum Verdict {
    Pay(Box<Line>),
    /// Paid before under the same reference.
    Already,
    Bad(LineError),
}

/// Checks one line of a file against the ledger. `batch`: the lines must be in that batch;
/// `seen`: references and lines met so far in the file.
pub(crate) async fn classify(
    db: &mut Db,
    pl: &PaymentLine,
    batch: Option<i64>,
    seen: &mut (HashSet<String>, HashSet<i64>),
) -> Result<Verdict, Error> {
    let (line, item) = (pl.line, pl.item);
    let bad = |zh: String, en: String| {
        Ok(Verdict::Bad(LineError {
            line,
            item: Some(item),
            zh: format!("第{line}行：{zh}"),
            en: format!("line {line}: {en}"),
        }))
    };
    let r = &pl.reference;
    if r.is_empty() {
        return bad("没有支付流水号".into(), "no payment reference".into());
    }
    if !plain_reference(r) {
        return bad(
            format!("明细 {item} 的支付流水号“{r}”不是纯文本（以 = + - @ ' 开头或含控制字符），无法确定其原文"),
            format!("award line {item}: the reference `{r}` is not plain text (it starts with = + - @ ' or holds control characters), so what it says is ambiguous"),
        );
    }
    if !seen.0.insert(r.clone()) {
        return bad(
            format!("支付流水号 {r} 在文件中重复"),
            format!("payment reference {r} appears twice in the file"),
        );
    }
    if !seen.1.insert(item) {
        return bad(
            format!("明细 {item} 在文件中重复"),
            format!("line {item} appears twice in the file"),
        );
    }
    let Some(row) = db
        .row(
            &format!("SELECT {LINE_COLS}, p.reference FROM items i JOIN entitlements e ON e.id = i.entitlement_id LEFT JOIN payments p ON p.item_id = i.id WHERE i.id = $1"),
            &args![item],
        )
        .await?
    else {
        return bad(
            format!("没有编号为 {item} 的奖励明细"),
            format!("no award line {item} (unknown entitlement)"),
        );
    };
    let l = line_of(&row);
    if let Some(b) = batch {
        if l.row.batch != Some(b) {
            return bad(
                format!("明细 {item} 不在批次 {b} 中"),
                format!("award line {item} is not in batch {b}"),
            );
        }
    }
    let firm = &l.key().firm;
    if let Some(f) = &pl.firm_id {
        if f != firm && *f != safe_cell(firm) {
            return bad(
                format!("明细 {item} 属于 {firm}，不是 {f}"),
                format!("line {item} belongs to {firm}, not {f}"),
            );
        }
    }
    let amount = l.row.amount_fen;
    if let Some(f) = pl.fen {
        if f != amount {
            return bad(
                format!("金额 {f} 分与明细 {item} 的 {amount} 分不符"),
                format!("amount {f} fen differs from line {item}'s {amount} fen"),
            );
        }
    }
    match (l.state(), row.os(LINE_NCOLS)) {
        (State::Paid | State::Recovered, Some(have)) if have == *r => Ok(Verdict::Already),
        (State::Paid | State::Recovered, Some(have)) => bad(
            format!("明细 {item} 已以流水号 {have} 拨付，不能再次拨付"),
            format!("line {item} was already paid (reference {have}); it cannot be paid again"),
        ),
        (State::Confirmed | State::Exported, _) => {
            if let Some(p) = db
                .row(
                    "SELECT item_id FROM payments WHERE reference = $1",
                    &args![r],
                )
                .await?
            {
                return bad(
                    format!("支付流水号 {r} 已用于明细 {}", p.i(0)),
                    format!("payment reference {r} already paid line {}", p.i(0)),
                );
            }
            Ok(Verdict::Pay(Box::new(l)))
        }
        (st, _) => {
            let e = illegal(item, st, &pay_action());
            bad(e.zh, e.en)
        }
    }
}

pub(crate) fn pay_action() -> Action {
    Action::Pay {
        reference: String::new(),
    }
}

/// The errors of a file as one refusal: nothing was paid.
pub(crate) fn refuse(errs: &[LineError]) -> Error {
    let n = errs.len();
    let zh: Vec<&str> = errs.iter().take(20).map(|e| e.zh.as_str()).collect();
    let en: Vec<&str> = errs.iter().take(20).map(|e| e.en.as_str()).collect();
    Error::input(
        format!(
            "支付结果文件有 {n} 处错误，未做任何拨付：\n  {}",
            zh.join("\n  ")
        ),
        format!(
            "the payment file has {n} error(s); nothing was paid:\n  {}",
            en.join("\n  ")
        ),
    )
}

/// Pays the lines `todo` (checked against the chain first) in the caller's transaction.
pub(crate) async fn pay_all(
    db: &mut Db,
    ctx: &Ctx,
    todo: &[(Line, String)],
) -> Result<PayFileSummary, Error> {
    let lines: Vec<Line> = todo.iter().map(|t| t.0.clone()).collect();
    check_read(db, &lines).await?;
    let mut sum = PayFileSummary::default();
    let mut chain = Chain::open(db).await?;
    for (l, reference) in todo {
        let id = next_payment(db).await?;
        pay_line(db, &mut chain, ctx, l, reference, id, |st| {
            illegal(l.id(), st, &pay_action())
        })
        .await?;
        sum.paid += 1;
        sum.paid_fen += l.row.amount_fen;
    }
    sum.adjustments = after_payments(db, &mut chain, ctx, &lines).await?;
    chain.flush(db).await?;
    Ok(sum)
}

async fn pay_file_tx(
    db: &mut Db,
    ctx: &Ctx,
    lines: &[PaymentLine],
) -> Result<PayFileSummary, Error> {
    let mut errs = vec![];
    let mut todo = vec![];
    let mut already = 0;
    let mut seen = Default::default();
    for pl in lines {
        match classify(db, pl, None, &mut seen).await? {
            Verdict::Pay(l) => todo.push((*l, pl.reference.clone())),
            Verdict::Already => already += 1,
            Verdict::Bad(e) => errs.push(e),
        }
    }
    if !errs.is_empty() {
        return Err(refuse(&errs));
    }
    let mut sum = pay_all(db, ctx, &todo).await?;
    sum.already = already;
    Ok(sum)
}

impl Ledger {
    /// Pays the lines a payment result file names (confirmed, or exported in any batch), all
    /// or nothing. Lines already paid with the same reference are skipped, so applying a file
    /// twice pays nothing twice.
    pub async fn pay_file(
        &mut self,
        ctx: &Ctx,
        lines: &[PaymentLine],
    ) -> Result<PayFileSummary, Error> {
        self.write(async |db: &mut Db| pay_file_tx(db, ctx, lines).await)
            .await
    }
}
