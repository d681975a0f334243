//! `reform.xlsx`: the 政策沙盘's figures for a policy office — 汇总, 按条款, one sheet per
//! grouping (按行业 …), 企业名单 (every firm whose total changes, largest Δ first). Amounts in
//! 元 (Excel numbers, for reading and sums) beside the exact 分; a text cell is always a string,
//! never a formula.

use std::path::Path;

use huiqi_columnar::delta::Delta;
use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Workbook, Worksheet, XlsxError};

use crate::simulate::{Summary, Sums};
use crate::{Error, Result};

fn e(x: XlsxError) -> Error {
    Error::plain(format!("reform.xlsx: {x}"))
}

/// Excel's row limit, less the header.
const MAX_ROWS: usize = 1_048_575;

struct Fmt {
    bold: Format,
    money: Format,
}

fn header(ws: &mut Worksheet, f: &Fmt, cols: &[&str]) -> Result<()> {
    for (c, h) in cols.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, *h, &f.bold)
            .map_err(e)?;
        ws.set_column_width(c as u16, if c == 0 { 28 } else { 16 })
            .map_err(e)?;
    }
    ws.set_freeze_panes(1, 0).map_err(e)?;
    Ok(())
}

/// Writes the 元 of `fen` at (row, col) and the exact 分 at (row, col + 1).
fn money(ws: &mut Worksheet, f: &Fmt, row: u32, col: u16, fen: i64) -> Result<()> {
    ws.write_number_with_format(row, col, fen as f64 / 100.0, &f.money)
        .map_err(e)?;
    ws.write_number(row, col + 1, fen as f64).map_err(e)?;
    Ok(())
}

const SUM_COLS: [&str; 10] = [
    "基线（元）",
    "基线（分）",
    "改革后（元）",
    "改革后（分）",
    "变化（元）",
    "变化（分）",
    "受益企业数",
    "受益金额（元）",
    "受损企业数",
    "受损金额（元）",
];

fn sums(ws: &mut Worksheet, f: &Fmt, row: u32, col: u16, s: &Sums) -> Result<()> {
    money(ws, f, row, col, s.base_fen)?;
    money(ws, f, row, col + 2, s.reform_fen)?;
    money(ws, f, row, col + 4, s.delta_fen)?;
    ws.write_number(row, col + 6, s.gainers as f64).map_err(e)?;
    ws.write_number_with_format(row, col + 7, s.gain_fen as f64 / 100.0, &f.money)
        .map_err(e)?;
    ws.write_number(row, col + 8, s.losers as f64).map_err(e)?;
    ws.write_number_with_format(row, col + 9, s.loss_fen as f64 / 100.0, &f.money)
        .map_err(e)?;
    Ok(())
}

pub fn write(s: &Summary, d: &Delta, names: &[Option<String>], path: &Path) -> Result<()> {
    let f = Fmt {
        bold: Format::new().set_bold(),
        money: Format::new().set_num_format("#,##0.00"),
    };
    let mut wb = Workbook::new();
    // A fixed creation date keeps the file byte-identical between runs.
    let when = ExcelDateTime::from_ymd(2000, 1, 1).map_err(e)?;
    wb.set_properties(
        &DocProperties::new()
            .set_creation_datetime(&when)
            .set_title("huiqi 政策沙盘"),
    );

    let ws = wb.add_worksheet();
    ws.set_name("汇总").map_err(e)?;
    ws.set_column_width(0, 24).map_err(e)?;
    ws.set_column_width(1, 70).map_err(e)?;
    let kv: Vec<(&str, String)> = vec![
        ("基线政策", format!("{} v{}", s.base.name, s.base.version)),
        ("基线哈希", s.base.hash.clone()),
        (
            "改革方案",
            format!("{} v{}", s.reform.name, s.reform.version),
        ),
        ("改革哈希", s.reform.hash.clone()),
        ("参数调整", s.reform.set.join("；")),
        ("数据快照", s.snapshot.clone()),
        ("年度", s.period.to_string()),
        ("引擎", s.engine.clone()),
        ("企业数", s.firms.to_string()),
    ];
    for (r, (k, v)) in kv.iter().enumerate() {
        ws.write_string_with_format(r as u32, 0, *k, &f.bold)
            .map_err(e)?;
        ws.write_string(r as u32, 1, v).map_err(e)?;
    }
    let r0 = kv.len() as u32 + 1;
    for (c, h) in SUM_COLS.iter().enumerate() {
        ws.write_string_with_format(r0, c as u16 + 1, *h, &f.bold)
            .map_err(e)?;
    }
    ws.write_string_with_format(r0 + 1, 0, "合计", &f.bold)
        .map_err(e)?;
    sums(ws, &f, r0 + 1, 1, &s.all)?;
    ws.write_string(
        r0 + 3,
        0,
        "按条款的变化（联合）为两次完整测算之差（含就高、封顶、资金池等规则的相互影响），各条款之和等于合计。",
    )
    .map_err(e)?;
    ws.write_string(
        r0 + 4,
        0,
        "单独测算：各条款自身金额（不计负面清单、遴选、就高、资金池、单企业上限）的变化；其和加上“跨条款规则的相互影响”等于合计，单独测算之和本身不等于合计。",
    )
    .map_err(e)?;
    ws.write_string_with_format(r0 + 5, 0, "单独测算之和（分）", &f.bold)
        .map_err(e)?;
    ws.write_number(r0 + 5, 1, s.standalone_delta_fen as f64)
        .map_err(e)?;
    ws.write_string_with_format(r0 + 6, 0, "相互影响（分）", &f.bold)
        .map_err(e)?;
    ws.write_number(r0 + 6, 1, s.interaction_fen as f64)
        .map_err(e)?;

    let ws = wb.add_worksheet();
    ws.set_name("按条款").map_err(e)?;
    let mut cols = vec!["条款"];
    cols.extend(SUM_COLS);
    cols.extend([
        "单独测算基线（分）",
        "单独测算改革后（分）",
        "单独测算变化（分）",
    ]);
    header(ws, &f, &cols)?;
    let alone = SUM_COLS.len() as u16 + 1;
    for (r, c) in s.by_clause.iter().enumerate() {
        let row = r as u32 + 1;
        ws.write_string(row, 0, &c.clause).map_err(e)?;
        sums(ws, &f, row, 1, &c.sums)?;
        for (k, v) in [
            c.standalone.base_fen,
            c.standalone.reform_fen,
            c.standalone.delta_fen,
        ]
        .into_iter()
        .enumerate()
        {
            ws.write_number(row, alone + k as u16, v as f64)
                .map_err(e)?;
        }
    }
    // Not a clause: what the rules across clauses and firms make of the stand-alone changes.
    let row = s.by_clause.len() as u32 + 2;
    ws.write_string_with_format(row, 0, "跨条款规则的相互影响", &f.bold)
        .map_err(e)?;
    ws.write_number(row, alone + 2, s.interaction_fen as f64)
        .map_err(e)?;

    let ws = wb.add_worksheet();
    ws.set_name("分档").map_err(e)?;
    header(
        ws,
        &f,
        &[
            "档位",
            "受益企业数",
            "受益金额（分）",
            "受损企业数",
            "受损金额（分）",
        ],
    )?;
    let mut row = 1u32;
    for (title, bands) in [
        ("按变化金额（元）", &s.bands),
        ("按变化占基线奖励的比例", &s.pct_bands),
    ] {
        ws.write_string_with_format(row, 0, title, &f.bold)
            .map_err(e)?;
        row += 1;
        for b in bands.iter() {
            ws.write_string(row, 0, &b.band).map_err(e)?;
            for (k, v) in [b.gainers as i64, b.gain_fen, b.losers as i64, b.loss_fen]
                .into_iter()
                .enumerate()
            {
                ws.write_number(row, k as u16 + 1, v as f64).map_err(e)?;
            }
            row += 1;
        }
        row += 1;
    }

    if !s.pools.is_empty() {
        let ws = wb.add_worksheet();
        ws.set_name("资金池").map_err(e)?;
        header(
            ws,
            &f,
            &[
                "资金池",
                "基线预算（分）",
                "基线申领（分）",
                "基线兑付比例（万分之）",
                "改革后预算（分）",
                "改革后申领（分）",
                "改革后兑付比例（万分之）",
                "仅因他人申领增加而受损企业数",
                "其受损金额（分）",
            ],
        )?;
        for (r, p) in s.pools.iter().enumerate() {
            let row = r as u32 + 1;
            ws.write_string(row, 0, &p.pool).map_err(e)?;
            for (k, side) in [&p.base, &p.reform].into_iter().enumerate() {
                if let Some(x) = side {
                    let c = 1 + 3 * k as u16;
                    ws.write_number(row, c, x.budget_fen as f64).map_err(e)?;
                    ws.write_number(row, c + 1, x.demand_fen as f64)
                        .map_err(e)?;
                    ws.write_number(row, c + 2, x.factor_bp as f64).map_err(e)?;
                }
            }
            ws.write_number(row, 7, p.losers_by_others as f64)
                .map_err(e)?;
            ws.write_number(row, 8, p.loss_by_others_fen as f64)
                .map_err(e)?;
        }
    }

    for g in &s.groupings {
        let ws = wb.add_worksheet();
        // A sheet name: at most 31 characters, none of []:*?/\.
        let name: String = format!("按{}", g.by)
            .chars()
            .filter(|c| !"[]:*?/\\".contains(*c))
            .take(31)
            .collect();
        ws.set_name(&name).map_err(e)?;
        let mut cols = vec![g.by.as_str(), "企业数"];
        cols.extend(SUM_COLS);
        header(ws, &f, &cols)?;
        for (r, x) in g.groups.iter().enumerate() {
            let row = r as u32 + 1;
            ws.write_string(row, 0, &x.value).map_err(e)?;
            ws.write_number(row, 1, x.firms as f64).map_err(e)?;
            sums(ws, &f, row, 2, &x.sums)?;
        }
        // Below: each group's gainers and losers by band (|Δ|, then share of the base award).
        let mut row = g.groups.len() as u32 + 2;
        for (k, h) in [
            g.by.as_str(),
            "档位",
            "受益企业数",
            "受益金额（分）",
            "受损企业数",
            "受损金额（分）",
        ]
        .iter()
        .enumerate()
        {
            ws.write_string_with_format(row, k as u16, *h, &f.bold)
                .map_err(e)?;
        }
        row += 1;
        for x in &g.groups {
            for b in x.bands.iter().chain(&x.pct_bands) {
                if b.gainers + b.losers == 0 {
                    continue;
                }
                ws.write_string(row, 0, &x.value).map_err(e)?;
                ws.write_string(row, 1, &b.band).map_err(e)?;
                for (k, v) in [b.gainers as i64, b.gain_fen, b.losers as i64, b.loss_fen]
                    .into_iter()
                    .enumerate()
                {
                    ws.write_number(row, k as u16 + 2, v as f64).map_err(e)?;
                }
                row += 1;
            }
        }
    }

    let ws = wb.add_worksheet();
    ws.set_name("重点企业").map_err(e)?;
    header(
        ws,
        &f,
        &[
            "统一社会信用代码",
            "企业名称",
            "变化（分）",
            "变化的条款",
            "首个结果改变的条件",
            "因他人变化",
        ],
    )?;
    ws.set_column_width(3, 40).map_err(e)?;
    ws.set_column_width(4, 80).map_err(e)?;
    for (r, x) in s.top_gainers.iter().chain(&s.top_losers).enumerate() {
        let row = r as u32 + 1;
        ws.write_string(row, 0, &x.firm_id).map_err(e)?;
        ws.write_string(row, 1, &x.name).map_err(e)?;
        ws.write_number(row, 2, x.delta_fen as f64).map_err(e)?;
        let clauses: Vec<String> = x
            .clauses
            .iter()
            .map(|(c, d)| format!("{c} {d:+}分"))
            .collect();
        ws.write_string(row, 3, clauses.join("；")).map_err(e)?;
        ws.write_string(row, 4, x.first_changes.join("；"))
            .map_err(e)?;
        ws.write_string(row, 5, x.by_others.clone().unwrap_or_default())
            .map_err(e)?;
    }

    let ws = wb.add_worksheet();
    ws.set_name("企业名单").map_err(e)?;
    header(
        ws,
        &f,
        &[
            "统一社会信用代码",
            "企业名称",
            "基线（元）",
            "基线（分）",
            "改革后（元）",
            "改革后（分）",
            "变化（元）",
            "变化（分）",
        ],
    )?;
    // Every firm whose total changes, largest |Δ| first, then credit code.
    let nf = d.firms();
    let (mut base, mut reform) = (vec![0i64; nf], vec![0i64; nf]);
    for i in 0..d.len() {
        base[d.firm[i] as usize] += d.base_fen[i];
        reform[d.firm[i] as usize] += d.reform_fen[i];
    }
    let mut order: Vec<usize> = (0..nf).filter(|&k| base[k] != reform[k]).collect();
    order.sort_by_key(|&k| std::cmp::Reverse((reform[k] - base[k]).unsigned_abs()));
    for (r, &k) in order.iter().take(MAX_ROWS).enumerate() {
        let row = r as u32 + 1;
        ws.write_string(row, 0, d.firm_ids.value(k)).map_err(e)?;
        ws.write_string(row, 1, names.get(k).cloned().flatten().unwrap_or_default())
            .map_err(e)?;
        money(ws, &f, row, 2, base[k])?;
        money(ws, &f, row, 4, reform[k])?;
        money(ws, &f, row, 6, reform[k] - base[k])?;
    }
    wb.save(path).map_err(e)
}
