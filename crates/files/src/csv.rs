//! Text cells of every CSV the project writes (results, 公示名单, payment files): a cell a
//! spreadsheet would run as a formula is neutralised, the way OWASP's "CSV injection" page
//! recommends, and bidirectional-control characters are shown as their code points so a name
//! cannot reorder what a reviewer reads.

use std::borrow::Cow;

/// Characters that make a spreadsheet treat a cell as a formula when they come first.
const FORMULA_START: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Unicode bidirectional controls (embeddings, overrides, isolates, marks).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn is_plain_number(s: &str) -> bool {
    let (int, frac) = s.split_once('.').unwrap_or((s, "0"));
    !int.is_empty()
        && !frac.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

/// The cell's text as it should be stored: a leading `'` before a formula start, bidi controls
/// written as `<U+202E>`. Plain text (every credit code, clause name and amount) is borrowed as is.
///
/// A cell that is exactly a negative decimal number (`-12.50`) is kept: neutralising it would
/// turn an amount into text. `-2+3` is a formula and is neutralised.
pub fn safe_cell(s: &str) -> Cow<'_, str> {
    let formula = match s.chars().next() {
        Some('-') => !is_plain_number(&s[1..]),
        Some(c) => FORMULA_START.contains(&c),
        None => false,
    };
    let bidi = s.chars().any(is_bidi_control);
    if !formula && !bidi {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    if formula {
        out.push('\'');
    }
    for c in s.chars() {
        if is_bidi_control(c) {
            out.push_str(&format!("<U+{:04X}>", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Appends one CSV field: neutralised, then quoted when it holds a comma, quote or line break.
pub fn push_field(out: &mut String, s: &str) {
    let s = safe_cell(s);
    if s.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(&s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised() {
        for bad in [
            "=HYPERLINK(\"http://x\",\"点此领取\")",
            "+cmd|' /C calc'!A0",
            "@SUM(1+1)",
            "-2+3",
            "\tx",
            "\rx",
        ] {
            let s = safe_cell(bad);
            assert!(s.starts_with('\''), "{bad} → {s}");
            assert_eq!(&s[1..], bad);
        }
    }

    #[test]
    fn plain_text_and_numbers_are_untouched() {
        for ok in [
            "91330201MA2AB3C4D5",
            "宁波美旭精密",
            "-12.50",
            "0",
            "",
            "a=b",
        ] {
            assert!(matches!(safe_cell(ok), Cow::Borrowed(_)), "{ok}");
        }
    }

    #[test]
    fn bidi_controls_are_shown_inertly() {
        assert_eq!(safe_cell("ab\u{202E}cd"), "ab<U+202E>cd");
        assert_eq!(safe_cell("=\u{2066}x"), "'=<U+2066>x");
    }

    #[test]
    fn fields_are_quoted_after_neutralising() {
        let mut s = String::new();
        push_field(&mut s, "=1,\"2\"");
        assert_eq!(s, "\"'=1,\"\"2\"\"\"");
    }
}
