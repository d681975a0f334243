//! Clause results as columns: each condition its own boolean column, then per tranche an exact
//! amount (rounded, capped) and the reason when it is zero — the same rules as
//! `huiqi_eval::clause`, written as expressions.

use datafusion::logical_expr::Expr as DExpr;
use datafusion::prelude::*;
use datafusion::scalar::ScalarValue;
use huiqi_ir::reason::{self, ReasonKind};
use huiqi_ir::Expr;
use huiqi_ir::*;
use rust_decimal::Decimal;

use crate::compile::{colref as c, days, Compiler, Ctx, EventAgg};

/// One output slot: a (clause, tranche) with its columns.
#[derive(Clone, Debug)]
pub struct Slot {
    pub clause: ClauseId,
    pub tranche: String,
    pub amount: String,
    /// The amount in 分 when a finish computed it (`udf::finish_fields`); otherwise stage 0
    /// converts `amount`.
    pub fen: Option<String>,
    pub reason: String,
    /// Column that says whether this slot is a row of the result (schedules); None: always.
    pub present: Option<String>,
}

pub struct Plan {
    /// (column name, expression), in dependency order.
    pub columns: Vec<(String, DExpr)>,
    pub slots: Vec<Slot>,
    /// Exclusion rule k matched: column `x{k}`.
    pub excludes: Vec<String>,
    /// Per select: its score, then its tie keys, each an exact key over leaf columns.
    pub selects: Vec<Vec<crate::rank::Key>>,
    /// Per pool ranked by score: the score.
    pub pool_scores: Vec<Option<crate::rank::Key>>,
    /// Per firm cap over several years: column `fcr{k}`, the room left this period in 分
    /// (Int64) — the limit less the award history of the years before, within 0 ..= limit.
    pub cap_rooms: Vec<Option<String>>,
    /// Per group cap: column `gcg{k}`, the firm's group (the text fact's value, null: none),
    /// and the exact key of its serving order (None: by the covered amount).
    pub group_caps: Vec<(String, Option<crate::rank::Key>)>,
}

use crate::error::Error;

type R<T> = crate::error::Result<T>;

fn e<T, E: std::fmt::Display>(r: Result<T, E>) -> R<T> {
    r.map_err(Error::engine)
}

/// No reason (a reason column is an Int32 code, see `Compiler::reason`).
fn null_str() -> DExpr {
    lit(ScalarValue::Int32(None))
}

struct Finish {
    amount: DExpr,
    reason: DExpr,
    /// The amount in 分.
    fen: DExpr,
}

impl Compiler<'_> {
    /// Rounding, clause cap and total cap, like `finish` in the reference; `used` is what earlier
    /// tranches of this clause took in this period. One kernel per slot
    /// (`udf::finish_udf`) makes a struct column of the amount and the reason.
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &self,
        cols: &mut Vec<(String, DExpr)>,
        tag: &str,
        cl: &Clause,
        raw: DExpr,
        used: DExpr,
        awarded: DExpr,
        fail: DExpr,
    ) -> R<Finish> {
        let raw_name = format!("{tag}_raw");
        let scaled = |d: Decimal| {
            huiqi_ir::money::to_scaled(d).ok_or_else(|| format!("{}: cap out of range", cl.name))
        };
        let spec = crate::udf::FinishSpec {
            unit: cl.rounding,
            cap: cl
                .cap
                .as_ref()
                .map(|q| scaled(self.p.figure(q, self.year)))
                .transpose()?,
            total_cap: cl
                .total_cap
                .as_ref()
                .map(|q| scaled(self.p.figure(q, self.year)))
                .transpose()?,
            miss_amount: self.reason_code_of(ReasonKind::Missing, reason::AMOUNT),
            totalcap: self.reason_code_of(ReasonKind::TotalCap, ""),
            zero: self.reason_code_of(ReasonKind::ZeroAmount, ""),
            overflow: crate::allocate::OVERFLOW_CODE,
        };
        let (f, args) = match crate::udf::as_tiers(&raw) {
            // A tier table's amounts are finished in the table's own kernel.
            Some((tiers, mut args)) => {
                args.extend([used, awarded, fail]);
                (crate::udf::tier_finish_udf(tag, tiers, spec), args)
            }
            None => {
                cols.push((raw_name.clone(), raw));
                let args = vec![c(&raw_name), used, awarded, fail];
                (crate::udf::finish_udf(tag, spec), args)
            }
        };
        let both = format!("{tag}_f");
        cols.push((
            both.clone(),
            DExpr::ScalarFunction(datafusion::logical_expr::expr::ScalarFunction::new_udf(
                std::sync::Arc::new(f),
                args,
            )),
        ));
        Ok(Finish {
            amount: self.udf("hq_finish_amount", vec![c(&both)]),
            reason: self.udf("hq_finish_reason", vec![c(&both)]),
            fen: self.udf("hq_finish_fen", vec![c(&both)]),
        })
    }

    /// The first failed condition's reason (null when all hold), as one kernel.
    fn fail_reason(&mut self, tag: &str, conds: &[(String, DExpr)]) -> R<DExpr> {
        if conds.is_empty() {
            return Ok(null_str());
        }
        let codes = conds
            .iter()
            .map(|(n, _)| {
                (
                    self.reason_code_of(ReasonKind::Missing, n),
                    self.reason_code_of(ReasonKind::Condition, n),
                )
            })
            .collect();
        let f = crate::udf::first_fail_udf(&format!("hq_fail_{tag}"), codes);
        Ok(DExpr::ScalarFunction(
            datafusion::logical_expr::expr::ScalarFunction::new_udf(
                std::sync::Arc::new(f),
                conds.iter().map(|(_, x)| x.clone()).collect(),
            ),
        ))
    }

    /// Compiles every clause and rule of the program into named columns.
    pub fn plan(&mut self) -> R<Plan> {
        let p = self.p;
        let y = self.year;
        let mut columns: Vec<(String, DExpr)> = vec![];
        let mut slots = vec![];
        for (ci, cl) in p.clauses.iter().enumerate() {
            let out_of_window =
                cl.window.1 < Date::year_start(y) || cl.window.0 > Date::year_end(y);
            if out_of_window {
                self.plan_out_of_window(ci, cl, &mut columns, &mut slots);
                continue;
            }
            let cc = self.plan_conditions(ci, cl, &mut columns)?;
            match &cl.body {
                ClauseBody::Amount(a) => self.plan_amount(&cc, a, &mut columns, &mut slots)?,
                ClauseBody::Tranches(ts) => {
                    self.plan_tranches(&cc, ts, &mut columns, &mut slots)?
                }
                ClauseBody::Schedule(sc) => {
                    self.plan_schedule(&cc, sc, &mut columns, &mut slots)?
                }
            }
        }
        let (excludes, selects, pool_scores) = self.plan_rules(&mut columns)?;
        let cap_rooms = self.plan_cap_rooms(&mut columns);
        let group_caps = self.plan_group_caps(&mut columns)?;
        Ok(Plan {
            columns,
            slots,
            excludes,
            selects,
            pool_scores,
            cap_rooms,
            group_caps,
        })
    }

    /// A clause whose window misses the period: every tranche 0 with reason `window`.
    fn plan_out_of_window(
        &self,
        ci: ClauseId,
        cl: &Clause,
        columns: &mut Vec<(String, DExpr)>,
        slots: &mut Vec<Slot>,
    ) {
        let names: Vec<String> = match &cl.body {
            ClauseBody::Amount(_) | ClauseBody::Schedule(_) => vec![String::new()],
            ClauseBody::Tranches(ts) => ts.iter().map(|t| t.name.clone()).collect(),
        };
        for (k, tn) in names.into_iter().enumerate() {
            let (a, r) = (format!("c{ci}_{k}_a"), format!("c{ci}_{k}_r"));
            columns.push((a.clone(), self.dlit(Decimal::ZERO)));
            columns.push((r.clone(), self.reason(ReasonKind::OutOfWindow, "")));
            slots.push(Slot {
                clause: ci,
                tranche: tn,
                amount: a,
                fen: None,
                reason: r,
                present: None,
            });
        }
    }

    /// A clause's own conditions (a column each), its first failure and, for a total cap or a
    /// schedule, what it awarded before.
    fn plan_conditions<'c>(
        &mut self,
        ci: ClauseId,
        cl: &'c Clause,
        columns: &mut Vec<(String, DExpr)>,
    ) -> R<ClauseCx<'c>> {
        let lets = cl.lets.clone();
        let mut conds = vec![];
        for (k, r) in cl.requires.iter().enumerate() {
            let x = self.cx(&r.expr, 0, Ctx::Target, &lets)?;
            let name = format!("c{ci}_q{k}");
            columns.push((name.clone(), x));
            conds.push((r.name.clone(), c(&name)));
        }
        let fail = self.fail_reason(&format!("c{ci}"), &conds)?;
        let failname = format!("c{ci}_fail");
        columns.push((failname.clone(), fail));
        // What this clause awarded before: only needed for a total cap or a schedule.
        let needs_awarded = cl.total_cap.is_some() || matches!(cl.body, ClauseBody::Schedule(_));
        let awarded = if !needs_awarded {
            self.dlit(Decimal::ZERO)
        } else {
            let x = self.cx(&Expr::Awarded(ci), 0, Ctx::Target, &lets)?;
            let n = format!("c{ci}_awarded");
            columns.push((n.clone(), x));
            c(&n)
        };
        Ok(ClauseCx {
            ci,
            cl,
            lets,
            conds,
            fail: c(&failname),
            awarded,
        })
    }

    /// A clause with one amount: one slot, finished.
    fn plan_amount(
        &mut self,
        cc: &ClauseCx<'_>,
        a: &Named,
        columns: &mut Vec<(String, DExpr)>,
        slots: &mut Vec<Slot>,
    ) -> R<()> {
        let ci = cc.ci;
        let raw = self.cx(&a.expr, 0, Ctx::Target, &cc.lets)?;
        let f = self.finish(
            columns,
            &format!("c{ci}_0"),
            cc.cl,
            raw,
            self.dlit(Decimal::ZERO),
            cc.awarded.clone(),
            cc.fail.clone(),
        )?;
        let (an, rn, fenn) = (
            format!("c{ci}_0_a"),
            format!("c{ci}_0_r"),
            format!("c{ci}_0_fen"),
        );
        columns.push((an.clone(), f.amount));
        columns.push((rn.clone(), f.reason));
        columns.push((fenn.clone(), f.fen));
        slots.push(Slot {
            clause: ci,
            tranche: String::new(),
            amount: an,
            fen: Some(fenn),
            reason: rn,
            present: None,
        });
        Ok(())
    }

    /// A clause in tranches: each with its own conditions after the clause's, finished against
    /// what the earlier tranches used.
    fn plan_tranches(
        &mut self,
        cc: &ClauseCx<'_>,
        ts: &[Tranche],
        columns: &mut Vec<(String, DExpr)>,
        slots: &mut Vec<Slot>,
    ) -> R<()> {
        let ci = cc.ci;
        let mut used = self.dlit(Decimal::ZERO);
        for (k, t) in ts.iter().enumerate() {
            let mut tconds = vec![];
            for (j, r) in t.requires.iter().enumerate() {
                let x = self.cx(&r.expr, 0, Ctx::Target, &cc.lets)?;
                let name = format!("c{ci}_t{k}_q{j}");
                columns.push((name.clone(), x));
                tconds.push((r.name.clone(), c(&name)));
            }
            // The clause's conditions first, then the tranche's: the first failure.
            let all: Vec<_> = cc.conds.iter().chain(&tconds).cloned().collect();
            let both = self.fail_reason(&format!("c{ci}_t{k}"), &all)?;
            let raw = self.cx(&t.amount.expr, 0, Ctx::Target, &cc.lets)?;
            let f = self.finish(
                columns,
                &format!("c{ci}_{k}"),
                cc.cl,
                raw,
                used.clone(),
                cc.awarded.clone(),
                both,
            )?;
            let (an, rn, fenn) = (
                format!("c{ci}_{k}_a"),
                format!("c{ci}_{k}_r"),
                format!("c{ci}_{k}_fen"),
            );
            columns.push((an.clone(), f.amount));
            columns.push((rn.clone(), f.reason));
            columns.push((fenn.clone(), f.fen));
            used = used + c(&an);
            slots.push(Slot {
                clause: ci,
                tranche: t.name.clone(),
                amount: an,
                fen: Some(fenn),
                reason: rn,
                present: None,
            });
        }
        Ok(())
    }

    /// A schedule: a slot per stage reached in the period (each paying its amount, or what the
    /// cumulative amount adds to what was paid or forfeited before), and the empty slot for
    /// "nothing this period" or a failed condition.
    fn plan_schedule(
        &mut self,
        cc: &ClauseCx<'_>,
        sc: &Schedule,
        columns: &mut Vec<(String, DExpr)>,
        slots: &mut Vec<Slot>,
    ) -> R<()> {
        let p = self.p;
        let y = self.year;
        let (ci, cl) = (cc.ci, cc.cl);
        let (fail, awarded) = (cc.fail.clone(), cc.awarded.clone());
        let zero = self.dlit(Decimal::ZERO);
        let fact = p.facts[sc.fact].name.clone();
        let stage_names = p
            .enum_names(p.facts[sc.fact].ty)
            .map(|n| n.to_vec())
            .unwrap_or_default();
        let stage_name = |v: u32| stage_names.get(v as usize).cloned().unwrap_or_default();
        let cutoff = days(cl.window.0);
        let lo = days(cl.window.0.max(Date::year_start(y)));
        let hi = days(cl.window.1.min(Date::year_end(y)));
        let date = |d: i32| lit(ScalarValue::Date32(Some(d)));
        let stages = p.stage_amounts(sc, y);
        let cum = |i: usize| -> Decimal {
            match sc.mode {
                ScheduleMode::Cumulative => stages[i].1,
                ScheduleMode::Each => stages[..=i].iter().map(|x| x.1).sum(),
            }
        };
        let mut reached = vec![];
        for (v, _) in &sc.stages {
            let n = format!("e{}", self.events.len());
            self.events.push(EventAgg::FirstDate {
                fact: fact.clone(),
                value: stage_name(*v),
                from: i32::MIN / 2,
                to: i32::MAX / 2,
            });
            reached.push(c(&n));
        }
        let mut forfeited = zero.clone();
        for (i, r) in reached.iter().enumerate() {
            forfeited = e(when(
                r.clone()
                    .lt(date(cutoff))
                    .and(self.dlit(cum(i)).gt(forfeited.clone())),
                self.dlit(cum(i)),
            )
            .otherwise(forfeited))?;
        }
        let mut base = match sc.mode {
            ScheduleMode::Cumulative => awarded.clone() + forfeited,
            ScheduleMode::Each => awarded.clone(),
        };
        let mut used = zero.clone();
        let mut any = lit(false);
        let first_stage = slots.len();
        for (i, (v, amt)) in stages.iter().enumerate() {
            let payable = reached[i]
                .clone()
                .is_not_null()
                .and(reached[i].clone().gt_eq(date(lo)))
                .and(reached[i].clone().lt_eq(date(hi)));
            let pn = format!("c{ci}_{}_p", i + 1);
            columns.push((pn.clone(), payable));
            let raw = match sc.mode {
                ScheduleMode::Each => self.dlit(*amt),
                ScheduleMode::Cumulative => {
                    let d = self.dlit(*amt) - base.clone();
                    e(when(d.clone().lt(zero.clone()), zero.clone()).otherwise(d))?
                }
            };
            if sc.mode == ScheduleMode::Cumulative {
                let bn = format!("c{ci}_{}_base", i + 1);
                let next = e(when(
                    c(&pn).and(self.dlit(*amt).gt(base.clone())),
                    self.dlit(*amt),
                )
                .otherwise(base.clone()))?;
                columns.push((bn.clone(), next));
                base = c(&bn);
            }
            let f = self.finish(
                columns,
                &format!("c{ci}_{}", i + 1),
                cl,
                raw,
                used.clone(),
                awarded.clone(),
                null_str(),
            )?;
            let (an, rn) = (format!("c{ci}_{}_a", i + 1), format!("c{ci}_{}_r", i + 1));
            columns.push((
                an.clone(),
                e(when(c(&pn).and(fail.clone().is_null()), f.amount).otherwise(zero.clone()))?,
            ));
            columns.push((rn.clone(), f.reason));
            used = used + c(&an);
            any = any.or(c(&pn));
            slots.push(Slot {
                clause: ci,
                tranche: stage_name(*v),
                amount: an,
                fen: None,
                reason: rn,
                present: Some(pn),
            });
        }
        // The empty tranche stands for "nothing this period" (or a failed condition).
        let (an, rn, pn) = (
            format!("c{ci}_0_a"),
            format!("c{ci}_0_r"),
            format!("c{ci}_0_p"),
        );
        columns.push((pn.clone(), fail.clone().is_not_null().or(any.not())));
        columns.push((an.clone(), zero));
        columns.push((
            rn.clone(),
            e(when(fail.clone().is_not_null(), fail.clone())
                .otherwise(self.reason(ReasonKind::ZeroAmount, "")))?,
        ));
        // Stage slots only exist when the clause did not fail.
        for sl in &mut slots[first_stage..] {
            if let Some(pres) = sl.present.take() {
                let gated = format!("{pres}g");
                columns.push((gated.clone(), c(&pres).and(fail.clone().is_null())));
                sl.present = Some(gated);
            }
        }
        slots.push(Slot {
            clause: ci,
            tranche: String::new(),
            amount: an,
            fen: None,
            reason: rn,
            present: Some(pn),
        });
        Ok(())
    }

    /// The cross-clause rules' columns: whether each negative list matched, and the leaves of
    /// each select's score and ties and of each pool's score (ranked exactly: `rank.rs`).
    #[allow(clippy::type_complexity)]
    fn plan_rules(
        &mut self,
        columns: &mut Vec<(String, DExpr)>,
    ) -> R<(
        Vec<String>,
        Vec<Vec<crate::rank::Key>>,
        Vec<Option<crate::rank::Key>>,
    )> {
        let p = self.p;
        let mut excludes = vec![];
        for (k, x) in p.excludes.iter().enumerate() {
            let v = self.cx(&x.cond.expr, 0, Ctx::Target, &[])?;
            let n = format!("x{k}");
            columns.push((
                n.clone(),
                datafusion::functions::expr_fn::coalesce(vec![v, lit(false)]),
            ));
            excludes.push(n);
        }
        let mut selects = vec![];
        for (k, sel) in p.selects.iter().enumerate() {
            let mut keys =
                vec![self.rank_key(&sel.score.expr, Order::Desc, &format!("sel{k}"), columns)?];
            for (j, (t, ord)) in sel.tie.iter().enumerate() {
                keys.push(self.rank_key(&t.expr, *ord, &format!("sel{k}_t{j}"), columns)?);
            }
            selects.push(keys);
        }
        let mut pool_scores = vec![];
        for (k, pool) in p.pools.iter().enumerate() {
            match &pool.method {
                PoolMethod::ByScore(n, ord) => {
                    pool_scores.push(Some(self.rank_key(
                        &n.expr,
                        *ord,
                        &format!("pool{k}"),
                        columns,
                    )?));
                }
                PoolMethod::ProRata => pool_scores.push(None),
            }
        }
        Ok((excludes, selects, pool_scores))
    }

    /// Per firm cap over several years, the room it leaves this period (`Plan::cap_rooms`),
    /// as the reference's `alloc::cap_used`: history of the clauses it covers in the years before.
    fn plan_cap_rooms(&mut self, columns: &mut Vec<(String, DExpr)>) -> Vec<Option<String>> {
        let p = self.p;
        let mut rooms = vec![];
        for (k, cap) in p.firm_caps.iter().enumerate() {
            if cap.years <= 1 {
                rooms.push(None);
                continue;
            }
            let limit = self.dlit(p.figure(&cap.limit, self.year));
            let used =
                self.award_window(self.year - (cap.years as i32 - 1), self.year, &cap.priority);
            let left = self.udf("hq_sub", vec![limit.clone(), used]);
            let room = self.udf("hq_max", vec![left, self.dlit(Decimal::ZERO)]);
            let room = self.udf("hq_min", vec![room, limit]);
            let name = format!("fcr{k}");
            columns.push((name.clone(), self.udf("hq_fen", vec![room])));
            rooms.push(Some(name));
        }
        rooms
    }

    /// Per group cap, the firm's group and its serving key (`Plan::group_caps`).
    fn plan_group_caps(
        &mut self,
        columns: &mut Vec<(String, DExpr)>,
    ) -> R<Vec<(String, Option<crate::rank::Key>)>> {
        let p = self.p;
        let mut out = vec![];
        for (k, cap) in p.group_caps.iter().enumerate() {
            let g = self.cx(&Expr::Fact(cap.by), 0, Ctx::Target, &[])?;
            let name = format!("gcg{k}");
            columns.push((name.clone(), g));
            let key = match &cap.order {
                GroupOrder::Key(n, ord) => {
                    Some(self.rank_key(&n.expr, *ord, &format!("gc{k}"), columns)?)
                }
                GroupOrder::Amount(_) => None,
            };
            out.push((name, key));
        }
        Ok(out)
    }

    /// An exact ranking key: its leaves as columns `{prefix}_l{i}`.
    fn rank_key(
        &mut self,
        e: &Expr,
        order: Order,
        prefix: &str,
        columns: &mut Vec<(String, DExpr)>,
    ) -> R<crate::rank::Key> {
        let score = huiqi_ir::exact::Score::new(e);
        let mut cols = vec![];
        for (i, leaf) in score.leaves.iter().enumerate() {
            let x = self.cx(leaf, 0, Ctx::Target, &[])?;
            let name = format!("{prefix}_l{i}");
            columns.push((name.clone(), x));
            cols.push(name);
        }
        Ok(crate::rank::Key { score, cols, order })
    }
}

/// What every part of a clause's plan reads: the clause, its lets, its conditions' columns,
/// the column of its first failed condition and what it awarded before.
struct ClauseCx<'c> {
    ci: ClauseId,
    cl: &'c Clause,
    lets: Vec<Named>,
    conds: Vec<(String, DExpr)>,
    fail: DExpr,
    awarded: DExpr,
}
