//! `huiqi check`, `huiqi fmt`, `huiqi test`.

use std::path::PathBuf;
use std::process::ExitCode;

use huiqi::pack::{self, Checked, Formatted, Tested};

use crate::render::Out;

fn code(bad: bool) -> ExitCode {
    if bad {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Renders one pack's check: its diagnostics, then `✓ path: N clauses…` when it loaded.
pub fn render_checked(o: &Out, c: &Checked) {
    if let Some((sm, ds)) = c.diags() {
        o.diags(sm, ds);
    }
    match &c.outcome {
        Ok(l) => {
            let pr = &l.program;
            println!(
                "{} {}: {} {}, {} {}, {} {}",
                o.t("✓", "ok"),
                c.path.display(),
                pr.clauses.len(),
                o.t("个条款", "clauses"),
                pr.facts.len(),
                o.t("个事实", "facts"),
                pr.tests.len(),
                o.t("个测试", "tests")
            );
        }
        Err(huiqi::Error::Policy { diags, .. }) => eprintln!(
            "{}: {} {}",
            c.path.display(),
            diags.len(),
            o.t("个错误", if diags.len() == 1 { "error" } else { "errors" })
        ),
        Err(e) => o.error(e),
    }
}

pub fn check(o: &Out, paths: &[PathBuf]) -> huiqi::Result<ExitCode> {
    let checked = pack::check(paths)?;
    checked.iter().for_each(|c| render_checked(o, c));
    Ok(code(checked.iter().any(|c| c.outcome.is_err())))
}

pub fn fmt(o: &Out, paths: &[PathBuf], check: bool) -> huiqi::Result<ExitCode> {
    let files = pack::hq_files(paths)?;
    let (mut changed, mut errors) = (0, 0);
    for f in &files {
        match pack::format_file(f, check) {
            Formatted::Unchanged => {}
            Formatted::Changed => {
                changed += 1;
                if check {
                    println!("{} {}", o.t("未格式化：", "not formatted:"), f.display());
                } else {
                    println!("{} {}", o.t("已格式化：", "formatted:"), f.display());
                }
            }
            Formatted::Unparsable(sm, d) => {
                o.diags(&sm, &[d]);
                errors += 1;
            }
            Formatted::Failed(e) => {
                o.error(&e);
                errors += 1;
            }
        }
    }
    println!(
        "{} {}, {} {}",
        files.len(),
        o.t("个文件", "files"),
        changed,
        if check {
            o.t("个需要格式化", "need formatting")
        } else {
            o.t("个已改写", "rewritten")
        }
    );
    Ok(code(errors > 0 || (check && changed > 0)))
}

/// Renders each pack's failures and counts; true when every pack loaded and passed.
pub fn render_tested(o: &Out, tested: &[Tested]) -> bool {
    let (mut passed, mut failed, mut broken) = (0, 0, 0);
    for t in tested {
        let Some(rep) = &t.report else {
            render_checked(o, &t.checked);
            broken += 1;
            continue;
        };
        if let Some((sm, ds)) = t.checked.diags() {
            o.diags(sm, ds);
        }
        for f in &rep.failed {
            println!(
                "{} {} ({}:{})\n{}",
                o.t("✗ 失败", "✗ FAILED"),
                f.test,
                f.origin.file,
                f.origin.line,
                f.message
            );
        }
        println!(
            "{}: {} {}, {} {}",
            t.checked.path.display(),
            rep.passed,
            o.t("通过", "passed"),
            rep.failed.len(),
            o.t("失败", "failed")
        );
        passed += rep.passed;
        failed += rep.failed.len();
    }
    println!("{passed} passed, {failed} failed");
    failed == 0 && broken == 0
}

pub fn test(
    o: &Out,
    paths: &[PathBuf],
    filter: Option<&str>,
    set: &[huiqi::lang::ParamSet],
) -> huiqi::Result<ExitCode> {
    let tested = pack::test_with(paths, filter, o.lang, set)?;
    Ok(code(!render_tested(o, &tested)))
}
