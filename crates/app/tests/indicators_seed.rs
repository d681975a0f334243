//! The seed page's zone figures, reproduced: the four zones generated calibrated to the page's
//! published aggregates, ingested, and the indicator set (`indicators/`) computing them back
//! from the firm-level rows — to 0.01亿 and 0.1 percentage point, 同口径 growth included.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use huiqi::indicators::{read_output, seed_zones, IndicatorsReport, SEED_PERIODS};
use huiqi_indicators::{format_value, Colour, Figure, Unit};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn shown(r: &IndicatorsReport, id: &str, zone: &str) -> (String, i64, Option<String>) {
    let i = r
        .set
        .indicator(id)
        .unwrap_or_else(|| panic!("no indicator {id}"));
    let f = r
        .computed
        .figures
        .iter()
        .find(|f| f.indicator == id && f.zone == zone)
        .unwrap_or_else(|| panic!("no figure {id} in {zone}"));
    (
        format_value(f.value, i.unit),
        f.firms,
        Figure::growth_pct(f.value, f.same_base).map(|g| g.to_string()),
    )
}

#[test]
fn the_seed_pages_figures_come_back_from_firm_level_rows() {
    let r = root();
    let work = std::env::temp_dir().join(format!("huiqi-seed-zones-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let set = r.join("indicators");
    let mut reports = vec![];
    let outs = seed_zones(&r.join("policies/ningbo"), &set, &work, &mut |rep| {
        reports.push((
            rep.computed.period.label(),
            rep.computed.figures.clone(),
            rep.progress.clone(),
        ))
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(reports.len(), SEED_PERIODS.len());
    // Recompute 2021-11 for the typed checks below (the outputs are read back too).
    let snap = std::fs::read_dir(work.join("snapshots"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.join("manifest.json").exists())
        .unwrap();
    let y21 = huiqi::indicators::indicators(&huiqi::indicators::IndicatorsRequest {
        set: set.clone(),
        snapshot: snap.clone(),
        period: "2021-11".into(),
        out: None,
        force: false,
        runs: vec![],
    })
    .unwrap();
    let cd = "成都高新区";
    assert_eq!(shown(&y21, "软件业营业收入", cd).0, "2056.40");
    assert_eq!(shown(&y21, "软件业营业收入", cd).2.as_deref(), Some("46.9"));
    assert_eq!(shown(&y21, "软件业规上营业收入", cd).0, "1145.80");
    assert_eq!(shown(&y21, "软件业规上企业数", cd).0, "434");
    for (rev, n, v, firms, g) in [
        (
            "大数据和网络安全营业收入",
            "大数据和网络安全企业数",
            "273.44",
            159,
            "61.1",
        ),
        ("数字文创营业收入", "数字文创企业数", "550.30", 137, "19.2"),
        (
            "5G与人工智能营业收入",
            "5G与人工智能企业数",
            "221.00",
            119,
            "40.0",
        ),
    ] {
        let s = shown(&y21, rev, cd);
        assert_eq!(
            (s.0.as_str(), s.1, s.2.as_deref()),
            (v, firms, Some(g)),
            "{rev}"
        );
        assert_eq!(shown(&y21, n, cd).0, firms.to_string(), "{n}");
    }
    let nb = "宁波高新区";
    assert_eq!(shown(&y21, "规上服务业营业收入", nb).0, "201.00");
    assert_eq!(
        shown(&y21, "规上服务业营业收入", nb).2.as_deref(),
        Some("22.2")
    );
    assert_eq!(shown(&y21, "限上批零销售额", nb).0, "1940.00");
    assert_eq!(shown(&y21, "限上批零销售额", nb).2.as_deref(), Some("30.0"));
    assert_eq!(shown(&y21, "战新制造业增加值", nb).0, "58.42");
    assert_eq!(shown(&y21, "规上工业增加值", nb).0, "71.68");
    assert_eq!(shown(&y21, "战新增加值占比", nb).0, "81.5");
    // 同口径 and 名义 differ where firms entered and left the sets.
    for (id, z) in [("软件业营业收入", cd), ("规上服务业营业收入", nb)] {
        let f = y21
            .computed
            .figures
            .iter()
            .find(|f| f.indicator == id && f.zone == z)
            .unwrap();
        assert_ne!(f.same_base, f.nominal_base, "{id}");
        assert!(f.entries > 0 && f.exits > 0, "{id}: {f:?}");
    }
    // Huangpu: R&D intensity (firm basis) in 2021; 新增高企 against the 2022 target of 100.
    let hp = "广州高新区";
    assert_eq!(shown(&y21, "研发投入强度", hp).0, "5.8");
    let (_, f22, p22) = reports.iter().find(|r| r.0 == "2022-11").unwrap();
    let new = f22
        .iter()
        .find(|f| f.indicator == "新增高企" && f.zone == hp)
        .unwrap();
    assert_eq!(format_value(new.value, Unit::Firms), "87");
    let t = p22
        .iter()
        .find(|t| t.indicator == "新增高企" && t.zone == hp)
        .unwrap();
    assert_eq!(t.completion.unwrap().to_string(), "87.0");
    assert_eq!(t.pace.unwrap().to_string(), "91.7");
    assert_eq!(t.colour, Some(Colour::Amber));
    // 固投 from the projects table (generated totals; the page publishes only the target).
    let fai = f22
        .iter()
        .find(|f| f.indicator == "固定资产投资" && f.zone == hp)
        .unwrap();
    assert_eq!(format_value(fai.value, Unit::Yi), "1786.40");
    let t = p22
        .iter()
        .find(|t| t.indicator == "固定资产投资" && t.zone == hp)
        .unwrap();
    assert_eq!(t.completion.unwrap().to_string(), "89.3");
    assert_eq!(t.colour, Some(Colour::Amber));
    // 瞪羚: the pack's 瞪羚遴选 run on this snapshot; the selection of 2022 is made on 2021's
    // annual figures, so 2022-11 reads the run of 2021. Every zone's count adds up to the firms
    // the run selected (all of them in some zone).
    let gz = f22
        .iter()
        .filter(|f| f.indicator == "瞪羚企业")
        .map(|f| f.firms)
        .sum::<i64>();
    let run21: huiqi_files::run::RunManifest = serde_json::from_str(
        &std::fs::read_to_string(work.join("runs/2021/manifest.json")).unwrap(),
    )
    .unwrap();
    let selected = run21
        .by_clause
        .iter()
        .find(|c| c.clause.as_deref() == Some("瞪羚企业奖励"))
        .map_or(0, |c| c.awards);
    assert!(
        gz > 0 && gz as u64 >= selected,
        "{gz} zoned, {selected} awarded"
    );
    assert!(p22
        .iter()
        .any(|t| t.indicator == "瞪羚企业" && t.zone == hp && t.target.is_some()));

    // Every card's firm list sums to it, in every written output.
    for p in SEED_PERIODS {
        let (_, out) = read_output(&outs.join(p), &set).unwrap();
        for f in &out.figures {
            let rows = out.firms.iter().filter(|r| {
                r.indicator == f.indicator && r.in_current && r.zone.as_deref() == Some(&f.zone)
            });
            if rows.clone().next().is_none() && f.firms > 0 {
                continue; // a ratio: its components are listed instead
            }
            assert_eq!(rows.map(|r| r.value).sum::<i128>(), f.value, "{p} {f:?}");
        }
    }
    // Outputs computed by another version of the set are refused (a comment changes the hash).
    let other = work.join("other-set");
    std::fs::create_dir_all(&other).unwrap();
    for f in ["zones.toml", "targets.toml"] {
        let t = std::fs::read_to_string(set.join(f)).unwrap();
        std::fs::write(other.join(f), format!("{t}\n# 改过\n")).unwrap();
    }
    let e = read_output(&outs.join("2021-11"), &other).err().unwrap();
    assert!(e.to_string().contains("another version"), "{e}");
    let _ = std::fs::remove_dir_all(&work);
}
