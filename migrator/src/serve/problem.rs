//! Errors as RFC 9457 problem documents (`application/problem+json`): every refusal the
//! API makes (401, 403, 400, 404, 409) and every failure (500) has this one shape, so a
//! client reads `detail` for the reason whatever went wrong.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// A problem document.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem (`about:blank`: the status says it).
    #[serde(rename = "type")]
    pub kind: String,
    /// The status's reason phrase.
    pub title: String,
    pub status: u16,
    /// What was wrong and what fixes it.
    pub detail: String,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Problem {
        Problem {
            kind: "about:blank".into(),
            title: status.canonical_reason().unwrap_or("Error").into(),
            status: status.as_u16(),
            detail: detail.into(),
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::UNAUTHORIZED, detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::FORBIDDEN, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, detail)
    }

    pub fn conflict(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::CONFLICT, detail)
    }

    /// A failure of the server itself (its store); `detail` must already be redacted.
    pub fn internal(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::INTERNAL_SERVER_ERROR, detail)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let unauthorized = status == StatusCode::UNAUTHORIZED;
        let mut response = (status, axum::Json(self)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if unauthorized {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"seaway\""),
            );
        }
        response
    }
}

/// What a route reading one job refuses with.
#[derive(Debug, utoipa::IntoResponses)]
pub enum JobReadRefusals {
    /// The job id is not an integer.
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(Problem),
    /// No token, or one the server does not know.
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(Problem),
    /// There is no such job (or table of it).
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem),
}

/// What a route acting on one job (retry, cancel) refuses with.
#[derive(Debug, utoipa::IntoResponses)]
pub enum JobActionRefusals {
    /// The job id is not an integer.
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(Problem),
    /// No token, or one the server does not know.
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(Problem),
    /// The role is below operator, or a session request lacks its CSRF token.
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
    /// There is no such job.
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem),
    /// The job is not in a state this action applies to.
    #[response(status = 409, content_type = "application/problem+json")]
    Conflict(Problem),
}
