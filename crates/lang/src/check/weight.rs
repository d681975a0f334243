//! How tall and how large an expression is with its lets and tables expanded. Both evaluators
//! evaluate a let or a table's arms where they are used (the reference evaluator recursing into
//! them, the columnar compiler inlining them), so a chain of lets each using the one before is
//! as deep for them as one long expression, and a let used twice by each of a chain of lets
//! doubles with every link. The parser bounds each expression; this bounds what they become.

use super::*;
use crate::parser::MAX_HEIGHT;

/// At most this many nodes once lets and tables are expanded (the seed pack's largest has 27).
pub const MAX_EXPANDED_NODES: u64 = 10_000;

/// Height and node count of an expanded expression.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Weight {
    pub(super) height: u32,
    pub(super) nodes: u64,
    /// Built on a let already reported as too large (its uses are not reported again).
    pub(super) over: bool,
}

impl Weight {
    fn leaf() -> Weight {
        Weight {
            height: 1,
            nodes: 1,
            over: false,
        }
    }

    /// The same size, marked as already reported.
    pub(super) fn reported(self) -> Weight {
        Weight { over: true, ..self }
    }
}

/// Side by side: the tallest and all the nodes (a table's arms, all computed where it is used).
pub(super) fn merge(ws: impl IntoIterator<Item = Weight>) -> Weight {
    ws.into_iter().fold(Weight::default(), |w, c| Weight {
        height: w.height.max(c.height),
        nodes: w.nodes.saturating_add(c.nodes),
        over: w.over || c.over,
    })
}

/// A node over `children`.
fn over(children: impl IntoIterator<Item = Weight>) -> Weight {
    let c = merge(children);
    Weight {
        height: c.height.saturating_add(1),
        nodes: c.nodes.saturating_add(1),
        over: c.over,
    }
}

/// The weight of `e`, given the weights of the lets (`Expr::Local`) and tables it may use.
/// Recurses once per level of `e` itself, which the parser keeps shallow.
pub(super) fn weight(e: &Expr, lets: &[Weight], tables: &[Weight]) -> Weight {
    let w = |x: &Expr| weight(x, lets, tables);
    match e {
        Expr::Lit(_)
        | Expr::Fact(_)
        | Expr::Param(_)
        | Expr::Issued(..)
        | Expr::IssuedBefore(_)
        | Expr::Occurred(..)
        | Expr::DateOf(..)
        | Expr::Total(_)
        | Expr::Latest(_)
        | Expr::Awarded(_)
        | Expr::PeriodStart
        | Expr::PeriodEnd
        | Expr::Field(_)
        | Expr::Held(_, _, None) => Weight::leaf(),
        Expr::Records { filter, body, .. } => over(filter.iter().chain(body.iter()).map(|x| w(x))),
        Expr::Local(i) => over(lets.get(*i).copied()),
        Expr::Table(t, x) => over([tables.get(*t).copied().unwrap_or_default(), w(x)]),
        Expr::Not(x)
        | Expr::Neg(x)
        | Expr::In(x, _, _)
        | Expr::Prev(x, _)
        | Expr::Growth(x)
        | Expr::Cagr(x, _)
        | Expr::AggBefore(_, x)
        | Expr::FirstTime(x)
        | Expr::EverBefore(x)
        | Expr::Consecutive(x, _)
        | Expr::Abs(x)
        | Expr::Floor(x)
        | Expr::Round(x, _)
        | Expr::ShiftDate(x, _, _)
        | Expr::Held(_, _, Some(x)) => over([w(x)]),
        Expr::DaysBetween(a, b) | Expr::MonthsBetween(a, b) => over([w(a), w(b)]),
        Expr::YearOf(x) => over([w(x)]),
        // The columnar engine compiles x once for every year it can reach.
        Expr::AtYear(x, y) => {
            let wx = w(x);
            let copies = u64::from(AT_YEAR_REACH) + 1;
            over([
                Weight {
                    nodes: wx.nodes.saturating_mul(copies),
                    ..wx
                },
                w(y),
            ])
        }
        Expr::Bin(_, a, b) => over([w(a), w(b)]),
        Expr::If(c, a, b) => over([w(c), w(a), w(b)]),
        Expr::Min(xs) | Expr::Max(xs) => over(xs.iter().map(w)),
    }
}

/// E0415 or E0416 at `span` when `w` is over the limits.
pub(super) fn check_weight(w: Weight, span: Span) -> R<()> {
    if w.over {
        return Err(err(CASCADE, span, "", "", "", ""));
    }
    if w.height > MAX_HEIGHT {
        return Err(err(
            "E0415",
            span,
            format!(
                "表达式展开 let 与档位表后有 {} 层，超过上限 {MAX_HEIGHT} 层",
                w.height
            ),
            format!(
                "with its lets and tables expanded this expression is {} levels deep, more than {MAX_HEIGHT}",
                w.height
            ),
            "计算时 let 和档位表在使用处展开：减少 let 之间、表之间的层层引用，或用括号把长的算式分组",
            "lets and tables are expanded where they are used: make fewer lets or tables build on one another, or group long chains with parentheses",
        ));
    }
    if w.nodes > MAX_EXPANDED_NODES {
        return Err(err(
            "E0416",
            span,
            format!(
                "表达式展开 let 与档位表后有 {} 个节点，超过上限 {MAX_EXPANDED_NODES} 个",
                w.nodes
            ),
            format!(
                "with its lets and tables expanded this expression has {} nodes, more than {MAX_EXPANDED_NODES}",
                w.nodes
            ),
            "计算时 let 在每个使用处重新展开：一个 let 经由其他 let 被成倍重复引用时，请简化算式",
            "a let is expanded wherever it is used: simplify formulas that reach one let through other lets many times over",
        ));
    }
    Ok(())
}
