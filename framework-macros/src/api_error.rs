//! `#[derive(ApiError)]`: status, problem type and title for each variant of an error enum
//! (or for an error struct), so `?` in a handler renders the right problem document.

use proc_macro2::TokenStream;
use quote::quote;

use crate::attrs::{doc_comment, Errors};

const API_ATTRS: &str = "expected `status = <100..=599>`, `title = \"...\"`, `type = \"https://...\"` (or a `&'static str` constant), `field = \"...\"` or `message = \"...\"`";

#[derive(Clone, Default)]
struct Api {
    status: Option<u16>,
    title: Option<String>,
    problem_type: Option<TokenStream>,
    /// The failing field's path (a format string over the variant's fields: `"{0}"`).
    field: Option<syn::LitStr>,
    /// What is wrong with it (a format string too); the error's `Display` when absent.
    message: Option<syn::LitStr>,
}

impl Api {
    /// Fields set here win over the enum-level defaults in `base`.
    fn over(self, base: &Api) -> Api {
        Api {
            status: self.status.or(base.status),
            title: self.title.or_else(|| base.title.clone()),
            problem_type: self.problem_type.or_else(|| base.problem_type.clone()),
            field: self.field.or_else(|| base.field.clone()),
            message: self.message.or_else(|| base.message.clone()),
        }
    }
}

fn parse_api(attrs: &[syn::Attribute], errors: &mut Errors) -> Api {
    let mut api = Api::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("api")) {
        let result = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("status") {
                // Counts as set even when invalid: one error per mistake.
                api.status = Some(500);
                let lit: syn::LitInt = meta.value()?.parse()?;
                let status: u16 = lit.base10_parse()?;
                if !(100..=599).contains(&status) {
                    return Err(syn::Error::new(
                        lit.span(),
                        format!("`status = {status}` is not an HTTP status: use a number from 100 to 599"),
                    ));
                }
                api.status = Some(status);
            } else if meta.path.is_ident("title") {
                api.title = Some(meta.value()?.parse::<syn::LitStr>()?.value());
            } else if meta.path.is_ident("type") {
                let value: syn::Expr = meta.value()?.parse()?;
                api.problem_type = Some(quote!(#value));
            } else if meta.path.is_ident("field") {
                api.field = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("message") {
                api.message = Some(meta.value()?.parse()?);
            } else {
                return Err(meta.error(format!("unknown `api` attribute: {API_ATTRS}")));
            }
            Ok(())
        });
        if let Err(e) = result {
            errors.push(e);
        }
    }
    api
}

fn arms(api: &Api) -> (TokenStream, TokenStream, TokenStream) {
    let status = api.status.unwrap_or(500);
    let title = match &api.title {
        Some(t) => quote!(::std::option::Option::Some(#t)),
        None => quote!(::std::option::Option::None),
    };
    let ty = api.problem_type.clone().unwrap_or_else(|| quote!("about:blank"));
    (quote!(#status), title, ty)
}

/// `"{0} is taken"` → `"{_0} is taken"`: positional fields are bound as `_0`, `_1`, … so the
/// format string can name them (named fields are bound by their names).
fn positional(format: &syn::LitStr) -> syn::LitStr {
    let text = format.value();
    let mut out = String::with_capacity(text.len() + 4);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '{' {
            if chars.peek() == Some(&'{') {
                out.push(chars.next().unwrap_or('{'));
            } else if chars.peek().is_some_and(char::is_ascii_digit) {
                out.push('_');
            }
        }
    }
    syn::LitStr::new(&out, format.span())
}

/// The pattern binding a variant's (or the struct's) fields, and the `fields()` value for it.
fn field_arm(path: TokenStream, fields: &syn::Fields, api: &Api, errors: &mut Errors) -> TokenStream {
    let Some(field) = &api.field else {
        if let Some(message) = &api.message {
            errors.add(message, "`message` is the message of a failing field: add `field = \"...\"` beside it");
        }
        return quote!(#path { .. } => ::std::vec::Vec::new());
    };
    let pattern = match fields {
        syn::Fields::Named(named) => {
            let names = named.named.iter().map(|f| &f.ident);
            quote!(#path { #(#names),* })
        }
        syn::Fields::Unnamed(unnamed) => {
            let names = (0..unnamed.unnamed.len()).map(|i| quote::format_ident!("_{i}"));
            quote!(#path ( #(#names),* ))
        }
        syn::Fields::Unit => quote!(#path),
    };
    let field = positional(field);
    let message = match &api.message {
        Some(m) => {
            let m = positional(m);
            quote!(::std::format!(#m))
        }
        None => quote!(::std::string::ToString::to_string(self)),
    };
    quote! {
        #pattern => ::std::vec![::trestle::error::FieldError::new(::std::format!(#field), #message)]
    }
}

pub(crate) fn expand(input: syn::DeriveInput) -> syn::Result<TokenStream> {
    let mut errors = Errors::default();
    let ident = &input.ident;
    if !input.generics.params.is_empty() {
        errors.add(
            &input.generics,
            "`#[derive(ApiError)]` does not support generic types: the error type is registered once, by its concrete type",
        );
    }
    let base = parse_api(&input.attrs, &mut errors);
    // (variant, status, doc comment) of each variant, for the OpenAPI document.
    let mut docs: Vec<(String, u16, String)> = Vec::new();
    let (status, title, ty, fields) = match &input.data {
        syn::Data::Enum(data) => {
            let mut status = Vec::new();
            let mut title = Vec::new();
            let mut ty = Vec::new();
            let mut fields = Vec::new();
            for variant in &data.variants {
                let api = parse_api(&variant.attrs, &mut errors).over(&base);
                docs.push((variant.ident.to_string(), api.status.unwrap_or(500), doc_comment(&variant.attrs)));
                if api.status.is_none() {
                    errors.add(
                        &variant.ident,
                        format!(
                            "variant `{}` has no status: add `#[api(status = 404)]` (or another status) to it or to the enum",
                            variant.ident
                        ),
                    );
                }
                let v = &variant.ident;
                let (s, t, p) = arms(&api);
                status.push(quote!(Self::#v { .. } => #s));
                title.push(quote!(Self::#v { .. } => #t));
                ty.push(quote!(Self::#v { .. } => #p));
                fields.push(field_arm(quote!(Self::#v), &variant.fields, &api, &mut errors));
            }
            (
                quote!(match self { #(#status,)* }),
                quote!(match self { #(#title,)* }),
                quote!(match self { #(#ty,)* }),
                quote!(match self { #(#fields,)* }),
            )
        }
        syn::Data::Struct(_) => {
            if base.status.is_none() {
                errors.add(
                    ident,
                    "add `#[api(status = ...)]` to the struct: it says which HTTP status this error maps to",
                );
            }
            let (s, t, p) = arms(&base);
            let syn::Data::Struct(data) = &input.data else { unreachable!("matched a struct") };
            let arm = field_arm(quote!(Self), &data.fields, &base, &mut errors);
            docs.push((ident.to_string(), base.status.unwrap_or(500), doc_comment(&input.attrs)));
            (s, t, p, quote!(match self { #arm }))
        }
        syn::Data::Union(_) => {
            return Err(syn::Error::new(ident.span(), "`#[derive(ApiError)]` works on enums and structs, not unions"))
        }
    };
    errors.finish()?;
    let described = docs.iter().map(|(variant, status, doc)| {
        quote!(::trestle::openapi::ErrorDoc { variant: #variant, status: #status, description: #doc })
    });

    Ok(quote! {
        impl ::trestle::openapi::DescribeErrors for #ident {
            fn errors() -> ::std::vec::Vec<::trestle::openapi::ErrorDoc> {
                ::std::vec![#(#described),*]
            }
        }

        impl ::trestle::error::ApiError for #ident {
            fn status(&self) -> ::trestle::__private::http::StatusCode {
                ::trestle::__private::status(#status)
            }
            fn title(&self) -> ::std::option::Option<&'static str> {
                #title
            }
            fn problem_type(&self) -> &'static str {
                #ty
            }
            #[allow(unused_variables)]
            fn fields(&self) -> ::std::vec::Vec<::trestle::error::FieldError> {
                #fields
            }
        }

        impl ::trestle::__private::axum::response::IntoResponse for #ident {
            fn into_response(self) -> ::trestle::__private::axum::response::Response {
                ::trestle::__private::axum::response::IntoResponse::into_response(
                    ::trestle::Error::from_api_error(&self),
                )
            }
        }

        const _: () = {
            fn concrete(
                error: &dyn ::std::any::Any,
            ) -> ::std::option::Option<&dyn ::trestle::error::ApiError> {
                error.downcast_ref::<#ident>().map(|e| e as &dyn ::trestle::error::ApiError)
            }
            fn wrapped(
                error: &::trestle::__private::anyhow::Error,
            ) -> ::std::option::Option<&dyn ::trestle::error::ApiError> {
                error.downcast_ref::<#ident>().map(|e| e as &dyn ::trestle::error::ApiError)
            }
            ::trestle::__private::inventory::submit! {
                ::trestle::__private::ApiErrorDowncast { concrete, wrapped }
            }
        };
    })
}
