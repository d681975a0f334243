//! `/` (home), `/login` (a form that works without JavaScript, setting the same session cookie
//! as `POST /api/v1/session`), `/logout`, `/lang` (the 中文/English toggle: a `lang` cookie).

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{local_path, query_param, render, see_other, Form, Layout, Page};
use crate::auth;
use crate::authz::{Principal, Role};
use crate::error::ApiResult;

#[derive(askama::Template)]
#[template(path = "home.html")]
struct Home {
    l: Layout,
}

#[derive(askama::Template)]
#[template(path = "login.html")]
struct Login {
    l: Layout,
    error: Option<String>,
    next: String,
    user: String,
}

/// Where a role starts: its own work.
pub fn landing(p: &Principal) -> String {
    match (p.role, &p.firm) {
        (Role::Firm, Some(f)) => format!("/firm/{f}"),
        (Role::Officer | Role::Reviewer, _) => "/review".into(),
        (Role::Finance, _) => "/finance".into(),
        (Role::Auditor, _) => "/audit".into(),
        (Role::Leader, _) => "/dashboard".into(),
        _ => "/notice".into(),
    }
}

pub async fn home(p: Page) -> Response {
    if !p.p().is_anonymous() {
        return see_other(&landing(p.p()));
    }
    p.finish(render(&Home {
        l: p.layout("home.title"),
    }))
}

pub async fn login_page(p: Page) -> Response {
    let next = local_path(query_param(&p.path, "next").as_deref());
    p.finish(render(&Login {
        l: p.layout("login.title"),
        error: None,
        next,
        user: String::new(),
    }))
}

pub async fn login(p: Page, f: Form) -> Response {
    let r = login_inner(&p, &f).await;
    p.finish(r)
}

async fn login_inner(p: &Page, f: &Form) -> ApiResult<Response> {
    let user = f.get("user").unwrap_or("").trim().to_string();
    let password = f.get("password").unwrap_or("");
    let next = local_path(f.get("next"));
    let bad_form = user.is_empty() || user.len() > 128 || password.len() > 1024;
    let result = if bad_form {
        Err(crate::error::ApiError::invalid(
            "用户名或密码格式无效",
            "bad user name or password",
        ))
    } else {
        auth::login(&p.s, &user, password).await
    };
    match result {
        Ok(li) => {
            let to = if next == "/" || next.starts_with("/login") {
                landing(&li.principal)
            } else {
                next
            };
            let cookie = auth::set_cookie(&p.s, Some(&li.token));
            Ok((
                StatusCode::SEE_OTHER,
                [(header::SET_COOKIE, cookie), (header::LOCATION, to)],
            )
                .into_response())
        }
        Err(e) => {
            let status = e.status;
            let page = render(&Login {
                l: p.layout("login.title"),
                error: Some(p.pick(&e.body.zh, &e.body.en)),
                next,
                user,
            })?;
            Ok((status, page).into_response())
        }
    }
}

pub async fn logout(p: Page) -> Response {
    let r = logout_inner(&p).await;
    p.finish(r)
}

async fn logout_inner(p: &Page) -> ApiResult<Response> {
    {
        auth::logout(&p.s, &p.c).await?;
        let cookie = auth::set_cookie(&p.s, None);
        Ok((
            StatusCode::SEE_OTHER,
            [
                (header::SET_COOKIE, cookie),
                (header::LOCATION, "/login".to_string()),
            ],
        )
            .into_response())
    }
}

/// `GET /lang?to=en&back=/policy`: remembers the language for a year and goes back.
pub async fn lang(p: Page) -> Response {
    let to = match query_param(&p.path, "to").as_deref() {
        Some("en") => "en",
        _ => "zh",
    };
    let back = local_path(query_param(&p.path, "back").as_deref());
    let cookie = format!("lang={to}; Path=/; Max-Age=31536000; SameSite=Lax");
    (
        StatusCode::SEE_OTHER,
        [(header::SET_COOKIE, cookie), (header::LOCATION, back)],
    )
        .into_response()
}
