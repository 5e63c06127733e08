//! CSRF protection for hosted pages: a random token in a `SameSite=Strict` cookie that every form (field
//! `csrf_token`) or script (header `X-CSRF-Token`) must echo, compared in constant time, plus a check that
//! the request's `Origin`, when the browser sends one, is this server's.

use super::{PageError, cookie, set_cookie};
use crate::state::AppState;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use zauthy_core::crypto;

pub const CSRF_COOKIE: &str = "zauthy_csrf";
pub const CSRF_FIELD: &str = "csrf_token";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The CSRF token a page embeds, and the cookie to set when the browser did not have one yet.
pub struct Csrf {
    pub token: String,
    pub set_cookie: Option<HeaderValue>,
}

fn well_formed(token: &str) -> bool {
    token.len() == 43 && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Csrf {
    /// Reuses the browser's token or makes a new one.
    pub fn for_page(state: &AppState, org_id: &str, headers: &HeaderMap) -> Self {
        if let Some(token) = cookie(headers, CSRF_COOKIE).filter(|t| well_formed(t)) {
            return Self { token: token.to_owned(), set_cookie: None };
        }
        let token = data_encoding::BASE64URL_NOPAD.encode(&crypto::random_bytes::<32>());
        let set_cookie = Some(set_cookie(state, org_id, CSRF_COOKIE, &token, "Strict", None));
        Self { token, set_cookie }
    }

    /// Adds the CSRF cookie to `response` when this page made a new token (templates carry the token itself:
    /// `csrf_field.html` in forms, `csrf_meta.html` for scripts).
    pub fn attach(&self, mut response: Response) -> Response {
        if let Some(c) = &self.set_cookie {
            response.headers_mut().append(header::SET_COOKIE, c.clone());
        }
        response
    }

    /// Checks a state-changing request: `submitted` is the form field, or `None` to use the header.
    pub fn verify(state: &AppState, headers: &HeaderMap, submitted: Option<&str>) -> Result<(), PageError> {
        let fail = |why: &str| PageError::new(StatusCode::FORBIDDEN, "csrf_failed", why.to_owned());
        if let Some(origin) = headers.get(header::ORIGIN) {
            let expected = url::Url::parse(&state.services.config.public_url)
                .map(|u| u.origin().ascii_serialization())
                .unwrap_or_default();
            if origin.to_str().ok() != Some(expected.as_str()) {
                return Err(fail("This form was submitted from another site"));
            }
        }
        let expected = cookie(headers, CSRF_COOKIE)
            .filter(|t| well_formed(t))
            .ok_or_else(|| fail("The security token of this form is missing; reload the page and try again"))?;
        let submitted = submitted
            .or_else(|| headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()))
            .ok_or_else(|| fail("The security token of this form is missing; reload the page and try again"))?;
        if !crypto::constant_time_eq(expected.as_bytes(), submitted.as_bytes()) {
            return Err(fail("The security token of this form is wrong; reload the page and try again"));
        }
        Ok(())
    }
}
