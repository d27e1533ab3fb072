//! Response compression (`server.compression`): tower-http's `Compression` for bodies over
//! 1 KiB, entered only when the request says it accepts an encoding.
//!
//! tower-http wraps every response body in its `CompressionBody` — an enum with room for each
//! encoder — even when the client accepts none, and axum then boxes that large body again: a
//! fifth of the default stack's instructions on a small JSON route (callgrind). A request
//! without `Accept-Encoding` cannot be answered compressed, so it skips the layer; its response
//! still says `Vary: Accept-Encoding` when it would have been compressed for another client, so
//! a shared cache does not hand the plain copy to everyone.

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

type PlainFuture<S> =
    Map<<S as Service<Request>>::Future, fn(Result<Response, Infallible>) -> Result<Response, Infallible>>;

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
    type Future = Either<PlainFuture<S>, CompressedFuture<S>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Both wrap the same route, which axum's routes say is always ready.
        match self.plain.poll_ready(cx) {
            Poll::Ready(Ok(())) => self.compressing.poll_ready(cx),
            other => other,
        }
    }

    fn call(&mut self, req: Request) -> Self::Future {
        if req.headers().contains_key(http::header::ACCEPT_ENCODING) {
            // tower-http decides, `identity` and `*;q=0` (406) included.
            Either::Right(self.compressing.call(req).map(|result| result.map(|res| res.map(Body::new))))
        } else {
            Either::Left(self.plain.call(req).map(vary as fn(_) -> _))
        }
    }
}

/// Adds `Vary: Accept-Encoding` to a response that would have been compressed for a client
/// that accepts an encoding.
fn vary(result: Result<Response, Infallible>) -> Result<Response, Infallible> {
    result.map(|mut response| {
        if worth().should_compress(&response) {
            response.headers_mut().append(http::header::VARY, http::HeaderValue::from_static("accept-encoding"));
        }
        response
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_answer_that_would_be_compressed_varies_on_accept_encoding() {
        let big =
            Response::builder().header("content-type", "application/json").body(Body::from(vec![b' '; 2048])).unwrap();
        assert_eq!(vary(Ok(big)).unwrap().headers()[http::header::VARY], "accept-encoding");
        let small = Response::new(Body::from("ok"));
        assert!(vary(Ok(small)).unwrap().headers().get(http::header::VARY).is_none());
    }
}
