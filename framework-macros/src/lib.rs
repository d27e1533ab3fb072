//! Procedural macros for [trestle](https://docs.rs/trestle).
//!
//! Do not depend on this crate directly: `trestle` re-exports every macro, and the expansions
//! name `::trestle::…` paths only.
//!
//! Each macro is written in three stages: **parse** the input into small structs of our own,
//! **check** it (collecting every problem with its span, so the user sees all of them at once),
//! then **expand** with `quote!`.

mod api_error;
mod attrs;
mod config;
mod from_ref;
mod from_row;
mod main_attr;
mod migrate;
mod route;
mod test_attr;

use proc_macro::TokenStream;

/// Derives `trestle::config::Config` for a struct with named fields.
///
/// Field attributes: `#[config(default = <value as written in the file>)]`, `#[config(secret)]`,
/// `#[config(nested)]` (a section whose type also derives `Config`), and
/// `#[config(validate = path)]` (`fn(&FieldType) -> Result<(), impl Display>`); on the struct,
/// `#[config(validate = path)]` takes `fn(&Self)`. Doc comments become the template's comments.
///
/// Of serde's attributes, a field's `rename = "key"` and `default` are read; those that would
/// make the config keys differ from serde's (`rename_all`, `flatten`, `alias`, `skip`,
/// `deny_unknown_fields`, …) are compile errors that say what to write instead.
///
/// ```
/// use trestle::config::{Config, Secret};
///
/// #[derive(Config, serde::Deserialize)]
/// struct Settings {
///     /// Articles per page.
///     #[config(default = 20)]
///     page_size: u32,
///     /// Payment provider key (required: no default).
///     stripe_key: Secret<String>,
/// }
///
/// assert_eq!(Settings::fields()[0].name, "page_size");
/// assert!(Settings::fields()[1].required());
/// ```
#[proc_macro_derive(Config, attributes(config))]
pub fn derive_config(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    config::expand(input).unwrap_or_else(syn::Error::into_compile_error).into()
}

/// Derives axum's `FromRef` for each field of a state struct, so a handler takes any part of
/// the state with `State<FieldType>` (and trestle's extractors find `Db` and `Jwt` in it);
/// `#[from_ref(skip)]` leaves a field out. Expands against `trestle::axum`: no `axum`
/// dependency needed.
///
/// ```
/// use trestle::prelude::*;
///
/// #[derive(Clone, FromRef)]
/// struct AppState {
///     jwt: trestle::auth::Jwt,
///     greeting: Arc<String>,
///     #[from_ref(skip)]
///     started: std::time::Instant,
/// }
///
/// async fn greet(State(greeting): State<Arc<String>>) -> String {
///     greeting.to_string()
/// }
/// # let _ = greet;
/// ```
#[proc_macro_derive(FromRef, attributes(from_ref))]
pub fn derive_from_ref(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    from_ref::expand(input).unwrap_or_else(syn::Error::into_compile_error).into()
}

/// Derives sqlx's `FromRow` through `trestle::sqlx`, so an app maps rows to structs with no
/// `sqlx` dependency of its own (sqlx's own derive names the `sqlx` crate directly).
///
/// sqlx's attributes are read as sqlx reads them: `#[sqlx(rename_all = "camelCase")]` on the
/// struct; on a field `#[sqlx(rename = "column")]`, `#[sqlx(default)]` (a missing column is
/// `Default::default()`), `#[sqlx(flatten)]` (a nested `FromRow`), `#[sqlx(skip)]`,
/// `#[sqlx(json)]` (decoded from a JSON column) and `#[sqlx(try_from = "i64")]`.
///
/// ```
/// #[derive(trestle::FromRow)]
/// struct Article {
///     id: i64,
///     #[sqlx(rename = "title_text")]
///     title: String,
///     #[sqlx(default)]
///     favorites: i64,
/// }
/// ```
#[proc_macro_derive(FromRow, attributes(sqlx))]
pub fn derive_from_row(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    from_row::expand(input).unwrap_or_else(syn::Error::into_compile_error).into()
}

/// Derives `trestle::error::ApiError` for an error enum (or struct): each variant's status,
/// problem type and title, from `#[api(status = 404, title = "...", type = "https://...")]` on
/// the variant or, as a default for every variant, on the enum. `type` also takes a
/// `&'static str` constant; `field = "{0}"` and `message = "has already been taken"` (format
/// strings over the variant's fields; `message` defaults to the error's `Display`) add an entry
/// to the problem's `errors` (not for 5xx statuses, whose details stay in the log).
///
/// ```
/// #[derive(Debug, thiserror::Error, trestle::ApiError)]
/// enum ArticleError {
///     #[error("no article with slug {0:?}")]
///     #[api(status = 404, title = "Article not found")]
///     NotFound(String),
/// }
///
/// let e: trestle::Error = ArticleError::NotFound("x".into()).into();
/// assert_eq!(e.status().as_u16(), 404);
/// ```
#[proc_macro_derive(ApiError, attributes(api))]
pub fn derive_api_error(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    api_error::expand(input).unwrap_or_else(syn::Error::into_compile_error).into()
}

/// Runs an `async fn main` on a multi-threaded tokio runtime, so an app needs no direct tokio
/// dependency. In debug builds it also tells the config loader where the app crate is, so
/// `cargo run -p app` from the workspace root finds the app's `config/` folder.
///
/// ```no_run
/// #[trestle::main]
/// async fn main() -> Result<(), trestle::StartupError> {
///     trestle::App::new().run().await
/// }
/// ```
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    main_attr::expand(args.into(), item.into()).unwrap_or_else(syn::Error::into_compile_error).into()
}

/// Runs an `async fn` test on a current-thread tokio runtime, so an app's tests need no tokio
/// dependency.
///
/// ```
/// #[trestle::test]
/// async fn serves_health() {
///     let app = trestle::testing::TestApp::new(trestle::App::new()).await.unwrap();
///     assert_eq!(app.get("/health/live").send().await.status(), 200);
/// }
/// ```
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    test_attr::expand(args.into(), item.into()).unwrap_or_else(syn::Error::into_compile_error).into()
}

/// Embeds the crate's `migrations/` folder (sqlx's layout: `<VERSION>_<NAME>.sql`, or
/// `.up.sql`/`.down.sql` pairs) for `App::migrations`; `migrate!("db/migrations")` reads another
/// folder, relative to the crate's `Cargo.toml`.
///
/// The files' contents are embedded with `include_str!`, so editing one rebuilds the crate.
/// A misnamed file, a duplicate version or a missing folder is a compile error saying what to
/// rename or create.
#[proc_macro]
pub fn migrate(input: TokenStream) -> TokenStream {
    migrate::expand(input.into()).unwrap_or_else(syn::Error::into_compile_error).into()
}

/// One attribute macro per HTTP method, all expanding through `route::expand`.
macro_rules! method_attribute {
    ($($name:ident => $method:literal),* $(,)?) => {$(
        #[doc = concat!("A `", $method, "` route on an `async fn` handler: `#[", stringify!($name), "(\"/users/{id}\")]`,")]
        /// optionally with `scopes = ["admin"]` (401 without a token, 403 without the scopes,
        /// before the handler runs) and `rate_limit = "5/1m"` (the route's own quota per client:
        /// requests/period, a burst third as in `"20/1s/40"`, or `"off"`; see `trestle::rate_limit`).
        ///
        /// The function stays callable as written; a hidden module of the same name carries the
        /// route for `routes![…]`, so the handler must be a module-level item (not inside a
        /// function body). The path, the `Path` argument and the extractor order are checked at
        /// compile time, and so are the types, as `axum::debug_handler` checks them: an argument
        /// that is not an extractor or a return type that is not a response is an error on that
        /// type. Extractors are checked against the state `state = AppState` names; without it,
        /// against one every trestle extractor accepts — an extractor of the app's own that
        /// works only with the app's state type needs `state = AppState`.
        #[proc_macro_attribute]
        pub fn $name(args: TokenStream, item: TokenStream) -> TokenStream {
            route::expand(Some($method), args.into(), item.into()).unwrap_or_else(syn::Error::into_compile_error).into()
        }
    )*};
}

method_attribute!(get => "GET", post => "POST", put => "PUT", patch => "PATCH", delete => "DELETE");

/// A route for any method, or several: `#[route(method = ["GET", "HEAD"], path = "/health")]`.
///
/// Options as for [`macro@get`].
#[proc_macro_attribute]
pub fn route(args: TokenStream, item: TokenStream) -> TokenStream {
    route::expand(None, args.into(), item.into()).unwrap_or_else(syn::Error::into_compile_error).into()
}

/// The routes of handlers annotated with `#[get]` and friends, as a `trestle::routing::Routes`
/// for `App::routes`: `routes![list_articles, handlers::get_article]`.
#[proc_macro]
pub fn routes(input: TokenStream) -> TokenStream {
    route::expand_routes(input.into()).unwrap_or_else(syn::Error::into_compile_error).into()
}
