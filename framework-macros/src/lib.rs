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
mod main_attr;

use proc_macro::TokenStream;

/// Derives `trestle::config::Config` for a struct with named fields.
///
/// See the `trestle::config` module for the attributes (`default`, `secret`, `nested`,
/// `validate`) and what the derive gives.
#[proc_macro_derive(Config, attributes(config))]
pub fn derive_config(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    config::expand(input).unwrap_or_else(syn::Error::into_compile_error).into()
}

/// Derives `trestle::error::ApiError` for an error enum: each variant's status, problem type
/// and title, from `#[api(...)]` attributes.
///
/// See `trestle::error::ApiError` for the attributes and an example.
#[proc_macro_derive(ApiError, attributes(api))]
pub fn derive_api_error(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    api_error::expand(input).unwrap_or_else(syn::Error::into_compile_error).into()
}

/// Runs an `async fn main` on trestle's tokio runtime, so an app needs no direct tokio
/// dependency.
///
/// See `trestle::main` for the details.
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    main_attr::expand(args.into(), item.into()).unwrap_or_else(syn::Error::into_compile_error).into()
}
