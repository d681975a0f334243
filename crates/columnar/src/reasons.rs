//! Reason texts of a run's results, interned: millions of rows share a few dozen.

/// Reason texts by code: millions of rows share a few dozen reasons. Code 0 is "no reason".
#[derive(Clone, Debug)]
pub struct Reasons {
    texts: Vec<std::sync::Arc<str>>,
    codes: std::collections::HashMap<std::sync::Arc<str>, u32>,
}

impl Default for Reasons {
    fn default() -> Self {
        Reasons {
            texts: vec!["".into()],
            codes: Default::default(),
        }
    }
}

impl Reasons {
    pub fn code(&mut self, text: &str) -> u32 {
        if let Some(c) = self.codes.get(text) {
            return *c;
        }
        let c = self.texts.len() as u32;
        let t: std::sync::Arc<str> = text.into();
        self.texts.push(t.clone());
        self.codes.insert(t, c);
        c
    }

    pub fn text(&self, code: u32) -> Option<&str> {
        (code != 0).then(|| &*self.texts[code as usize])
    }

    /// Every text by code (code 0, "no reason", as the empty text).
    pub fn texts(&self) -> impl Iterator<Item = &str> {
        self.texts.iter().map(|t| &**t)
    }

    pub fn shared(&self, code: u32) -> Option<std::sync::Arc<str>> {
        (code != 0).then(|| self.texts[code as usize].clone())
    }
}
