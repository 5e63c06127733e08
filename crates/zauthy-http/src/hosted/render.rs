//! HTML rendering for hosted pages: every page is an askama template that extends `templates/layout.html`
//! (compile-time checked, escaping by default), and errors are shown as pages rather than JSON.

use crate::error::ApiError;
use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use zauthy_core::CoreError;

/// Escapes text for HTML element content and double-quoted attributes: every value a template prints goes
/// through it (`askama.toml`).
#[derive(Debug, Clone, Copy, Default)]
pub struct HtmlEscaper;

impl askama::filters::Escaper for HtmlEscaper {
    fn write_escaped_str<W: std::fmt::Write>(&self, mut dest: W, text: &str) -> std::fmt::Result {
        let mut last = 0;
        for (i, c) in text.char_indices() {
            let entity = match c {
                '&' => "&amp;",
                '<' => "&lt;",
                '>' => "&gt;",
                '"' => "&quot;",
                '\'' => "&#39;",
                _ => continue,
            };
            dest.write_str(&text[last..i])?;
            dest.write_str(entity)?;
            last = i + 1;
        }
        dest.write_str(&text[last..])
    }
}

/// What every page has around its body (`templates/layout.html`): its title, the organization's name, and the
/// scripts it loads, all served by this server.
pub struct Shell<'a> {
    pub title: &'a str,
    pub org_name: &'a str,
    pub scripts: &'a [&'a str],
}

impl<'a> Shell<'a> {
    pub fn new(title: &'a str, org_name: &'a str) -> Self {
        Self { title, org_name, scripts: &[] }
    }

    pub fn with_scripts(self, scripts: &'a [&'a str]) -> Self {
        Self { scripts, ..self }
    }
}

/// A page rendered from its template (`templates/*.html`: compiled with the binary, every value escaped
/// unless the template says otherwise, which none does).
pub fn render(page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a page template failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "Internal server error").into_response()
        }
    }
}

/// A page that says one thing (`id` names its paragraph for scripts and tests).
#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage<'a> {
    pub shell: Shell<'a>,
    pub id: Option<&'a str>,
    pub text: &'a str,
}

/// The end of an approval (a device, a backchannel request, a sign-in from another device): what happened,
/// in the paragraph `id`, with a link back when there is somewhere to go back to.
#[derive(Template)]
#[template(path = "decided.html")]
pub struct DecidedPage<'a> {
    pub shell: Shell<'a>,
    pub id: &'a str,
    pub text: &'a str,
    pub back: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    shell: Shell<'a>,
    code: &'a str,
    detail: &'a str,
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
        let title = if self.status.is_server_error() { "Something went wrong" } else { "That did not work" };
        let page = ErrorPage { shell: Shell::new(title, "zauthy"), code: self.code, detail: &self.detail };
        let mut response = (self.status, render(&page)).into_response();
        if let Some(v) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_a_page_prints_is_escaped_for_content_and_attributes() {
        let page = MessagePage {
            shell: Shell::new("<script>", "O'Brien & \"Co\""),
            id: Some("x\" onmouseover=\"alert(1)"),
            text: "<img src=x onerror=alert(1)>",
        };
        let html = page.render().unwrap();
        assert!(html.contains("<title>&lt;script&gt; · O&#39;Brien &amp; &quot;Co&quot;</title>"), "{html}");
        assert!(html.contains(r#"<p id="x&quot; onmouseover=&quot;alert(1)">&lt;img src=x onerror=alert(1)&gt;</p>"#));
        assert!(!html.contains("<img") && !html.contains("<script>"), "{html}");
    }
}
