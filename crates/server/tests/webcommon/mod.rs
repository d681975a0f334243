//! What the page tests and the browser test share: a client that logs in through the login
//! form and posts forms with the page's CSRF token, and the treasury's side of a payment file.

#![allow(dead_code)]

use reqwest::redirect::Policy;

use crate::common::PASSWORD;

/// A browser-like HTTP client: a cookie jar, no automatic redirects (the tests look at them),
/// and the CSRF token read from the pages' forms.
pub struct PageClient {
    pub http: reqwest::Client,
    pub base: String,
    pub csrf: Option<String>,
}

pub struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl PageClient {
    pub fn new(base: &str) -> PageClient {
        PageClient {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(Policy::none())
                .build()
                .unwrap(),
            base: base.to_string(),
            csrf: None,
        }
    }

    /// Logs in through `POST /login` (a form, as a browser without JavaScript would), then
    /// reads the CSRF token from the page it lands on.
    pub async fn login(base: &str, user: &str) -> PageClient {
        let mut c = PageClient::new(base);
        let r = c
            .post_form_raw("/login", &[("user", user), ("password", PASSWORD)])
            .await;
        assert_eq!(r.status, 303, "login {user}: {}", r.body);
        let landing = r.location.clone().unwrap();
        let page = c.get(&landing).await;
        assert_eq!(page.status, 200, "{user} lands on {landing}: {}", page.body);
        c.csrf = csrf_of(&page.body);
        assert!(c.csrf.is_some(), "no _csrf on {landing}");
        c
    }

    pub async fn set_lang(&self, lang: &str) {
        let r = self.get(&format!("/lang?to={lang}&back=/")).await;
        assert_eq!(r.status, 303);
    }

    pub async fn get(&self, path: &str) -> Answer {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        answer(r).await
    }

    /// A form POST with the page's CSRF token in `_csrf`.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let token = self.csrf.clone().unwrap_or_default();
        let mut all = vec![("_csrf", token.as_str())];
        all.extend_from_slice(fields);
        self.post_form_raw(path, &all).await
    }

    /// A form POST exactly as given (no token added).
    pub async fn post_form_raw(&self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        answer(r).await
    }

    /// A multipart upload with the token in `_csrf` (unless `token` is None).
    pub async fn post_file(
        &self,
        path: &str,
        token: Option<&str>,
        name: &str,
        bytes: Vec<u8>,
    ) -> Answer {
        let boundary = "huiqi-test-boundary-7d2f";
        let mut body: Vec<u8> = vec![];
        if let Some(t) = token {
            body.extend(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\n{t}\r\n"
                )
                .as_bytes(),
            );
        }
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: text/csv\r\n\r\n")
                .as_bytes(),
        );
        body.extend(bytes);
        body.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        answer(r).await
    }
}

async fn answer(r: reqwest::Response) -> Answer {
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let headers = r.headers().clone();
    let body = r.text().await.unwrap();
    Answer {
        status,
        location,
        headers,
        body,
    }
}

/// The value of the first `name="_csrf"` hidden field of a page.
pub fn csrf_of(html: &str) -> Option<String> {
    attr_after(html, "name=\"_csrf\" value=\"")
}

/// The value of the first `name="token"` field (the paid-file preview's).
pub fn upload_token_of(html: &str) -> Option<String> {
    attr_after(html, "name=\"token\" value=\"")
}

fn attr_after(html: &str, marker: &str) -> Option<String> {
    let i = html.find(marker)? + marker.len();
    let rest = &html[i..];
    Some(rest[..rest.find('"')?].to_string())
}

/// The treasury's paid file: the payment file with a bank reference in 支付流水号.
pub fn fill_references(csv: &str) -> String {
    let csv = csv.trim_start_matches('\u{feff}');
    let mut out = vec![];
    let mut lines = csv.lines();
    let header = lines.next().unwrap();
    let cols: Vec<&str> = header.split(',').collect();
    let refc = cols.iter().position(|c| c.contains("支付流水号")).unwrap();
    out.push(header.to_string());
    for (i, l) in lines.enumerate() {
        if l.trim().is_empty() {
            continue;
        }
        let mut f: Vec<String> = l.split(',').map(str::to_string).collect();
        f[refc] = format!("WEB2024{i:06}");
        out.push(f.join(","));
    }
    out.join("\n") + "\n"
}

/// The page contains no key the translation table lacks.
pub fn assert_translated(path: &str, html: &str) {
    if let Some(i) = html.find('⟦') {
        let end = html[i..].find('⟧').map(|j| i + j + 3).unwrap_or(html.len());
        panic!("{path}: untranslated key {}", &html[i..end]);
    }
}
