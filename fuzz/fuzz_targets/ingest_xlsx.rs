//! A whole ingest where the fuzzer writes the yearly tax sheet as an XLSX file.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    huiqi_fuzz::ingest_with("税务.xlsx", "xlsx", data);
});
