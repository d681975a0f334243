//! `huiqi serve --demo`: the demo zone is prepared once and reused, the firm accounts are the
//! sample firms, and each one is a firm of the zone's snapshot (no firm is patched in from its
//! file). A zone whose snapshot does not hold a sample firm as its file says is prepared again.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use huiqi_server::demo::{self, DemoZone};
use huiqi_server::Config;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// A root with the repo's policies and a copy of its sample firms (the test edits one).
fn demo_root() -> PathBuf {
    let root = std::env::temp_dir().join(format!("huiqi-server-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("examples/firms")).unwrap();
    std::os::unix::fs::symlink(repo_root().join("policies"), root.join("policies")).unwrap();
    std::os::unix::fs::symlink(repo_root().join("indicators"), root.join("indicators")).unwrap();
    // The multi-year step's data (`huiqi demo` step 12).
    std::os::unix::fs::symlink(
        repo_root().join("examples/clawback"),
        root.join("examples/clawback"),
    )
    .unwrap();
    for e in std::fs::read_dir(repo_root().join("examples/firms")).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, root.join("examples/firms").join(p.file_name().unwrap())).unwrap();
    }
    root
}

fn prepare(root: &Path) -> (DemoZone, usize) {
    let mut steps = 0;
    let z = demo::prepare(root, &mut |_| steps += 1).unwrap_or_else(|e| panic!("{e}"));
    (z, steps)
}

/// The firm accounts the server creates for `z`, and whether each is a firm of its snapshot.
fn accounts(z: &DemoZone) -> Vec<(String, bool)> {
    let cfg = z.config(Config::new("unused", z.pack.clone()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let s = huiqi_server::build(cfg)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let firms = demo::accounts(&s, z)
            .await
            .unwrap_or_else(|e| panic!("{:?}", e.body));
        firms
            .into_iter()
            .map(|c| {
                let held = s.served().firms.contains_key(&c);
                (c, held)
            })
            .collect()
    })
}

#[test]
fn demo_firm_accounts_are_sample_firms_of_the_snapshot() {
    let root = demo_root();
    let (z, steps) = prepare(&root);
    assert!(steps > 0, "a new zone is prepared");
    let firms = accounts(&z);
    assert_eq!(firms.len(), z.firm_files.len());
    assert!(firms.len() >= 6);
    for (code, held) in &firms {
        assert!(held, "{code} is not a firm of the demo snapshot");
    }

    // Prepared once: the next start reuses it.
    let (again, steps) = prepare(&root);
    assert_eq!(steps, 0, "the zone is reused");
    assert_eq!(again.snapshot, z.snapshot);

    // A sample file that no longer says what the snapshot holds: the zone is prepared again,
    // with the new figures.
    let f = root.join("examples/firms/donggang_xincailiao.toml");
    let text = std::fs::read_to_string(&f).unwrap();
    std::fs::write(&f, text.replace("2023 = \"96.8亿\"", "2023 = \"99.5亿\"")).unwrap();
    let (fresh, steps) = prepare(&root);
    assert!(steps > 0, "a stale zone is prepared again");
    assert_ne!(fresh.snapshot, z.snapshot);
    assert!(accounts(&fresh).iter().all(|(_, held)| *held));
    let _ = std::fs::remove_dir_all(&root);
}
