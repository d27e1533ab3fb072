//! Response compression (`server.compression`): tower-http's `Compression` for bodies over
//! 1 KiB, entered only when the request says it accepts an encoding.
//!
//! tower-http wraps every response body in its `CompressionBody` — an enum with room for each
//! encoder — even when the client accepts none, and axum then boxes that large body again: a
//! fifth of the default stack's instructions on a small JSON route (callgrind). A request
//! without `Accept-Encoding` cannot be answered compressed, so it skips the layer entirely.

use std::convert::Infallible;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use futures_util::future::{Either, Map};
use futures_util::FutureExt;
use tower::{Layer, Service};
use tower_http::compression::predicate::{And, NotForContentType, Predicate, SizeAbove};
use tower_http::compression::{Compression, CompressionLayer};

/// What is worth compressing: over 1 KiB, and not already compressed (images, gRPC) or streamed
/// (server-sent events).
type Worth = And<And<And<SizeAbove, NotForContentType>, NotForContentType>, NotForContentType>;

fn worth() -> Worth {
    SizeAbove::new(1024).and(NotForContentType::GRPC).and(NotForContentType::IMAGES).and(NotForContentType::SSE)
}

/// The layer: [`Compress`] around each route.
#[derive(Clone)]
pub(crate) struct CompressLayer {
    inner: CompressionLayer<Worth>,
}

impl CompressLayer {
    pub(crate) fn new() -> Self {
        Self { inner: CompressionLayer::new().compress_when(worth()) }
    }
}

impl<S: Clone> Layer<S> for CompressLayer {
    type Service = Compress<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Compress { compressing: self.inner.layer(inner.clone()), plain: inner }
    }
}

/// `inner` behind tower-http's compression, or called directly when the client accepts no
/// encoding.
#[derive(Clone)]
pub(crate) struct Compress<S> {
    plain: S,
    compressing: Compression<S, Worth>,
}

type CompressedFuture<S> = Map<
    <Compression<S, Worth> as Service<Request>>::Future,
    fn(Result<Response<tower_http::compression::CompressionBody<Body>>, Infallible>) -> Result<Response, Infallible>,
>;

impl<S> Service<Request> for Compress<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<S::Future, CompressedFuture<S>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Both wrap the same route, which axum's routes say is always ready.
        match self.plain.poll_ready(cx) {
            Poll::Ready(Ok(())) => self.compressing.poll_ready(cx),
            other => other,
        }
    }

    fn call(&mut self, req: Request) -> Self::Future {
        if accepts_an_encoding(&req) {
            Either::Right(self.compressing.call(req).map(|result| result.map(|res| res.map(Body::new))))
        } else {
            Either::Left(self.plain.call(req))
        }
    }
}

/// Whether the request lists a content coding other than `identity`.
fn accepts_an_encoding(req: &Request) -> bool {
    req.headers().get_all(http::header::ACCEPT_ENCODING).iter().any(|value| {
        value.to_str().is_ok_and(|codings| {
            codings.split(',').any(|coding| {
                let name = coding.split(';').next().unwrap_or_default().trim();
                !name.is_empty() && !name.eq_ignore_ascii_case("identity")
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(accept: Option<&str>) -> Request {
        let mut builder = Request::get("/");
        if let Some(accept) = accept {
            builder = builder.header(http::header::ACCEPT_ENCODING, accept);
        }
        builder.body(Body::empty()).unwrap()
    }

    #[test]
    fn only_a_request_that_accepts_an_encoding_goes_through_compression() {
        assert!(!accepts_an_encoding(&with(None)));
        assert!(!accepts_an_encoding(&with(Some("identity"))));
        assert!(!accepts_an_encoding(&with(Some(""))));
        assert!(accepts_an_encoding(&with(Some("gzip"))));
        assert!(accepts_an_encoding(&with(Some("identity, br;q=0.5"))));
    }
}
