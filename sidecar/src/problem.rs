//! RFC 9457 problem details: the one error shape of the admin API (`application/problem+json`).
//!
//! Owns: the [`Problem`] body, its constructors for each error class, and the mapping of warp
//! rejections (unknown route, wrong method, ...) to problems. Does not own: the mapping of admin
//! service errors (see `api`), nor authentication (see `auth`).

use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use warp::http::{header, HeaderValue, StatusCode};
use warp::reply::Response;
use warp::Reply;

/// The media type of every error response.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One failed rule on one field: `{field, rule, message}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProblemField {
    /// The offending field, dotted for nested ones (`voice.codecs`), or a path/query parameter.
    pub field: String,
    /// A stable rule name clients can switch on (`required`, `pattern`, `unique`, ...).
    pub rule: String,
    /// What was wrong and what to do, for humans.
    pub message: String,
}

/// A problem details body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// Always `about:blank`: the status and title say it all.
    #[serde(rename = "type")]
    pub kind: String,
    /// The HTTP status code.
    pub status: u16,
    /// The status's reason phrase.
    pub title: String,
    /// What went wrong in this request.
    pub detail: String,
    /// Field-level failures (validation); empty otherwise.
    #[serde(default)]
    pub errors: Vec<ProblemField>,
}

impl Problem {
    /// A problem with a status and a detail.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Problem {
            kind: "about:blank".to_owned(),
            status: status.as_u16(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    /// Adds field-level failures.
    pub fn with_errors(mut self, errors: Vec<ProblemField>) -> Self {
        self.errors = errors;
        self
    }

    /// 400: the request could not be read (malformed JSON, bad query or path parameter).
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    /// 400 for one bad parameter, naming it.
    pub fn bad_param(field: &str, rule: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::bad_request(format!("invalid parameter `{field}`: {message}")).with_errors(vec![
            ProblemField {
                field: field.to_owned(),
                rule: rule.to_owned(),
                message,
            },
        ])
    }

    /// 401: missing or wrong bearer token.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, detail)
    }

    /// 404: no such route or resource.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }

    /// 405: the route exists with other methods.
    pub fn method_not_allowed(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, detail)
    }

    /// 409: conflicts with existing state (duplicate username, ...).
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, detail)
    }

    /// 413: body larger than the route accepts.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body is larger than the {limit} bytes this route accepts"),
        )
    }

    /// 415: wrong content type.
    pub fn unsupported_media(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, detail)
    }

    /// 422: well-formed but invalid.
    pub fn unprocessable(detail: impl Into<String>, errors: Vec<ProblemField>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, detail).with_errors(errors)
    }

    /// 500: a fault on our side (store failure), never caused by input.
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, detail)
    }

    /// The status as a `StatusCode`.
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl Reply for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = warp::http::Response::new(body).into_response();
        *response.status_mut() = status;
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"acd-admin\""),
            );
        }
        response
    }
}

/// Turns every warp rejection into a problem, so no request ever gets a bare warp error page.
pub(crate) async fn recover(rejection: warp::Rejection) -> Result<Response, Infallible> {
    use warp::reject;
    let problem = if rejection.is_not_found() {
        Problem::not_found("no such route; see GET /api/v1/openapi.json")
    } else if rejection.find::<reject::MethodNotAllowed>().is_some() {
        Problem::method_not_allowed("method not allowed on this route")
    } else if rejection.find::<reject::PayloadTooLarge>().is_some() {
        Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "request body too large")
    } else if rejection.find::<reject::UnsupportedMediaType>().is_some() {
        Problem::unsupported_media("unsupported content type")
    } else if rejection.find::<reject::LengthRequired>().is_some() {
        Problem::new(
            StatusCode::LENGTH_REQUIRED,
            "a Content-Length header is required",
        )
    } else if let Some(e) = rejection.find::<reject::InvalidHeader>() {
        Problem::bad_request(format!("invalid header `{}`", e.name()))
    } else if let Some(e) = rejection.find::<reject::MissingHeader>() {
        Problem::bad_request(format!("missing header `{}`", e.name()))
    } else if rejection.find::<reject::InvalidQuery>().is_some() {
        Problem::bad_request("invalid query string")
    } else {
        tracing::warn!(?rejection, "unhandled rejection");
        Problem::bad_request(format!("request rejected: {rejection:?}"))
    };
    Ok(problem.into_response())
}
