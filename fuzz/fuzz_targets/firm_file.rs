//! A firm file (TOML or JSON, the first input byte chooses) against the seed pack's facts.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let _ = huiqi_data::firmfile::parse_firm(huiqi_fuzz::seed(), text, sel & 1 == 1);
});
