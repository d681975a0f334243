//! Investment projects (固定资产投资项目库): one row per project and month. A project is not a
//! firm — it has its own code, name and zone, and its builder may be outside the register — so
//! it gets a table of its own, which 固投 indicators sum.

use super::read::err;
use super::shape::{self, unmapped, Source, Stat};
use crate::error::{reason, DataError, Errors};
use crate::mapping::{Plan, ProjectPlan};
use crate::parse;
use crate::source::Cell;

/// One validated row.
#[derive(Clone, Debug)]
pub(super) struct ProjectRow {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) zone: String,
    pub(super) firm: Option<String>,
    pub(super) year: i32,
    pub(super) month: u32,
    pub(super) fen: i64,
    /// Source index and row, for duplicate reports.
    src: u16,
    row: u64,
}

fn text(c: &Cell) -> Option<String> {
    let mut buf = String::new();
    parse::text(c, &mut buf).ok().flatten().map(str::to_string)
}

fn row(
    s: &ProjectPlan,
    si: u16,
    errs: &mut Errors,
    row: u64,
    cells: &[Cell],
) -> Option<ProjectRow> {
    let file = &s.file;
    let mut ok = true;
    let mut need = |v: Option<String>, col: &str, zh: &str, en: &str| -> String {
        v.unwrap_or_else(|| {
            errs.push(err(file, row, col, reason(zh, en)));
            ok = false;
            String::new()
        })
    };
    let id = need(
        text(&cells[0]),
        &s.id,
        "项目代码为空",
        "the project code is empty",
    );
    let name = need(
        text(&cells[1]),
        &s.name,
        "项目名称为空",
        "the project name is empty",
    );
    let zone = need(
        text(&cells[2]),
        &s.zone,
        "所属园区为空",
        "the zone is empty",
    );
    if !zone.is_empty() && !s.zones.contains(&zone) {
        let r = reason(
            format!("园区 `{zone}` 不在取值中（{}）", s.zones.join("、")),
            format!("zone `{zone}` is not one of {}", s.zones.join(", ")),
        );
        errs.push(err(file, row, &s.zone, unmapped(r, &s.shape, &s.zone)));
        ok = false;
    }
    let year = parse::year(&cells[3]).map_err(|r| errs.push(err(file, row, &s.year, r)));
    let month = parse::month(&cells[4]).map_err(|r| errs.push(err(file, row, &s.month, r)));
    let fen = match parse::money(&cells[5], s.unit) {
        Ok(Some(f)) => Some(f),
        Ok(None) => {
            errs.push(err(
                file,
                row,
                &s.investment,
                reason("本月完成投资为空", "the month's investment is empty"),
            ));
            None
        }
        Err(r) => {
            errs.push(err(file, row, &s.investment, r));
            None
        }
    };
    // The builder is optional; when given it must be a valid credit code (a typo would tie the
    // project to nobody), though not necessarily a firm of the register.
    let firm = match (&s.firm, cells.get(6)) {
        (Some(col), Some(c)) if !c.is_empty() => match parse::uscc(c) {
            Ok(b) => Some(String::from_utf8_lossy(&b).into_owned()),
            Err(r) => {
                errs.push(err(file, row, col, r));
                ok = false;
                None
            }
        },
        _ => None,
    };
    match (ok, year, month, fen) {
        (true, Ok(year), Ok(month), Some(fen)) => Some(ProjectRow {
            id,
            name,
            zone,
            firm,
            year,
            month,
            fen,
            src: si,
            row,
        }),
        _ => None,
    }
}

/// Reads every projects source; rows sorted by (project, year, month). A project reported
/// twice for a month, or in two zones, is an error naming both rows.
pub(super) fn read_projects(
    plan: &Plan,
    errs: &mut Errors,
    sources: &mut Vec<Source>,
) -> Vec<ProjectRow> {
    let mut out = vec![];
    for (si, s) in plan.projects.iter().enumerate() {
        let mut cols: Vec<&str> = vec![&s.id, &s.name, &s.zone, &s.year, &s.month, &s.investment];
        if let Some(f) = &s.firm {
            cols.push(f);
        }
        let mut stat = Stat::default();
        let mut unknown = 0;
        let n = shape::scan(
            &s.file,
            &s.shape,
            &cols,
            errs,
            &mut stat,
            &mut |errs, r, cells| {
                // Under unknown = "ignore", a zone the zone fact does not know passes the row over.
                if s.shape.ignores(&s.zone) {
                    let zone = text(&cells[2]);
                    if zone.is_some_and(|z| !s.zones.contains(&z)) {
                        unknown += 1;
                        return;
                    }
                }
                if let Some(x) = row(s, si as u16, errs, r, cells) {
                    out.push(x);
                }
            },
        );
        stat.unknown = unknown;
        if let Some(n) = n {
            sources.push(Source {
                file: s.file.clone(),
                rows: n,
                stat,
            });
        }
    }
    out.sort_by(|a, b| {
        (&a.id, a.year, a.month, a.src, a.row).cmp(&(&b.id, b.year, b.month, b.src, b.row))
    });
    for w in out.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        let s = &plan.projects[b.src as usize];
        if (&a.id, a.year, a.month) == (&b.id, b.year, b.month) {
            errs.push(
                DataError::new(
                    &s.file.shown,
                    format!(
                        "重复的项目月度记录（与第{}行相同的项目代码、年度和月份）",
                        a.row
                    ),
                    format!(
                        "duplicate project month (same code, year and month as row {})",
                        a.row
                    ),
                )
                .at(b.row)
                .col(&s.id),
            );
        } else if a.id == b.id && a.zone != b.zone {
            errs.push(
                DataError::new(
                    &s.file.shown,
                    format!(
                        "项目 `{}` 在第{}行属于{}，此处属于{}：一个项目只属于一个园区",
                        b.id, a.row, a.zone, b.zone
                    ),
                    format!(
                        "project `{}` is in {} at row {} and in {} here: a project is in one zone",
                        b.id, a.zone, a.row, b.zone
                    ),
                )
                .at(b.row)
                .col(&s.zone),
            );
        }
    }
    out
}
