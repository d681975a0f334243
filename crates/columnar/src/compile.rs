//! IR expressions → DataFusion expressions over one row per firm (the "target" frame, period Y)
//! or one row per firm and earlier year (the "panel", for history aggregates).
//!
//! Compilation records what the expressions need — facts at year offsets, history aggregates,
//! event and award aggregates — and `frame.rs` builds the joins that provide those columns.
//! History is joins and grouped aggregates, never `LAG` (wrong across missing years, and slow).

use std::collections::BTreeSet;

use datafusion::logical_expr::{expr::ScalarFunction, Expr as DExpr, ScalarUDF};
use datafusion::prelude::*;
use datafusion::scalar::ScalarValue;
use huiqi_ir::reason::ReasonKind;
use huiqi_ir::Expr;
use huiqi_ir::*;
use rust_decimal::Decimal;

use crate::error::Error;
use crate::udf::dec_lit;

type R<T> = crate::error::Result<T>;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Ctx {
    /// One row per firm, evaluated for the run's period.
    Target,
    /// One row per (firm, earlier year): the inside of `first_time`, `highest_before`, …
    Panel,
}

#[derive(Clone, Debug)]
pub enum HistKind {
    /// bool_or(inner) over earlier years (first_time / ever_before).
    Ever,
    Max,
    Min,
}

/// A history aggregate: `inner` (compiled on the panel) aggregated over years < Y − offset.
#[derive(Clone, Debug)]
pub struct Hist {
    pub kind: HistKind,
    pub inner: DExpr,
    pub offset: u32,
}

/// An aggregate over one firm's events with fixed dates (the period is fixed for a run).
#[derive(Clone, Debug)]
pub enum EventAgg {
    /// Any record of `fact` (value in the list) valid on `date`.
    HeldOn {
        fact: String,
        values: Option<Vec<String>>,
        date: i32,
        /// The fact's declared validity, for records without an end.
        validity: Option<Validity>,
    },
    /// Any record dated in [from, to] (value in the list).
    DatedIn {
        fact: String,
        values: Option<Vec<String>>,
        from: i32,
        to: i32,
    },
    /// Number of records dated before `before`.
    CountBefore { fact: String, before: i32 },
    /// Earliest date of a record with this value dated in [from, to].
    FirstDate {
        fact: String,
        value: String,
        from: i32,
        to: i32,
    },
    /// Held on a per-firm date given by a target column.
    HeldAt {
        fact: String,
        values: Option<Vec<String>>,
        date_col: String,
        validity: Option<Validity>,
    },
    /// `sum(F where c: e)` / `count(F where c)` over the records dated in [from, to]: `filter`
    /// and `body` are compiled on the events table (fields as its columns); `body` None counts.
    Records {
        fact: String,
        filter: Option<DExpr>,
        body: Option<DExpr>,
        from: i32,
        to: i32,
    },
}

pub struct Compiler<'p> {
    pub p: &'p Program,
    pub year: i32,
    udfs: Vec<ScalarUDF>,
    /// (fact, offset) of yearly facts read on the target frame.
    pub target_yearly: BTreeSet<(FactId, u32)>,
    /// (fact, offset) read on the panel.
    pub panel_yearly: BTreeSet<(FactId, u32)>,
    pub statics: BTreeSet<FactId>,
    pub hists: Vec<Hist>,
    pub events: Vec<EventAgg>,
    /// Dynamic-date inputs of `HeldAt`: (column name, expression on the target frame).
    pub dyn_dates: Vec<(String, DExpr)>,
    /// (monthly fact, year) → sum of the months of that year.
    pub monthly_totals: BTreeSet<(FactId, i32)>,
    pub monthly_latest: BTreeSet<(FactId, i32)>,
    /// (clause, period bound): awards with period < bound.
    pub awards: BTreeSet<(ClauseId, i32)>,
    /// [from, to) periods and clauses (sorted): the awards of those clauses in those periods
    /// (`award_window`).
    pub award_windows: BTreeSet<(i32, i32, Vec<ClauseId>)>,
    /// While compiling the per-record parts of `Expr::Records`: the event fact whose fields
    /// `Expr::Field` names.
    record: Option<FactId>,
    /// The events table's field columns the record aggregates read.
    pub event_fields: BTreeSet<String>,
    /// Reason texts; a reason column holds `index + 1` (Int32: cheaper than strings to build in
    /// every CASE and to read back).
    pub reason_texts: std::cell::RefCell<Vec<String>>,
    /// Keep each slot's stage-0 amount (`allocate::standalone_col`) through the cross-clause
    /// rules, for the 政策沙盘's stand-alone figures (`Options::standalone`).
    pub standalone: bool,
}

pub fn days(d: Date) -> i32 {
    // Days since 1970-01-01 (Arrow Date32).
    let (y, m, dd) = (d.y as i64, d.m as i64, d.d as i64);
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + dd - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146097 + doe - 719468) as i32
}

pub fn award_window_col(from: i32, to: i32, clauses: &[ClauseId]) -> String {
    let ids: Vec<String> = clauses.iter().map(|c| c.to_string()).collect();
    format!("awin{from}_{to}_{}", ids.join("_"))
}

pub fn col_name_yearly(f: FactId, o: u32) -> String {
    format!("y{f}_{o}")
}

fn c(name: &str) -> DExpr {
    col(datafusion::common::Column::new_unqualified(name))
}

pub fn colref(name: &str) -> DExpr {
    c(name)
}

fn dlit(d: Decimal) -> DExpr {
    lit(dec_lit(d))
}

fn null_dec() -> DExpr {
    lit(ScalarValue::Decimal128(None, 38, 12))
}

/// `a` where `cond` is true, `b` where it is false, null where it is null (missing), with the
/// condition compiled once: `CASE cond WHEN true THEN a WHEN false THEN b END`.
fn if_then_else(cond: DExpr, a: DExpr, b: DExpr) -> R<DExpr> {
    case(cond)
        .when(lit(true), a)
        .when(lit(false), b)
        .end()
        .map_err(Error::engine)
}

fn value_lit(p: &Program, v: &Value, ty: Option<Ty>) -> DExpr {
    match v {
        Value::Missing => lit(ScalarValue::Null),
        Value::Bool(b) => lit(*b),
        Value::Money(d) | Value::Ratio(d) | Value::Count(d) => dlit(*d),
        Value::Date(d) => lit(ScalarValue::Date32(Some(days(*d)))),
        Value::Enum(i) => {
            let name = ty
                .and_then(|t| p.enum_names(t))
                .and_then(|n| n.get(*i as usize).cloned())
                .unwrap_or_else(|| format!("#{i}"));
            lit(name)
        }
        Value::Text(t) => lit(t.clone()),
    }
}

impl<'p> Compiler<'p> {
    pub fn new(p: &'p Program, year: i32) -> Self {
        Compiler {
            p,
            year,
            udfs: crate::udf::all(),
            target_yearly: BTreeSet::new(),
            panel_yearly: BTreeSet::new(),
            statics: BTreeSet::new(),
            hists: vec![],
            events: vec![],
            dyn_dates: vec![],
            monthly_totals: BTreeSet::new(),
            monthly_latest: BTreeSet::new(),
            awards: BTreeSet::new(),
            award_windows: BTreeSet::new(),
            record: None,
            event_fields: BTreeSet::new(),
            reason_texts: Default::default(),
            standalone: false,
        }
    }

    /// The code of a reason text (registered on first use; 0 is "no reason").
    pub fn reason_code(&self, text: &str) -> i32 {
        let mut t = self.reason_texts.borrow_mut();
        let i = match t.iter().position(|x| x == text) {
            Some(i) => i,
            None => {
                t.push(text.to_string());
                t.len() - 1
            }
        };
        i as i32 + 1
    }

    /// The code of a reason of `kind` about `subject` (ignored by a kind without one), by the
    /// text the results carry for it (`huiqi_ir::reason::ReasonKind::result_text`).
    pub fn reason_code_of(&self, kind: ReasonKind, subject: &str) -> i32 {
        self.reason_code(&kind.result_text(subject))
    }

    /// `reason_code_of` as a literal.
    pub fn reason(&self, kind: ReasonKind, subject: &str) -> DExpr {
        lit(ScalarValue::Int32(Some(self.reason_code_of(kind, subject))))
    }

    pub fn udf(&self, name: &str, args: Vec<DExpr>) -> DExpr {
        let found = self.udfs.iter().find(|u| u.name() == name);
        // PANIC SAFETY: the compiler only names the kernels of `udf::all()`, which `udfs`
        // holds; a misspelt name is a bug every differential test would hit.
        #[allow(clippy::expect_used)]
        let f = found.expect("registered udf").clone();
        DExpr::ScalarFunction(ScalarFunction::new_udf(std::sync::Arc::new(f), args))
    }

    fn event_values(&self, f: FactId, vals: &Option<Vec<u32>>) -> Option<Vec<String>> {
        let names = self.p.enum_names(self.p.facts[f].ty);
        vals.as_ref().map(|vs| {
            vs.iter()
                .map(|v| {
                    names
                        .and_then(|n| n.get(*v as usize).cloned())
                        .unwrap_or_default()
                })
                .collect()
        })
    }

    fn event_col(&mut self, agg: EventAgg) -> DExpr {
        let name = format!("e{}", self.events.len());
        self.events.push(agg);
        c(&name)
    }

    /// What the firm was awarded, all clauses of the pack together, in periods `from..to`
    /// (0 without any).
    pub fn award_window(&mut self, from: i32, to: i32, clauses: &[ClauseId]) -> DExpr {
        let mut cs = clauses.to_vec();
        cs.sort_unstable();
        cs.dedup();
        let name = award_window_col(from, to, &cs);
        self.award_windows.insert((from, to, cs));
        datafusion::functions::expr_fn::coalesce(vec![c(&name), dlit(Decimal::ZERO)])
    }

    /// Whether the plan reads the awards table.
    pub fn reads_awards(&self) -> bool {
        !self.awards.is_empty() || !self.award_windows.is_empty()
    }

    fn unsupported(&self, what: &str) -> Error {
        Error::unsupported(format!(
            "{what} inside a history operator (first_time, highest_before, …)"
        ))
    }

    /// Type of an IR expression's value, where it matters for literals (enums).
    fn enum_ty(&self, e: &Expr, lets: &[Named]) -> Option<Ty> {
        match e {
            Expr::Fact(f) => Some(self.p.facts[*f].ty),
            Expr::Local(i) => Some(lets[*i].ty),
            Expr::Param(i) => Some(self.p.params[*i].ty),
            Expr::Prev(x, _) | Expr::AggBefore(_, x) => self.enum_ty(x, lets),
            Expr::If(_, a, _) | Expr::Bin(BinOp::Coalesce, a, _) => self.enum_ty(a, lets),
            _ => None,
        }
    }

    /// Compiles `e` evaluated `o` periods before the row's period: dispatches by family
    /// (facts and parameters, operators, tier tables, history, events and awards, functions).
    pub fn cx(&mut self, e: &Expr, o: u32, cx: Ctx, lets: &[Named]) -> R<DExpr> {
        Ok(match e {
            Expr::Lit(v) => value_lit(self.p, v, None),
            Expr::Fact(f) => self.fact(*f, o, cx),
            Expr::Param(i) => self.param(*i, o, cx)?,
            Expr::Local(i) => {
                let l = lets[*i].expr.clone();
                self.cx(&l, o, cx, lets)?
            }
            Expr::Not(x) => self.cx(x, o, cx, lets)?.not(),
            Expr::Neg(x) => DExpr::Negative(Box::new(self.cx(x, o, cx, lets)?)),
            Expr::Bin(op, a, b) => self.bin(*op, a, b, o, cx, lets)?,
            Expr::In(x, vals, neg) => {
                let ety = self.enum_ty(x, lets);
                let s = self.cx(x, o, cx, lets)?;
                let list = vals.iter().map(|v| value_lit(self.p, v, ety)).collect();
                s.in_list(list, *neg)
            }
            Expr::If(cnd, a, b) => {
                let cc = self.cx(cnd, o, cx, lets)?;
                let (aa, bb) = (self.cx(a, o, cx, lets)?, self.cx(b, o, cx, lets)?);
                if_then_else(cc, aa, bb)?
            }
            Expr::Table(t, x) if self.p.tables[*t].output != Ty::Bool => {
                self.amount_table(*t, x, o, cx, lets)?
            }
            Expr::Table(t, x) => self.bool_table(*t, x, o, cx, lets)?,
            Expr::Prev(x, n) => self.cx(x, o + n, cx, lets)?,
            Expr::Growth(x) => {
                let cur = self.cx(x, o, cx, lets)?;
                let prev = self.cx(x, o + 1, cx, lets)?;
                let change = self.udf("hq_sub", vec![cur, prev.clone()]);
                self.udf("hq_div", vec![change, prev])
            }
            Expr::Cagr(x, n) => {
                let cur = self.cx(x, o, cx, lets)?;
                let base = self.cx(x, o + n, cx, lets)?;
                self.udf("hq_cagr", vec![cur, base, lit(*n as i64)])
            }
            Expr::AggBefore(..)
            | Expr::FirstTime(_)
            | Expr::EverBefore(_)
            | Expr::Consecutive(..) => self.history(e, o, cx, lets)?,
            Expr::Held(..)
            | Expr::Issued(..)
            | Expr::IssuedBefore(..)
            | Expr::Occurred(..)
            | Expr::DateOf(..)
            | Expr::Total(..)
            | Expr::Latest(..)
            | Expr::Awarded(..) => self.event(e, o, cx, lets)?,
            Expr::Min(_) | Expr::Max(_) | Expr::Abs(_) | Expr::Floor(_) | Expr::Round(..) => {
                self.function(e, o, cx, lets)?
            }
            Expr::Records {
                fact, filter, body, ..
            } => self.records(*fact, filter.as_deref(), body.as_deref(), o, cx, lets)?,
            Expr::ShiftDate(x, months, days) => {
                let d = self.cx(x, o, cx, lets)?;
                self.udf("hq_shift_date", vec![d, lit(*months), lit(*days)])
            }
            Expr::DaysBetween(a, b) | Expr::MonthsBetween(a, b) => {
                let (a2, b2) = (self.cx(a, o, cx, lets)?, self.cx(b, o, cx, lets)?);
                let f = if matches!(e, Expr::DaysBetween(..)) {
                    "hq_days_between"
                } else {
                    "hq_months_between"
                };
                self.udf(f, vec![a2, b2])
            }
            Expr::YearOf(d) => {
                let d = self.cx(d, o, cx, lets)?;
                self.udf("hq_year", vec![d])
            }
            Expr::AtYear(x, at) => self.at_year(x, at, o, cx, lets)?,
            Expr::Field(i) => {
                let f = self.record.ok_or("a record field outside sum()/count()")?;
                let field = &self.p.facts[f].fields[*i].name;
                let name = huiqi_files::snapshot::event_field_col(&self.p.facts[f].name, field);
                self.event_fields.insert(name.clone());
                c(&name)
            }
            Expr::PeriodStart | Expr::PeriodEnd => {
                if cx == Ctx::Panel {
                    let what = match e {
                        Expr::PeriodStart => "period_start()",
                        _ => "period_end()",
                    };
                    return Err(self.unsupported(what));
                }
                let y = self.year - o as i32;
                let d = match e {
                    Expr::PeriodStart => Date::year_start(y),
                    _ => Date::year_end(y),
                };
                lit(ScalarValue::Date32(Some(days(d))))
            }
        })
    }

    /// A fact: a static column, or a yearly one at offset `o` on the target frame or the panel.
    fn fact(&mut self, f: FactId, o: u32, cx: Ctx) -> DExpr {
        match self.p.facts[f].kind {
            PeriodKind::Static => {
                self.statics.insert(f);
                c(&format!("s{f}"))
            }
            _ => match cx {
                Ctx::Target => {
                    self.target_yearly.insert((f, o));
                    c(&col_name_yearly(f, o))
                }
                Ctx::Panel => {
                    self.panel_yearly.insert((f, o));
                    c(&format!("p{f}_{o}"))
                }
            },
        }
    }

    /// `at_year(x, y)`: x compiled at each offset it can reach, picked by how many years
    /// before the row's period (`year − o` on the target frame, the panel row's year on the
    /// panel) `y` is; null for any other `y`, as in the reference.
    fn at_year(&mut self, x: &Expr, at: &Expr, o: u32, cx: Ctx, lets: &[Named]) -> R<DExpr> {
        let at = self.cx(at, o, cx, lets)?;
        let row_year = match cx {
            Ctx::Target => dlit(Decimal::from(self.year - o as i32)),
            Ctx::Panel => datafusion::logical_expr::cast(
                c(huiqi_files::snapshot::col::YEAR) - lit(o as i32),
                crate::udf::DEC,
            ),
        };
        let back = self.udf("hq_sub", vec![row_year, at]);
        let mut w = case(back);
        for k in 0..=AT_YEAR_REACH {
            let v = self.cx(x, o + k, cx, lets)?;
            w.when(dlit(Decimal::from(k)), v);
        }
        w.end().map_err(Error::engine)
    }

    /// A parameter's value in force at the end of the period: a literal on the target frame,
    /// a CASE on the panel's year.
    fn param(&mut self, i: ParamId, o: u32, cx: Ctx) -> R<DExpr> {
        let prm = &self.p.params[i];
        let y = self.year - o as i32;
        Ok(match cx {
            Ctx::Target => {
                let at = Date::year_end(y);
                let v = prm
                    .values
                    .iter()
                    .rev()
                    .find(|(d, _)| *d <= at)
                    .map(|(_, v)| v.clone())
                    .unwrap_or(Value::Missing);
                value_lit(self.p, &v, Some(prm.ty))
            }
            Ctx::Panel => {
                // The value in force at each panel row's year end.
                let mut w = None::<datafusion::logical_expr::conditional_expressions::CaseBuilder>;
                let yr = c(huiqi_files::snapshot::col::YEAR) - lit(o as i32);
                for (d, v) in prm.values.iter().rev() {
                    let cond = yr.clone().gt_eq(lit(d.y));
                    // In force at year end Y ⇔ effective date ≤ Y-12-31 ⇔ d.y ≤ Y.
                    let val = value_lit(self.p, v, Some(prm.ty));
                    w = Some(match w {
                        None => when(cond, val),
                        Some(mut b) => {
                            b.when(cond, val);
                            b
                        }
                    });
                }
                match w {
                    Some(b) => b.end().map_err(Error::engine)?,
                    None => lit(ScalarValue::Null),
                }
            }
        })
    }

    /// A binary operator; a literal side takes the other side's enum type.
    fn bin(&mut self, op: BinOp, a: &Expr, b: &Expr, o: u32, cx: Ctx, lets: &[Named]) -> R<DExpr> {
        let ety = self.enum_ty(a, lets).or_else(|| self.enum_ty(b, lets));
        let l = match a {
            Expr::Lit(v) => value_lit(self.p, v, ety),
            _ => self.cx(a, o, cx, lets)?,
        };
        let r = match b {
            Expr::Lit(v) => value_lit(self.p, v, ety),
            _ => self.cx(b, o, cx, lets)?,
        };
        Ok(match op {
            // Checked, like the reference: beyond exact arithmetic is ±OVERFLOW, not a wrap.
            BinOp::Add => self.udf("hq_add", vec![l, r]),
            BinOp::Sub => self.udf("hq_sub", vec![l, r]),
            BinOp::Mul => self.udf("hq_mul", vec![l, r]),
            BinOp::Div => self.udf("hq_div", vec![l, r]),
            BinOp::Ge => l.gt_eq(r),
            BinOp::Gt => l.gt(r),
            BinOp::Le => l.lt_eq(r),
            BinOp::Lt => l.lt(r),
            BinOp::Eq => l.eq(r),
            BinOp::Ne => l.not_eq(r),
            BinOp::And => l.and(r),
            BinOp::Or => l.or(r),
            BinOp::Coalesce => datafusion::functions::expr_fn::coalesce(vec![l, r]),
        })
    }

    /// An amount table: one kernel (`udf::tiers_udf`). Every arm's amount is computed for
    /// every row; the kernel picks one per row.
    fn amount_table(&mut self, t: TableId, x: &Expr, o: u32, cx: Ctx, lets: &[Named]) -> R<DExpr> {
        let xv = self.cx(x, o, cx, lets)?;
        let table = self.p.tables[t].clone();
        let scaled = |d: Decimal| money::to_scaled(d).ok_or("tier bound out of range");
        let mut bounds = vec![];
        let mut rates = vec![];
        let mut args = vec![xv.clone()];
        for arm in &table.arms {
            let hi = match arm.hi {
                Some(h) => Some((scaled(h.value)?, h.inclusive)),
                None => None,
            };
            bounds.push((scaled(arm.lo.value)?, arm.lo.inclusive, hi));
            let v = self.cx(&arm.value, o, cx, lets)?;
            // `x * rate` of the looked-up value: the kernel multiplies in that arm only.
            let rate = match &v {
                DExpr::ScalarFunction(f) if f.name() == "hq_mul" && f.args.len() == 2 => {
                    match (&f.args[0], &f.args[1]) {
                        (a, DExpr::Literal(ScalarValue::Decimal128(Some(r), 38, 12), _))
                        | (DExpr::Literal(ScalarValue::Decimal128(Some(r), 38, 12), _), a)
                            if *a == xv =>
                        {
                            Some(*r)
                        }
                        _ => None,
                    }
                }
                _ => None,
            };
            rates.push(rate);
            args.push(match rate {
                Some(r) => lit(ScalarValue::Decimal128(Some(r), 38, 12)),
                None => v,
            });
        }
        // The name says which arms are rates: UDFs are told apart by name and signature.
        let tag: String = rates
            .iter()
            .map(|r| if r.is_some() { 'r' } else { 'v' })
            .collect();
        let f = crate::udf::tiers_udf(&format!("hq_tiers_{t}_{tag}"), bounds, rates);
        Ok(DExpr::ScalarFunction(ScalarFunction::new_udf(
            std::sync::Arc::new(f),
            args,
        )))
    }

    /// A boolean table: a CASE over the arms, false below every tier.
    fn bool_table(&mut self, t: TableId, x: &Expr, o: u32, cx: Ctx, lets: &[Named]) -> R<DExpr> {
        let xv = self.cx(x, o, cx, lets)?;
        let table = self.p.tables[t].clone();
        let mut b = when(xv.clone().is_null(), lit(ScalarValue::Null));
        for arm in &table.arms {
            let lo = if arm.lo.inclusive {
                xv.clone().gt_eq(dlit(arm.lo.value))
            } else {
                xv.clone().gt(dlit(arm.lo.value))
            };
            let cond = match arm.hi {
                None => lo,
                Some(h) => lo.and(if h.inclusive {
                    xv.clone().lt_eq(dlit(h.value))
                } else {
                    xv.clone().lt(dlit(h.value))
                }),
            };
            let v = self.cx(&arm.value, o, cx, lets)?;
            b.when(cond, v);
        }
        let zero = match table.output {
            Ty::Bool => lit(false),
            _ => dlit(Decimal::ZERO),
        };
        b.otherwise(zero).map_err(Error::engine)
    }

    /// History operators: aggregates of the panel over earlier years (`Hist`), and
    /// `consecutive` as yearly facts at offsets.
    fn history(&mut self, e: &Expr, o: u32, cx: Ctx, lets: &[Named]) -> R<DExpr> {
        if cx == Ctx::Panel && !matches!(e, Expr::Consecutive(..)) {
            return Err(self.unsupported("a history operator"));
        }
        Ok(match e {
            Expr::AggBefore(kind, x) => {
                let inner = self.cx(x, 0, Ctx::Panel, lets)?;
                let k = match kind {
                    AggBefore::Highest => HistKind::Max,
                    AggBefore::Lowest => HistKind::Min,
                };
                self.hists.push(Hist {
                    kind: k,
                    inner,
                    offset: o,
                });
                c(&format!("h{}", self.hists.len() - 1))
            }
            Expr::EverBefore(x) => {
                let inner = self.cx(x, 0, Ctx::Panel, lets)?;
                self.hists.push(Hist {
                    kind: HistKind::Ever,
                    inner,
                    offset: o,
                });
                datafusion::functions::expr_fn::coalesce(vec![
                    c(&format!("h{}", self.hists.len() - 1)),
                    lit(false),
                ])
            }
            Expr::FirstTime(x) => {
                let now = self.cx(x, o, cx, lets)?;
                let inner = self.cx(x, 0, Ctx::Panel, lets)?;
                self.hists.push(Hist {
                    kind: HistKind::Ever,
                    inner,
                    offset: o,
                });
                let ever = datafusion::functions::expr_fn::coalesce(vec![
                    c(&format!("h{}", self.hists.len() - 1)),
                    lit(false),
                ]);
                if_then_else(now, ever.not(), lit(false))?
            }
            Expr::Consecutive(x, n) => {
                let now = self.cx(x, o, cx, lets)?;
                let mut all = lit(true);
                for k in 1..*n {
                    let v = self.cx(x, o + k, cx, lets)?;
                    all = all.and(datafusion::functions::expr_fn::coalesce(vec![
                        v,
                        lit(false),
                    ]));
                }
                if_then_else(now, all, lit(false))?
            }
            _ => return Err(Error::engine(format!("{e:?} is not a history operator"))),
        })
    }

    /// Event, monthly and award data: aggregates over their tables (`EventAgg`, monthly
    /// totals, awards), read as columns of the target frame.
    fn event(&mut self, e: &Expr, o: u32, cx: Ctx, lets: &[Named]) -> R<DExpr> {
        if cx == Ctx::Panel {
            return Err(self.unsupported("event, monthly or award data"));
        }
        let y = self.year - o as i32;
        let (from, to) = (days(Date::year_start(y)), days(Date::year_end(y)));
        // A window's first and last day: earlier periods reach back to any date.
        let span = |w: EventWindow| match w {
            EventWindow::Period => (from, to),
            EventWindow::Before => (i32::MIN, from - 1),
            EventWindow::Ever => (i32::MIN, to),
        };
        Ok(match e {
            Expr::Held(f, vals, None) => {
                let agg = EventAgg::HeldOn {
                    fact: self.p.facts[*f].name.clone(),
                    values: self.event_values(*f, vals),
                    date: to,
                    validity: self.p.facts[*f].validity,
                };
                datafusion::functions::expr_fn::coalesce(vec![self.event_col(agg), lit(false)])
            }
            Expr::Held(f, vals, Some(d)) => {
                let dx = self.cx(d, o, cx, lets)?;
                let name = format!("dd{}", self.dyn_dates.len());
                self.dyn_dates.push((name.clone(), dx.clone()));
                let agg = EventAgg::HeldAt {
                    fact: self.p.facts[*f].name.clone(),
                    values: self.event_values(*f, vals),
                    date_col: name,
                    validity: self.p.facts[*f].validity,
                };
                let e = self.event_col(agg);
                when(dx.is_null(), lit(ScalarValue::Null))
                    .otherwise(datafusion::functions::expr_fn::coalesce(vec![
                        e,
                        lit(false),
                    ]))
                    .map_err(Error::engine)?
            }
            Expr::Issued(f, vals, w) => {
                let (from, to) = span(*w);
                let agg = EventAgg::DatedIn {
                    fact: self.p.facts[*f].name.clone(),
                    values: self.event_values(*f, vals),
                    from,
                    to,
                };
                datafusion::functions::expr_fn::coalesce(vec![self.event_col(agg), lit(false)])
            }
            Expr::Occurred(f, v, w) => {
                let (from, to) = span(*w);
                let agg = EventAgg::DatedIn {
                    fact: self.p.facts[*f].name.clone(),
                    values: self.event_values(*f, &Some(vec![*v])),
                    from,
                    to,
                };
                datafusion::functions::expr_fn::coalesce(vec![self.event_col(agg), lit(false)])
            }
            Expr::IssuedBefore(f) => {
                let agg = EventAgg::CountBefore {
                    fact: self.p.facts[*f].name.clone(),
                    before: from,
                };
                datafusion::functions::expr_fn::coalesce(vec![
                    self.event_col(agg),
                    dlit(Decimal::ZERO),
                ])
            }
            Expr::DateOf(f, v, w) => {
                let (from, to) = span(*w);
                let value = self
                    .event_values(*f, &Some(vec![*v]))
                    .and_then(|mut vs| vs.pop())
                    .unwrap_or_default();
                let agg = EventAgg::FirstDate {
                    fact: self.p.facts[*f].name.clone(),
                    value,
                    from,
                    to,
                };
                self.event_col(agg)
            }
            Expr::Total(f) => {
                self.monthly_totals.insert((*f, y));
                c(&format!("mt{f}_{y}"))
            }
            Expr::Latest(f) => {
                self.monthly_latest.insert((*f, y));
                c(&format!("ml{f}_{y}"))
            }
            Expr::Awarded(cl) => {
                self.awards.insert((*cl, y));
                datafusion::functions::expr_fn::coalesce(vec![
                    c(&format!("aw{cl}_{y}")),
                    dlit(Decimal::ZERO),
                ])
            }
            _ => return Err(Error::engine(format!("{e:?} is not event data"))),
        })
    }

    /// `sum(F where c: e)` / `count(F where c)`: the per-record parts compiled over the events
    /// table (the checker allows only fields, parameters and constants in them), aggregated
    /// per firm in `frame::event_columns`.
    fn records(
        &mut self,
        f: FactId,
        filter: Option<&Expr>,
        body: Option<&Expr>,
        o: u32,
        cx: Ctx,
        lets: &[Named],
    ) -> R<DExpr> {
        if cx == Ctx::Panel {
            return Err(self.unsupported("sum() / count() over event records"));
        }
        let y = self.year - o as i32;
        let outer = self.record.replace(f);
        let filter = filter.map(|x| self.cx(x, o, Ctx::Target, lets)).transpose();
        let body = body.map(|x| self.cx(x, o, Ctx::Target, lets)).transpose();
        self.record = outer;
        let agg = EventAgg::Records {
            fact: self.p.facts[f].name.clone(),
            filter: filter?,
            body: body?,
            from: days(Date::year_start(y)),
            to: days(Date::year_end(y)),
        };
        Ok(self.event_col(agg))
    }

    /// `min`, `max`, `abs`, `floor`, `round`.
    fn function(&mut self, e: &Expr, o: u32, cx: Ctx, lets: &[Named]) -> R<DExpr> {
        Ok(match e {
            Expr::Min(xs) | Expr::Max(xs) => {
                // Null if any argument is null, like the reference.
                let f = if matches!(e, Expr::Min(_)) {
                    "hq_min"
                } else {
                    "hq_max"
                };
                let mut args = xs.iter();
                let mut acc = match args.next() {
                    Some(x) => self.cx(x, o, cx, lets)?,
                    None => return Err("min/max of nothing".into()),
                };
                for x in args {
                    let v = self.cx(x, o, cx, lets)?;
                    acc = self.udf(f, vec![acc, v]);
                }
                acc
            }
            Expr::Abs(x) => {
                let v = self.cx(x, o, cx, lets)?;
                when(
                    v.clone().lt(dlit(Decimal::ZERO)),
                    DExpr::Negative(Box::new(v.clone())),
                )
                .otherwise(v)
                .map_err(Error::engine)?
            }
            Expr::Floor(x) => {
                let v = self.cx(x, o, cx, lets)?;
                self.udf("hq_floor", vec![v])
            }
            Expr::Round(x, u) => {
                let v = self.cx(x, o, cx, lets)?;
                self.round(v, *u)
            }
            _ => return Err(Error::engine(format!("{e:?} is not a function"))),
        })
    }

    pub fn round(&self, v: DExpr, r: money::Rounding) -> DExpr {
        self.udf(&crate::udf::round_name(r), vec![v])
    }

    /// A record's last valid day: its `until`, else (a declared `valid` duration) its date
    /// shifted by the duration less a day, as `Fact::until_of`.
    pub fn until_of(&self, validity: Option<Validity>) -> DExpr {
        let until = c(huiqi_files::snapshot::col::UNTIL);
        match validity {
            Some(Validity::For { months, days }) => datafusion::functions::expr_fn::coalesce(vec![
                until,
                self.udf(
                    "hq_shift_date",
                    vec![
                        c(huiqi_files::snapshot::col::DATE),
                        lit(months),
                        lit(days - 1),
                    ],
                ),
            ]),
            _ => until,
        }
    }

    pub fn null_dec(&self) -> DExpr {
        null_dec()
    }
    pub fn dlit(&self, d: Decimal) -> DExpr {
        dlit(d)
    }
}

use huiqi_ir::money;
