//! `Page`: which slice of a list a request asks for; `Paginated`: the answer with its total.

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use http::request::Parts;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::config::{OverMax, PaginationConfig};
use crate::error::Error;

const CURSOR: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The page a list request asks for, from its query string: `?limit=20&offset=40` or
/// `?limit=20&cursor=…` (the `next_cursor` of the previous page).
///
/// | parameter | default | accepted |
/// |---|---|---|
/// | `limit` | `pagination.default_limit` (20) | 1 to `pagination.max_limit` (100); over it clamped, or a 422 with `over_max = "reject"` |
/// | `offset` | 0 | 0 to 2⁶³−1 |
/// | `cursor` | none | a `next_cursor` from the previous page; not with `offset` |
///
/// Anything else — `limit=0`, `limit=abc`, `offset=-1`, an offset too large for the database,
/// a cursor that does not decode — is a 422 problem naming the parameter and what it accepts.
/// Other query parameters are left to [`Query`](super::Query).
///
/// ```
/// use trestle::prelude::*;
///
/// #[derive(Serialize)]
/// struct Item { id: i64 }
///
/// /// Lists items, a page at a time (`GET /items?limit=…&offset=…`).
/// async fn list(page: Page) -> Paginated<Item> {
///     let items = (page.offset()..page.offset() + page.limit()).map(|id| Item { id }).collect();
///     page.respond(items, Some(1_000))
/// }
/// # let _ = list;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    limit: u32,
    offset: u64,
    cursor: Option<String>,
}

impl Page {
    /// Items to return (at least 1): for `LIMIT`.
    pub fn limit(&self) -> i64 {
        i64::from(self.limit)
    }

    /// Items to skip: for `OFFSET` (0 with a cursor).
    pub fn offset(&self) -> i64 {
        // Checked to fit when the request was read.
        i64::try_from(self.offset).unwrap_or(i64::MAX)
    }

    /// The position the request continues from: the key [`Paginated::with_next_cursor`] encoded
    /// into the previous page's `next_cursor`; `None` on the first page. A cursor that does not
    /// decode to a `K` is a 422 naming `cursor`. Cursors are opaque but not signed: a client can
    /// write one for any `K`, so a cursor says where to continue, never what the client may see
    /// (keep the ownership filter in the query, as with offsets).
    pub fn cursor<K: DeserializeOwned>(&self) -> Result<Option<K>, Error> {
        let Some(text) = &self.cursor else { return Ok(None) };
        let invalid = || {
            Error::unprocessable("query parameter `cursor` is not a cursor of this list: pass the `next_cursor` of the previous page, or no cursor for the first")
                .with_field("cursor", "is not a valid cursor")
        };
        let bytes = CURSOR.decode(text).map_err(|_| invalid())?;
        serde_json::from_slice(&bytes).map(Some).map_err(|_| invalid())
    }

    /// The answer: this page's `items` and, when known, the `total` across all pages.
    pub fn respond<T>(&self, items: Vec<T>, total: Option<u64>) -> Paginated<T> {
        Paginated { items, total, limit: self.limit, offset: self.offset, next_cursor: None }
    }

    /// A page from parameters (for tests and for calling a handler directly); the same checks
    /// as a request's query string, against `config`.
    pub fn from_query(query: &str, config: &PaginationConfig) -> Result<Self, Error> {
        let (mut limit, mut offset, mut cursor) = (None, None, None);
        for (key, value) in pairs(query) {
            match &*key {
                "limit" => limit = Some(value),
                "offset" => offset = Some(value),
                "cursor" => cursor = Some(value),
                _ => {}
            }
        }
        // An empty value (`?offset=`) is not a number: 422, as the document's `integer` says.
        let limit = match limit {
            None => config.default_limit,
            Some(text) => parse_limit(&text, config)?,
        };
        let offset = match offset {
            None => 0,
            Some(text) => text
                .parse::<u64>()
                .ok()
                .filter(|n| i64::try_from(*n).is_ok())
                .ok_or_else(|| bad("offset", &text, format!("a whole number from 0 to {}", i64::MAX)))?,
        };
        let cursor = cursor.filter(|c| !c.is_empty()).map(std::borrow::Cow::into_owned);
        if cursor.is_some() && offset != 0 {
            return Err(Error::unprocessable(
                "query parameters `cursor` and `offset` both say where the page starts: send one of them",
            )
            .with_field("offset", "cannot be combined with cursor"));
        }
        Ok(Page { limit, offset, cursor })
    }
}

/// `limit`: 1 to `max_limit`, or over it clamped (`over_max = "clamp"`).
fn parse_limit(text: &str, config: &PaginationConfig) -> Result<u32, Error> {
    let accepted = || format!("a whole number from 1 to {}", config.max_limit);
    // Digits alone: a number too large for any integer is still "over the maximum".
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("limit", text, accepted()));
    }
    let value = text.parse::<u64>().unwrap_or(u64::MAX);
    if value == 0 {
        return Err(bad("limit", text, accepted()));
    }
    if value > u64::from(config.max_limit) {
        return match config.over_max {
            OverMax::Clamp => Ok(config.max_limit),
            OverMax::Reject => Err(bad("limit", text, accepted())),
        };
    }
    Ok(value as u32)
}

/// 422 for a query parameter outside what it accepts.
fn bad(name: &str, value: &str, accepted: String) -> Error {
    let shown: String = value.chars().take(40).collect();
    Error::unprocessable(format!("query parameter `{name}` is {shown:?}; it must be {accepted}"))
        .with_field(name, format!("must be {accepted}"))
}

/// `a=1&b=x%20y` as decoded pairs (`+` is a space), by the `form_urlencoded` crate axum's
/// `Query` reads them with too.
pub(super) fn pairs(query: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(query.as_bytes())
}

impl<S: Send + Sync> FromRequestParts<S> for Page {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Error> {
        // The app's `[pagination]`, put there at startup when it differs from the defaults.
        let config = parts.extensions.get::<PaginationConfig>().copied().unwrap_or_default();
        Page::from_query(parts.uri.query().unwrap_or_default(), &config)
    }
}

/// One page of a list: `{"items": […], "total": 42, "limit": 20, "offset": 0}`, plus
/// `"next_cursor"` when [`with_next_cursor`](Self::with_next_cursor) set one. Built by
/// [`Page::respond`]; `total` is also sent as `x-total-count`.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
#[schemars(description = "One page of a list: its items, the total when counted, and where the next page starts.")]
pub struct Paginated<T> {
    /// This page's items.
    pub items: Vec<T>,
    /// Items across all pages, when the handler counted them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// The page size used (after clamping).
    pub limit: u32,
    /// Items skipped before this page.
    pub offset: u64,
    /// Where the next page starts (`?cursor=…`); absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl<T> Paginated<T> {
    /// Sets `next_cursor` from the last item's key (`key(last)`, any serializable value such as
    /// `(created_at, id)`) when the page is full; a shorter page is the last and gets none.
    pub fn with_next_cursor<K: Serialize>(mut self, key: impl FnOnce(&T) -> K) -> Self {
        self.next_cursor = None;
        if self.items.len() >= self.limit as usize {
            if let Some(last) = self.items.last() {
                // A key that does not serialize has no cursor: the client sees the last page.
                self.next_cursor = serde_json::to_vec(&key(last)).ok().map(|json| CURSOR.encode(json));
            }
        }
        self
    }
}

impl<T: Serialize> IntoResponse for Paginated<T> {
    fn into_response(self) -> Response {
        let total = self.total;
        let mut response = axum::Json(self).into_response();
        if let Some(total) = total {
            response.headers_mut().insert("x-total-count", http::HeaderValue::from(total));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(query: &str) -> Result<Page, Error> {
        Page::from_query(query, &PaginationConfig::default())
    }

    fn field_of(e: &Error) -> String {
        e.problem().errors[0].field.clone()
    }

    #[test]
    fn defaults_and_bounds() {
        let p = page("").unwrap();
        assert_eq!((p.limit(), p.offset()), (20, 0));
        let p = page("limit=5&offset=10&tag=x").unwrap();
        assert_eq!((p.limit(), p.offset()), (5, 10));
        assert_eq!(page("limit=1000").unwrap().limit(), 100);
        assert_eq!(page("limit=99999999999999999999999").unwrap().limit(), 100);
        let reject = PaginationConfig { over_max: OverMax::Reject, ..PaginationConfig::default() };
        let e = Page::from_query("limit=101", &reject).unwrap_err();
        assert_eq!((e.status().as_u16(), field_of(&e)), (422, "limit".to_owned()));
        assert!(e.problem().detail.as_deref().unwrap().contains("from 1 to 100"));
    }

    #[test]
    fn bad_numbers_are_422_naming_the_parameter() {
        for (query, name) in [
            ("limit=0", "limit"),
            ("limit=-1", "limit"),
            ("limit=abc", "limit"),
            ("offset=-1", "offset"),
            ("offset=99999999999999999999999999", "offset"),
            ("offset=9223372036854775808", "offset"),
            ("offset=1.5", "offset"),
            ("offset=", "offset"),
            ("limit=", "limit"),
        ] {
            let e = page(query).unwrap_err();
            assert_eq!(e.status().as_u16(), 422, "{query}");
            assert_eq!(field_of(&e), name, "{query}");
        }
        assert_eq!(page("offset=9223372036854775807").unwrap().offset(), i64::MAX);
    }

    #[test]
    fn cursors_round_trip_and_reject_forgeries() {
        let first = page("limit=2").unwrap();
        let answer = first.respond(vec![(1, "a"), (2, "b")], None).with_next_cursor(|&(id, name)| (id, name));
        let cursor = answer.next_cursor.clone().unwrap();
        let next = page(&format!("limit=2&cursor={cursor}")).unwrap();
        assert_eq!(next.cursor::<(i64, String)>().unwrap(), Some((2, "b".to_owned())));
        let short = first.respond(vec![(3, "c")], None).with_next_cursor(|&(id, _)| id);
        assert!(short.next_cursor.is_none(), "a short page is the last");
        let forged = page("cursor=not-base64!").unwrap();
        assert_eq!(field_of(&forged.cursor::<i64>().unwrap_err()), "cursor");
        let e = page(&format!("cursor={cursor}&offset=3")).unwrap_err();
        assert_eq!(e.status().as_u16(), 422);
    }

    #[test]
    fn query_text_is_decoded() {
        let decode = |text: &str| pairs(&format!("k={text}")).next().unwrap().1.into_owned();
        assert_eq!(decode("a%2Fb+c%zz%"), "a/b c%zz%");
        // `%+5` is not an escape: the `%` stays, and the `+` is a space as anywhere else.
        assert_eq!(decode("%+5%2"), "% 5%2");
    }
}
