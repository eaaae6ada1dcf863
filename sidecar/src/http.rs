//! The HTTP edge of the admin API: the warp filter, authentication, route matching against the
//! route table, bounded body reading, and the query/JSON decoding helpers handlers use.
//!
//! Owns: turning a raw request into `(Route, params, query, body)` or a problem. Every request
//! under `/api/v1` goes through one warp filter and is matched against [`crate::routes::ROUTES`],
//! the same table the OpenAPI document is built from, so the document cannot drift from what is
//! served. Does not own: what each route does (see `api`).

use crate::api::{self, AppState};
use crate::problem::{Problem, ProblemField};
use crate::routes::{percent_decode, Match, Route};
use bytes::{Buf, Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::convert::Infallible;
use std::sync::Arc;
use warp::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use warp::reply::Response;
use warp::{Filter, Reply};

/// Bodies past a route's limit are still read (and dropped) up to this many bytes, so the client
/// sees the 413 instead of a reset connection; past it the connection is closed.
const DRAIN_CAP: usize = 64 * 1024 * 1024;

/// The complete warp filter: `GET /healthz` (open) and everything under `/api/v1` (bearer auth),
/// with every rejection turned into problem+json.
pub fn filter(
    state: Arc<AppState>,
) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync + 'static {
    let healthz = warp::path!("healthz")
        .and(warp::get())
        .map(|| warp::reply::json(&serde_json::json!({"status": "ok"})).into_response());
    let query = warp::query::raw().or(warp::any().map(String::new)).unify();
    let api = warp::path("api")
        .and(warp::path("v1"))
        .and(warp::any().map(move || state.clone()))
        .and(warp::method())
        .and(warp::path::full())
        .and(query)
        .and(warp::header::headers_cloned())
        .and(warp::body::stream())
        .then(
            |state: Arc<AppState>, method, path: warp::path::FullPath, query, headers, body| {
                handle_api(state, method, path, query, headers, body)
            },
        );
    healthz
        .or(api)
        .unify()
        .recover(crate::problem::recover)
        .unify()
}

/// A matched request, ready for its handler.
#[derive(Debug)]
pub(crate) struct ApiRequest {
    pub(crate) route: &'static Route,
    pub(crate) params: Vec<String>,
    pub(crate) query: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

async fn handle_api<S, B>(
    state: Arc<AppState>,
    method: Method,
    path: warp::path::FullPath,
    query: String,
    headers: HeaderMap,
    body: S,
) -> Response
where
    S: Stream<Item = Result<B, warp::Error>> + Send,
    B: Buf,
{
    let authorized = state
        .token()
        .accepts_header(headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()));
    if !authorized {
        let detail = if headers.contains_key(header::AUTHORIZATION) {
            "the bearer token is not valid"
        } else {
            "missing `Authorization: Bearer <token>` header"
        };
        return Problem::unauthorized(detail).into_response();
    }
    let (route, params) = match crate::routes::find(&method, path.as_str()) {
        Match::Found(route, params) => (route, params),
        Match::MethodNotAllowed(allowed) => {
            let mut response = Problem::method_not_allowed(format!(
                "{method} is not allowed on {}; allowed: {}",
                path.as_str(),
                allowed.join(", ")
            ))
            .into_response();
            if let Ok(value) = HeaderValue::from_str(&allowed.join(", ")) {
                response.headers_mut().insert(header::ALLOW, value);
            }
            return response;
        }
        Match::NotFound => {
            return Problem::not_found(format!(
                "no route {}; see GET /api/v1/openapi.json",
                path.as_str()
            ))
            .into_response()
        }
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let body = match read_body(body, declared, route.body_limit()).await {
        Ok(body) => body,
        Err(problem) => return problem.into_response(),
    };
    let request = ApiRequest {
        route,
        params,
        query,
        headers,
        body,
    };
    match api::dispatch(&state, request).await {
        Ok(response) => response,
        Err(problem) => problem.into_response(),
    }
}

async fn read_body<S, B>(body: S, declared: Option<u64>, limit: usize) -> Result<Bytes, Problem>
where
    S: Stream<Item = Result<B, warp::Error>> + Send,
    B: Buf,
{
    if declared.is_some_and(|len| len > DRAIN_CAP as u64) {
        return Err(Problem::too_large(limit));
    }
    let mut body = std::pin::pin!(body);
    let mut buf = BytesMut::new();
    let mut seen = 0usize;
    while let Some(chunk) = body.next().await {
        let mut chunk =
            chunk.map_err(|e| Problem::bad_request(format!("could not read the body: {e}")))?;
        seen += chunk.remaining();
        if seen > limit {
            if seen > DRAIN_CAP {
                break;
            }
            chunk.advance(chunk.remaining());
            continue;
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            buf.extend_from_slice(part);
            let n = part.len();
            chunk.advance(n);
        }
    }
    if seen > limit {
        return Err(Problem::too_large(limit));
    }
    Ok(buf.freeze())
}

impl ApiRequest {
    /// Path parameter `i` (in the order of the route's `{..}` segments) as a positive id.
    pub(crate) fn id(&self, i: usize) -> Result<u64, Problem> {
        let name = self.route.param_names().nth(i).unwrap_or("id");
        let raw = self.params.get(i).map(String::as_str).unwrap_or("");
        raw.parse::<u64>().map_err(|_| {
            Problem::bad_param(
                name,
                "integer",
                format!("path parameter `{name}` must be a non-negative integer, got `{raw}`"),
            )
        })
    }

    /// The query string's pairs, for [`Query`].
    pub(crate) fn query(&self) -> Result<Query, Problem> {
        Query::parse(&self.query, self.route)
    }

    /// 415 unless the declared content type is one of `allowed` (parameters ignored).
    pub(crate) fn require_content_type(&self, allowed: &[&str]) -> Result<(), Problem> {
        let content_type = self
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if allowed.contains(&essence.as_str()) {
            return Ok(());
        }
        Err(Problem::unsupported_media(format!(
            "expected `Content-Type: {}`, got `{}`",
            allowed.first().copied().unwrap_or(""),
            if content_type.is_empty() {
                "(none)"
            } else {
                content_type
            }
        )))
    }

    /// Decodes the JSON body into `T`: 415 for a non-JSON content type, 400 for malformed JSON
    /// (naming line and column), 422 for a well-formed body of the wrong shape (naming the field).
    pub(crate) fn json<T: DeserializeOwned + Serialize>(&self) -> Result<T, Problem> {
        let content_type = self
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !is_json(content_type) {
            return Err(Problem::unsupported_media(format!(
                "expected `Content-Type: application/json`, got `{}`",
                if content_type.is_empty() {
                    "(none)"
                } else {
                    content_type
                }
            )));
        }
        decode_json(&self.body)
    }
}

/// 400 for malformed JSON, 422 for a JSON value of the wrong shape or with a field the type
/// does not have (a misspelt setting must not be silently ignored).
pub(crate) fn decode_json<T: DeserializeOwned + Serialize>(body: &[u8]) -> Result<T, Problem> {
    let (decoded, input) = decode_shape::<T>(body)?;
    // `#[serde(flatten)]` disables `deny_unknown_fields`, so unknown fields are found by
    // comparing the input with what the decoded value serializes back to: every input field the
    // type knows comes back (patches echo the fields they were given, `null` included).
    if let Ok(echo) = serde_json::to_value(&decoded) {
        if let Some(field) = unknown_field(&input, &echo, "") {
            let message = format!("unknown field `{field}`");
            return Err(Problem::unprocessable(
                format!("field `{field}`: {message}"),
                vec![ProblemField {
                    field,
                    rule: "unknown_field".to_owned(),
                    message,
                }],
            ));
        }
    }
    Ok(decoded)
}

/// The dotted path of the first field of `input` that `echo` does not have. A `null` input
/// field may be absent from the echo (an unset optional field is not serialized).
fn unknown_field(
    input: &serde_json::Value,
    echo: &serde_json::Value,
    prefix: &str,
) -> Option<String> {
    use serde_json::Value;
    let path = |key: &str| {
        if prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{prefix}.{key}")
        }
    };
    match (input, echo) {
        (Value::Object(given), Value::Object(known)) => {
            given.iter().find_map(|(k, v)| match known.get(k) {
                Some(e) => unknown_field(v, e, &path(k)),
                None if v.is_null() => None,
                None => Some(path(k)),
            })
        }
        (Value::Array(given), Value::Array(known)) if given.len() == known.len() => given
            .iter()
            .zip(known)
            .enumerate()
            .find_map(|(i, (g, k))| unknown_field(g, k, &path(&i.to_string()))),
        _ => None,
    }
}

fn decode_shape<T: DeserializeOwned>(body: &[u8]) -> Result<(T, serde_json::Value), Problem> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Problem::bad_request(
            "the request body is empty; expected a JSON object",
        ));
    }
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        Problem::bad_request(format!(
            "malformed JSON at line {} column {}: {e}",
            e.line(),
            e.column()
        ))
    })?;
    let located = value.clone();
    let input = value.clone();
    let decoded: T = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        // serde loses the path inside `#[serde(flatten)]`; find the field by pruning instead.
        let path = if path == "." || path.is_empty() {
            locate::<T>(&located).unwrap_or_default()
        } else {
            path
        };
        let rule = if inner.starts_with("missing field") {
            "required"
        } else if inner.starts_with("unknown field") {
            "unknown_field"
        } else if inner.starts_with("unknown variant") {
            "enum"
        } else {
            "type"
        };
        let named = |prefix: &str| {
            let name = inner.split('`').nth(1).unwrap_or_default();
            if prefix.is_empty() {
                name.to_owned()
            } else {
                format!("{prefix}.{name}")
            }
        };
        let field = match rule {
            // serde reports a missing field on its parent; name the field itself.
            "required" => named(&path),
            "unknown_field" if path.is_empty() => named(""),
            _ => path,
        };
        let detail = if field.is_empty() {
            inner.clone()
        } else {
            format!("field `{field}`: {inner}")
        };
        Problem::unprocessable(
            detail,
            vec![ProblemField {
                field,
                rule: rule.to_owned(),
                message: inner,
            }],
        )
    })?;
    Ok((decoded, input))
}

/// The dotted path of the first field that makes `value` fail to deserialize as `T`, found by
/// keeping one field at a time (every field of the input types has a default, so a lone field
/// fails only if it is itself wrong).
fn locate<T: DeserializeOwned>(value: &serde_json::Value) -> Option<String> {
    use serde_json::{Map, Value};
    fn fails<T: DeserializeOwned>(v: Value) -> bool {
        serde_json::from_value::<T>(v).is_err()
    }
    fn nest(path: &[String], leaf: Value) -> Value {
        path.iter().rev().fold(leaf, |inner, key| {
            let mut m = Map::new();
            m.insert(key.clone(), inner);
            Value::Object(m)
        })
    }
    let mut path: Vec<String> = Vec::new();
    let mut at = value;
    while let Value::Object(fields) = at {
        let mut found = None;
        for (key, child) in fields {
            let mut probe = path.clone();
            probe.push(key.clone());
            if fails::<T>(nest(&probe, child.clone())) {
                found = Some((key, child));
                break;
            }
        }
        match found {
            Some((key, child)) => {
                path.push(key.clone());
                at = child;
            }
            None => break,
        }
    }
    (!path.is_empty()).then(|| path.join("."))
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Decoded query parameters, checked against the route's declared parameters.
#[derive(Debug)]
pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    fn parse(raw: &str, route: &Route) -> Result<Query, Problem> {
        let pairs: Vec<(String, String)> = form_urlencoded(raw);
        for (name, _) in &pairs {
            if !route.query.iter().any(|p| p.name == name) {
                let known: Vec<&str> = route.query.iter().map(|p| p.name).collect();
                return Err(Problem::bad_param(
                    name,
                    "unknown_parameter",
                    format!(
                        "unknown query parameter `{name}`; this route takes: {}",
                        if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.join(", ")
                        }
                    ),
                ));
            }
        }
        Ok(Query { pairs })
    }

    /// The last value given for `name`.
    pub(crate) fn str(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `name` as an unsigned integer within `max`.
    pub(crate) fn u64(&self, name: &str, max: u64) -> Result<Option<u64>, Problem> {
        let Some(raw) = self.str(name) else {
            return Ok(None);
        };
        match raw.parse::<u64>() {
            Ok(v) if v <= max => Ok(Some(v)),
            _ => Err(Problem::bad_param(
                name,
                "range",
                format!("`{name}` must be an integer from 0 to {max}, got `{raw}`"),
            )),
        }
    }

    /// `name` as one of `allowed`.
    pub(crate) fn one_of(
        &self,
        name: &str,
        allowed: &[&'static str],
    ) -> Result<Option<&'static str>, Problem> {
        let Some(raw) = self.str(name) else {
            return Ok(None);
        };
        allowed
            .iter()
            .copied()
            .find(|a| *a == raw)
            .map(Some)
            .ok_or_else(|| {
                Problem::bad_param(
                    name,
                    "enum",
                    format!(
                        "`{name}` must be one of {}, got `{raw}`",
                        allowed.join(", ")
                    ),
                )
            })
    }
}

fn form_urlencoded(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            // Form encoding: `+` is a space; a literal plus arrives as %2B.
            (
                percent_decode(&k.replace('+', " ")),
                percent_decode(&v.replace('+', " ")),
            )
        })
        .collect()
}

/// A JSON response with a status.
pub(crate) fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    let mut response = warp::reply::json(value).into_response();
    *response.status_mut() = status;
    response
}

/// 204 No Content.
pub(crate) fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding_handles_plus_escapes_and_stray_percent() {
        let pairs = form_urlencoded("q=a+b%20c%2Bd&x=100%&y=%zz&z=%C3%A9&flag");
        let values: Vec<&str> = pairs.iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(values, vec!["a b c+d", "100%", "%zz", "é", ""]);
    }

    #[test]
    fn json_content_types_are_recognised() {
        assert!(is_json("application/json"));
        assert!(is_json("application/json; charset=utf-8"));
        assert!(is_json("application/merge-patch+json"));
        assert!(!is_json("text/plain"));
        assert!(!is_json("application/x-www-form-urlencoded"));
        assert!(!is_json(""));
    }

    #[derive(Debug, serde::Deserialize, serde::Serialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        name: String,
        inner: Option<Inner>,
    }

    #[derive(Debug, serde::Deserialize, serde::Serialize)]
    #[allow(dead_code)]
    struct Inner {
        level: u8,
    }

    #[test]
    fn malformed_json_is_a_400_naming_the_position() {
        let p = decode_json::<Sample>(b"{\"name\": }").unwrap_err();
        assert_eq!(p.status, 400);
        assert!(p.detail.contains("line 1 column"), "{}", p.detail);
    }

    #[test]
    fn wrong_type_is_a_422_naming_the_nested_field() {
        let p = decode_json::<Sample>(br#"{"name":"a","inner":{"level":"high"}}"#).unwrap_err();
        assert_eq!(p.status, 422);
        assert_eq!(p.errors[0].field, "inner.level");
        assert_eq!(p.errors[0].rule, "type");
    }

    #[test]
    fn missing_field_is_a_422_naming_the_field() {
        let p = decode_json::<Sample>(b"{}").unwrap_err();
        assert_eq!(p.status, 422);
        assert_eq!(p.errors[0].field, "name");
        assert_eq!(p.errors[0].rule, "required");
    }

    #[test]
    fn unknown_field_is_a_422_naming_the_field() {
        let p = decode_json::<Sample>(br#"{"name":"a","nmae":"b"}"#).unwrap_err();
        assert_eq!(p.status, 422);
        assert_eq!(p.errors[0].field, "nmae");
        assert_eq!(p.errors[0].rule, "unknown_field");
    }

    #[derive(Debug, Default, serde::Deserialize, serde::Serialize)]
    #[serde(default)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        #[serde(flatten)]
        flat: Flat,
    }

    #[derive(Debug, Default, serde::Deserialize, serde::Serialize)]
    #[serde(default)]
    #[allow(dead_code)]
    struct Flat {
        capacity: Cap,
    }

    #[derive(Debug, Default, serde::Deserialize, serde::Serialize)]
    #[serde(default)]
    #[allow(dead_code)]
    struct Cap {
        chat: u8,
    }

    #[test]
    fn wrong_type_inside_a_flattened_struct_still_names_the_field() {
        let p = decode_json::<Outer>(br#"{"name":"a","capacity":{"chat":"many"}}"#).unwrap_err();
        assert_eq!(p.status, 422);
        assert_eq!(p.errors[0].field, "capacity.chat");
    }

    #[test]
    fn unknown_field_beside_a_flattened_struct_is_a_422() {
        let p = decode_json::<Outer>(br#"{"name":"a","capcity":{"chat":2}}"#).unwrap_err();
        assert_eq!(p.status, 422);
        assert_eq!(p.errors[0].field, "capcity");
        assert_eq!(p.errors[0].rule, "unknown_field");
    }

    #[test]
    fn unknown_field_nested_in_a_flattened_struct_names_its_path() {
        let p = decode_json::<Outer>(br#"{"capacity":{"chat":2,"emial":1}}"#).unwrap_err();
        assert_eq!(p.status, 422);
        assert_eq!(p.errors[0].field, "capacity.emial");
    }

    #[test]
    fn known_fields_and_nulls_for_unset_options_are_accepted() {
        let s = decode_json::<Sample>(br#"{"name":"a","inner":null}"#).unwrap();
        assert_eq!(s.name, "a");
        let o = decode_json::<Outer>(br#"{"name":"a","capacity":{"chat":2}}"#).unwrap();
        assert_eq!(o.flat.capacity.chat, 2);
    }

    #[test]
    fn empty_body_is_a_400() {
        assert_eq!(decode_json::<Sample>(b"  ").unwrap_err().status, 400);
    }
}
