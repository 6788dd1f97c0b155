//! What a state-changing request must pass: the router is not read-only, and the
//! request comes from the dashboard's own origin (a cross-site form or script cannot
//! pause or remove jobs: CSRF).
//!
//! The check is the one browsers make possible without a token: a browser sends
//! `Sec-Fetch-Site` and `Origin` with every POST, PUT and DELETE, and a page of
//! another site cannot forge them. A request with `Sec-Fetch-Site` other than
//! `same-origin` or `none`, or with an `Origin` whose host is not the `Host` it was
//! sent to, is refused (403). A request with neither header is not from a browser
//! (curl, a script with its own credentials) and passes: put authentication in front
//! of the router (see the crate's docs).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::Shared;

/// Middleware: refuses state-changing requests that a read-only router or the
/// same-origin rule forbids.
pub(crate) async fn guard(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let changes = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if changes {
        if shared.read_only {
            return ApiError::read_only().into_response();
        }
        if !same_origin(request.headers()) {
            return ApiError::cross_origin().into_response();
        }
    }
    next.run(request).await
}

/// Whether the request may come from the page of another site (see the module docs).
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        if site != "same-origin" && site != "none" {
            return false;
        }
    }
    match (headers.get(header::ORIGIN), text("host")) {
        (None, _) => true,
        (Some(origin), host) => {
            let Ok(origin) = origin.to_str() else {
                return false;
            };
            // `null` (a sandboxed frame, a file) is never the dashboard.
            let origin_host = origin
                .split_once("://")
                .map(|(_, rest)| rest.trim_end_matches('/'));
            matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn only_the_dashboards_own_origin_changes_jobs() {
        assert!(same_origin(&headers(&[])), "no browser: curl");
        assert!(same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080"),
            ("sec-fetch-site", "same-origin"),
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "https://evil.example"),
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("sec-fetch-site", "cross-site"),
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "null"),
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080.evil.example"),
        ])));
    }
}
