//! Authentication: JSON Web Tokens from `[auth.jwt]`, the [`Auth`] extractor, and password
//! hashing.
//!
//! `App::auth()` loads the keys at startup (a short secret or a bad key file stops it there)
//! and makes a [`Jwt`] available to the state. Handlers then take [`Auth<C>`]:
//!
//! ```
//! use trestle::auth::Auth;
//!
//! async fn me(auth: Auth) -> String {
//!     format!("you are {}", auth.sub)
//! }
//!
//! async fn maybe(auth: Option<Auth>) -> String {
//!     match auth {
//!         Some(auth) => format!("hello {}", auth.sub),
//!         None => "hello stranger".into(),
//!     }
//! }
//! ```
//!
//! | request | result |
//! |---|---|
//! | no credentials | `Auth`: 401 with `WWW-Authenticate: Bearer`; `Option<Auth>`: `None` |
//! | a token that is bad in any way (expired, wrong signature or algorithm, `alg: none`, wrong `iss`/`aud`, garbage, over 8 KiB) | 401 with `WWW-Authenticate: Bearer error="invalid_token"`, for `Option<Auth>` too |
//! | a valid token | `Auth(claims)`; the request span records `user.id` = `sub` |
//! | a valid token without a scope that `claims.require_scope` asks for | 403 |
//!
//! Tokens are never logged. The query string is read only when `auth.jwt.query_parameter` is
//! set.

mod claims;
mod jwt;
pub mod password;

use std::ops::{Deref, DerefMut};

use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;
use serde::de::DeserializeOwned;

pub use claims::Claims;
pub use jwt::{AuthError, Jwt};

use crate::error::Error;

/// A verified token's claims; rejects the request with 401 when there is no valid token.
/// `Option<Auth<C>>` accepts anonymous requests but still rejects bad tokens.
///
/// Needs `Jwt: FromRef<S>` for the app's state (the `Context` provides it after
/// `App::auth()`).
#[derive(Clone, Debug)]
pub struct Auth<C = ()>(pub Claims<C>);

impl<C> Deref for Auth<C> {
    type Target = Claims<C>;

    fn deref(&self) -> &Claims<C> {
        &self.0
    }
}

impl<C> DerefMut for Auth<C> {
    fn deref_mut(&mut self) -> &mut Claims<C> {
        &mut self.0
    }
}

fn authenticate<C: DeserializeOwned>(jwt: &Jwt, token: &str) -> Result<Auth<C>, Error> {
    let claims = jwt.verify::<C>(token)?;
    tracing::Span::current().record("user.id", claims.sub.as_str());
    Ok(Auth(claims))
}

impl<C, S> FromRequestParts<S> for Auth<C>
where
    C: DeserializeOwned + Send,
    S: Send + Sync,
    Jwt: FromRef<S>,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let jwt = Jwt::from_ref(state);
        match jwt.token(parts) {
            Some(Ok(token)) => authenticate(&jwt, token),
            Some(Err(e)) => Err(e),
            None => Err(jwt.missing()),
        }
    }
}

impl<C, S> OptionalFromRequestParts<S> for Auth<C>
where
    C: DeserializeOwned + Send,
    S: Send + Sync,
    Jwt: FromRef<S>,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Option<Self>, Self::Rejection> {
        let jwt = Jwt::from_ref(state);
        match jwt.token(parts) {
            Some(Ok(token)) => authenticate(&jwt, token).map(Some),
            Some(Err(e)) => Err(e),
            None => Ok(None),
        }
    }
}

impl<C> FromRef<crate::Context<C>> for Jwt {
    fn from_ref(ctx: &crate::Context<C>) -> Self {
        ctx.try_jwt()
            .cloned()
            .unwrap_or_else(|| panic!("a handler takes Auth, but the app has no JWT keys: call App::auth()"))
    }
}
