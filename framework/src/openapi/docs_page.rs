//! Serving the document (`openapi.path`) and the docs page (`openapi.docs_path`): Swagger UI,
//! embedded in the binary (see `framework/assets/swagger-ui/README.md` for its version and
//! source). The document is built and serialized the first time it is asked for, then served
//! as the same bytes: an app whose document nobody reads never builds it, and building it at
//! startup left the allocator's free lists fuller, which every later request paid for (a few
//! hundred instructions in `malloc`, measured with callgrind).

use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http::header::{ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_SECURITY_POLICY, CONTENT_TYPE, VARY};
use http::HeaderMap;
use std::sync::{Arc, OnceLock};

use super::DocumentSource;
use crate::config::OpenApiConfig;

const PAGE: &str = include_str!("../../assets/swagger-ui/index.html");
const INIT: &str = include_str!("../../assets/swagger-ui/init.js");
/// Stored gzip-compressed (see the assets' README): 458 KB and 27 KB instead of 1.7 MB and 188 KB.
const BUNDLE_GZ: &[u8] = include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js.gz");
const CSS_GZ: &[u8] = include_bytes!("../../assets/swagger-ui/swagger-ui.css.gz");

/// The page runs only its own scripts and reaches only this server: no inline code, and its
/// icons are `data:` images.
const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The routes that serve the document built from `source` and its docs page, where `config`
/// puts them.
pub(crate) fn router(source: DocumentSource, config: &OpenApiConfig) -> Router {
    let document = Arc::new((source, OnceLock::<Bytes>::new()));
    let mut router = Router::new().route(
        &config.path,
        get(move || {
            let document = document.clone();
            async move {
                let (source, json) = &*document;
                let json = json.get_or_init(|| {
                    Bytes::from(serde_json::to_vec(&super::build(source)).expect("a JSON value serializes"))
                });
                ([(CONTENT_TYPE, "application/json")], json.clone())
            }
        }),
    );
    if !config.docs_path.is_empty() {
        let base = config.docs_path.trim_end_matches('/');
        let page = PAGE.replace("{{ASSETS}}", &escape(base)).replace("{{SPEC_URL}}", &escape(&config.path));
        let page = Bytes::from(page);
        let [init, bundle, css] = asset_paths(base);
        router = router
            .route(
                &config.docs_path,
                get(move || {
                    let page = page.clone();
                    async move {
                        let headers = [
                            (CONTENT_TYPE, "text/html; charset=utf-8"),
                            (CACHE_CONTROL, "no-cache"),
                            (CONTENT_SECURITY_POLICY, PAGE_CSP),
                        ];
                        (headers, page)
                    }
                }),
            )
            .route(&init, get(|| asset("text/javascript; charset=utf-8", INIT)))
            .route(
                &bundle,
                get(|headers: HeaderMap| async move {
                    static PLAIN: OnceLock<Bytes> = OnceLock::new();
                    compressed_asset(&headers, "text/javascript; charset=utf-8", BUNDLE_GZ, &PLAIN)
                }),
            )
            .route(
                &css,
                get(|headers: HeaderMap| async move {
                    static PLAIN: OnceLock<Bytes> = OnceLock::new();
                    compressed_asset(&headers, "text/css; charset=utf-8", CSS_GZ, &PLAIN)
                }),
            );
    }
    router
}

/// The paths `router` serves, for the startup check of every route against every other.
pub(crate) fn paths(config: &OpenApiConfig) -> Vec<String> {
    let mut paths = vec![config.path.clone()];
    if !config.docs_path.is_empty() {
        let base = config.docs_path.trim_end_matches('/');
        paths.push(config.docs_path.clone());
        paths.extend(asset_paths(base));
    }
    paths
}

/// Where the page's three assets are served, under the page's own path `base`: its start-up
/// script, the bundle and the style sheet.
fn asset_paths(base: &str) -> [String; 3] {
    ["init.js", "swagger-ui-bundle.js", "swagger-ui.css"].map(|file| format!("{base}/{file}"))
}

async fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    ([(CONTENT_TYPE, content_type), (CACHE_CONTROL, "public, max-age=86400")], body)
}

/// A gzip-stored asset: as it is to a client that accepts gzip, else decompressed (once, into
/// `plain`).
fn compressed_asset(
    headers: &HeaderMap,
    content_type: &'static str,
    gz: &'static [u8],
    plain: &'static OnceLock<Bytes>,
) -> Response {
    let accepts_gzip =
        headers.get_all(ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(
            |coding| {
                let mut parts = coding.split(';');
                let name = parts.next().unwrap_or_default().trim();
                let refused = parts.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
                (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
            },
        );
    let cache = [(CONTENT_TYPE, content_type), (CACHE_CONTROL, "public, max-age=86400"), (VARY, "accept-encoding")];
    if accepts_gzip {
        return (cache, [(CONTENT_ENCODING, "gzip")], gz).into_response();
    }
    let body = plain.get_or_init(|| {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(gz), &mut out)
            .expect("the embedded assets are valid gzip (checked by a test)");
        Bytes::from(out)
    });
    (cache, body.clone()).into_response()
}

/// `text` for an HTML attribute.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;").replace('>', "&gt;")
}
