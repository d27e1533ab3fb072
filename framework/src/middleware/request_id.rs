//! Request ids: a well-formed one the client sent is kept; otherwise a [`MakeRequestId`] makes
//! one (by default [`RandomRequestId`], 128 random bits). The header is `server.request_id_header`
//! (`x-request-id` unless configured).

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Request};
use http::request::Parts;
use http::{HeaderName, HeaderValue};

/// The request's id, as in the `x-request-id` response header (or `server.request_id_header`),
/// the request span and problem bodies. An extractor:
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
    /// An id with the given value, for a [`MakeRequestId`] of the app's own. Keep it short and
    /// printable: it is echoed in a header and written to every log line of the request.
    ///
    /// ```
    /// use trestle::RequestId;
    /// use trestle::axum::http::HeaderValue;
    ///
    /// let id = RequestId::new(HeaderValue::from_static("order-42"));
    /// assert_eq!(id.as_str(), "order-42");
    /// ```
    pub fn new(value: HeaderValue) -> Self {
        RequestId(value)
    }

    /// The id as text (empty if it is not visible ASCII).
    pub fn as_str(&self) -> &str {
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

/// The request id is the server's: nothing for the document.
impl crate::openapi::DescribeInput for RequestId {}

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<RequestId>().cloned().unwrap_or_else(|| RequestId(HeaderValue::from_static(""))))
    }
}

/// Makes the id of a request whose client sent no well-formed one; plugged in with
/// [`App::request_id`](crate::App::request_id). The model is tower-http's `MakeRequestId`.
///
/// A client's id in `server.request_id_header` (1 to 128 characters of `[A-Za-z0-9._:-]`) is
/// always kept, so ids stay the same across services; this strategy is asked only otherwise.
/// Returning `None` leaves the request without an id (no header, an empty [`RequestId`]).
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use trestle::axum::extract::Request;
/// use trestle::axum::http::HeaderValue;
/// use trestle::middleware::MakeRequestId;
/// use trestle::{App, RequestId};
///
/// /// Sequential ids: readable in development logs.
/// #[derive(Default)]
/// struct Counter(AtomicU64);
///
/// impl MakeRequestId for Counter {
///     fn make_request_id(&self, _request: &Request) -> Option<RequestId> {
///         let n = self.0.fetch_add(1, Ordering::Relaxed);
///         Some(RequestId::new(HeaderValue::from(n)))
///     }
/// }
///
/// let app = App::new().request_id(Counter::default());
/// # let _ = app;
/// ```
pub trait MakeRequestId: Send + Sync + 'static {
    /// The id for `request`, or `None` for none.
    fn make_request_id(&self, request: &Request) -> Option<RequestId>;
}

/// The default [`MakeRequestId`]: 128 random bits as 32 lowercase hex digits.
#[derive(Clone, Copy, Debug, Default)]
pub struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id(&self, _request: &Request) -> Option<RequestId> {
        Some(RequestId::generate())
    }
}

/// The stack's request-id step: the header it reads and writes, and the strategy for new ids.
pub(crate) struct RequestIds {
    pub(crate) header: HeaderName,
    make: Option<Arc<dyn MakeRequestId>>,
}

impl RequestIds {
    /// Ids in `header` (`server.request_id_header`, checked here), made by `make` (`None`: the
    /// default, [`RandomRequestId`], called without dynamic dispatch).
    pub(crate) fn new(header: &str, make: Option<Arc<dyn MakeRequestId>>) -> Result<Self, super::InvalidSetting> {
        let header = HeaderName::from_bytes(header.as_bytes()).map_err(|_| super::InvalidSetting {
            key: "server.request_id_header",
            value: header.to_owned(),
            problem: "is not a valid HTTP header name",
        })?;
        Ok(Self { header, make })
    }

    /// The request's id — the client's if well-formed, else a new one — stored in its
    /// extensions for the [`RequestId`] extractor.
    #[inline]
    pub(crate) fn assign(&self, request: &mut Request) -> Option<RequestId> {
        let id = match request.headers().get(&self.header).and_then(RequestId::accept) {
            Some(id) => id,
            None => match &self.make {
                None => RequestId::generate(),
                Some(make) => make.make_request_id(request)?,
            },
        };
        request.extensions_mut().insert(id.clone());
        Some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

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

    fn request(header: &str, value: &str) -> Request {
        Request::get("/").header(header, value).body(Body::empty()).unwrap()
    }

    #[test]
    fn the_configured_header_is_read_and_the_id_stored_for_the_extractor() {
        let ids = RequestIds::new("x-correlation-id", None).unwrap();
        let mut req = request("x-correlation-id", "abc-1");
        assert_eq!(ids.assign(&mut req).unwrap().as_str(), "abc-1");
        assert_eq!(req.extensions().get::<RequestId>().unwrap().as_str(), "abc-1");

        let mut other = request("x-request-id", "abc-1");
        assert_eq!(ids.assign(&mut other).unwrap().as_str().len(), 32, "another header is not read");
    }

    struct Fixed(Option<&'static str>);

    impl MakeRequestId for Fixed {
        fn make_request_id(&self, _request: &Request) -> Option<RequestId> {
            self.0.map(|id| RequestId::new(HeaderValue::from_static(id)))
        }
    }

    #[test]
    fn a_strategy_makes_ids_only_when_the_client_sent_no_usable_one() {
        let ids = RequestIds::new("x-request-id", Some(Arc::new(Fixed(Some("made"))))).unwrap();
        assert_eq!(ids.assign(&mut request("x-request-id", "sent")).unwrap().as_str(), "sent");
        assert_eq!(ids.assign(&mut request("x-request-id", "bad id")).unwrap().as_str(), "made");

        let none = RequestIds::new("x-request-id", Some(Arc::new(Fixed(None)))).unwrap();
        let mut req = request("x-other", "x");
        assert!(none.assign(&mut req).is_none());
        assert!(req.extensions().get::<RequestId>().is_none());
    }

    #[test]
    fn an_invalid_header_name_is_a_config_error_naming_the_key() {
        let Err(err) = RequestIds::new("bad header", None) else { panic!("an invalid header name is refused") };
        assert!(format!("{err:?}").contains("server.request_id_header"), "{err:?}");
    }
}
