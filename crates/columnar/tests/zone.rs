//! The whole seed pack over a generated zone: columnar == reference for every firm, clause and
//! tranche. `HUIQI_ZONE_FIRMS=100000 cargo test -p huiqi-columnar --test zone` runs a big zone.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code)]
use crate::common;

use std::path::Path;

#[test]
fn generated_zone_agrees() {
    let n: usize = std::env::var("HUIQI_ZONE_FIRMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let p = huiqi_lang::load_pack(&root.join("policies/ningbo"))
        .unwrap_or_else(|_| panic!("pack"))
        .program;
    let work = std::env::temp_dir().join(format!("huiqi-zone-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    huiqi_data::gen::generate(&work.join("zone"), n, 2019, 2023, 7, false).unwrap();
    let info =
        huiqi_data::ingest::ingest(&work.join("zone/mapping.toml"), &p, &work.join("snaps"), 20)
            .unwrap_or_else(|r| panic!("{r}"));
    let firms = huiqi_data::snapshot::load_snapshot(&info.dir, &p).unwrap();
    for year in [2022, 2023] {
        common::compare_on(&p, &firms, &info.dir, year, &format!("zone{year}")).unwrap();
    }
    // A chunk of firms at a time (uneven chunks; the last one short): the same rows.
    for year in [2022, 2023] {
        common::compare_chunked(
            &p,
            &firms,
            &info.dir,
            year,
            &format!("zone{year}-chunked"),
            Some(97),
        )
        .unwrap();
    }
    // A hand-made snapshot out of credit-code order: the engine still finds every firm's rows
    // and returns them in credit-code order.
    let mut reversed = firms.clone();
    reversed.reverse();
    let unsorted = work.join("unsorted");
    common::support::write_snapshot(&p, &reversed, &unsorted);
    common::compare_on(&p, &firms, &unsorted, 2023, "zone-unsorted").unwrap();
    // … which cannot be cut into chunks by credit code: a whole load instead.
    common::compare_chunked(
        &p,
        &firms,
        &unsorted,
        2023,
        "zone-unsorted-chunked",
        Some(97),
    )
    .unwrap();
    let _ = std::fs::remove_dir_all(&work);
}
