//! Request ids: kept when the client sends a well-formed one, generated otherwise.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use http::request::Parts;
use http::HeaderValue;

/// The request's id, as in the `x-request-id` response header, the request span and problem
/// bodies. An extractor:
///
/// ```
/// use trestle::RequestId;
///
/// async fn handler(id: RequestId) -> String {
///     format!("your request is {id}")
/// }
/// ```
///
/// Without the default stack (`server.request_id = false`) it is empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(pub(crate) HeaderValue);

impl RequestId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only ever built from validated ASCII (see `accept`) or hex.
        self.0.to_str().unwrap_or_default()
    }

    /// The client's id when it is 1 to 128 characters of `[A-Za-z0-9._:-]`; anything else (empty,
    /// oversized, control characters, spaces) is replaced, never echoed.
    pub(crate) fn accept(sent: &HeaderValue) -> Option<Self> {
        let bytes = sent.as_bytes();
        let ok = !bytes.is_empty()
            && bytes.len() <= 128
            && bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
        ok.then(|| RequestId(sent.clone()))
    }

    /// 128 random bits as 32 hex digits, from a fast per-thread generator seeded once
    /// (not from the OS per request).
    pub(crate) fn generate() -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let n = fastrand::u128(..);
        let mut buf = [0u8; 32];
        for (i, b) in buf.iter_mut().enumerate() {
            *b = HEX[((n >> (124 - 4 * i)) & 0xf) as usize];
        }
        RequestId(HeaderValue::from_bytes(&buf).expect("hex digits are a valid header value"))
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<RequestId>().cloned().unwrap_or_else(|| RequestId(HeaderValue::from_static(""))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_well_formed_ids() {
        for ok in ["abc", "0f3e-11:22.x_y", &"a".repeat(128)] {
            assert!(RequestId::accept(&HeaderValue::from_str(ok).unwrap()).is_some(), "{ok}");
        }
        for bad in ["", "has space", "semi;colon", "<script>", &"a".repeat(129), &"x".repeat(10_000)] {
            assert!(RequestId::accept(&HeaderValue::from_str(bad).unwrap()).is_none(), "{bad}");
        }
        assert!(RequestId::accept(&HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap()).is_none());
    }

    #[test]
    fn generated_ids_are_distinct_hex() {
        let a = RequestId::generate();
        let b = RequestId::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 32);
        assert!(a.as_str().bytes().all(|c| c.is_ascii_hexdigit()));
    }
}
