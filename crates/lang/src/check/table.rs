//! Tier tables, declared (`table`) or inline (`tiers`): constant bounds of one unit, values of
//! one type, no empty interval, and adjacent tiers that neither overlap nor leave a gap.

use super::*;

/// The units found so far in a table: of its bounds (`input`) and of its values (`output`).
#[derive(Default)]
struct Units {
    input: Option<Ty>,
    output: Option<Ty>,
}

impl Checker<'_> {
    pub(super) fn check_table_input(&self, tid: TableId, t: Ty, span: Span) -> R<()> {
        let want = self.tables[tid].input;
        if t == want || (t != Ty::Money && want != Ty::Money && t.is_numeric()) {
            return Ok(());
        }
        Err(self.type_mismatch(
            span,
            &ty_name(Some(&self.enums), want),
            &ty_name(Some(&self.enums), want),
            t,
            "档位表的区间与查表值须同一单位",
            "the table's bounds and the looked-up value need the same unit",
        ))
    }

    /// Lowers tier arms into a table; checks bounds, overlaps and gaps.
    pub(super) fn lower_table(
        &mut self,
        name: String,
        arms: &[ast::TierArmAst],
        sc: &Scope,
        span: Span,
        out_want: Option<Ty>,
    ) -> R<TableId> {
        if arms.is_empty() {
            return Err(err(
                "E0501",
                span,
                "档位表没有任何档位",
                "the table has no tiers",
                "至少写一档：[下限, 上限) => 金额",
                "write at least one tier: [lo, hi) => amount",
            ));
        }
        let mut units = Units::default();
        let mut ir_arms: Vec<TierArm> = Vec::new();
        for arm in arms {
            ir_arms.push(self.lower_arm(arm, sc, &mut units, out_want)?);
        }
        check_order(&ir_arms, arms)?;
        // Every arm is computed where the table is used.
        let w = weight::merge(ir_arms.iter().map(|a| self.weigh(&a.value, sc)));
        weight::check_weight(w, span)?;
        self.table_weights.push(w);
        self.tables.push(Table {
            name: name.clone(),
            input: units.input.unwrap_or(Ty::Money),
            output: units.output.unwrap_or(Ty::Money),
            arms: ir_arms,
        });
        let id = self.tables.len() - 1;
        self.table_idx.entry(name).or_insert(id);
        Ok(id)
    }

    fn lower_arm(
        &mut self,
        arm: &ast::TierArmAst,
        sc: &Scope,
        units: &mut Units,
        out_want: Option<Ty>,
    ) -> R<TierArm> {
        let iv = &arm.interval;
        let lo = self.bound(&iv.lo, sc, units)?;
        let hi = match &iv.hi {
            Some(h) => Some(self.bound(h, sc, units)?),
            None => None,
        };
        let value = self.arm_value(&arm.value, sc, units, out_want)?;
        if let Some(h) = hi {
            if h < lo || (h == lo && !(iv.lo_inclusive && iv.hi_inclusive)) {
                return Err(err(
                    "E0503",
                    iv.span,
                    "区间的下限大于上限（空区间）",
                    "the interval's lower bound is above its upper bound (empty interval)",
                    "区间写作 [下限, 上限)，下限在前",
                    "write [lo, hi) with the lower bound first",
                ));
            }
        }
        Ok(TierArm {
            lo: Bound {
                value: lo,
                inclusive: iv.lo_inclusive,
            },
            hi: hi.map(|h| Bound {
                value: h,
                inclusive: iv.hi_inclusive,
            }),
            value,
            label: self.text(iv.span),
        })
    }

    /// A bound: a constant in the unit of the table's other bounds.
    fn bound(&mut self, e: &ast::Expr, sc: &Scope, units: &mut Units) -> R<Decimal> {
        let (x, t) = self.lower(e, sc, units.input)?;
        let Some(v) = const_value(&x).and_then(|v| v.num()) else {
            return Err(err(
                "E0502",
                e.span,
                "档位的上下限须为常量",
                "tier bounds must be constants",
                "例如 [100亿, 500亿)",
                "e.g. [100亿, 500亿)",
            ));
        };
        match units.input {
            None => units.input = Some(t),
            Some(it) if it == t || (it != Ty::Money && t != Ty::Money) => {}
            Some(it) => {
                return Err(self.type_mismatch(
                    e.span,
                    &ty_name(None, it),
                    &ty_name(None, it),
                    t,
                    "同一张表的区间须同一单位",
                    "all bounds of a table need one unit",
                ))
            }
        }
        Ok(v)
    }

    /// An arm's value, of the type of the arms before it; a bare `0` in a money table is money.
    fn arm_value(
        &mut self,
        e: &ast::Expr,
        sc: &Scope,
        units: &mut Units,
        out_want: Option<Ty>,
    ) -> R<Expr> {
        let (v, vt) = self.lower(e, sc, units.output.or(out_want))?;
        let vt = match units.output {
            None => vt,
            Some(ot) => {
                let prev = Expr::Lit(Value::Missing);
                self.unify(prev, ot, v.clone(), vt, e.span)?.2
            }
        };
        units.output = Some(vt);
        match v {
            Expr::Lit(Value::Count(d)) if vt == Ty::Money && d.is_zero() => {
                Ok(Expr::Lit(Value::Money(Decimal::ZERO)))
            }
            v => Ok(v),
        }
    }
}

/// Overlaps and gaps, in written order (tiers are written ascending).
fn check_order(ir_arms: &[TierArm], arms: &[ast::TierArmAst]) -> R<()> {
    for (i, w) in ir_arms.windows(2).enumerate() {
        let (a, b) = (&w[0], &w[1]);
        let sp = arms[i + 1].interval.span;
        let Some(ahi) = a.hi else {
            return Err(err(
                "E0504",
                sp,
                "此档位永远不会命中：前一档已到 ∞",
                "this tier is unreachable: the previous tier runs to ∞",
                "∞ 只能用于最后一档；请按从低到高排列档位",
                "only the last tier may run to ∞; order tiers from low to high",
            ));
        };
        let overlap =
            b.lo.value < ahi.value || (b.lo.value == ahi.value && b.lo.inclusive && ahi.inclusive);
        if overlap {
            return Err(err(
                "E0505",
                sp,
                format!("档位重叠：{} 与 {} 有交集", a.label, b.label),
                format!("tiers overlap: {} and {}", a.label, b.label),
                "相邻档位首尾相接，例如 [100亿, 500亿) 之后是 [500亿, 1000亿)",
                "adjacent tiers must meet exactly, e.g. [100亿, 500亿) then [500亿, 1000亿)",
            ));
        }
        let gap = b.lo.value > ahi.value || (!b.lo.inclusive && !ahi.inclusive);
        if gap {
            return Err(err(
                "E0506",
                sp,
                format!("档位之间有空档：{} 与 {} 之间的值不属于任何一档", a.label, b.label),
                format!("gap between tiers: values between {} and {} fall in no tier", a.label, b.label),
                "让下一档的下限等于上一档的上限，并使一端闭合，例如 [100亿, 500亿) 与 [500亿, 1000亿)",
                "start the next tier at the previous upper bound with one side closed, e.g. [100亿, 500亿) and [500亿, 1000亿)",
            ));
        }
    }
    Ok(())
}
