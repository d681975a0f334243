//! Authorization with Cedar: the schema and policies in `authz/` (embedded in the binary),
//! validated strictly when the server starts; one decision per request and per returned row.
//!
//! Entities are built per request from the session and the row: the principal with its role,
//! firm and department; a line with its firm, its clause and the clause's department (from
//! `authz/departments.toml`). Cedar decides who may act; the ledger's checked transitions
//! decide whether the step is legal for the line's state.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid,
    PolicySet, Request, RestrictedExpression, Schema, ValidationMode, Validator,
};

pub const SCHEMA: &str = include_str!("../../../authz/huiqi.cedarschema");
pub const POLICIES: &str = include_str!("../../../authz/huiqi.cedar");
pub const DEPARTMENTS: &str = include_str!("../../../authz/departments.toml");

/// The department of a clause that `departments.toml` does not list.
pub const DEFAULT_DEPARTMENT: &str = "政策科";

/// The roles, as Cedar `Role` entity ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Firm,
    Officer,
    Reviewer,
    Finance,
    Auditor,
    Leader,
    Admin,
    Public,
}

impl Role {
    pub const ALL: [Role; 8] = [
        Role::Firm,
        Role::Officer,
        Role::Reviewer,
        Role::Finance,
        Role::Auditor,
        Role::Leader,
        Role::Admin,
        Role::Public,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Firm => "firm",
            Role::Officer => "officer",
            Role::Reviewer => "reviewer",
            Role::Finance => "finance",
            Role::Auditor => "auditor",
            Role::Leader => "leader",
            Role::Admin => "admin",
            Role::Public => "public",
        }
    }
    pub fn zh(self) -> &'static str {
        match self {
            Role::Firm => "企业",
            Role::Officer => "经办人",
            Role::Reviewer => "审核人",
            Role::Finance => "财政",
            Role::Auditor => "审计",
            Role::Leader => "领导",
            Role::Admin => "管理员",
            Role::Public => "公众",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// The actions of the schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Act {
    ReadCatalogue,
    Calculate,
    ViewNotice,
    CheckFirm,
    ViewStatus,
    ViewLine,
    Approve,
    Reject,
    Announce,
    Confirm,
    Object,
    Pay,
    Recover,
    ListLines,
    ExportNotice,
    ExportPayments,
    PayFile,
    CancelBatch,
    Reconcile,
    VerifyAudit,
    ReadAudit,
    ManageUsers,
    Ingest,
    StartRun,
    ViewRun,
    RequestCorrection,
    ListCorrections,
    ResolveCorrection,
    ViewIndicators,
    ViewIndicatorFirms,
}

impl Act {
    pub const ALL: [Act; 30] = [
        Act::ReadCatalogue,
        Act::Calculate,
        Act::ViewNotice,
        Act::CheckFirm,
        Act::ViewStatus,
        Act::ViewLine,
        Act::Approve,
        Act::Reject,
        Act::Announce,
        Act::Confirm,
        Act::Object,
        Act::Pay,
        Act::Recover,
        Act::ListLines,
        Act::ExportNotice,
        Act::ExportPayments,
        Act::PayFile,
        Act::CancelBatch,
        Act::Reconcile,
        Act::VerifyAudit,
        Act::ReadAudit,
        Act::ManageUsers,
        Act::Ingest,
        Act::StartRun,
        Act::ViewRun,
        Act::RequestCorrection,
        Act::ListCorrections,
        Act::ResolveCorrection,
        Act::ViewIndicators,
        Act::ViewIndicatorFirms,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Act::ReadCatalogue => "read_catalogue",
            Act::Calculate => "calculate",
            Act::ViewNotice => "view_notice",
            Act::CheckFirm => "check_firm",
            Act::ViewStatus => "view_status",
            Act::ViewLine => "view_line",
            Act::Approve => "approve",
            Act::Reject => "reject",
            Act::Announce => "announce",
            Act::Confirm => "confirm",
            Act::Object => "object",
            Act::Pay => "pay",
            Act::Recover => "recover",
            Act::ListLines => "list_lines",
            Act::ExportNotice => "export_notice",
            Act::ExportPayments => "export_payments",
            Act::PayFile => "pay_file",
            Act::CancelBatch => "cancel_batch",
            Act::Reconcile => "reconcile",
            Act::VerifyAudit => "verify_audit",
            Act::ReadAudit => "read_audit",
            Act::ManageUsers => "manage_users",
            Act::Ingest => "ingest",
            Act::StartRun => "start_run",
            Act::ViewRun => "view_run",
            Act::RequestCorrection => "request_correction",
            Act::ListCorrections => "list_corrections",
            Act::ResolveCorrection => "resolve_correction",
            Act::ViewIndicators => "view_indicators",
            Act::ViewIndicatorFirms => "view_indicator_firms",
        }
    }
    pub fn parse(s: &str) -> Option<Act> {
        Act::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// Who asks: an account (or the anonymous public).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Principal {
    pub user: String,
    pub role: Role,
    pub firm: Option<String>,
    pub department: Option<String>,
    pub active: bool,
}

impl Principal {
    pub fn anonymous() -> Principal {
        Principal {
            user: "anonymous".into(),
            role: Role::Public,
            firm: None,
            department: None,
            active: true,
        }
    }
    pub fn is_anonymous(&self) -> bool {
        self.role == Role::Public
    }
}

/// What is asked about.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Resource {
    Catalogue,
    Notice,
    Zone,
    Firm(String),
    Line {
        id: i64,
        firm: String,
        clause: String,
        state: String,
        approved_by: Option<String>,
    },
}

impl Resource {
    /// The firm the resource belongs to, if any.
    pub fn firm(&self) -> Option<&str> {
        match self {
            Resource::Firm(f) | Resource::Line { firm: f, .. } => Some(f),
            _ => None,
        }
    }
}

/// A problem with the policy files: the server refuses to start.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AuthzError(pub String);

pub struct Authz {
    schema: Schema,
    policies: PolicySet,
    /// Per action, the policies whose action scope can hold for it (the rest can never apply):
    /// a decision evaluates a few policies instead of all of them.
    by_action: HashMap<Act, PolicySet>,
    authorizer: Authorizer,
    /// Clause name → department.
    departments: HashMap<String, String>,
    types: Types,
    /// Decisions already made. A decision is a pure function of the principal, the act and the
    /// resource (every entity Cedar sees is built from those and the fixed department map), so
    /// a remembered one is exactly what Cedar would say again; the hot paths (a firm's check,
    /// calculate) ask the same question thousands of times a second.
    memo: std::sync::Mutex<HashMap<(Principal, Act, Resource), bool>>,
    /// No policy names a firm (no `Huiqi::Firm::"…"` literal anywhere): then a decision about
    /// a firm depends only on whether it is the principal's own, and every other firm's is
    /// remembered as one (see [`Authz::allowed`]).
    firm_blind: bool,
}

/// The id under which decisions about every firm but the principal's own are asked and
/// remembered: not a credit code, so no principal's firm can be it.
const ANOTHER_FIRM: &str = "\u{0}another firm";

/// Whether a policy (as Cedar's JSON form) holds an entity literal of type `ty` anywhere: its
/// scope (`{"entity": {"type", "id"}}`) or its conditions (`{"__entity": {"type", "id"}}`).
fn names_entity_of(v: &serde_json::Value, ty: &str) -> bool {
    match v {
        serde_json::Value::Object(m) => {
            (m.get("type").and_then(serde_json::Value::as_str) == Some(ty) && m.contains_key("id"))
                || m.values().any(|x| names_entity_of(x, ty))
        }
        serde_json::Value::Array(a) => a.iter().any(|x| names_entity_of(x, ty)),
        _ => false,
    }
}

/// Decisions remembered before the memo starts afresh (a bound: principals come and go).
const MEMO_MAX: usize = 1 << 12;

struct Types {
    user: EntityTypeName,
    role: EntityTypeName,
    firm: EntityTypeName,
    clause: EntityTypeName,
    department: EntityTypeName,
    line: EntityTypeName,
    action: EntityTypeName,
    zone: EntityTypeName,
    notice: EntityTypeName,
    catalogue: EntityTypeName,
}

fn type_name(s: &str) -> Result<EntityTypeName, AuthzError> {
    EntityTypeName::from_str(s).map_err(|e| AuthzError(format!("entity type {s}: {e}")))
}

fn uid(t: &EntityTypeName, id: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(t.clone(), EntityId::new(id))
}

#[derive(serde::Deserialize)]
struct DepartmentsFile {
    departments: HashMap<String, Vec<String>>,
}

impl Authz {
    /// The embedded schema, policies and departments, validated strictly.
    pub fn load() -> Result<Authz, AuthzError> {
        Authz::from_texts(SCHEMA, POLICIES, DEPARTMENTS)
    }

    pub fn from_texts(
        schema: &str,
        policies: &str,
        departments: &str,
    ) -> Result<Authz, AuthzError> {
        let (schema, _warnings) = Schema::from_cedarschema_str(schema)
            .map_err(|e| AuthzError(format!("authz/huiqi.cedarschema: {e}")))?;
        let policies = PolicySet::from_str(policies)
            .map_err(|e| AuthzError(format!("authz/huiqi.cedar: {e}")))?;
        let result = Validator::new(schema.clone()).validate(&policies, ValidationMode::Strict);
        if !result.validation_passed() {
            let errs: Vec<String> = result.validation_errors().map(|e| e.to_string()).collect();
            return Err(AuthzError(format!(
                "authz/huiqi.cedar does not validate against the schema (strict): {}",
                errs.join("; ")
            )));
        }
        let d: DepartmentsFile = toml::from_str(departments)
            .map_err(|e| AuthzError(format!("authz/departments.toml: {e}")))?;
        let mut by_clause = HashMap::new();
        for (dept, clauses) in d.departments {
            for c in clauses {
                by_clause.insert(c, dept.clone());
            }
        }
        let types = Types {
            user: type_name("Huiqi::User")?,
            role: type_name("Huiqi::Role")?,
            firm: type_name("Huiqi::Firm")?,
            clause: type_name("Huiqi::Clause")?,
            department: type_name("Huiqi::Department")?,
            line: type_name("Huiqi::Line")?,
            action: type_name("Huiqi::Action")?,
            zone: type_name("Huiqi::Zone")?,
            notice: type_name("Huiqi::Notice")?,
            catalogue: type_name("Huiqi::Catalogue")?,
        };
        // Each action's policies: scope `action == A`, `action in [.., A or a group of A, ..]`,
        // or no action scope. Exact: a policy whose action scope fails never applies.
        let groups = schema
            .action_entities()
            .map_err(|e| AuthzError(format!("authz/huiqi.cedarschema: {e}")))?;
        let mut by_action = HashMap::new();
        for act in Act::ALL {
            let a = uid(&types.action, act.as_str());
            let mut within: Vec<EntityUid> = vec![a.clone()];
            if let Some(up) = groups.ancestors(&a) {
                within.extend(up.cloned());
            }
            let mut set = PolicySet::new();
            for p in policies.policies() {
                let applies = match p.action_constraint() {
                    cedar_policy::ActionConstraint::Any => true,
                    cedar_policy::ActionConstraint::Eq(u) => u == a,
                    cedar_policy::ActionConstraint::In(us) => us.iter().any(|u| within.contains(u)),
                };
                if applies {
                    set.add(p.clone())
                        .map_err(|e| AuthzError(format!("authz/huiqi.cedar: {e}")))?;
                }
            }
            by_action.insert(act, set);
        }
        let mut firm_blind = true;
        for p in policies.policies() {
            let json = p
                .to_json()
                .map_err(|e| AuthzError(format!("authz/huiqi.cedar: {e}")))?;
            firm_blind &= !names_entity_of(&json, "Huiqi::Firm");
        }
        Ok(Authz {
            schema,
            policies,
            by_action,
            authorizer: Authorizer::new(),
            departments: by_clause,
            types,
            memo: Default::default(),
            firm_blind,
        })
    }

    /// The department that owns a clause.
    pub fn department_of<'a>(&'a self, clause: &str) -> &'a str {
        self.departments
            .get(clause)
            .map(String::as_str)
            .unwrap_or(DEFAULT_DEPARTMENT)
    }

    /// The clauses a department owns among `clauses`.
    pub fn clauses_of(&self, department: &str, clauses: &[String]) -> Vec<String> {
        clauses
            .iter()
            .filter(|c| self.department_of(c) == department)
            .cloned()
            .collect()
    }

    /// Cedar's decision. An entity that does not fit the schema is a deny (and a bug).
    pub fn allowed(&self, p: &Principal, a: Act, r: &Resource) -> bool {
        // Remembered: decisions about the zone-wide resources — there are few of them
        // (principals × actions), and they are asked on every request (calculate, the menu) —
        // and about firms, as "the principal's own" or "another": when no policy names a firm,
        // Cedar sees nothing of a firm but its id, which it can only compare with the
        // principal's firm, so every other firm gets the decision `ANOTHER_FIRM` gets (a check
        // of each firm of the zone in turn asked Cedar 50,000 times the same question). A
        // line's decision depends on the line's attributes: it is asked each time.
        let key = match r {
            Resource::Line { .. } => return self.decide(p, a, r).unwrap_or(false),
            Resource::Firm(f) if p.firm.as_deref() == Some(f.as_str()) => r.clone(),
            Resource::Firm(_) if self.firm_blind && p.firm.as_deref() != Some(ANOTHER_FIRM) => {
                Resource::Firm(ANOTHER_FIRM.into())
            }
            Resource::Firm(_) => return self.decide(p, a, r).unwrap_or(false),
            _ => r.clone(),
        };
        let key = (p.clone(), a, key);
        if let Some(d) = self.memo.lock().ok().and_then(|m| m.get(&key).copied()) {
            return d;
        }
        let d = self.decide(p, a, &key.2).unwrap_or(false);
        if let Ok(mut m) = self.memo.lock() {
            if m.len() >= MEMO_MAX {
                m.clear();
            }
            m.insert(key, d);
        }
        d
    }

    /// Cedar's decisions for every resource and act: `out[i][k]` is whether `p` may do
    /// `acts[k]` to `rs[i]`. The same decisions as [`Authz::allowed`] one by one, but the
    /// entities (the principal, each line and clause) are built and checked against the schema
    /// once for the whole list — that, not the policy evaluation, is most of a decision's
    /// time, and a queue page asks about hundreds of lines.
    pub fn allowed_many(&self, p: &Principal, acts: &[Act], rs: &[Resource]) -> Vec<Vec<bool>> {
        self.decide_many(p, acts, rs)
            .unwrap_or_else(|_| vec![vec![false; acts.len()]; rs.len()])
    }

    fn decide(&self, p: &Principal, a: Act, r: &Resource) -> Result<bool, AuthzError> {
        Ok(self.decide_many(p, &[a], std::slice::from_ref(r))?[0][0])
    }

    fn decide_many(
        &self,
        p: &Principal,
        acts: &[Act],
        rs: &[Resource],
    ) -> Result<Vec<Vec<bool>>, AuthzError> {
        let t = &self.types;
        let err = |e: &dyn std::fmt::Display| AuthzError(e.to_string());
        let mut ents = vec![];
        let principal = uid(&t.user, &p.user);
        let mut attrs = HashMap::from([(
            "active".to_string(),
            RestrictedExpression::new_bool(p.active),
        )]);
        if let Some(f) = &p.firm {
            attrs.insert(
                "firm".into(),
                RestrictedExpression::new_entity_uid(uid(&t.firm, f)),
            );
        }
        if let Some(d) = &p.department {
            attrs.insert(
                "department".into(),
                RestrictedExpression::new_entity_uid(uid(&t.department, d)),
            );
        }
        let role = uid(&t.role, p.role.as_str());
        ents.push(
            Entity::new(principal.clone(), attrs, HashSet::from([role])).map_err(|e| err(&e))?,
        );
        // Each clause and each line once: the store refuses an entity given twice.
        let mut clauses: HashSet<&str> = HashSet::new();
        let mut lines: HashSet<i64> = HashSet::new();
        let mut resources = Vec::with_capacity(rs.len());
        for r in rs {
            resources.push(match r {
                Resource::Catalogue => uid(&t.catalogue, "catalogue"),
                Resource::Notice => uid(&t.notice, "notice"),
                Resource::Zone => uid(&t.zone, "zone"),
                Resource::Firm(f) => uid(&t.firm, f),
                Resource::Line {
                    id,
                    firm,
                    clause,
                    state,
                    approved_by,
                } => {
                    let c = uid(&t.clause, clause);
                    if clauses.insert(clause) {
                        let dept = uid(&t.department, self.department_of(clause));
                        ents.push(
                            Entity::new(c.clone(), HashMap::new(), HashSet::from([dept]))
                                .map_err(|e| err(&e))?,
                        );
                    }
                    let line = uid(&t.line, &id.to_string());
                    if !lines.insert(*id) {
                        // One line asked about twice (with maybe other attributes): alone.
                        return Ok(rs
                            .iter()
                            .map(|r| {
                                acts.iter()
                                    .map(|a| self.decide(p, *a, r).unwrap_or(false))
                                    .collect()
                            })
                            .collect());
                    }
                    let mut attrs = HashMap::from([(
                        "state".to_string(),
                        RestrictedExpression::new_string(state.clone()),
                    )]);
                    if let Some(u) = approved_by {
                        attrs.insert(
                            "approved_by".into(),
                            RestrictedExpression::new_entity_uid(uid(&t.user, u)),
                        );
                    }
                    let parents = HashSet::from([uid(&t.firm, firm), c]);
                    ents.push(Entity::new(line.clone(), attrs, parents).map_err(|e| err(&e))?);
                    line
                }
            });
        }
        // Not checked against the schema per request: the entities are built here, from typed
        // values, in the shapes the schema declares (the matrix and the batch tests decide every
        // role × action × resource shape both ways), and the policies were validated strictly
        // against it at start-up. Checking 200 lines' entities was most of a queue page's time.
        let entities = Entities::from_entities(ents, None).map_err(|e| err(&e))?;
        let mut out = Vec::with_capacity(rs.len());
        for resource in resources {
            let mut row = Vec::with_capacity(acts.len());
            for a in acts {
                // An action asked about a resource the schema does not give it is a deny, as
                // one decision alone is (it does not spoil the others).
                let allowed = match Request::new(
                    principal.clone(),
                    uid(&t.action, a.as_str()),
                    resource.clone(),
                    Context::empty(),
                    Some(&self.schema),
                ) {
                    Ok(req) => {
                        let set = self.by_action.get(a).unwrap_or(&self.policies);
                        self.authorizer
                            .is_authorized(&req, set, &entities)
                            .decision()
                            == Decision::Allow
                    }
                    Err(_) if acts.len() * rs.len() > 1 => false,
                    Err(e) => return Err(err(&e)),
                };
                row.push(allowed);
            }
            out.push(row);
        }
        Ok(out)
    }

    /// Like [`Authz::allowed`], but a reason when Cedar could not decide (for tests).
    pub fn check(&self, p: &Principal, a: Act, r: &Resource) -> Result<bool, AuthzError> {
        self.decide(p, a, r)
    }
}
