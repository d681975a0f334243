//! How the CLI speaks: the language and colour of its output, diagnostics, and the one place an
//! error becomes a message on stderr.

use huiqi::{Error, Lang};
use huiqi_lang::{Diag, SourceMap};

pub struct Out {
    pub lang: Lang,
    pub color: bool,
}

impl Out {
    pub fn en(&self) -> bool {
        self.lang == Lang::En
    }

    /// The Chinese or the English text.
    pub fn t<'a>(&self, zh: &'a str, en: &'a str) -> &'a str {
        if self.en() {
            en
        } else {
            zh
        }
    }

    pub fn diags(&self, sm: &SourceMap, ds: &[Diag]) {
        for d in ds {
            eprint!("{}", sm.render(d, self.lang, self.color));
        }
    }

    /// Prints an error the way each kind reads best: diagnostics with their sources, data
    /// problems with file, row and column, everything else as one line.
    pub fn error(&self, e: &Error) {
        let pick = |zh: &str, en: &str| self.t(zh, en).to_string();
        match e {
            Error::Policy {
                path,
                sources,
                diags,
            } => {
                self.diags(sources, diags);
                eprintln!(
                    "{}: {} {}",
                    path.display(),
                    diags.len(),
                    self.t("个错误", if diags.len() == 1 { "error" } else { "errors" })
                );
            }
            Error::Data(report) => {
                eprint!("{}", report.render(self.en()));
                let more = if report.truncated { "+" } else { "" };
                eprintln!(
                    "{}{more} {}",
                    report.errors.len(),
                    self.t(
                        "个数据错误，未写入快照",
                        "data error(s); no snapshot was written"
                    )
                );
            }
            Error::FirmFile { path, err } => {
                let (msg, hint) = if self.en() {
                    (&err.en, &err.hint_en)
                } else {
                    (&err.zh, &err.hint_zh)
                };
                eprintln!(
                    "{}: {}[{}]: {msg}\n  = {}: {hint}",
                    path.display(),
                    self.t("错误", "error"),
                    err.field,
                    self.t("提示", "hint")
                );
            }
            Error::Ledger(e) => eprintln!("{}: {}", self.t("错误", "error"), e.msg(self.en())),
            Error::Usage { zh, en } | Error::Input { zh, en } => eprintln!("{}", pick(zh, en)),
        }
    }
}

/// 分 → `1234.56`.
pub use huiqi_ledger::{wan, yuan};
