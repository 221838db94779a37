//! Optional authentication of the API: HTTP basic (`user:password`) or a bearer token,
//! compared in constant time. `/health` stays open so that container probes need no
//! credentials.

use axum::extract::State;
use axum::http::header;
use axum::response::Response;

use super::{error, AppState};
use axum::http::StatusCode;

/// Optional API authentication: HTTP basic (`user:password`) or a bearer token.
#[derive(Debug, Clone, Default)]
pub struct ApiAuth {
    pub basic: Option<String>,
    pub bearer: Option<String>,
}

pub(super) async fn authenticate(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let auth = &state.auth;
    if auth.basic.is_none() && auth.bearer.is_none() || request.uri().path() == "/health" {
        return next.run(request).await;
    }
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let basic_ok = auth.basic.as_deref().is_some_and(|expected| {
        given
            .strip_prefix("Basic ")
            .and_then(|b64| decode_base64(b64.trim()))
            .is_some_and(|credentials| {
                constant_time_eq(credentials.as_bytes(), expected.as_bytes())
            })
    });
    let bearer_ok = auth.bearer.as_deref().is_some_and(|expected| {
        given
            .strip_prefix("Bearer ")
            .is_some_and(|token| constant_time_eq(token.trim().as_bytes(), expected.as_bytes()))
    });
    if basic_ok || bearer_ok {
        next.run(request).await
    } else {
        let mut response = error(StatusCode::UNAUTHORIZED, "authentication required");
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Basic realm=\"pgcdc\""),
        );
        response
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn decode_base64(text: &str) -> Option<String> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        })
    };
    let bytes = text.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= value(c)? << (18 - 6 * i);
        }
        let produced = chunk.len() * 6 / 8;
        out.extend_from_slice(&n.to_be_bytes()[1..=produced]);
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_decode() {
        assert_eq!(decode_base64("dXNlcjpwYXNz").as_deref(), Some("user:pass"));
        assert_eq!(decode_base64("YQ==").as_deref(), Some("a"));
        assert_eq!(decode_base64("YWI=").as_deref(), Some("ab"));
        assert_eq!(decode_base64("not base64!"), None);
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
