//! The service's one error type: a status, a stable code, a message in Chinese and English,
//! and where it applies (the field path) with a hint. Every handler returns it; every use-case
//! error maps onto it here and nowhere else.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The JSON body of every 4xx/5xx answer.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable, machine-readable: `bad_request`, `invalid_input`, `unauthenticated`, `csrf`,
    /// `forbidden`, `not_found`, `conflict`, `integrity`, `locked`, `too_large`, `internal`.
    pub code: &'static str,
    pub zh: String,
    pub en: String,
    /// The field path the error is about (`facts.营业收入.2023`, `ids`), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint_zh: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint_en: Option<String>,
    /// Row-level problems of uploaded data (ingest): nothing was written.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<RowError>,
    /// More problems were found than are listed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

/// One problem of an uploaded file: where (file, 1-based row as a spreadsheet shows it,
/// column header) and why.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RowError {
    pub file: String,
    pub row: Option<u64>,
    pub column: Option<String>,
    pub zh: String,
    pub en: String,
}

#[derive(Clone, Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// Boxed: results carrying the error stay small.
    pub body: Box<ErrorBody>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: &'static str,
        zh: impl Into<String>,
        en: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            body: Box::new(ErrorBody {
                code,
                zh: zh.into(),
                en: en.into(),
                field: None,
                hint_zh: None,
                hint_en: None,
                errors: vec![],
                truncated: false,
            }),
        }
    }

    pub fn field(mut self, f: impl Into<String>) -> ApiError {
        self.body.field = Some(f.into());
        self
    }

    pub fn hint(mut self, zh: impl Into<String>, en: impl Into<String>) -> ApiError {
        self.body.hint_zh = Some(zh.into());
        self.body.hint_en = Some(en.into());
        self
    }

    pub fn bad_request(zh: impl Into<String>, en: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", zh, en)
    }

    pub fn invalid(zh: impl Into<String>, en: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", zh, en)
    }

    pub fn unauthenticated() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "请先登录",
            "log in first (POST /api/v1/session)",
        )
    }

    pub fn forbidden() -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "无权进行此操作",
            "not allowed for this account",
        )
    }

    pub fn csrf() -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf",
            "缺少或不匹配的 X-CSRF-Token 请求头",
            "missing or wrong X-CSRF-Token header",
        )
        .hint(
            "登录（POST /api/v1/session）或 GET /api/v1/session 的应答中有 csrf_token；每个改变状态的请求都要在 X-CSRF-Token 请求头中带上它",
            "the csrf_token is in the answer of POST /api/v1/session (login) and GET /api/v1/session; send it in the X-CSRF-Token header of every state-changing request",
        )
    }

    pub fn not_found(what_zh: &str, what_en: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("没有找到{what_zh}"),
            format!("no such {what_en}"),
        )
    }

    pub fn conflict(zh: impl Into<String>, en: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", zh, en)
    }

    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("服务内部错误：{e}"),
            format!("internal error: {e}"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}

/// A ledger error: bad input is a conflict with the line's state or an unknown line (409 —
/// the request was well-formed, the ledger refused the step); an edited row is 409
/// `integrity`; a database failure is 500.
impl From<huiqi_ledger::Error> for ApiError {
    fn from(e: huiqi_ledger::Error) -> ApiError {
        use huiqi_ledger::ErrorKind;
        match e.kind {
            ErrorKind::Input => ApiError::new(StatusCode::CONFLICT, "conflict", e.zh, e.en),
            ErrorKind::Integrity => ApiError::new(StatusCode::CONFLICT, "integrity", e.zh, e.en),
            ErrorKind::Db => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.zh, e.en)
            }
        }
    }
}

/// A use-case error: usage → 400, input → 422 (a firm file with its field path and hint),
/// ledger → as above, a policy pack that does not load → 500 (the server's own configuration).
impl From<huiqi::Error> for ApiError {
    fn from(e: huiqi::Error) -> ApiError {
        match e {
            huiqi::Error::Usage { zh, en } => ApiError::bad_request(zh, en),
            huiqi::Error::Input { zh, en } => ApiError::invalid(zh, en),
            huiqi::Error::FirmFile { err, .. } => ApiError::invalid(err.zh, err.en)
                .field(err.field)
                .hint(err.hint_zh, err.hint_en),
            huiqi::Error::Ledger(l) => l.into(),
            huiqi::Error::Data(r) => {
                let mut e = ApiError::invalid(
                    format!("数据有误，未写入任何内容：{} 处问题", r.errors.len()),
                    format!(
                        "the data has problems, nothing was written: {}",
                        r.errors.len()
                    ),
                )
                .hint(r.render(false), r.render(true));
                e.body.truncated = r.truncated;
                e.body.errors = r
                    .errors
                    .into_iter()
                    .map(|d| RowError {
                        file: d.file,
                        row: d.row,
                        column: d.column,
                        zh: d.zh,
                        en: d.en,
                    })
                    .collect();
                e
            }
            e @ huiqi::Error::Policy { .. } => ApiError::internal(e),
        }
    }
}

/// A JSON body that did not parse: 400 with serde's message (it names the line and column or
/// the field).
pub fn json_rejection(r: axum::extract::rejection::JsonRejection) -> ApiError {
    use axum::extract::rejection::JsonRejection as J;
    let status = r.status();
    let text = r.body_text();
    match r {
        J::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "bad_request",
            "请求体须为 JSON（Content-Type: application/json）",
            "the body must be JSON (Content-Type: application/json)",
        ),
        J::BytesRejection(_) if status == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "请求体过大",
            "the request body is too large",
        ),
        _ => ApiError::bad_request(
            format!("请求体无效：{text}"),
            format!("bad request body: {text}"),
        ),
    }
}
