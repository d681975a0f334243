//! A whole ingest where the fuzzer writes the yearly tax CSV (any bytes: encodings, quotes,
//! units, numbers past i64) beside the corpus's valid firm list and events.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    huiqi_fuzz::ingest_with("税务.csv", "csv", data);
});
