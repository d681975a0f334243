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
    /// The path and text of the file `span` is in; empty for a span from elsewhere (such as
    /// `parser::parse_expr`'s).
    fn file(&self, span: Span) -> (&str, &str) {
        self.files
            .get(span.file as usize)
            .map_or(("", ""), |(p, t)| (p.as_str(), t.as_str()))
    }
    pub fn path(&self, span: Span) -> &str {
        self.file(span).0
    }
    pub fn text(&self, span: Span) -> &str {
        self.file(span)
            .1
            .get(span.start as usize..span.end as usize)
            .unwrap_or("")
    }
    /// 1-based line and column (in characters).
    pub fn line_col(&self, span: Span) -> (u32, u32) {
        let src = self.file(span).1;
        let upto = src
            .get(..(span.start as usize).min(src.len()))
            .unwrap_or("");
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
        let src = self.file(d.span).1;
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
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j + 1] + 1).min(cur[j] + 1).min(prev[j] + cost);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// How close a "did you mean" guess must be to what was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Near {
    /// A keyword: at most two edits away, for words longer than two bytes. The word itself may
    /// come back (a keyword written where it is not allowed).
    Keyword,
    /// A declared name: at most two edits away (one for names of one or two characters), never
    /// the word itself.
    Name,
}

/// The option closest to `word` by edit distance, if one is close enough; the first of equally
/// close options wins.
pub(crate) fn did_you_mean<'o>(
    word: &str,
    options: impl IntoIterator<Item = &'o str>,
    near: Near,
) -> Option<&'o str> {
    let limit = match near {
        Near::Keyword if word.len() <= 2 => return None,
        Near::Keyword => 2,
        Near::Name if word.chars().count() <= 2 => 1,
        Near::Name => 2,
    };
    options
        .into_iter()
        .filter(|o| near == Near::Keyword || *o != word)
        .map(|o| (edit_distance(word, o), o))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, o)| o)
}

/// A hint in both languages that starts with "did you mean `guess`?" and goes on with `then`;
/// `otherwise` when there is no guess.
pub(crate) fn guess_hint(
    guess: Option<&str>,
    then: (&str, &str),
    otherwise: (&str, &str),
) -> (String, String) {
    match guess {
        Some(g) => (
            format!("是否想写 `{g}`？{}", then.0),
            if then.1.is_empty() {
                format!("did you mean `{g}`?")
            } else {
                format!("did you mean `{g}`? {}", then.1)
            },
        ),
        None => (otherwise.0.to_string(), otherwise.1.to_string()),
    }
}
