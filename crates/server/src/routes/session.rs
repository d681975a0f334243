//! `POST /api/v1/session` (log in), `GET /api/v1/session` (who am I, and my CSRF token),
//! `DELETE /api/v1/session` (log out); `POST /api/v1/users` and `GET /api/v1/users` (admin).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{self, Caller};
use crate::authz::{Act, Principal, Resource, Role};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::Body;
use crate::state::Shared;

#[derive(Deserialize, ToSchema)]
pub struct LoginIn {
    pub user: String,
    pub password: String,
}

/// The session: who is logged in, and the token to send in `X-CSRF-Token` with every
/// state-changing request.
#[derive(Serialize, ToSchema)]
pub struct SessionOut {
    pub user: String,
    pub role: Role,
    pub role_zh: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firm: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
}

fn session_out(p: &Principal, csrf: Option<String>) -> SessionOut {
    SessionOut {
        user: p.user.clone(),
        role: p.role,
        role_zh: p.role.zh().to_string(),
        firm: p.firm.clone(),
        department: p.department.clone(),
        csrf_token: csrf,
    }
}

/// Log in: sets the HttpOnly session cookie and returns the CSRF token.
#[utoipa::path(post, path = "/api/v1/session", tag = "session", request_body = LoginIn,
    responses((status = 200, body = SessionOut, description = "Logged in; `Set-Cookie: huiqi_session=…` (HttpOnly, SameSite=Strict). Send `csrf_token` in the `X-CSRF-Token` header of every POST/PUT/PATCH/DELETE."),
              (status = 401, body = ErrorBody), (status = 429, body = ErrorBody, description = "locked after repeated failures")))]
pub async fn login(State(s): State<Shared>, Body(b): Body<LoginIn>) -> ApiResult<Response> {
    if b.user.is_empty() || b.user.len() > 128 || b.password.len() > 1024 {
        return Err(
            ApiError::invalid("用户名或密码格式无效", "bad user name or password").field("user"),
        );
    }
    let li = auth::login(&s, &b.user, &b.password).await?;
    let cookie = auth::set_cookie(&s, Some(&li.token));
    let body = session_out(&li.principal, Some(li.csrf));
    Ok(([(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

/// Who is logged in (anonymous: `public`), with the CSRF token.
#[utoipa::path(get, path = "/api/v1/session", tag = "session",
    responses((status = 200, body = SessionOut)))]
pub async fn whoami(Extension(c): Extension<Caller>) -> Json<SessionOut> {
    Json(session_out(&c.principal, c.csrf.clone()))
}

/// Log out: ends the session and clears the cookie. Needs the CSRF token.
#[utoipa::path(delete, path = "/api/v1/session", tag = "session",
    responses((status = 204), (status = 403, body = ErrorBody, description = "no CSRF token")))]
pub async fn logout(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
) -> ApiResult<Response> {
    auth::logout(&s, &c).await?;
    let cookie = auth::set_cookie(&s, None);
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

#[derive(Deserialize, ToSchema)]
pub struct AccountIn {
    pub name: String,
    /// firm, officer, reviewer, finance, auditor, leader, admin
    pub role: String,
    /// A firm account's credit code.
    pub firm: Option<String>,
    /// A reviewer's department (牵头部门).
    pub department: Option<String>,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct AccountOut {
    pub name: String,
    pub role: String,
    pub firm: Option<String>,
    pub department: Option<String>,
    pub active: bool,
    pub locked_until: Option<String>,
}

/// Create or replace an account (admin).
#[utoipa::path(post, path = "/api/v1/users", tag = "session", request_body = AccountIn,
    responses((status = 201, body = AccountOut), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_user(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
    Body(b): Body<AccountIn>,
) -> ApiResult<Response> {
    s.authorize(&c.principal, Act::ManageUsers, &Resource::Zone)
        .await?;
    let role = Role::parse(&b.role)
        .filter(|r| *r != Role::Public)
        .ok_or_else(|| {
            ApiError::invalid(
                format!("未知角色：{}", b.role),
                format!("unknown role: {}", b.role),
            )
            .field("role")
            .hint(
                "可用：firm, officer, reviewer, finance, auditor, leader, admin",
                "one of firm, officer, reviewer, finance, auditor, leader, admin",
            )
        })?;
    let valid_name = !b.name.is_empty()
        && b.name.len() <= 64
        && b.name
            .chars()
            .all(|c| c.is_alphanumeric() || "-_.".contains(c));
    if !valid_name || b.name == "anonymous" {
        return Err(ApiError::invalid("账号名无效", "bad account name").field("name"));
    }
    if b.password.chars().count() < 8 {
        return Err(ApiError::invalid(
            "密码至少8个字符",
            "the password needs at least 8 characters",
        )
        .field("password"));
    }
    if role == Role::Firm {
        let code = b.firm.as_deref().unwrap_or_default();
        if huiqi_ir::uscc::validate(code).is_err() {
            return Err(ApiError::invalid(
                "企业账号须有有效的统一社会信用代码",
                "a firm account needs a valid credit code",
            )
            .field("firm"));
        }
    }
    auth::put_account(
        &s,
        &c.ctx(),
        &b.name,
        role,
        b.firm.clone(),
        b.department.clone(),
        &b.password,
    )
    .await?;
    let out = AccountOut {
        name: b.name,
        role: role.as_str().into(),
        firm: b.firm,
        department: b.department,
        active: true,
        locked_until: None,
    };
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

/// Every account (admin).
#[utoipa::path(get, path = "/api/v1/users", tag = "session",
    responses((status = 200, body = Vec<AccountOut>), (status = 403, body = ErrorBody)))]
pub async fn users(
    State(s): State<Shared>,
    Extension(c): Extension<Caller>,
) -> ApiResult<Json<Vec<AccountOut>>> {
    s.authorize(&c.principal, Act::ManageUsers, &Resource::Zone)
        .await?;
    let all = crate::ledger_read!(s, |l| l.accounts().await).await??;
    Ok(Json(
        all.into_iter()
            .map(|a| AccountOut {
                name: a.name,
                role: a.role,
                firm: a.firm_id,
                department: a.department,
                active: a.active,
                locked_until: a.locked_until,
            })
            .collect(),
    ))
}
