//! Diagnostics in the style of rustc: `file:line:col`, the source line with a caret, a hint —
//! in Chinese or English.

use std::fmt::Write as _;

use unicode_width::UnicodeWidthStr;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    pub file: u32,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn to(self, other: Span) -> Span {
        Span {
            file: self.file,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

/// A diagnostic. Boxed so `Result<_, Diag>` stays small on the checker's hot paths.
#[derive(Clone, Debug)]
pub struct Diag(Box<DiagData>);

impl std::ops::Deref for Diag {
    type Target = DiagData;
    fn deref(&self) -> &DiagData {
        &self.0
    }
}

impl std::ops::DerefMut for Diag {
    fn deref_mut(&mut self) -> &mut DiagData {
        &mut self.0
    }
}

#[derive(Clone, Debug)]
pub struct DiagData {
    pub code: &'static str,
    pub span: Span,
    pub msg_zh: String,
    pub msg_en: String,
    pub hint_zh: String,
    pub hint_en: String,
    pub warning: bool,
}

impl Diag {
    pub fn new(
        code: &'static str,
        span: Span,
        msg_zh: impl Into<String>,
        msg_en: impl Into<String>,
        hint_zh: impl Into<String>,
        hint_en: impl Into<String>,
    ) -> Diag {
        Diag(Box::new(DiagData {
            code,
            span,
            msg_zh: msg_zh.into(),
            msg_en: msg_en.into(),
            hint_zh: hint_zh.into(),
            hint_en: hint_en.into(),
            warning: false,
        }))
    }
    pub fn warning(mut self) -> Diag {
        self.warning = true;
        self
    }
    pub fn msg(&self, lang: Lang) -> &str {
        if lang == Lang::En {
            &self.msg_en
        } else {
            &self.msg_zh
        }
    }
    pub fn hint(&self, lang: Lang) -> &str {
        if lang == Lang::En {
            &self.hint_en
        } else {
            &self.hint_zh
        }
    }
}

/// The files of a pack, for turning spans into `file:line:col`.
#[derive(Default, Clone, Debug)]
pub struct SourceMap {
    pub files: Vec<(String, String)>,
}

impl SourceMap {
    pub fn add(&mut self, path: String, text: String) -> u32 {
        self.files.push((path, text));
        (self.files.len() - 1) as u32
    }
    pub fn path(&self, span: Span) -> &str {
        &self.files[span.file as usize].0
    }
    pub fn text(&self, span: Span) -> &str {
        let src = &self.files[span.file as usize].1;
        src.get(span.start as usize..span.end as usize)
            .unwrap_or("")
    }
    /// 1-based line and column (in characters).
    pub fn line_col(&self, span: Span) -> (u32, u32) {
        let src = &self.files[span.file as usize].1;
        let upto = &src[..(span.start as usize).min(src.len())];
        let line = upto.matches('\n').count() as u32 + 1;
        let col = upto
            .rsplit('\n')
            .next()
            .map(|l| l.chars().count())
            .unwrap_or(0) as u32
            + 1;
        (line, col)
    }
    pub fn origin(&self, span: Span) -> huiqi_ir::Origin {
        let (line, col) = self.line_col(span);
        huiqi_ir::Origin {
            file: self.path(span).to_string(),
            line,
            col,
        }
    }

    /// Renders one diagnostic: a greppable `file:line:col` first line, the source line, a caret, a hint.
    pub fn render(&self, d: &Diag, lang: Lang, color: bool) -> String {
        let (line, col) = self.line_col(d.span);
        let (level, hint_word) = match (d.warning, lang) {
            (false, Lang::Zh) => ("错误", "提示"),
            (true, Lang::Zh) => ("警告", "提示"),
            (false, Lang::En) => ("error", "hint"),
            (true, Lang::En) => ("warning", "hint"),
        };
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{}:{}:{}: {}[{}]: {}",
            self.path(d.span),
            line,
            col,
            level,
            d.code,
            d.msg(lang)
        );
        // The source line with a caret under the span (display width aware: CJK is 2 columns).
        let src = &self.files[d.span.file as usize].1;
        let text = src.lines().nth(line as usize - 1).unwrap_or("");
        let before: String = text.chars().take(col as usize - 1).collect();
        let pad = UnicodeWidthStr::width(before.as_str());
        let on_line = self.text(d.span).lines().next().unwrap_or("");
        let marks = UnicodeWidthStr::width(on_line).max(1);
        let gutter = line.to_string().len();
        let (blue, red, reset) = if color {
            (
                "\x1b[34m",
                if d.warning { "\x1b[33m" } else { "\x1b[31m" },
                "\x1b[0m",
            )
        } else {
            ("", "", "")
        };
        let _ = writeln!(out, "{blue}{:gutter$} |{reset}", "");
        let _ = writeln!(out, "{blue}{line} |{reset} {text}");
        let _ = writeln!(
            out,
            "{blue}{:gutter$} |{reset} {}{red}{}{reset}",
            "",
            " ".repeat(pad),
            "^".repeat(marks)
        );
        let _ = writeln!(
            out,
            "{blue}{:gutter$} ={reset} {hint_word}: {}",
            "",
            d.hint(lang)
        );
        out
    }
}

/// Levenshtein distance in characters, for "did you mean" hints.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        prev = cur;
    }
    prev[b.len()]
}
