//! A mapping file (TOML) checked against the seed pack; paths resolve under the bad-data corpus.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let dir = huiqi_fuzz::repo().join("tests/bad/data/common");
    let _ = huiqi_data::mapping::parse(text, "mapping.toml", &dir, huiqi_fuzz::seed());
});
