//! Stack safety: pathologically nested or long expressions get a diagnostic from the parser
//! (or, for chains of lets and tables, the checker), never a stack overflow in a later pass
//! (checker, formatter, evaluators).
//!
//! The sources are built here as strings (no huge files in the repository) and go through the
//! same public API as `huiqi check` / `huiqi test` (`load_pack`) and `huiqi fmt`
//! (`parser::parse_file` + `fmt::format_file`). Each case runs on a thread with an explicit
//! 2 MiB stack — the test harness's default and a quarter of the CLI's 8 MiB main thread — and
//! the largest trees the limits accept are checked and formatted there too, in a debug build.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use huiqi_lang::parser::{MAX_HEIGHT, MAX_NESTING};
use huiqi_lang::{fmt, load_pack, parser, Lang, SourceMap};

/// A valid one-clause pack whose amount is `amount`, plus `extra` items.
fn pack(amount: &str, extra: &str) -> String {
    format!(
        "policy 测试 {{\n  title \"t\"\n  issuer \"i\"\n  version \"1\"\n  effective 2022-01-01 .. 2024-12-31\n}}\n\
         fact 营业收入: money per year {{ source \"税务\" }}\n\
         {extra}\n\
         clause 甲 {{\n  ref \"第一条\"\n  text \"原文\"\n  amount {amount}\n}}\n"
    )
}

fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

fn write_pack(name: &str, src: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("deep-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("p.hq"), src).unwrap();
    dir
}

/// `huiqi check`: the pack is rejected with `code`, rendered with file:line:col and a hint in
/// both languages. Returns the English rendering.
fn check_rejects(name: &'static str, src: String, code: &'static str) -> String {
    on_small_stack(move || {
        let dir = write_pack(name, &src);
        let Err((sm, diags)) = load_pack(&dir) else {
            panic!("{name}: the pack was accepted");
        };
        assert_eq!(
            diags.len(),
            1,
            "{name}: {:?}",
            diags.iter().map(|d| d.code).collect::<Vec<_>>()
        );
        let d = &diags[0];
        assert_eq!(d.code, code, "{name}: {}", d.msg_en);
        let en = sm.render(d, Lang::En, false);
        let zh = sm.render(d, Lang::Zh, false);
        assert!(en.contains("p.hq:"), "{en}");
        assert!(
            en.contains("= hint: ") && zh.contains("= 提示: "),
            "{en}{zh}"
        );
        assert!(!d.hint_zh.is_empty() && !d.hint_en.is_empty());
        en
    })
}

/// `huiqi fmt`: parsing fails with `code`; formatting never sees the tree.
fn fmt_rejects(name: &'static str, src: String, code: &'static str) {
    on_small_stack(move || {
        let mut sm = SourceMap::default();
        let id = sm.add(format!("{name}.hq"), src.clone());
        match parser::parse_file(id, &src) {
            Ok(f) => panic!(
                "{name}: parsed, formatted to {} bytes",
                fmt::format_file(&f, &src).len()
            ),
            Err(d) => assert_eq!(d.code, code, "{name}: {}", d.msg_en),
        }
    })
}

fn rejected(name: &'static str, amount: String, extra: &str, code: &'static str) -> String {
    let src = pack(&amount, extra);
    fmt_rejects(name, src.clone(), code);
    check_rejects(name, src, code)
}

fn nested(open: &str, leaf: &str, close: &str, n: usize) -> String {
    format!("{}{leaf}{}", open.repeat(n), close.repeat(n))
}

#[test]
fn parentheses_8000_deep() {
    let en = rejected("parens", nested("(", "1万", ")", 8000), "", "E0207");
    assert!(en.contains("p.hq:12:"), "{en}");
}

#[test]
fn if_10000_deep() {
    let amount = format!("{}0", "if 营业收入 > 0 then 1万 else ".repeat(10_000));
    rejected("if-else", amount, "", "E0207");
    let amount = nested("if 营业收入 > 0 then ", "1万", " else 0", 10_000);
    rejected("if-then", amount, "", "E0207");
    let cond = nested("if ", "营业收入 > 0", " then true else false", 10_000);
    rejected("if-cond", format!("if {cond} then 1万 else 0"), "", "E0207");
}

#[test]
fn sum_of_10000_terms() {
    let amount = vec!["1万"; 10_000].join(" + ");
    let en = rejected("sum", amount, "", "E0208");
    assert!(en.contains("p.hq:12:"), "{en}");
    // Other operators and a right-nested chain.
    rejected(
        "product",
        format!("1万{}", " * 1".repeat(10_000)),
        "",
        "E0208",
    );
    let cond = vec!["营业收入 > 0"; 10_000].join(" and ");
    rejected("and", format!("if {cond} then 1万 else 0"), "", "E0208");
    rejected(
        "coalesce",
        vec!["营业收入"; 10_000].join(" ?? "),
        "",
        "E0208",
    );
}

#[test]
fn tables_5000_deep() {
    let amount = nested("tiers 营业收入 { [0, ∞) => ", "1万", " }", 5000);
    rejected("tiers", amount, "", "E0207");
    // A tier bound nested the same way.
    let amount = format!(
        "tiers 营业收入 {{ [{}, ∞) => 1万 }}",
        nested("(", "0", ")", 5000)
    );
    rejected("tier-bound", amount, "", "E0207");
}

#[test]
fn other_nestings_10000_deep() {
    rejected("neg", format!("{}1万", "-".repeat(10_000)), "", "E0207");
    rejected(
        "neg-spaced",
        format!("{}1万", "- ".repeat(10_000)),
        "",
        "E0207",
    );
    let amount = format!("if {}true then 1万 else 0", "not ".repeat(10_000));
    rejected("not", amount, "", "E0207");
    rejected("call", nested("min(", "1万", ", 0)", 10_000), "", "E0207");
    rejected(
        "round",
        nested("round(", "1万", ", 元)", 10_000),
        "",
        "E0207",
    );
    let amount = format!(
        "if 营业收入 in [{}] then 1万 else 0",
        nested("[", "0", "]", 10_000)
    );
    rejected("list", amount, "", "E0207");
}

#[test]
fn firm_data_and_params_10000_deep() {
    // Expressions outside clauses go through the same parser.
    let param = format!(
        "param 基数: money {{ 2022-01-01: {} }}",
        nested("(", "1万", ")", 10_000)
    );
    rejected("param", "1万".into(), &param, "E0207");
    let test = format!(
        "test \"t\" {{\n  period 2023\n  firm 甲 {{ 营业收入 = {{2023: {}}} }}\n  expect 甲.甲 = 1万\n}}",
        vec!["1万"; 10_000].join(" + ")
    );
    rejected("firm-data", "1万".into(), &test, "E0208");
}

#[test]
fn expression_parser_rejects_deep_input() {
    on_small_stack(|| {
        let d = parser::parse_expr(&nested("(", "1", ")", 10_000)).unwrap_err();
        assert_eq!(d.code, "E0207");
        let d = parser::parse_expr(&vec!["1"; 10_000].join(" + ")).unwrap_err();
        assert_eq!(d.code, "E0208");
    })
}

/// `lets` (one per line) before the amount.
fn with_lets(lets: &[String], amount: &str) -> String {
    let lets: String = lets.iter().map(|l| format!("  {l}\n")).collect();
    pack(amount, "").replace("  amount", &format!("{lets}  amount"))
}

#[test]
fn chain_of_5000_lets() {
    // Each let is shallow, but both evaluators expand a let where it is used: before this was
    // checked, `huiqi test` overflowed its stack evaluating the last one.
    let lets: Vec<String> = (0..5000)
        .map(|i| match i {
            0 => "let x0 = 1万".to_string(),
            _ => format!("let x{i} = x{} + 1万", i - 1),
        })
        .collect();
    let en = check_rejects("let-chain", with_lets(&lets, "x4999"), "E0415");
    assert!(en.contains("p.hq:"), "{en}");
}

#[test]
fn lets_that_double() {
    // x{i} uses x{i-1} twice: 2^30 nodes once expanded (the limit is
    // huiqi_lang::check::MAX_EXPANDED_NODES), and as many evaluations per firm.
    let lets: Vec<String> = (0..30)
        .map(|i| match i {
            0 => "let x0 = 1万".to_string(),
            _ => format!("let x{i} = x{} + x{}", i - 1, i - 1),
        })
        .collect();
    check_rejects("let-doubling", with_lets(&lets, "x29"), "E0416");
}

#[test]
fn chain_of_5000_tables() {
    let mut tables = String::from("table T0: money { [0元, ∞) => 1万 }\n");
    for i in 1..5000 {
        tables.push_str(&format!(
            "table T{i}: money {{ [0元, ∞) => T{}(营业收入) }}\n",
            i - 1
        ));
    }
    check_rejects("table-chain", pack("T4999(营业收入)", &tables), "E0415");
}

/// The largest trees the limits accept, through check and fmt (and formatted output parses
/// back unchanged).
fn accepted(name: &'static str, src: String) {
    on_small_stack(move || {
        let dir = write_pack(name, &src);
        if let Err((sm, ds)) = load_pack(&dir) {
            panic!("{name}: {}", sm.render(&ds[0], Lang::En, false));
        }
        let file = parser::parse_file(0, &src).unwrap();
        let out = fmt::format_file(&file, &src);
        let again = parser::parse_file(0, &out).unwrap();
        assert_eq!(fmt::format_file(&again, &out), out, "{name}");
    })
}

#[test]
fn the_limits_are_exact_and_safe_on_a_2_mib_stack() {
    let (nest, height) = (MAX_NESTING as usize, MAX_HEIGHT as usize);
    // Nesting: MAX_NESTING levels pass, one more does not.
    accepted("parens-max", pack(&nested("(", "1万", ")", nest), ""));
    rejected(
        "parens-over",
        nested("(", "1万", ")", nest + 1),
        "",
        "E0207",
    );
    let ifs = |n| format!("{}0", "if 营业收入 > 0 then 1万 else ".repeat(n));
    accepted("if-max", pack(&ifs(nest), ""));
    rejected("if-over", ifs(nest + 1), "", "E0207");
    // Height: a chain of MAX_HEIGHT terms passes, one more does not.
    let sum = |n| vec!["1万"; n].join(" + ");
    accepted("sum-max", pack(&sum(height), ""));
    rejected("sum-over", sum(height + 1), "", "E0208");
    // The most stack per level: nested tables, calls and ifs at the nesting limit, topped up
    // to the height limit with a chain.
    let top_up =
        |inner: String, levels: usize| format!("{inner}{}", " + 1万".repeat(height - levels));
    let tiers = nested("tiers 营业收入 { [0元, ∞) => ", "1万", " }", nest - 1);
    accepted("tiers-max", pack(&top_up(tiers, nest), ""));
    let calls = nested("round(", "1万", ", 元)", nest - 1);
    accepted("calls-max", pack(&top_up(calls, nest), ""));
    let ifs = nested("if 营业收入 > 0 then ", "1万", " else 0", nest - 1);
    accepted("ifs-max", pack(&top_up(ifs, nest), ""));
    // Lets: a chain as tall as one expression may be passes.
    let lets: Vec<String> = (0..height / 2 - 2)
        .map(|i| match i {
            0 => "let x0 = 1万".to_string(),
            _ => format!("let x{i} = x{} + 1万", i - 1),
        })
        .collect();
    let last = format!("x{}", lets.len() - 1);
    accepted("lets-max", with_lets(&lets, &last));
}
