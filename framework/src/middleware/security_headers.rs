//! `server.security_headers`: conservative defaults for browsers, unless the handler set its own.

use http::{header, HeaderMap, HeaderValue};

/// Adds `x-content-type-options: nosniff`, `x-frame-options: DENY` and
/// `referrer-policy: no-referrer` where the response does not set them.
#[inline]
pub(crate) fn add(headers: &mut HeaderMap) {
    headers.entry(header::X_CONTENT_TYPE_OPTIONS).or_insert(HeaderValue::from_static("nosniff"));
    headers.entry(header::X_FRAME_OPTIONS).or_insert(HeaderValue::from_static("DENY"));
    headers.entry(header::REFERRER_POLICY).or_insert(HeaderValue::from_static("no-referrer"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_added_but_the_handlers_own_values_win() {
        let mut headers = HeaderMap::new();
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("SAMEORIGIN"));
        add(&mut headers);
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(headers[header::X_FRAME_OPTIONS], "SAMEORIGIN");
        assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
        assert_eq!(headers.get_all(header::X_FRAME_OPTIONS).iter().count(), 1);
    }
}
