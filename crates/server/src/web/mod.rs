//! The web pages: server-rendered HTML (askama templates in `crates/server/templates/`) over the
//! same use cases and the same authorization as the API. A page handler calls the API's handler
//! (or the same `huiqi::…` function and the same Cedar decision) and renders its typed answer;
//! every state-changing form goes through the API's step, so the ledger's checked transitions
//! and Cedar decide exactly as they do for a JSON client.
//!
//! | module | pages |
//! |---|---|
//! | [`session`] | `/login`, `/logout`, `/lang` (中文/English), `/` |
//! | [`firm`] | `/firm/{uscc}` 政策体检, `/firm/{uscc}/whatif` what-if, `/firm/{uscc}/awards` my awards: timeline, confirm, objection |
//! | [`public`] | `/notice` 公示, `/policy` the catalogue |
//! | [`data`] | `/data` upload data, start a run, the runs; `/runs/{id}` a run's progress and awards |
//! | [`corrections`] | `/firm/{uscc}/corrections` 数据有误 (the firm), `/corrections` the officer's queue |
//! | [`review`] | `/review`: the queue by clause and state, approve/reject (bulk), announce 公示 |
//! | [`finance`] | `/finance`: payment file, paid-file upload with a preview, reconciliation |
//! | [`audit`] | `/audit` the trail and chain verification |
//! | [`trace`] | `/trace/{line}` a figure traced to its run, policy and snapshot, recomputed |
//! | [`dashboard`] | `/dashboard` 驾驶舱: charts and tables of money, firms, days to payment, overdue; XLSX exports |
//! | [`indicators`] | `/indicators` 区级指标: zones side by side, 同口径/名义 growth, targets against 序时进度; `/indicators/firms` the firms behind a figure |
//!
//! Forms work without JavaScript; they carry the session's CSRF token in `_csrf` (checked by
//! [`crate::auth::resolve`]). Pages answer with a strict Content-Security-Policy; assets are
//! embedded ([`assets`]) and served from this origin only.

pub mod assets;
pub mod audit;
pub mod corrections;
pub mod dashboard;
pub mod data;
pub mod finance;
pub mod firm;
pub mod fmt;
pub mod i18n;
pub mod indicators;
pub mod public;
pub mod review;
pub mod sandbox;
pub mod session;
pub mod trace;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::auth::Caller;
use crate::authz::{Act, Resource, Role};
use crate::error::{ApiError, ApiResult};
use crate::state::Shared;
use i18n::{Lang, Tr};

/// The Content-Security-Policy of every page: nothing from another origin, no inline script
/// or style, forms post only here, no framing.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// The pages' routes (merged into the API router, behind the same session middleware).
pub fn router() -> Router<Shared> {
    Router::new()
        .route("/", get(session::home))
        .route("/login", get(session::login_page).post(session::login))
        .route("/logout", post(session::logout))
        .route("/lang", get(session::lang))
        .route("/firm/{uscc}", get(firm::check))
        .route("/firm/{uscc}/whatif", get(firm::what_if))
        .route("/firm/{uscc}/awards", get(firm::awards))
        .route(
            "/firm/{uscc}/corrections",
            get(corrections::firm_page).post(corrections::file),
        )
        .route("/corrections", get(corrections::queue))
        .route("/corrections/{id}/resolve", post(corrections::resolve))
        .route("/firm/{uscc}/confirm", post(firm::confirm))
        .route("/firm/{uscc}/object", post(firm::object))
        .route("/data", get(data::page))
        .route(
            "/data/upload",
            post(data::upload).layer(axum::extract::DefaultBodyLimit::max(
                crate::routes::runs::INGEST_LIMIT,
            )),
        )
        .route("/data/run", post(data::start))
        .route("/data/activate", post(data::activate))
        .route("/runs/{id}", get(data::run))
        .route("/sandbox", get(sandbox::page).post(sandbox::run))
        .route("/notice", get(public::notice))
        .route("/notice/{id}/export.xlsx", get(public::notice_xlsx))
        .route("/notice/{id}/gongshi.xlsx", get(public::notice_public_xlsx))
        .route("/policy", get(public::catalogue))
        .route("/review", get(review::queue))
        .route("/review/step", post(review::step))
        .route("/review/announce", post(review::announce))
        .route("/finance", get(finance::page))
        .route("/finance/export", post(finance::export))
        .route("/finance/batches/{id}/cancel", post(finance::cancel))
        .route(
            "/finance/batches/{id}/payments.csv",
            get(finance::batch_csv),
        )
        .route(
            "/finance/paid",
            post(finance::upload).layer(axum::extract::DefaultBodyLimit::max(
                crate::routes::PAID_FILE_LIMIT,
            )),
        )
        .route("/finance/paid/apply", post(finance::apply))
        .route("/audit", get(audit::events))
        .route("/trace/{id}", get(trace::page))
        .route("/dashboard", get(dashboard::page))
        .route("/dashboard/export.xlsx", get(dashboard::export))
        .route("/indicators", get(indicators::page))
        .route("/indicators/firms", get(indicators::firms))
        .route("/indicators/export.xlsx", get(indicators::export))
        .route("/assets/{file}", get(assets::serve))
        .layer(axum::middleware::map_response(security_headers))
}

async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}

/// What every page handler knows about its request: the server, the caller (from the session
/// middleware), the language (cookie `lang`) and the path asked for.
pub struct Page {
    pub s: Shared,
    pub c: Caller,
    pub lang: Lang,
    pub path: String,
}

impl FromRequestParts<Shared> for Page {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, s: &Shared) -> Result<Self, Self::Rejection> {
        let c = parts.extensions.get::<Caller>().cloned().unwrap_or(Caller {
            principal: crate::authz::Principal::anonymous(),
            session: None,
            csrf: None,
        });
        let path = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        Ok(Page {
            s: s.clone(),
            c,
            lang: i18n::from_headers(&parts.headers),
            path,
        })
    }
}

/// A link of the navigation bar.
pub struct NavItem {
    pub href: String,
    pub label: String,
    pub active: bool,
}

/// What the layout (`base.html`) shows around every page.
pub struct Layout {
    pub tr: Tr,
    pub title: String,
    /// The user and their role, when logged in.
    pub user: Option<(String, String)>,
    pub csrf: String,
    pub nav: Vec<NavItem>,
    /// The toggle's target: this page in the other language.
    pub lang_href: String,
    pub css: &'static str,
    pub htmx: &'static str,
    pub favicon: &'static str,
    /// A message after an action (`?done=…`), already translated.
    pub flash: Option<String>,
    /// Load ECharts and the chart islands' script (chart pages only).
    pub charts: bool,
    pub echarts: &'static str,
    pub charts_js: &'static str,
}

impl Layout {
    pub fn t(&self, key: &str) -> String {
        self.tr.t(key)
    }
    pub fn is_en(&self) -> bool {
        self.tr.lang == Lang::En
    }
    pub fn html_lang(&self) -> &'static str {
        match self.tr.lang {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }
}

impl Page {
    pub fn tr(&self) -> Tr {
        Tr { lang: self.lang }
    }
    pub fn t(&self, key: &str) -> String {
        self.tr().t(key)
    }
    pub fn en(&self) -> bool {
        self.lang == Lang::En
    }
    pub fn p(&self) -> &crate::authz::Principal {
        &self.c.principal
    }
    pub fn allowed(&self, a: Act, r: &Resource) -> bool {
        self.s.authz.allowed(&self.c.principal, a, r)
    }
    /// The message of a zh/en pair in this page's language.
    pub fn pick(&self, zh: &str, en: &str) -> String {
        if self.en() { en } else { zh }.to_string()
    }
    pub fn money(&self, fen: i64) -> String {
        fmt::yuan(fen, self.lang)
    }
    pub fn short(&self, fen: i64) -> String {
        fmt::short(fen, self.lang)
    }
    pub fn date(&self, at: &str) -> String {
        fmt::date(at, self.lang)
    }

    /// The layout of a page titled by `title_key`. `self_path`: whether the language toggle
    /// may come back to this page (not on an error page: the path may name what was denied).
    pub fn layout(&self, title_key: &str) -> Layout {
        self.layout_with(title_key, true)
    }

    fn layout_with(&self, title_key: &str, self_path: bool) -> Layout {
        let p = self.p();
        let back = if self_path { self.path.as_str() } else { "/" };
        let other = match self.lang {
            Lang::Zh => "en",
            Lang::En => "zh",
        };
        let lang_href = format!(
            "/lang?to={other}&back={}",
            form_urlencoded::byte_serialize(back.as_bytes()).collect::<String>()
        );
        let flash = if self_path {
            query_param(&self.path, "done")
                .and_then(|d| self.tr().get(&format!("done.{d}")))
                .map(|m| {
                    let n = query_param(&self.path, "n")
                        .and_then(|n| n.parse::<u64>().ok())
                        .unwrap_or(1);
                    m.replace("{n}", &n.to_string())
                })
        } else {
            None
        };
        let user = (!p.is_anonymous())
            .then(|| (p.user.clone(), self.t(&format!("role.{}", p.role.as_str()))));
        Layout {
            tr: self.tr(),
            title: self.t(title_key),
            user,
            csrf: self.c.csrf.clone().unwrap_or_default(),
            nav: self.nav(),
            lang_href,
            css: assets::url("huiqi.css"),
            htmx: assets::url("htmx.min.js"),
            favicon: assets::url("favicon.svg"),
            flash,
            charts: false,
            echarts: assets::url("echarts.min.js"),
            charts_js: assets::url("charts.js"),
        }
    }

    /// The navigation: a link for each area Cedar lets this caller into.
    fn nav(&self) -> Vec<NavItem> {
        let p = self.p();
        let mut items: Vec<(String, &str)> = vec![];
        if let (Role::Firm, Some(f)) = (p.role, &p.firm) {
            items.push((format!("/firm/{f}"), "nav.check"));
            items.push((format!("/firm/{f}/awards"), "nav.awards"));
            items.push((format!("/firm/{f}/corrections"), "nav.correction"));
        }
        // One Cedar call for the whole menu (the entities are built once).
        const ACTS: [Act; 8] = [
            Act::ViewRun,
            Act::StartRun,
            Act::ListLines,
            Act::ListCorrections,
            Act::ExportPayments,
            Act::PayFile,
            Act::ReadAudit,
            Act::Reconcile,
        ];
        let may = self
            .s
            .authz
            .allowed_many(&self.c.principal, &ACTS, &[Resource::Zone])
            .swap_remove(0);
        let may = |a: Act| ACTS.iter().position(|x| *x == a).is_some_and(|k| may[k]);
        if may(Act::ViewRun) {
            items.push(("/data".into(), "nav.data"));
        }
        if may(Act::StartRun) {
            items.push(("/sandbox".into(), "nav.sandbox"));
        }
        if may(Act::ListLines) && p.role != Role::Firm {
            items.push(("/review".into(), "nav.review"));
        }
        if matches!(p.role, Role::Officer | Role::Reviewer) && p.active {
            items.push(("/review?state=objected".into(), "nav.objections"));
        }
        if may(Act::ListCorrections) {
            items.push(("/corrections".into(), "nav.corrections"));
        }
        if may(Act::ExportPayments) || may(Act::PayFile) {
            items.push(("/finance".into(), "nav.finance"));
        }
        if may(Act::ReadAudit) {
            items.push(("/audit".into(), "nav.audit"));
        }
        if may(Act::Reconcile) {
            items.push(("/dashboard".into(), "nav.dashboard"));
        }
        if self.s.indicators.is_some() {
            items.push(("/indicators".into(), "nav.indicators"));
        }
        items.push(("/notice".into(), "nav.notice"));
        items.push(("/policy".into(), "nav.policy"));
        let here = self.path.split('?').next().unwrap_or("");
        items
            .into_iter()
            .map(|(href, key)| NavItem {
                active: here == href,
                label: self.t(key),
                href,
            })
            .collect()
    }

    /// The answer of a page handler: its page, or its error as a page. Not logged in (401):
    /// to the login page, coming back here after. Another firm's page: 404 with nothing of it.
    pub fn finish(&self, r: ApiResult<Response>) -> Response {
        match r {
            Ok(r) => r,
            Err(e) if e.status == StatusCode::UNAUTHORIZED => {
                let next =
                    form_urlencoded::byte_serialize(self.path.as_bytes()).collect::<String>();
                Redirect::to(&format!("/login?next={next}")).into_response()
            }
            Err(e) => self.error_page(e),
        }
    }

    pub fn error_page(&self, e: ApiError) -> Response {
        let title_key = match e.status {
            StatusCode::NOT_FOUND => "error.not_found",
            StatusCode::FORBIDDEN => "error.forbidden",
            StatusCode::CONFLICT => "error.conflict",
            s if s.is_client_error() => "error.bad_request",
            _ => "error.internal",
        };
        let t = ErrorPage {
            l: self.layout_with(title_key, false),
            message: self.pick(&e.body.zh, &e.body.en),
            hint: match (&e.body.hint_zh, &e.body.hint_en) {
                (Some(z), Some(en)) => Some(self.pick(z, en)),
                _ => None,
            },
        };
        match render(&t) {
            Ok(r) => (e.status, r).into_response(),
            Err(_) => (e.status, e.body.zh.clone()).into_response(),
        }
    }
}

#[derive(askama::Template)]
#[template(path = "error.html")]
struct ErrorPage {
    l: Layout,
    message: String,
    hint: Option<String>,
}

/// A template rendered to an HTML answer.
pub fn render<T: askama::Template>(t: &T) -> ApiResult<Response> {
    let html = t.render().map_err(ApiError::internal)?;
    Ok(Html(html).into_response())
}

/// An XLSX workbook as a download named `filename`.
pub fn xlsx_download(bytes: Vec<u8>, filename: &str) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_string(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        bytes,
    )
        .into_response()
}

/// 303 to `to` (after a form's POST).
pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// One parameter of a query string (`done` of `/x?done=confirm`), decoded.
pub fn query_param(path_and_query: &str, name: &str) -> Option<String> {
    let q = path_and_query.split_once('?')?.1;
    form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A page's form body (`application/x-www-form-urlencoded`): every pair in order, so a field
/// may repeat (the checked lines of a queue).
pub struct Form(pub Vec<(String, String)>);

impl Form {
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str())
    }
    /// A non-empty trimmed value.
    pub fn text(&self, k: &str) -> Option<String> {
        self.get(k)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }
    pub fn all(&self, k: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(a, _)| a == k)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

impl<S: Send + Sync> FromRequest<S> for Form {
    type Rejection = ApiError;
    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::to_bytes(req.into_body(), crate::routes::BODY_LIMIT)
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    "请求体过大",
                    "the request body is too large",
                )
            })?;
        Ok(Form(
            form_urlencoded::parse(&bytes)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        ))
    }
}

/// A local path to come back to (`next`, `back`): only this site's paths.
pub fn local_path(p: Option<&str>) -> String {
    match p {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') => p.into(),
        _ => "/".into(),
    }
}
