//! The pages' assets, embedded in the binary: htmx (vendored from npm `htmx.org@2.0.11`, its
//! `dist/htmx.min.js`), ECharts (npm `echarts@6.1.0`, `dist/echarts.min.js`, Apache-2.0) with
//! `charts.js` that draws the chart islands, the stylesheet and the icon. Each is served under a name that carries
//! the first 12 hex digits of its SHA-256 (`/assets/huiqi.3f2a….css`), with a year-long
//! immutable cache: a new build changes the name, never the content behind a name.

use std::sync::OnceLock;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::extract::Path;

struct Asset {
    /// The name in templates (`huiqi.css`).
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "htmx.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/htmx-2.0.11.min.js"),
    },
    Asset {
        name: "huiqi.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../assets/huiqi.css"),
    },
    Asset {
        name: "echarts.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/echarts-6.1.0.min.js"),
    },
    Asset {
        name: "charts.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/charts.js"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        bytes: include_bytes!("../../assets/favicon.svg"),
    },
];

/// (name, URL with the content hash) of every asset, computed once.
fn urls() -> &'static [(&'static str, String)] {
    static URLS: OnceLock<Vec<(&'static str, String)>> = OnceLock::new();
    URLS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let h = crate::auth::sha256_hex_bytes(a.bytes);
                let (stem, ext) = a.name.split_once('.').unwrap_or((a.name, ""));
                (a.name, format!("/assets/{stem}.{}.{ext}", &h[..12]))
            })
            .collect()
    })
}

/// The URL of an asset by its name (`huiqi.css` → `/assets/huiqi.<hash>.css`).
pub fn url(name: &str) -> &'static str {
    urls()
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, u)| u.as_str())
        .unwrap_or("/assets/missing")
}

pub async fn serve(Path(file): Path<String>) -> Response {
    let want = format!("/assets/{file}");
    let found = urls()
        .iter()
        .position(|(_, u)| *u == want)
        .map(|i| &ASSETS[i]);
    match found {
        Some(a) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(a.content_type),
                ),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=31536000, immutable"),
                ),
            ],
            a.bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}
