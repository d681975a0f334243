//! Policy text: lexer, parser, checker and formatter must never panic, overflow the stack or hang,
//! whatever the bytes; a formatted file must parse again.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let mut sm = huiqi_lang::SourceMap::default();
    let f = sm.add("fuzz.hq".into(), src.to_string());
    if let Ok(file) = huiqi_lang::parser::parse_file(f, src) {
        let _ = huiqi_lang::check::check(&[file], &sm);
        if let Ok(formatted) = huiqi_lang::fmt::format_source(src) {
            if huiqi_lang::parser::parse_file(0, &formatted).is_err() {
                panic!("the formatter's output does not parse:\n{formatted}");
            }
        }
    }
});
