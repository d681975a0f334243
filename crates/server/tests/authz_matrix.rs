//! The authorization decision matrix (`authz/tests/matrix.csv`): every role × action × own/other
//! firm × own/other department × approved-by-self × active, with the intended decision. Cedar's
//! answer must equal it on every row, and the matrix must cover every role and action, so a
//! loosened (or tightened) rule fails here.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;

use huiqi_server::authz::{Act, Authz, Principal, Resource, Role};

const MATRIX: &str = include_str!("../../../authz/tests/matrix.csv");
const OWN_FIRM: &str = "91330201MA2AAAAA0X";
const OTHER_FIRM: &str = "91330201MA2BBBBB0X";

fn principal(role: Role, active: bool) -> Principal {
    Principal {
        user: format!("{}-user", role.as_str()),
        role,
        firm: (role == Role::Firm).then(|| OWN_FIRM.to_string()),
        department: (role == Role::Reviewer).then(|| "科技局".to_string()),
        active,
    }
}

fn resource(
    kind: &str,
    p: &Principal,
    own_firm: bool,
    own_dept: bool,
    approved_self: bool,
) -> Resource {
    let firm = if own_firm { OWN_FIRM } else { OTHER_FIRM }.to_string();
    match kind {
        "catalogue" => Resource::Catalogue,
        "notice" => Resource::Notice,
        "zone" => Resource::Zone,
        "firm" => Resource::Firm(firm),
        "line" => Resource::Line {
            id: 7,
            firm,
            // 高企认定奖励 belongs to 科技局 (authz/departments.toml), 营收首次突破 to 经信局.
            clause: if own_dept {
                "高企认定奖励"
            } else {
                "营收首次突破"
            }
            .to_string(),
            state: "confirmed".into(),
            approved_by: Some(if approved_self {
                p.user.clone()
            } else {
                "someone-else".into()
            }),
        },
        k => panic!("unknown resource kind {k}"),
    }
}

fn yes(s: &str) -> bool {
    match s {
        "yes" => true,
        "no" => false,
        x => panic!("not yes/no: {x}"),
    }
}

#[test]
fn cedar_decides_as_the_matrix_says() {
    let authz = Authz::load().expect("the embedded policies validate");
    let mut seen = HashSet::new();
    let mut wrong = vec![];
    let mut rows = 0;
    for line in MATRIX.lines().filter(|l| !l.starts_with('#')).skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), 8, "{line}");
        let role = Role::parse(f[0]).unwrap_or_else(|| panic!("role {}", f[0]));
        let act = Act::parse(f[1]).unwrap_or_else(|| panic!("action {}", f[1]));
        let p = principal(role, yes(f[6]));
        let r = resource(f[2], &p, yes(f[3]), yes(f[4]), yes(f[5]));
        let want = match f[7] {
            "allow" => true,
            "deny" => false,
            x => panic!("expected allow/deny: {x}"),
        };
        let got = authz
            .check(&p, act, &r)
            .unwrap_or_else(|e| panic!("{line}: cedar could not decide: {e}"));
        if got != want {
            wrong.push(format!(
                "{line} → cedar says {}",
                if got { "allow" } else { "deny" }
            ));
        }
        seen.insert((role, act));
        rows += 1;
    }
    assert!(
        wrong.is_empty(),
        "{} of {rows} rows differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    for role in Role::ALL {
        for act in Act::ALL {
            assert!(
                seen.contains(&(role, act)),
                "the matrix has no row for {role:?} × {act:?}"
            );
        }
    }
}

#[test]
fn an_action_on_the_wrong_kind_of_resource_is_denied() {
    let authz = Authz::load().unwrap();
    let officer = principal(Role::Officer, true);
    // approve applies to lines only; the request does not fit the schema: deny, not allow.
    assert!(!authz.allowed(&officer, Act::Approve, &Resource::Zone));
    assert!(!authz.allowed(
        &principal(Role::Finance, true),
        Act::Pay,
        &Resource::Firm(OWN_FIRM.into())
    ));
}

#[test]
fn policies_that_do_not_validate_refuse_to_load() {
    let bad = "permit(principal, action == Huiqi::Action::\"no_such_action\", resource);";
    let e = Authz::from_texts(
        huiqi_server::authz::SCHEMA,
        bad,
        huiqi_server::authz::DEPARTMENTS,
    );
    assert!(e.is_err());
    let typo = "permit(principal, action, resource) when { principal.nope };";
    assert!(Authz::from_texts(
        huiqi_server::authz::SCHEMA,
        typo,
        huiqi_server::authz::DEPARTMENTS
    )
    .is_err());
}

/// The batch decision (one entity store for a page of lines) answers exactly as one decision
/// per resource, for every role, act and resource of the matrix's shapes, lines of both
/// departments, firms and approvers in one list — and a line asked about twice.
#[test]
fn deciding_many_at_once_equals_deciding_each() {
    let authz = Authz::load().unwrap();
    for role in Role::ALL {
        for active in [true, false] {
            let p = principal(role, active);
            let mut rs = vec![
                Resource::Catalogue,
                Resource::Notice,
                Resource::Zone,
                Resource::Firm(OWN_FIRM.into()),
                Resource::Firm(OTHER_FIRM.into()),
            ];
            let mut id = 0;
            for own_firm in [true, false] {
                for own_dept in [true, false] {
                    for approved_self in [true, false] {
                        for state in ["computed", "approved", "announced", "confirmed"] {
                            let mut r = resource("line", &p, own_firm, own_dept, approved_self);
                            if let Resource::Line {
                                id: i, state: s, ..
                            } = &mut r
                            {
                                id += 1;
                                *i = id;
                                *s = state.into();
                            }
                            rs.push(r);
                        }
                    }
                }
            }
            let one_by_one: Vec<Vec<bool>> = rs
                .iter()
                .map(|r| {
                    Act::ALL
                        .iter()
                        // A pair the schema does not allow is Cedar's error, and a deny.
                        .map(|a| authz.check(&p, *a, r).unwrap_or(false))
                        .collect()
                })
                .collect();
            // The remembered decisions (asked twice: the second answer is the memo's) agree.
            for _ in 0..2 {
                for (r, want) in rs.iter().zip(&one_by_one) {
                    let got: Vec<bool> =
                        Act::ALL.iter().map(|a| authz.allowed(&p, *a, r)).collect();
                    assert_eq!(&got, want, "{role:?} {r:?}");
                }
            }
            assert_eq!(
                authz.allowed_many(&p, &Act::ALL, &rs),
                one_by_one,
                "{role:?}"
            );
            // The same line twice (as a page never asks, but a caller might).
            let twice = vec![rs[5].clone(), rs[5].clone()];
            assert_eq!(
                authz.allowed_many(&p, &Act::ALL, &twice),
                vec![one_by_one[5].clone(), one_by_one[5].clone()]
            );
            assert!(one_by_one.iter().flatten().any(|x| *x) || !active || role == Role::Public);
        }
    }
}

/// The remembered decisions (`allowed`) are Cedar's own (`check`) for every row of the matrix
/// and for many firms, whichever is asked first: a firm's decision is remembered as "own" or
/// "another", and a wrong abstraction would let one firm's answer stand for another's.
#[test]
fn remembered_decisions_are_cedars_for_every_firm() {
    let authz = Authz::load().unwrap();
    let firms: Vec<String> = (0..50)
        .map(|k| format!("91330201MA2{k:05}0X"))
        .chain([OWN_FIRM.to_string(), OTHER_FIRM.to_string()])
        .collect();
    for pass in 0..2 {
        for role in Role::ALL {
            for active in [true, false] {
                let p = principal(role, active);
                for act in Act::ALL {
                    // The second pass asks in the other order, so each order fills the memo.
                    let order: Vec<&String> = if pass == 0 {
                        firms.iter().collect()
                    } else {
                        firms.iter().rev().collect()
                    };
                    for f in order {
                        let r = Resource::Firm(f.clone());
                        let want = authz.check(&p, act, &r).unwrap_or(false);
                        assert_eq!(
                            authz.allowed(&p, act, &r),
                            want,
                            "{role:?} (active {active}) {act:?} on firm {f}"
                        );
                    }
                }
            }
        }
    }
}

/// The embedded policies and one more.
fn with_policy(extra: &str) -> Authz {
    let policies = format!("{}\n{extra}", huiqi_server::authz::POLICIES);
    Authz::from_texts(
        huiqi_server::authz::SCHEMA,
        &policies,
        huiqi_server::authz::DEPARTMENTS,
    )
    .unwrap()
}

/// A policy that names a firm turns the "another firm" memo off: that firm's decision is its
/// own, asked before or after any other's — whether the firm is named in the scope or in a
/// condition.
#[test]
fn a_policy_naming_a_firm_is_decided_for_that_firm_alone() {
    let public = Principal::anonymous();
    let any = Resource::Firm("91330201MA2CCCCC0X".into());
    let it = Resource::Firm(OTHER_FIRM.into());
    for extra in [
        format!("permit(principal, action == Huiqi::Action::\"check_firm\", resource == Huiqi::Firm::\"{OTHER_FIRM}\");"),
        format!("permit(principal, action == Huiqi::Action::\"check_firm\", resource) when {{ resource == Huiqi::Firm::\"{OTHER_FIRM}\" }};"),
    ] {
        let authz = with_policy(&extra);
        for _ in 0..2 {
            assert!(!authz.allowed(&public, Act::CheckFirm, &any), "{extra}");
            assert!(authz.allowed(&public, Act::CheckFirm, &it), "{extra}");
            assert!(!authz.allowed(&public, Act::CheckFirm, &any), "{extra}");
        }
    }
}
