//! HTML rendering for hosted pages: one layout, escaping, and errors shown as pages rather than JSON.

use crate::error::ApiError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use zauthy_core::CoreError;

/// Escapes text for HTML element content and double-quoted attributes.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page: `title` and `org_name` are escaped here; `body` is HTML the caller built with `esc`.
/// `scripts` are paths of scripts served by this server.
pub fn page(title: &str, org_name: &str, body: &str, scripts: &[&str]) -> Html<String> {
    let scripts: String =
        scripts.iter().map(|s| format!(r#"<script src="{}" defer></script>"#, esc(s))).collect::<Vec<_>>().join("");
    Html(format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · {org}</title>
<link rel="stylesheet" href="/assets/zauthy.css">
{scripts}
</head>
<body>
<main>
<p class="org">{org}</p>
<h1>{title}</h1>
{body}
</main>
</body>
</html>
"#,
        title = esc(title),
        org = esc(org_name),
    ))
}

/// A failure on a hosted page: the status and code of the API error, shown as a small page.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    retry_after: Option<HeaderValue>,
}

impl PageError {
    pub fn not_found() -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            detail: "This page does not exist".into(),
            retry_after: None,
        }
    }

    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self { status, code, detail: detail.into(), retry_after: None }
    }
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        let retry_after = e.clone_retry_after();
        Self { status: e.status, code: e.code, detail: e.detail, retry_after }
    }
}

impl From<CoreError> for PageError {
    fn from(e: CoreError) -> Self {
        ApiError::from(e).into()
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let body = format!(
            r#"<p class="error" data-error="{code}">{detail}</p>"#,
            code = esc(self.code),
            detail = esc(&self.detail),
        );
        let title = if self.status.is_server_error() { "Something went wrong" } else { "That did not work" };
        let mut response = (self.status, page(title, "zauthy", &body, &[])).into_response();
        if let Some(v) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}
