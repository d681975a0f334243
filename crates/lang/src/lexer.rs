//! Tokens with byte spans. Units stick to numbers (`1000万`, `3%`), dates are single tokens, and
//! identifiers may be Chinese. Comments are kept aside so the formatter can put them back.

use crate::diag::{Diag, Span};
use huiqi_ir::Date;
use rust_decimal::Decimal;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    None,
    Yuan,
    Wan,
    Yi,
    Percent,
    /// Durations (`3年`, `6个月`, `30天`): only in date arithmetic and `valid`.
    Years,
    Months,
    Days,
}

impl Unit {
    pub fn suffix(self) -> &'static str {
        match self {
            Unit::None => "",
            Unit::Yuan => "元",
            Unit::Wan => "万",
            Unit::Yi => "亿",
            Unit::Percent => "%",
            Unit::Years => "年",
            Unit::Months => "个月",
            Unit::Days => "天",
        }
    }

    pub fn is_duration(self) -> bool {
        matches!(self, Unit::Years | Unit::Months | Unit::Days)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    Ident(String),
    Str(String),
    /// Number as written (digits and dot) with its unit; `value` is already scaled to 元 or ratio.
    Num {
        text: String,
        unit: Unit,
        value: Decimal,
        yuan_suffix: bool,
    },
    Date(Date),
    Month(i32, u32),
    Infinity,
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    LParen,
    RParen,
    Comma,
    Colon,
    Dot,
    DotDot,
    Arrow,
    Assign,
    Ne,
    Ge,
    Gt,
    Le,
    Lt,
    Plus,
    Minus,
    Star,
    Slash,
    Coalesce,
    Eof,
}

impl Tok {
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Str(_) => "string".into(),
            Tok::Num { text, unit, .. } => format!("`{text}{}`", unit.suffix()),
            Tok::Date(d) => format!("`{d}`"),
            Tok::Month(y, m) => format!("`{y}-{m:02}`"),
            Tok::Eof => "end of file".into(),
            other => format!("`{}`", punct(other)),
        }
    }
}

pub fn punct(t: &Tok) -> &'static str {
    match t {
        Tok::Infinity => "∞",
        Tok::LBrace => "{",
        Tok::RBrace => "}",
        Tok::LBracket => "[",
        Tok::RBracket => "]",
        Tok::LParen => "(",
        Tok::RParen => ")",
        Tok::Comma => ",",
        Tok::Colon => ":",
        Tok::Dot => ".",
        Tok::DotDot => "..",
        Tok::Arrow => "=>",
        Tok::Assign => "=",
        Tok::Ne => "!=",
        Tok::Ge => ">=",
        Tok::Gt => ">",
        Tok::Le => "<=",
        Tok::Lt => "<",
        Tok::Plus => "+",
        Tok::Minus => "-",
        Tok::Star => "*",
        Tok::Slash => "/",
        Tok::Coalesce => "??",
        _ => "?",
    }
}

#[derive(Clone, Debug)]
pub struct Token {
    pub tok: Tok,
    pub span: Span,
    /// A newline separates this token from the previous one (a `(` after a newline never
    /// continues a call).
    pub newline_before: bool,
}

#[derive(Clone, Debug)]
pub struct Comment {
    pub span: Span,
    pub text: String,
    /// The comment shares its line with code before it.
    pub trailing: bool,
}

fn is_ident_start(c: char) -> bool {
    c == '_' || unicode_ident::is_xid_start(c)
}
fn is_ident_continue(c: char) -> bool {
    unicode_ident::is_xid_continue(c)
}

pub struct Lexed {
    pub tokens: Vec<Token>,
    pub comments: Vec<Comment>,
}

pub fn lex(file: u32, src: &str) -> Result<Lexed, Diag> {
    let mut tokens = Vec::new();
    let mut comments = Vec::new();
    let mut i = 0usize;
    let mut newline = true;
    let mut code_on_line = false;
    while let Some(c) = src[i..].chars().next() {
        let start = i;
        if c == '\n' {
            newline = true;
            code_on_line = false;
            i += 1;
            continue;
        }
        if c.is_whitespace() || c == '\u{feff}' {
            i += c.len_utf8();
            continue;
        }
        if c == '#' {
            let end = src[i..].find('\n').map(|e| i + e).unwrap_or(src.len());
            comments.push(Comment {
                span: Span {
                    file,
                    start: start as u32,
                    end: end as u32,
                },
                text: src[i..end].trim_end().to_string(),
                trailing: code_on_line,
            });
            i = end;
            continue;
        }
        code_on_line = true;
        let (tok, end) = if c == '"' || c == '“' {
            lex_string(file, src, i, c)?
        } else if c.is_ascii_digit() {
            lex_number(file, src, i)?
        } else if is_ident_start(c) {
            lex_word(src, i)
        } else {
            lex_punct(file, src, i, c)?
        };
        tokens.push(Token {
            tok,
            span: Span {
                file,
                start: start as u32,
                end: end as u32,
            },
            newline_before: newline,
        });
        newline = false;
        i = end;
    }
    tokens.push(Token {
        tok: Tok::Eof,
        span: Span {
            file,
            start: src.len() as u32,
            end: src.len() as u32,
        },
        newline_before: true,
    });
    Ok(Lexed { tokens, comments })
}

/// A string at `i`, opened by `open` (`"` or `“`); `\"` is a quote inside it.
fn lex_string(file: u32, src: &str, i: usize, open: char) -> Result<(Tok, usize), Diag> {
    let close = if open == '"' { '"' } else { '”' };
    let mut j = i + open.len_utf8();
    let mut out = String::new();
    loop {
        let Some(ch) = src[j..].chars().next() else {
            return Err(Diag::new(
                "E0101",
                Span {
                    file,
                    start: i as u32,
                    end: j.min(src.len()) as u32,
                },
                "字符串没有结束引号",
                "unterminated string",
                "在字符串末尾加上 \"",
                "add a closing \" at the end of the string",
            ));
        };
        if ch == '\n' {
            return Err(Diag::new(
                "E0101",
                Span {
                    file,
                    start: i as u32,
                    end: j as u32,
                },
                "字符串没有结束引号",
                "unterminated string",
                "字符串不能跨行；在行尾加上 \"",
                "strings cannot span lines; close it with \" on the same line",
            ));
        }
        if ch == close {
            return Ok((Tok::Str(out), j + ch.len_utf8()));
        }
        if ch == '\\' && src[j + 1..].starts_with('"') {
            out.push('"');
            j += 2;
            continue;
        }
        out.push(ch);
        j += ch.len_utf8();
    }
}

/// A name (or `inf`) at `i`.
fn lex_word(src: &str, i: usize) -> (Tok, usize) {
    let j = src[i..]
        .char_indices()
        .find(|(_, ch)| !is_ident_continue(*ch))
        .map_or(src.len(), |(k, _)| i + k);
    let word = &src[i..j];
    let tok = if word == "inf" {
        Tok::Infinity
    } else {
        Tok::Ident(word.to_string())
    };
    (tok, j)
}

/// An operator or punctuation mark at `i` (some have a full-width form), or E0102.
fn lex_punct(file: u32, src: &str, i: usize, c: char) -> Result<(Tok, usize), Diag> {
    let bytes = src.as_bytes();
    let two = &bytes[i..(i + 2).min(src.len())];
    let (tok, len) = match (c, two) {
        (_, b"=>") => (Tok::Arrow, 2),
        (_, b"..") => (Tok::DotDot, 2),
        (_, b"!=") => (Tok::Ne, 2),
        (_, b">=") => (Tok::Ge, 2),
        (_, b"<=") => (Tok::Le, 2),
        (_, b"==") => (Tok::Assign, 2),
        (_, b"??") => (Tok::Coalesce, 2),
        ('{', _) => (Tok::LBrace, 1),
        ('}', _) => (Tok::RBrace, 1),
        ('[', _) => (Tok::LBracket, 1),
        (']', _) => (Tok::RBracket, 1),
        ('(', _) | ('（', _) => (Tok::LParen, c.len_utf8()),
        (')', _) | ('）', _) => (Tok::RParen, c.len_utf8()),
        (',', _) | ('，', _) => (Tok::Comma, c.len_utf8()),
        (':', _) | ('：', _) => (Tok::Colon, c.len_utf8()),
        ('.', _) => (Tok::Dot, 1),
        ('=', _) => (Tok::Assign, 1),
        ('>', _) => (Tok::Gt, 1),
        ('<', _) => (Tok::Lt, 1),
        ('≥', _) => (Tok::Ge, c.len_utf8()),
        ('≤', _) => (Tok::Le, c.len_utf8()),
        ('≠', _) => (Tok::Ne, c.len_utf8()),
        ('+', _) => (Tok::Plus, 1),
        ('-', _) => (Tok::Minus, 1),
        ('*', _) | ('×', _) => (Tok::Star, c.len_utf8()),
        ('/', _) => (Tok::Slash, 1),
        ('∞', _) => (Tok::Infinity, c.len_utf8()),
        _ => {
            return Err(Diag::new(
                "E0102",
                Span {
                    file,
                    start: i as u32,
                    end: (i + c.len_utf8()) as u32,
                },
                format!("无法识别的字符 `{c}`"),
                format!("unexpected character `{c}`"),
                "注释请以 # 开头；文本请放在引号中",
                "comments start with #; text goes inside quotes",
            ))
        }
    };
    Ok((tok, i + len))
}

fn digits(src: &str, mut j: usize) -> usize {
    while j < src.len() && src.as_bytes()[j].is_ascii_digit() {
        j += 1;
    }
    j
}

fn lex_number(file: u32, src: &str, i: usize) -> Result<(Tok, usize), Diag> {
    let b = src.as_bytes();
    let mut j = digits(src, i);
    let sp = |end: usize| Span {
        file,
        start: i as u32,
        end: end as u32,
    };
    // Dates and months: 2022-01-01, 2023-01.
    if j - i == 4 && j < b.len() && b[j] == b'-' && j + 1 < b.len() && b[j + 1].is_ascii_digit() {
        let k = digits(src, j + 1);
        // Four ASCII digits.
        let y = src[i..j]
            .bytes()
            .fold(0i32, |y, d| y * 10 + i32::from(d - b'0'));
        let m: u32 = src[j + 1..k].parse().unwrap_or(0);
        if k < b.len() && b[k] == b'-' && k + 1 < b.len() && b[k + 1].is_ascii_digit() {
            let e = digits(src, k + 1);
            let d: u32 = src[k + 1..e].parse().unwrap_or(0);
            return match Date::new(y, m, d) {
                Some(date) if k - j == 3 && e - k == 3 => Ok((Tok::Date(date), e)),
                _ => Err(Diag::new(
                    "E0103",
                    sp(e),
                    format!("无效的日期 `{}`", &src[i..e]),
                    format!("invalid date `{}`", &src[i..e]),
                    "日期写作 YYYY-MM-DD，例如 2022-01-01，且须是真实存在的日期",
                    "write dates as YYYY-MM-DD, e.g. 2022-01-01, and use a real calendar day",
                )),
            };
        }
        if k - j == 3 && (1..=12).contains(&m) {
            return Ok((Tok::Month(y, m), k));
        }
        return Err(Diag::new(
            "E0103",
            sp(k),
            format!("无效的月份 `{}`", &src[i..k]),
            format!("invalid month `{}`", &src[i..k]),
            "月份写作 YYYY-MM，例如 2023-01；减法请在 - 两侧加空格",
            "write months as YYYY-MM, e.g. 2023-01; put spaces around - for subtraction",
        ));
    }
    if j < b.len() && b[j] == b'.' && j + 1 < b.len() && b[j + 1].is_ascii_digit() {
        j = digits(src, j + 1);
    }
    let text = &src[i..j];
    let rest = &src[j..];
    let (unit, yuan_suffix, ulen) = if rest.starts_with("万元") {
        (Unit::Wan, true, "万元".len())
    } else if rest.starts_with("亿元") {
        (Unit::Yi, true, "亿元".len())
    } else if rest.starts_with('万') {
        (Unit::Wan, false, '万'.len_utf8())
    } else if rest.starts_with('亿') {
        (Unit::Yi, false, '亿'.len_utf8())
    } else if rest.starts_with('元') {
        (Unit::Yuan, true, '元'.len_utf8())
    } else if rest.starts_with('%') {
        (Unit::Percent, false, 1)
    } else if rest.starts_with('年') {
        (Unit::Years, false, '年'.len_utf8())
    } else if rest.starts_with("个月") {
        (Unit::Months, false, "个月".len())
    } else if rest.starts_with('天') {
        (Unit::Days, false, '天'.len_utf8())
    } else {
        (Unit::None, false, 0)
    };
    let end = j + ulen;
    let bad = |zh: String, en: String, hz: &str, he: &str| {
        Err(Diag::new("E0104", sp(end), zh, en, hz, he))
    };
    let Ok(raw) = Decimal::from_str(text) else {
        return bad(
            format!("数值 `{}` 超出范围", &src[i..end]),
            format!("number `{}` is out of range", &src[i..end]),
            "金额最多约 7.9×10^28 元；请检查位数",
            "amounts go up to about 7.9e28 yuan; check the digits",
        );
    };
    let scale = match unit {
        Unit::Wan => Decimal::from(10_000),
        Unit::Yi => Decimal::from(100_000_000),
        Unit::Percent => Decimal::new(1, 2),
        _ => Decimal::ONE,
    };
    let Some(value) = raw.checked_mul(scale) else {
        return bad(
            format!("数值 `{}` 超出范围", &src[i..end]),
            format!("number `{}` is out of range", &src[i..end]),
            "请检查位数和单位",
            "check the digits and the unit",
        );
    };
    if value.normalize().scale() > huiqi_ir::money::SCALE {
        return bad(
            format!("数值 `{}` 超过12位小数", &src[i..end]),
            format!("number `{}` has more than 12 decimal places", &src[i..end]),
            "比例和数值最多12位小数",
            "ratios and numbers carry at most 12 decimal places",
        );
    }
    if unit.is_duration() && (value.normalize().scale() > 0 || value > Decimal::from(100_000)) {
        return bad(
            format!("时长 `{}` 须为不超过100000的整数", &src[i..end]),
            format!(
                "duration `{}` must be a whole number up to 100000",
                &src[i..end]
            ),
            "例如 3年、6个月、30天",
            "e.g. 3年, 6个月, 30天",
        );
    }
    if matches!(unit, Unit::Yuan | Unit::Wan | Unit::Yi) && value.normalize().scale() > 2 {
        return bad(
            format!("金额 `{}` 精确到分以下", &src[i..end]),
            format!("amount `{}` is finer than 1 分 (0.01 元)", &src[i..end]),
            "金额最多精确到分（0.01元）",
            "amounts are exact to the 分 (0.01 yuan) at most",
        );
    }
    Ok((
        Tok::Num {
            text: text.to_string(),
            unit,
            value: value.normalize(),
            yuan_suffix,
        },
        end,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    fn toks(s: &str) -> Vec<Tok> {
        lex(0, s)
            .unwrap()
            .tokens
            .into_iter()
            .map(|t| t.tok)
            .collect()
    }
    #[test]
    fn units_and_dates() {
        let t = toks("1000万 3.2亿元 3% 2022-01-01 2023-02 营业收入>=100亿");
        assert!(
            matches!(&t[0], Tok::Num { unit: Unit::Wan, value, .. } if *value == Decimal::from(10_000_000))
        );
        assert!(
            matches!(&t[1], Tok::Num { unit: Unit::Yi, value, .. } if *value == Decimal::from(320_000_000))
        );
        assert!(
            matches!(&t[2], Tok::Num { unit: Unit::Percent, value, .. } if *value == Decimal::new(3, 2))
        );
        assert!(matches!(&t[3], Tok::Date(_)));
        assert!(matches!(&t[4], Tok::Month(2023, 2)));
        assert_eq!(t[5], Tok::Ident("营业收入".into()));
        assert_eq!(t[6], Tok::Ge);
    }
    #[test]
    fn rejects_sub_fen_and_bad_dates() {
        assert!(lex(0, "1.234元").is_err());
        assert!(lex(0, "2022-13-01").is_err());
        assert!(lex(0, "\"abc").is_err());
        assert!(lex(0, "a $ b").is_err());
    }
}
