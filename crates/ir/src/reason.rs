//! Why an entitlement is zero or was cut: the one vocabulary both engines, the explanations and
//! the checker share. Each kind has a stable numeric code, the text a results file carries
//! (`cond:名称`, `window`, `select:规则` …), its Chinese and English explanation, and — for the
//! kinds a test may name without a rule or condition — its built-in name (数据缺失 …).

use serde::Serialize;

/// The name of the pseudo-condition an amount that cannot be computed fails
/// (`Reason::Condition { name: "amount", missing: true }`, `miss:amount` in results).
pub const AMOUNT: &str = "amount";

/// The built-in reason names an `expect … because X` may use besides condition and rule names
/// (`ReasonKind::builtin_name`).
pub const MISSING: &str = "数据缺失";
pub const WINDOW: &str = "有效期外";
pub const ZERO: &str = "金额为零";
pub const CAP: &str = "封顶";
pub const TOTAL_CAP: &str = "累计上限";

/// Every built-in reason name, in the order the checker lists them.
pub const BUILTIN_NAMES: [&str; 5] = [MISSING, WINDOW, ZERO, TOTAL_CAP, CAP];

/// Why an entitlement is zero (or was reduced).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// A `require` failed (`missing`: for lack of data).
    Condition {
        name: String,
        missing: bool,
    },
    OutOfWindow,
    ZeroAmount,
    /// The clause's own per-period cap (`cap`).
    ClauseCap,
    TotalCap,
    Excluded {
        rule: String,
    },
    NotSelected {
        rule: String,
        rank: Option<usize>,
        top: u32,
    },
    Exclusive {
        group: String,
        winner: String,
    },
    Pool {
        pool: String,
    },
    FirmCap {
        cap: String,
    },
    /// A cap shared by a group of related firms (`group cap`): the group (the value of its
    /// text fact, or the firm itself) and the members served before this firm with what they
    /// took (credit code or name, 元), in the order served.
    GroupCap {
        cap: String,
        group: String,
        used: Vec<(String, rust_decimal::Decimal)>,
    },
}

/// The kind of a reason, without its particulars. A failed condition is two kinds: not met
/// (`cond:`) and missing data (`miss:`), as the results tell them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum ReasonKind {
    Condition = 1,
    Missing = 2,
    OutOfWindow = 3,
    ZeroAmount = 4,
    ClauseCap = 5,
    TotalCap = 6,
    Excluded = 7,
    NotSelected = 8,
    Exclusive = 9,
    Pool = 10,
    FirmCap = 11,
    GroupCap = 12,
}

impl ReasonKind {
    /// Every kind, in code order.
    pub const ALL: [ReasonKind; 12] = [
        ReasonKind::Condition,
        ReasonKind::Missing,
        ReasonKind::OutOfWindow,
        ReasonKind::ZeroAmount,
        ReasonKind::ClauseCap,
        ReasonKind::TotalCap,
        ReasonKind::Excluded,
        ReasonKind::NotSelected,
        ReasonKind::Exclusive,
        ReasonKind::Pool,
        ReasonKind::FirmCap,
        ReasonKind::GroupCap,
    ];

    /// The stable numeric code of the kind (never 0: 0 is "no reason" wherever codes are stored).
    pub const fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> Option<ReasonKind> {
        ReasonKind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// The results file's text for the kind: the whole text for a kind without a subject
    /// (`window`), else the prefix before `:` and the subject (`cond` in `cond:门槛`).
    pub const fn key(self) -> &'static str {
        match self {
            ReasonKind::Condition => "cond",
            ReasonKind::Missing => "miss",
            ReasonKind::OutOfWindow => "window",
            ReasonKind::ZeroAmount => "zero",
            ReasonKind::ClauseCap => "cap",
            ReasonKind::TotalCap => "totalcap",
            ReasonKind::Excluded => "excl",
            ReasonKind::NotSelected => "select",
            ReasonKind::Exclusive => "exclusive",
            ReasonKind::Pool => "pool",
            ReasonKind::FirmCap => "firmcap",
            ReasonKind::GroupCap => "groupcap",
        }
    }

    /// The kind of a results file's reason text (`cond:门槛` → `Condition`, `window`).
    pub fn of_result_text(text: &str) -> Option<ReasonKind> {
        let key = text.split_once(':').map_or(text, |(k, _)| k);
        ReasonKind::ALL.into_iter().find(|k| k.key() == key)
    }

    /// Whether the firm met the clause's own conditions and this kind cut the amount (a cap,
    /// a ranking, an exclusive group, a pool): a zero for such a reason is a row a person
    /// reads, where a failed condition, missing data, the window, a computed zero or a
    /// negative list is not (`results.csv` keeps only the rows a person reads).
    pub const fn cut_after_qualifying(self) -> bool {
        matches!(
            self,
            ReasonKind::ClauseCap
                | ReasonKind::TotalCap
                | ReasonKind::NotSelected
                | ReasonKind::Exclusive
                | ReasonKind::Pool
                | ReasonKind::FirmCap
                | ReasonKind::GroupCap
        )
    }

    /// Whether the kind names something: a condition, rule, group, pool or cap.
    pub const fn has_subject(self) -> bool {
        !matches!(
            self,
            ReasonKind::OutOfWindow
                | ReasonKind::ZeroAmount
                | ReasonKind::ClauseCap
                | ReasonKind::TotalCap
        )
    }

    /// The text a results file carries for this kind about `subject` (ignored by a kind
    /// without one): `cond:门槛`, `miss:amount`, `window`, `select:遴选` ….
    pub fn result_text(self, subject: &str) -> String {
        if self.has_subject() {
            format!("{}:{subject}", self.key())
        } else {
            self.key().to_string()
        }
    }

    /// The built-in name a test's `because` may use for the kind (数据缺失, 有效期外, 金额为零,
    /// 封顶, 累计上限); None for a kind a test names by its condition or rule.
    pub const fn builtin_name(self) -> Option<&'static str> {
        match self {
            ReasonKind::Missing => Some(MISSING),
            ReasonKind::OutOfWindow => Some(WINDOW),
            ReasonKind::ZeroAmount => Some(ZERO),
            ReasonKind::ClauseCap => Some(CAP),
            ReasonKind::TotalCap => Some(TOTAL_CAP),
            _ => None,
        }
    }

    /// Whether a select or an exclusive group that zeroes a clause names itself instead of a
    /// reason of this kind already there. Only a computed zero gives way (the rule is the
    /// better explanation); a failed condition, the window or a cap stays. (A negative list,
    /// a pool and a firm cap always name themselves.)
    pub const fn yields_to_rule(self) -> bool {
        matches!(self, ReasonKind::ZeroAmount)
    }
}

impl Reason {
    /// The reason an amount that cannot be computed gives (`miss:amount`).
    pub fn missing_amount() -> Reason {
        Reason::Condition {
            name: AMOUNT.into(),
            missing: true,
        }
    }

    pub fn kind(&self) -> ReasonKind {
        match self {
            Reason::Condition { missing: true, .. } => ReasonKind::Missing,
            Reason::Condition { .. } => ReasonKind::Condition,
            Reason::OutOfWindow => ReasonKind::OutOfWindow,
            Reason::ZeroAmount => ReasonKind::ZeroAmount,
            Reason::ClauseCap => ReasonKind::ClauseCap,
            Reason::TotalCap => ReasonKind::TotalCap,
            Reason::Excluded { .. } => ReasonKind::Excluded,
            Reason::NotSelected { .. } => ReasonKind::NotSelected,
            Reason::Exclusive { .. } => ReasonKind::Exclusive,
            Reason::Pool { .. } => ReasonKind::Pool,
            Reason::FirmCap { .. } => ReasonKind::FirmCap,
            Reason::GroupCap { .. } => ReasonKind::GroupCap,
        }
    }

    /// The condition, rule, group, pool or cap the reason names.
    pub fn subject(&self) -> Option<&str> {
        match self {
            Reason::Condition { name, .. } => Some(name),
            Reason::Excluded { rule } | Reason::NotSelected { rule, .. } => Some(rule),
            Reason::Exclusive { group, .. } => Some(group),
            Reason::Pool { pool } => Some(pool),
            Reason::FirmCap { cap } | Reason::GroupCap { cap, .. } => Some(cap),
            Reason::OutOfWindow | Reason::ZeroAmount | Reason::ClauseCap | Reason::TotalCap => None,
        }
    }

    /// The text a results file carries (`cond:门槛`, `window`, `firmcap:上限` …).
    pub fn result_text(&self) -> String {
        self.kind().result_text(self.subject().unwrap_or(""))
    }

    /// The name a test's `because` matches: the condition or rule it names, or its kind's
    /// built-in name (a condition that failed for lack of data is also 数据缺失).
    pub fn matches(&self, name: &str) -> bool {
        self.subject() == Some(name) || self.kind().builtin_name() == Some(name)
    }

    /// The explanation, in Chinese or (`en`) English.
    pub fn text(&self, en: bool) -> String {
        if en {
            self.text_en()
        } else {
            self.text_zh()
        }
    }

    fn text_zh(&self) -> String {
        match self {
            Reason::Condition {
                name,
                missing: true,
            } => format!("数据缺失：{name}"),
            Reason::Condition { name, .. } => format!("不满足条件：{name}"),
            Reason::OutOfWindow => "不在条款有效期内".into(),
            Reason::ZeroAmount => "计算金额为零".into(),
            Reason::ClauseCap => "条款封顶".into(),
            Reason::TotalCap => "已达累计上限".into(),
            Reason::Excluded { rule } => format!("负面清单：{rule}"),
            Reason::NotSelected { rule, rank, top } => match rank {
                Some(r) => format!("{rule}：排名第{r}，名额{top}"),
                None => format!("{rule}：未入选（名额{top}）"),
            },
            Reason::Exclusive { group, winner } => {
                format!("就高不重复（{group}）：已享受 {winner}")
            }
            Reason::Pool { pool } => format!("资金池 {pool} 按比例分配"),
            Reason::FirmCap { cap } => format!("单企业上限 {cap}"),
            Reason::GroupCap { cap, group, used } => {
                let by: Vec<String> = used
                    .iter()
                    .map(|(f, a)| format!("{f} 使用 {}", crate::money::fmt_money_zh(*a)))
                    .collect();
                if by.is_empty() {
                    format!("集团上限 {cap}（{group}）")
                } else {
                    format!("集团上限 {cap}（{group}）：集团额度已由 {}", by.join("、"))
                }
            }
        }
    }

    fn text_en(&self) -> String {
        match self {
            Reason::Condition {
                name,
                missing: true,
            } => format!("missing data: {name}"),
            Reason::Condition { name, .. } => format!("condition not met: {name}"),
            Reason::OutOfWindow => "outside the clause's effective window".into(),
            Reason::ZeroAmount => "the computed amount is zero".into(),
            Reason::ClauseCap => "clause cap".into(),
            Reason::TotalCap => "cumulative cap reached".into(),
            Reason::Excluded { rule } => format!("negative list: {rule}"),
            Reason::NotSelected { rule, rank, top } => match rank {
                Some(r) => format!("{rule}: ranked {r}, {top} places"),
                None => format!("{rule}: not selected ({top} places)"),
            },
            Reason::Exclusive { group, winner } => {
                format!("highest only ({group}): receives {winner} instead")
            }
            Reason::Pool { pool } => format!("budget pool {pool} scaled pro rata"),
            Reason::FirmCap { cap } => format!("per-firm cap {cap}"),
            Reason::GroupCap { cap, group, used } => {
                let by: Vec<String> = used
                    .iter()
                    .map(|(f, a)| format!("{f} ({})", crate::money::fmt_money_en(*a)))
                    .collect();
                if by.is_empty() {
                    format!("group cap {cap} ({group})")
                } else {
                    format!(
                        "group cap {cap} ({group}): the group's room was used by {}",
                        by.join(", ")
                    )
                }
            }
        }
    }

    /// Whether a select or an exclusive group that zeroes the clause names itself instead
    /// (`ReasonKind::yields_to_rule`).
    pub fn yields_to_rule(&self) -> bool {
        self.kind().yields_to_rule()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_of_each() -> Vec<Reason> {
        vec![
            Reason::Condition {
                name: "门槛".into(),
                missing: false,
            },
            Reason::Condition {
                name: "门槛".into(),
                missing: true,
            },
            Reason::OutOfWindow,
            Reason::ZeroAmount,
            Reason::ClauseCap,
            Reason::TotalCap,
            Reason::Excluded {
                rule: "负面".into(),
            },
            Reason::NotSelected {
                rule: "遴选".into(),
                rank: Some(3),
                top: 2,
            },
            Reason::Exclusive {
                group: "就高".into(),
                winner: "条款0".into(),
            },
            Reason::Pool {
                pool: "资金池".into(),
            },
            Reason::FirmCap {
                cap: "上限".into()
            },
            Reason::GroupCap {
                cap: "集团上限".into(),
                group: "甲集团".into(),
                used: vec![("甲一".into(), rust_decimal::Decimal::new(3_200_000, 0))],
            },
        ]
    }

    #[test]
    fn codes_are_stable_and_distinct() {
        let codes: Vec<u8> = ReasonKind::ALL.iter().map(|k| k.code()).collect();
        assert_eq!(codes, (1..=12).collect::<Vec<u8>>());
        for k in ReasonKind::ALL {
            assert_eq!(ReasonKind::from_code(k.code()), Some(k));
        }
        assert_eq!(ReasonKind::from_code(0), None);
        let kinds: Vec<ReasonKind> = one_of_each().iter().map(Reason::kind).collect();
        assert_eq!(kinds, ReasonKind::ALL);
    }

    /// A result text gives its kind back, whatever its subject holds (a `:` included).
    #[test]
    fn a_result_text_names_its_kind() {
        for r in one_of_each() {
            assert_eq!(ReasonKind::of_result_text(&r.result_text()), Some(r.kind()));
        }
        assert_eq!(
            ReasonKind::of_result_text("cond:a:b"),
            Some(ReasonKind::Condition)
        );
        for bad in ["", "conditions", "Cond:x", ":x"] {
            assert_eq!(ReasonKind::of_result_text(bad), None, "{bad}");
        }
        let cut: Vec<&str> = ReasonKind::ALL
            .into_iter()
            .filter(|k| k.cut_after_qualifying())
            .map(ReasonKind::key)
            .collect();
        assert_eq!(
            cut,
            [
                "cap",
                "totalcap",
                "select",
                "exclusive",
                "pool",
                "firmcap",
                "groupcap"
            ]
        );
    }

    #[test]
    fn result_texts_are_the_engines() {
        let texts: Vec<String> = one_of_each().iter().map(Reason::result_text).collect();
        assert_eq!(
            texts,
            [
                "cond:门槛",
                "miss:门槛",
                "window",
                "zero",
                "cap",
                "totalcap",
                "excl:负面",
                "select:遴选",
                "exclusive:就高",
                "pool:资金池",
                "firmcap:上限",
                "groupcap:集团上限"
            ]
        );
        assert_eq!(Reason::missing_amount().result_text(), "miss:amount");
    }

    #[test]
    fn texts_in_both_languages() {
        let zh: Vec<String> = one_of_each().iter().map(|r| r.text(false)).collect();
        let en: Vec<String> = one_of_each().iter().map(|r| r.text(true)).collect();
        assert_eq!(
            zh,
            [
                "不满足条件：门槛",
                "数据缺失：门槛",
                "不在条款有效期内",
                "计算金额为零",
                "条款封顶",
                "已达累计上限",
                "负面清单：负面",
                "遴选：排名第3，名额2",
                "就高不重复（就高）：已享受 条款0",
                "资金池 资金池 按比例分配",
                "单企业上限 上限",
                "集团上限 集团上限（甲集团）：集团额度已由 甲一 使用 320万元"
            ]
        );
        assert_eq!(
            en,
            [
                "condition not met: 门槛",
                "missing data: 门槛",
                "outside the clause's effective window",
                "the computed amount is zero",
                "clause cap",
                "cumulative cap reached",
                "negative list: 负面",
                "遴选: ranked 3, 2 places",
                "highest only (就高): receives 条款0 instead",
                "budget pool 资金池 scaled pro rata",
                "per-firm cap 上限",
                "group cap 集团上限 (甲集团): the group's room was used by 甲一 (320 wan yuan)"
            ]
        );
        let unranked = Reason::NotSelected {
            rule: "遴选".into(),
            rank: None,
            top: 2,
        };
        assert_eq!(unranked.text(false), "遴选：未入选（名额2）");
        assert_eq!(unranked.text(true), "遴选: not selected (2 places)");
    }

    #[test]
    fn names_a_test_may_use() {
        assert_eq!(
            BUILTIN_NAMES,
            ["数据缺失", "有效期外", "金额为零", "累计上限", "封顶"]
        );
        let named: Vec<&str> = ReasonKind::ALL
            .into_iter()
            .filter_map(ReasonKind::builtin_name)
            .collect();
        assert_eq!(
            named,
            ["数据缺失", "有效期外", "金额为零", "封顶", "累计上限"]
        );
        let rs = one_of_each();
        let matched =
            |name: &str| -> Vec<usize> { (0..rs.len()).filter(|&i| rs[i].matches(name)).collect() };
        assert_eq!(matched("门槛"), [0, 1]);
        assert_eq!(matched("数据缺失"), [1]);
        assert_eq!(matched("有效期外"), [2]);
        assert_eq!(matched("金额为零"), [3]);
        assert_eq!(matched("封顶"), [4]);
        assert_eq!(matched("累计上限"), [5]);
        assert_eq!(matched("负面"), [6]);
        assert_eq!(matched("遴选"), [7]);
        assert_eq!(matched("就高"), [8]);
        assert_eq!(matched("条款0"), Vec::<usize>::new());
        assert_eq!(matched("资金池"), [9]);
        assert_eq!(matched("上限"), [10]);
        assert_eq!(matched("集团上限"), [11]);
    }

    #[test]
    fn only_a_computed_zero_yields_to_a_rule() {
        let yielding: Vec<ReasonKind> = ReasonKind::ALL
            .into_iter()
            .filter(|k| k.yields_to_rule())
            .collect();
        assert_eq!(yielding, [ReasonKind::ZeroAmount]);
    }
}
