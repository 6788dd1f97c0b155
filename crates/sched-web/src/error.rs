//! Errors as the API answers them: JSON with a kind and a message, and the status
//! that says what went wrong (404 unknown job, 400 bad input, 409 conflict, 403 read
//! only, 503 store unreachable).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// A failed request: its status and what to tell the caller.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) kind: &'static str,
    pub(crate) message: String,
}

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    /// What kind of error: `not_found`, `bad_request`, `conflict`, `read_only`,
    /// `forbidden`, `unavailable` or `internal`.
    pub(crate) error: String,
    /// What went wrong, for a person.
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    pub(crate) fn read_only() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "read_only",
            "this dashboard is read-only: it changes no job",
        )
    }

    pub(crate) fn cross_origin() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "a state-changing request must come from the dashboard's own origin",
        )
    }
}

impl From<sched_core::Error> for ApiError {
    fn from(error: sched_core::Error) -> Self {
        use sched_core::Error as E;
        let message = error.to_string();
        match error {
            E::JobNotFound(_) | E::RunNotFound(_) => {
                Self::new(StatusCode::NOT_FOUND, "not_found", message)
            }
            E::DuplicateJobId(_) | E::Decode { .. } | E::JobOutsideSet { .. } => {
                Self::conflict(message)
            }
            E::Store(_) | E::SchemaNotFound { .. } => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
            }
            E::InvalidConfiguration { .. } => {
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
            }
            // Everything else is about the input: a trigger, a zone, options.
            _ => Self::bad_request(message),
        }
    }
}

impl From<sched_tokio::Error> for ApiError {
    fn from(error: sched_tokio::Error) -> Self {
        use sched_tokio::Error as E;
        match error {
            E::Core(core) => core.into(),
            other => Self::conflict(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.kind.to_owned(),
            message: self.message,
        };
        (self.status, Json(body)).into_response()
    }
}
