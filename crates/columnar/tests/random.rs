//! Differential tests on random policies and random populations: policies are generated from
//! the language's constructs (thresholds, tiers, rates with caps, growth, CAGR, first time,
//! history top-ups, certificates, staged schedules, tranches, exclusive groups, pools, firm
//! caps, negative lists, selections), populations with gaps in their data. The columnar engine
//! must equal the reference evaluator for every firm, clause and tranche.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code)]
use crate::common;

use huiqi_ir::*;
use proptest::prelude::*;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
    fn wan(&mut self, hi: u64) -> u64 {
        1 + self.below(hi)
    }
}

const HEADER: &str = r#"
policy 随机政策 { issuer "测试" version "1" effective 2021-01-01 .. 2024-12-31 rounding 分 }
enum 类别 { 甲类, 乙类, 丙类 }
enum 阶段 { 一, 二, 三 }
fact 营收: money per year { label "营收" source "税务" }
fact 研发: money per year { label "研发" source "税务" }
fact 规上: bool per year { label "规上" source "统计" }
fact 行业: 类别 static { label "行业" source "市场监管" }
fact 证书: event { label "证书" source "科技" valid 2年 }
fact 进程: event 阶段 { label "进程" source "金融办" }
fact 人数: count per year { label "人数" source "人社" }
fact 工位: count static { label "工位" source "园区" }
fact 月电: count per month { label "月电" source "电力" }
fact 贷款: event { label "贷款" source "金融办" field 本金: money field 利息: money field 期数: count }
fact 集团: text per year { label "实际控制人" source "市场监管" }
fact 母公司: text static { label "母公司" source "市场监管" }
"#;

/// A rule's figure: the literal `lit` (of `ty`, `money` or `count`), or — half the time — a
/// parameter declared into `ps` whose value changes mid-2022, so periods before and after see
/// different figures.
fn fig(r: &mut Rng, ps: &mut Vec<String>, ty: &str, lit: String, other: String) -> String {
    if r.below(2) == 0 {
        return lit;
    }
    let name = format!("参数{}", ps.len());
    ps.push(format!(
        "param {name}: {ty} {{\n  2021-01-01: {other}\n  2022-07-01: {lit}\n}}\n"
    ));
    name
}

fn clause(r: &mut Rng, i: usize, ps: &mut Vec<String>) -> String {
    let name = format!("条款{i}");
    let mut head = format!("clause {name} {{\n  ref \"第{i}条\"\n  text \"随机条款\"\n");
    // Its own rounding now and then: any unit, any mode.
    if r.below(3) == 0 {
        let unit = r.pick(&["分", "元", "百元", "千元", "万元"]);
        let mode = r.pick(&["", " down", " up", " half_up"]);
        head.push_str(&format!("  rounding {unit}{mode}\n"));
    }
    let cmp = r.pick(&[">=", ">", "<", "<="]);
    let mut money = |r: &mut Rng, hi: u64| {
        let (a, b) = (format!("{}万", r.wan(hi)), format!("{}万", r.wan(hi)));
        fig(r, ps, "money", a, b)
    };
    let body = match r.below(18) {
        // A small total cap against the award history: often cut, sometimes to nothing.
        0 => format!("  require 门槛: 营收 {cmp} {}万\n  amount {}万\n  total cap {}\n", r.wan(5000), r.wan(100), money(r, 40)),
        1 => {
            // The last arm a rate of the looked-up value (the kernel multiplies in that arm only).
            let (a, b) = (r.wan(1000), r.wan(1000) + 1000);
            let c = b + r.wan(3000);
            format!("  amount tiers 营收 {{\n    [{a}万, {b}万) => {}万\n    [{b}万, {c}万) => {}万\n    [{c}万, ∞) => 营收 * {}%\n  }}\n  cap {}\n", r.wan(50), r.wan(100), r.wan(5), money(r, 80))
        }
        2 => format!("  let 增量 = 研发 - prev(研发)\n  require 增长: 增量 > 0\n  amount 增量 * {}%\n  cap {}\n", r.wan(30), money(r, 500)),
        3 => format!("  require 成长: growth(营收) >= {}%\n  require 有研发: 研发 ?? 0 > 0\n  amount min(研发 * 7%, {}万)\n", r.below(60), r.wan(90)),
        4 => format!("  require 首次: first_time(营收 >= {}万)\n  amount {}万\n", r.wan(3000), r.wan(50)),
        5 => {
            let t = r.wan(2000);
            format!("  let 往年 = highest_before(营收)\n  require 跨档: tiers 营收 {{\n    [{t}万, ∞) => 1\n  }} > tiers (往年 ?? 0) {{\n    [{t}万, ∞) => 1\n  }}\n  amount 50万 - awarded()\n")
        }
        6 => format!("  require 持证: held(证书)\n  tranche 首次 {{\n    require 新证: issued(证书) and issued_before(证书) = 0\n    amount {}万\n  }}\n  tranche 重新 {{\n    require 续证: issued(证书) and issued_before(证书) >= 1\n    amount {}万\n  }}\n", r.wan(10), r.wan(5)),
        7 => {
            let mode = r.pick(&["each", "cumulative"]);
            let (a, b, c) = (r.wan(100), r.wan(100), r.wan(100));
            let (a, b, c) = if mode == "cumulative" { (a, a + b, a + b + c) } else { (a, b, c) };
            format!("  schedule 进程 {mode} {{\n    一 => {a}万\n    二 => {b}万\n    三 => {c}万\n  }}\n  total cap {}\n", money(r, 300))
        }
        8 => format!("  require 在库: 规上\n  tranche 入库 {{\n    require 首次入库: first_time(规上)\n    amount {}万\n  }}\n  tranche 稳定 {{\n    require 连续: consecutive(规上, 2)\n    require 两年前首次: prev(first_time(规上), 1)\n    amount {}万\n  }}\n", r.wan(20), r.wan(20)),
        9 => format!("  require 复合: cagr(营收, 2) >= {}%\n  amount if 行业 = 甲类 then {}万 else {}万\n", r.below(40), r.wan(60), r.wan(30)),
        10 => format!("  require 非丙: 行业 not in [丙类]\n  amount round(max(营收 - prev(营收, 2), 0) * 1%, 元)\n  cap {}\n", money(r, 200)),
        // Whole-number facts: yearly, static and a month's total, with money.
        11 => format!("  require 有人: (人数 ?? 0) >= {}\n  amount 人数 * {}元 + (工位 ?? 0) * 100元 + total(月电) * 1元\n  cap {}\n", r.below(50), r.wan(2000), money(r, 30)),
        // Numbers on event records: per loan, a rate of the principal but not more than the
        // interest, over the loans of the period (some kept by a filter), capped.
        13 => {
            let per = match r.below(3) {
                0 => format!("min(本金 * {}%, 利息)", r.wan(5)),
                1 => format!("if 期数 >= {} then 本金 * {}% else 利息 ?? 0", r.below(24), r.wan(4)),
                _ => format!("round(本金 / 期数 * {}%, 元)", r.wan(9)),
            };
            let filter = if r.below(2) == 0 { format!(" where 本金 >= {}万", r.wan(500)) } else { String::new() };
            format!("  require 有贷款: count(贷款{filter}) >= {}\n  amount sum(贷款{filter}: {per})\n  cap {}\n", r.below(3), money(r, 50))
        }
        // Event windows: stages and certificates before the period, or ever up to its end.
        14 => {
            let (w1, w2) = (r.pick(&["before", "ever"]), r.pick(&["before", "ever"]));
            let stage = r.pick(&["一", "二", "三"]);
            format!("  require 曾到阶段: occurred(进程, {stage}, {w1})\n  require 首次日期: held_at(证书, date_of(进程, {stage}, {w2}))\n  amount if issued(证书, {w1}) then {}万 else {}万\n", r.wan(40), r.wan(20))
        }
        // Date arithmetic: a certificate held two years after the first stage, days and whole
        // months since it (leap days and month ends come up: dates run to the 28th and over).
        15 => {
            let (n, k) = (r.below(900), 1 + r.below(30));
            format!("  let 起 = date_of(进程, 一, ever)\n  require 两年后持证: held_at(证书, 起 + 2年 - {k}天)\n  require 天数: days_between(起, period_end()) >= {n}\n  amount 1000元 * months_between(起, period_end() - 6个月)\n  cap {}\n", money(r, 30))
        }
        // Bases from another year ("以落户当年为基数"): the year of an event, years counted
        // from it, values at that year — now and then a year beyond `at_year`'s reach or after
        // the period (missing in both engines).
        16 => {
            let base_year = match r.below(3) {
                0 => format!("year(date_of(进程, {}, ever))", r.pick(&["一", "二"])),
                1 => match r.below(13) {
                    0 => "year(period_end()) + 1".to_string(),
                    k => format!("year(period_end()) - {}", k - 1),
                },
                _ => "year(date_of(进程, 一, ever) + 1年)".to_string(),
            };
            let base = r.pick(&["营收", "研发 ?? 0", "营收 + (研发 ?? 0)", "max(营收, prev(营收))"]);
            let (a, b, c) = (r.wan(20), r.wan(10), r.wan(5));
            format!("  let 基年 = {base_year}\n  let 第几年 = year(period_end()) - 基年\n  require 三年内: 第几年 >= 1 and 第几年 <= 3\n  amount max(营收 - at_year({base}, 基年), 0) * (if 第几年 = 1 then {a}% else if 第几年 = 2 then {b}% else {c}%)\n  cap {}\n", money(r, 100))
        }
        _ => format!("  require 时点: occurred(进程, 二)\n  require 持证时: held_at(证书, date_of(进程, 二))\n  amount {}万\n", r.wan(100)),
    };
    format!("{head}{body}}}\n")
}

fn program_text(r: &mut Rng) -> String {
    let n = 2 + r.below(5) as usize;
    let mut s = String::new();
    let mut ps = vec![];
    for i in 0..n {
        s.push_str(&clause(r, i, &mut ps));
    }
    if r.below(2) == 0 {
        s.push_str("exclude 负面: 行业 = 丙类\n");
    }
    if r.below(3) == 0 {
        // A second list, for some clauses only: the later rule names the reason.
        s.push_str(&format!(
            "exclude 限定: 营收 < {}万 for [条款{}]\n",
            r.wan(3000),
            r.below(n as u64)
        ));
    }
    if r.below(2) == 0 {
        s.push_str(&format!(
            "exclusive 就高 [条款0, 条款{}]\n",
            1 + r.below(n as u64 - 1)
        ));
    }
    if r.below(2) == 0 {
        let method = if r.below(2) == 0 {
            "pro_rata".to_string()
        } else {
            let score = r.pick(&["营收", "growth(营收)", "研发 / 营收"]);
            format!("by score {score} {}", r.pick(&["desc", "asc"]))
        };
        let clause = r.below(n as u64);
        let (a, b) = (
            format!("{}.{:02}元", r.wan(500_000), r.below(100)),
            format!("{}元", r.wan(500_000)),
        );
        let budget = fig(r, &mut ps, "money", a, b);
        s.push_str(&format!(
            "pool 资金池 {{\n  clauses [条款{clause}]\n  budget {budget}\n  {method}\n}}\n"
        ));
    }
    if r.below(3) == 0 {
        let clause = r.below(n as u64);
        let (a, b) = ((1 + r.below(4)).to_string(), (1 + r.below(4)).to_string());
        let top = fig(r, &mut ps, "count", a, b);
        s.push_str(&format!(
            "select 遴选 {{\n  clause 条款{clause}\n  score {}\n  top {top}\n  tie 营收 {}\n}}\n",
            r.pick(&[
                "growth(营收)",
                "60% * growth(营收) + 40% * (研发 ?? 0) / 营收",
                "max(研发 / prev(营收), growth(研发) ?? 0%)",
            ]),
            r.pick(&["desc", "asc"])
        ));
    }
    if r.below(2) == 0 {
        let first = r.below(n as u64);
        let second = (first + 1 + r.below(n as u64 - 1)) % n as u64;
        let (a, b) = (format!("{}万", r.wan(150)), format!("{}万", r.wan(150)));
        let limit = fig(r, &mut ps, "money", a, b);
        // Half the time a cap over several years, against the award history.
        let over = match r.below(4) {
            0 => " over 2年".to_string(),
            1 => format!(" over {}年", 3 + r.below(3)),
            _ => String::new(),
        };
        s.push_str(&format!(
            "firm cap 上限 {limit}{over} priority [条款{first}, 条款{second}]\n"
        ));
    }
    if r.below(2) == 0 {
        // A cap shared by the firms of a group, over some clauses or all, served in one of the
        // orders a text may declare.
        let (a, b) = (format!("{}万", r.wan(120)), format!("{}万", r.wan(120)));
        let limit = fig(r, &mut ps, "money", a, b);
        let by = r.pick(&["集团", "集团", "母公司"]);
        let clauses = if r.below(3) == 0 {
            String::new()
        } else {
            let first = r.below(n as u64);
            let second = (first + 1 + r.below(n as u64 - 1)) % n as u64;
            format!("  clauses [条款{first}, 条款{second}]\n")
        };
        let order = r.pick(&[
            "amount desc",
            "amount asc",
            "营收 desc",
            "date_of(进程, 一, ever)",
            "growth(营收) desc",
        ]);
        s.push_str(&format!(
            "group cap 集团上限 {{\n  by {by}\n  limit {limit}\n{clauses}  order {order}\n}}\n"
        ));
    }
    // Clawbacks: none, one or two, triggered by certificates or loans dated in the period, over
    // some clauses or all, by the years left or a fixed share (the later takes what the
    // earlier left).
    for k in 0..r.below(3) {
        let when = r.pick(&["证书", "贷款"]);
        let window = 1 + r.below(5);
        let share = r.pick(&["remaining", "remaining", "100%", "50%", "33.3333%"]);
        let clauses = if r.below(2) == 0 {
            String::new()
        } else {
            format!("  clauses [条款{}]\n", r.below(n as u64))
        };
        s.push_str(&format!(
            "clawback 追回{k} {{\n  ref \"第九条\"\n  text \"随机追回\"\n  when {when}\n  window {window}年\n  share {share}\n{clauses}}}\n"
        ));
    }
    format!("{HEADER}{}{s}", ps.concat())
}

/// A date; a day past the month's end is its last day (so month ends and 29 February occur).
fn d(y: i32, m: u32, dd: u32) -> Date {
    Date::new(y, m, dd.min(huiqi_ir::date::days_in_month(y, m))).unwrap()
}

fn population(p: &Program, r: &mut Rng) -> Vec<Firm> {
    let n = 1 + r.below(14) as usize;
    let f = |name: &str| p.fact_by_name(name).unwrap();
    (0..n)
        .map(|i| {
            let mut firm = Firm::new(
                format!("F{:02}", r.below(20) * 100 + i as u64),
                "",
                p.facts.len(),
            );
            let mut rev = vec![];
            let mut rnd = vec![];
            let mut reg = vec![];
            let mut level = 100 + r.below(5000) as i64;
            for y in 2019..=2023 {
                level = (level * (70 + r.below(80) as i64) / 100).max(1);
                if r.below(8) != 0 {
                    rev.push((
                        y,
                        Value::Money(rust_decimal::Decimal::new(
                            level * 10_000 + r.below(100) as i64,
                            0,
                        )),
                    ));
                }
                if r.below(6) != 0 {
                    rnd.push((
                        y,
                        Value::Money(rust_decimal::Decimal::new(r.below(500_000_000) as i64, 2)),
                    ));
                }
                if r.below(7) != 0 {
                    reg.push((y, Value::Bool(r.below(3) != 0)));
                }
            }
            firm.facts[f("营收")] = FactData::Yearly(rev);
            firm.facts[f("研发")] = FactData::Yearly(rnd);
            firm.facts[f("规上")] = FactData::Yearly(reg);
            let mut people: Vec<(i32, Value)> = vec![];
            for y in 2019..=2023 {
                if r.below(5) != 0 {
                    people.push((y, Value::Count(rust_decimal::Decimal::from(r.below(300)))));
                }
            }
            firm.facts[f("人数")] = FactData::Yearly(people);
            if r.below(3) != 0 {
                firm.facts[f("工位")] =
                    FactData::Static(Value::Count(rust_decimal::Decimal::from(r.below(100))));
            }
            let mut months = vec![];
            for y in 2020..=2023 {
                for m in 1..=12u32 {
                    if r.below(4) != 0 {
                        months.push((
                            (y, m),
                            Value::Count(rust_decimal::Decimal::from(r.below(10_000))),
                        ));
                    }
                }
            }
            firm.facts[f("月电")] = FactData::Monthly(months);
            if r.below(6) != 0 {
                firm.facts[f("行业")] = FactData::Static(Value::Enum(r.below(3) as u32));
            }
            let mut certs = vec![];
            for _ in 0..r.below(3) {
                let y = 2018 + r.below(6) as i32;
                let date = d(y, 1 + r.below(12) as u32, 1 + r.below(31) as u32);
                let until = (r.below(4) != 0).then(|| d(y + 3, date.m, date.d));
                certs.push(EventRec {
                    date,
                    until,
                    value: None,
                    nums: vec![],
                });
            }
            certs.sort_by_key(|e| e.date);
            firm.facts[f("证书")] = FactData::Events(certs);
            let mut stages = vec![];
            let mut y = 2019 + r.below(4) as i32;
            for s in 0..3u32 {
                if r.below(3) == 0 {
                    continue;
                }
                stages.push(EventRec {
                    date: d(y, 1 + r.below(12) as u32, 1 + r.below(28) as u32),
                    until: None,
                    value: Some(s),
                    nums: vec![],
                });
                y += r.below(2) as i32;
            }
            stages.sort_by_key(|e| e.date);
            firm.facts[f("进程")] = FactData::Events(stages);
            // Few groups, so that members share a cap; some years without one, a firm moving
            // between groups now and then.
            let groups = ["甲集团", "乙集团", "丙集团"];
            let mut home = r.below(3) as usize;
            let mut member = vec![];
            for y in 2019..=2023 {
                if r.below(6) == 0 {
                    home = r.below(3) as usize;
                }
                if r.below(5) != 0 {
                    member.push((y, Value::Text(groups[home].to_string())));
                }
            }
            firm.facts[f("集团")] = FactData::Yearly(member);
            if r.below(4) != 0 {
                firm.facts[f("母公司")] =
                    FactData::Static(Value::Text(groups[r.below(2) as usize].to_string()));
            }
            // Loans: a few a year, some numbers missing, two on one day now and then.
            let mut loans = vec![];
            for _ in 0..r.below(6) {
                let date = d(
                    2019 + r.below(5) as i32,
                    1 + r.below(12) as u32,
                    1 + r.below(28) as u32,
                );
                let num = |r: &mut Rng, v: Value| if r.below(9) == 0 { Value::Missing } else { v };
                let principal = Value::Money(rust_decimal::Decimal::new(
                    r.below(2_000_000_000) as i64 * 100,
                    2,
                ));
                let interest =
                    Value::Money(rust_decimal::Decimal::new(r.below(200_000_000) as i64, 2));
                let terms = Value::Count(rust_decimal::Decimal::from(r.below(37)));
                loans.push(EventRec {
                    date,
                    until: None,
                    value: None,
                    nums: vec![num(r, principal), num(r, interest), num(r, terms)],
                });
                if r.below(5) == 0 {
                    let mut twin = loans[loans.len() - 1].clone();
                    twin.nums[0] =
                        Value::Money(rust_decimal::Decimal::new(r.below(100_000_000) as i64, 0));
                    loans.push(twin);
                }
            }
            loans.sort_by_key(|e| e.date);
            firm.facts[f("贷款")] = FactData::Events(loans);
            for c in 0..p.clauses.len() {
                if r.below(5) == 0 {
                    firm.awards.push(Award {
                        clause: c,
                        period: 2020 + r.below(3) as i32,
                        tranche: String::new(),
                        amount: rust_decimal::Decimal::new(r.below(30_000_000) as i64, 2),
                    });
                }
                // More history for the clawbacks to reach: other years (before, in and after
                // the period), a tranche now and then, odd 分.
                for _ in 0..r.below(3) {
                    let award = Award {
                        clause: c,
                        period: 2016 + r.below(8) as i32,
                        tranche: r.pick(&["", "", "一期"]).to_string(),
                        amount: rust_decimal::Decimal::new(1 + r.below(30_000_001) as i64, 2),
                    };
                    let same = |a: &Award| {
                        a.clause == award.clause
                            && a.period == award.period
                            && a.tranche == award.tranche
                    };
                    if !firm.awards.iter().any(same) {
                        firm.awards.push(award);
                    }
                }
            }
            firm
        })
        .collect()
}

fn dedup_ids(firms: &mut Vec<Firm>) {
    firms.sort_by(|a, b| a.id.cmp(&b.id));
    firms.dedup_by(|a, b| a.id == b.id);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(24), ..ProptestConfig::default() })]
    #[test]
    fn random_policies_agree(seed in 1u64..u64::MAX) {
        let mut r = Rng(seed);
        let mut text = program_text(&mut r);
        let root = std::env::temp_dir().join(format!("huiqi-rand-{}-{seed}", std::process::id()));
        let dir = root.join("main");
        std::fs::create_dir_all(&dir).unwrap();
        // A third of the packs import another random pack (`import`): its own rules keep to
        // its clauses; this pack's 就高 group and cap reach across.
        if r.below(3) == 0 {
            let other = program_text(&mut r).replace("policy 随机政策", "policy 其他政策");
            std::fs::create_dir_all(root.join("other")).unwrap();
            std::fs::write(root.join("other/p.hq"), &other).unwrap();
            text.push_str(&format!(
                "import 其他政策 from \"../other\"\nexclusive 跨包就高 [条款0, 其他政策.条款{}]\nfirm cap 跨包上限 {}万{} priority [其他政策.条款1, 条款1]\n",
                r.below(2),
                r.wan(150),
                if r.below(2) == 0 { " over 2年" } else { "" },
            ));
            text.push_str(&format!("# imported:\n{}", other.lines().map(|l| format!("# {l}\n")).collect::<String>()));
        }
        std::fs::write(dir.join("p.hq"), &text).unwrap();
        let loaded = match huiqi_lang::load_pack(&dir) {
            Ok(l) => l,
            Err((sm, ds)) => panic!("generated pack does not check:\n{text}\n{}", ds.iter().map(|d| sm.render(d, huiqi_lang::Lang::En, false)).collect::<String>()),
        };
        let _ = std::fs::remove_dir_all(&root);
        let p = &loaded.program;
        let mut firms = population(p, &mut r);
        dedup_ids(&mut firms);
        let year = 2021 + r.below(3) as i32;
        if let Err(e) = common::compare(p, &mut firms, year, &format!("r{seed}")) {
            panic!("seed {seed}, period {year}\n{text}\n{e}");
        }
    }
}

/// The 政策沙盘's comparison against the reference: a random pack, a random reform of its
/// parameter figures (`--set`), both run by the columnar engine and joined (`delta::diff`) —
/// every firm × clause × tranche's base and reform amounts equal what the reference evaluator
/// computes for the two packs.
fn reform_agrees(seed: u64) -> Result<(), String> {
    let mut r = Rng(seed);
    let text = program_text(&mut r);
    let dir = std::env::temp_dir().join(format!("huiqi-reform-{}-{seed}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("p.hq"), &text).unwrap();
    let load = |sets: &[huiqi_lang::ParamSet]| match huiqi_lang::load_pack_with(&dir, sets) {
        Ok(l) => l.program,
        Err((sm, ds)) => panic!(
            "{text}\n{}",
            ds.iter()
                .map(|d| sm.render(d, huiqi_lang::Lang::En, false))
                .collect::<String>()
        ),
    };
    let base = load(&[]);
    // A new value for some of the figures' parameters (of the range each allows).
    let mut sets: Vec<huiqi_lang::ParamSet> = vec![];
    for p in &base.params {
        if r.below(3) == 0 {
            continue;
        }
        let value = if p.ty == Ty::Count {
            (1 + r.below(4)).to_string()
        } else {
            format!("{}万", r.wan(300))
        };
        sets.push(huiqi_lang::ParamSet {
            name: p.name.clone(),
            from: None,
            value,
        });
    }
    let reform = load(&sets);
    let _ = std::fs::remove_dir_all(&dir);
    let mut firms = population(&base, &mut r);
    dedup_ids(&mut firms);
    let year = 2021 + r.below(3) as i32;
    let snap =
        std::env::temp_dir().join(format!("huiqi-reform-snap-{}-{seed}", std::process::id()));
    common::support::write_snapshot(&base, &firms, &snap);
    // Both runs keep the stand-alone amounts (whole or in chunks): the final amounts must be
    // the reference's all the same, and the stand-alone ones the reference's without the rules.
    let chunk = match r.below(2) {
        0 => None,
        _ => Some(1 + r.below(5) as usize),
    };
    let b = common::run_columnar_with(&base, &snap, year, "reform-base", chunk, true);
    let f = common::run_columnar_with(&reform, &snap, year, "reform-new", chunk, true);
    // The pair over one load (a reform of parameters reads the snapshot as the base does):
    // the same rows as two runs.
    let pair = common::run_pair_columnar(&base, &reform, &snap, year);
    let _ = std::fs::remove_dir_all(&snap);
    if let (Ok(b), Ok(f), Ok((pb, pf))) = (&b, &f, &pair) {
        for (one, two) in [(b, pb), (f, pf)] {
            if one.rows() != two.rows() || one.standalone_fen != two.standalone_fen {
                return Err(format!(
                    "seed {seed}: run_pair differs from two runs\n{text}"
                ));
            }
        }
    }
    let (b, f) = match (b, f) {
        (Ok(b), Ok(f)) => (b, f),
        // An overflow in either run: the differential tests cover its agreement.
        _ => return Ok(()),
    };
    let d = huiqi_columnar::delta::diff(&b, &f).map_err(|e| e.to_string())?;
    // Each (firm, clause, tranche) → (base, reform), rows both sides leave at zero dropped
    // (the engines leave out different zero rows).
    type Pairs = std::collections::BTreeMap<(String, String, String), (i64, i64)>;
    let key = |f: &str, c: &str, t: &str| (f.to_string(), c.to_string(), t.to_string());
    let columnar = |base: &[i64], reform: &[i64]| -> Pairs {
        (0..d.len())
            .map(|i| {
                (
                    key(d.firm_id(i), d.clause(i), d.tranche(i)),
                    (base[i], reform[i]),
                )
            })
            .filter(|(_, v)| *v != (0, 0))
            .collect()
    };
    // None when either program overflows (the differential tests cover its agreement).
    let reference = |programs: [&Program; 2]| -> Option<Pairs> {
        let mut want = Pairs::new();
        for (side, p) in programs.into_iter().enumerate() {
            huiqi_eval::try_evaluate_population(p, &firms, year, false).ok()?;
            for row in common::reference_rows(p, &firms, year) {
                let e = want
                    .entry(key(&row.firm_id, &row.clause, &row.tranche))
                    .or_insert((0, 0));
                if side == 0 {
                    e.0 = row.amount_fen;
                } else {
                    e.1 = row.amount_fen;
                }
            }
        }
        want.retain(|_, v| *v != (0, 0));
        Some(want)
    };
    // Stand-alone: each clause on its own, as the reference computes it with no rule across
    // clauses or firms.
    let alone_got = columnar(&d.base_alone_fen, &d.reform_alone_fen);
    let (mut base_alone, mut reform_alone) = (base.clone(), reform.clone());
    base_alone.drop_cross_clause_rules();
    reform_alone.drop_cross_clause_rules();
    let Some(alone_want) = reference([&base_alone, &reform_alone]) else {
        return Ok(());
    };
    if alone_got != alone_want {
        return Err(format!(
            "stand-alone: seed {seed}, period {year}, chunk {chunk:?}, sets {sets:?}\n{text}\ncolumnar {alone_got:?}\nreference {alone_want:?}"
        ));
    }
    let got = columnar(&d.base_fen, &d.reform_fen);
    let Some(want) = reference([&base, &reform]) else {
        return Ok(());
    };
    if got != want {
        return Err(format!(
            "seed {seed}, period {year}, sets {sets:?}\n{text}\ncolumnar {got:?}\nreference {want:?}"
        ));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(16), ..ProptestConfig::default() })]
    #[test]
    fn random_reforms_agree_with_the_reference(seed in 1u64..u64::MAX) {
        if let Err(e) = reform_agrees(seed) {
            panic!("{e}");
        }
    }
}
