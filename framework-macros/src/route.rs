//! `#[get("/path")]` and friends: keep the handler as written, add a hidden module beside it
//! with the route's metadata and (when scopes are declared) a wrapper that checks them first.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{FnArg, LitStr, Token, Type};

use crate::attrs::{last_segment, type_name, Errors};

const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "CONNECT"];

/// Extractors that read the request body: only one, and last.
const BODY_EXTRACTORS: &[&str] = &["Json", "Form", "String", "Bytes", "Request", "Body", "Multipart", "RawForm"];

struct Args {
    methods: Vec<(String, Span)>,
    path: LitStr,
    scopes: Vec<LitStr>,
    rate_limit: Option<LitStr>,
    state: Option<Type>,
    tags: Vec<LitStr>,
    errors: Vec<ErrorRef>,
    openapi: bool,
}

/// An entry of `errors = [...]`: a status, an error type (every variant), or one variant.
enum ErrorRef {
    Status(syn::LitInt),
    Type(syn::Path),
    Variant(syn::Path, syn::Ident),
}

impl Parse for ErrorRef {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.peek(syn::LitInt) {
            let lit: syn::LitInt = input.parse()?;
            let status: u16 = lit.base10_parse()?;
            if !(400..=599).contains(&status) {
                return Err(syn::Error::new(lit.span(), format!("`{status}` is not an error status: use 400 to 599")));
            }
            return Ok(ErrorRef::Status(lit));
        }
        let path: syn::Path = input.parse()?;
        // `Type::Variant`: types and variants are CamelCase, modules snake_case.
        let upper = |s: &syn::PathSegment| s.ident.to_string().starts_with(|c: char| c.is_ascii_uppercase());
        let n = path.segments.len();
        if n >= 2 && upper(&path.segments[n - 1]) && upper(&path.segments[n - 2]) {
            let mut ty = path.clone();
            let variant = ty.segments.pop().map(|p| p.into_value().ident).expect("two segments");
            let last = ty.segments.pop().map(syn::punctuated::Pair::into_value).expect("one segment");
            ty.segments.push(last);
            return Ok(ErrorRef::Variant(ty, variant));
        }
        Ok(ErrorRef::Type(path))
    }
}

/// `"/path", scopes = ["a"]` (method from the attribute's name), or for `#[route]`:
/// `method = "GET" | ["GET", "POST"], path = "/path", scopes = [...]`.
fn parse_args(method: Option<&str>, input: TokenStream) -> syn::Result<Args> {
    struct Raw {
        path: Option<LitStr>,
        methods: Vec<LitStr>,
        scopes: Vec<LitStr>,
        rate_limit: Option<LitStr>,
        state: Option<Type>,
        tags: Vec<LitStr>,
        errors: Vec<ErrorRef>,
        openapi: bool,
    }
    fn list(input: ParseStream) -> syn::Result<Vec<LitStr>> {
        if input.peek(syn::token::Bracket) {
            let content;
            syn::bracketed!(content in input);
            Ok(Punctuated::<LitStr, Token![,]>::parse_terminated(&content)?.into_iter().collect())
        } else {
            Ok(vec![input.parse()?])
        }
    }
    impl Parse for Raw {
        fn parse(input: ParseStream) -> syn::Result<Self> {
            let mut raw = Raw {
                path: None,
                methods: Vec::new(),
                scopes: Vec::new(),
                rate_limit: None,
                state: None,
                tags: Vec::new(),
                errors: Vec::new(),
                openapi: true,
            };
            if input.peek(LitStr) {
                raw.path = Some(input.parse()?);
                if !input.is_empty() {
                    input.parse::<Token![,]>()?;
                }
            }
            while !input.is_empty() {
                let key: syn::Ident = input.parse()?;
                input.parse::<Token![=]>()?;
                match key.to_string().as_str() {
                    "path" => raw.path = Some(input.parse()?),
                    "method" => raw.methods = list(input)?,
                    "scopes" => raw.scopes = list(input)?,
                    "rate_limit" => {
                        let quota: LitStr = input.parse()?;
                        check_quota(&quota.value()).map_err(|e| syn::Error::new(quota.span(), e))?;
                        raw.rate_limit = Some(quota);
                    }
                    "state" => raw.state = Some(input.parse()?),
                    "tags" => raw.tags = list(input)?,
                    "errors" => {
                        let content;
                        syn::bracketed!(content in input);
                        raw.errors = Punctuated::<ErrorRef, Token![,]>::parse_terminated(&content)?.into_iter().collect();
                    }
                    "openapi" => {
                        let value = input.parse::<syn::LitBool>().map_err(|e| {
                            syn::Error::new(e.span(), "`openapi` takes `true` or `false`: `openapi = false` leaves the route out of the OpenAPI document")
                        })?;
                        raw.openapi = value.value;
                    }
                    other => {
                        return Err(syn::Error::new(
                            key.span(),
                            format!("unknown route option `{other}`: expected `path = \"/…\"`, `method = \"GET\"`, `scopes = [\"…\"]`, `rate_limit = \"5/1m\"`, `state = AppState`, `tags = [\"…\"]`, `errors = [MyError, MyError::NotFound, 404]` or `openapi = false`"),
                        ))
                    }
                }
                if !input.is_empty() {
                    input.parse::<Token![,]>()?;
                }
            }
            Ok(raw)
        }
    }
    let raw: Raw = syn::parse2(input)?;
    let path = raw
        .path
        .ok_or_else(|| syn::Error::new(Span::call_site(), "the route needs a path: `#[get(\"/users/{id}\")]`"))?;
    let methods = match method {
        Some(m) => {
            if !raw.methods.is_empty() {
                return Err(syn::Error::new(raw.methods[0].span(), format!("`#[{}]` already names the method: remove `method = …`, or use `#[route(method = …, path = …)]`", m.to_lowercase())));
            }
            vec![(m.to_owned(), Span::call_site())]
        }
        None => {
            if raw.methods.is_empty() {
                return Err(syn::Error::new(Span::call_site(), "`#[route]` needs `method = \"GET\"` (or a list: `method = [\"GET\", \"HEAD\"]`) and `path = \"/…\"`"));
            }
            raw.methods.iter().map(|m| (m.value(), m.span())).collect()
        }
    };
    Ok(Args {
        methods,
        path,
        scopes: raw.scopes,
        rate_limit: raw.rate_limit,
        state: raw.state,
        tags: raw.tags,
        errors: raw.errors,
        openapi: raw.openapi,
    })
}

/// A route's `rate_limit = "…"`: `requests/period[/burst]` or `off` — the syntax
/// `trestle::config::parse_quota` reads at startup, checked here so a typo is a compile error.
fn check_quota(text: &str) -> Result<(), String> {
    const FORM: &str = "write requests/period, like \"5/1m\" or \"100/1s\" (a burst third: \"20/1s/40\"), or \"off\"";
    let text = text.trim();
    if text.eq_ignore_ascii_case("off") {
        return Ok(());
    }
    let parts: Vec<&str> = text.split('/').map(str::trim).collect();
    let count = |n: &str| n.parse::<u32>().is_ok_and(|n| n > 0);
    // `30s`, `1m30s`, `250ms`, or bare seconds (`60`): what `config::duration::parse` reads;
    // longer than zero.
    let period = |p: &str| {
        if let Ok(seconds) = p.parse::<u64>() {
            return seconds > 0;
        }
        let (mut rest, mut total) = (p, 0u64);
        while !rest.is_empty() {
            let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
            let unit_len = rest[digits..].find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len() - digits);
            let (Ok(n), unit) = (rest[..digits].parse::<u64>(), &rest[digits..digits + unit_len]) else { return false };
            if !matches!(unit, "ms" | "s" | "m" | "min" | "h") {
                return false;
            }
            total += n;
            rest = &rest[digits + unit_len..];
        }
        total > 0
    };
    let ok = match parts.as_slice() {
        [r, p] => count(r) && period(p),
        [r, p, b] => count(r) && period(p) && count(b),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{text:?} is not a rate limit quota: {FORM}"))
    }
}

/// The path's parameters, checked: `{name}` and `{*name}` only, each once.
fn path_params(path: &LitStr, errors: &mut Errors) -> Vec<String> {
    let text = path.value();
    if !text.starts_with('/') {
        errors.add(path, format!("route paths start with `/`: write \"/{}\"", text.trim_start_matches('/')));
    }
    let mut params: Vec<String> = Vec::new();
    let segments: Vec<&str> = text.split('/').collect();
    if let Some(wild) = segments.iter().rev().skip(1).find(|s| s.starts_with("{*")) {
        errors.add(path, format!("the wildcard `{wild}` must be the path's last segment"));
    }
    for segment in segments {
        // Old syntax and duplicates still count as parameters, so the `Path` checks below do not
        // report the same mistake a second time.
        if let Some(name) = segment.strip_prefix(':') {
            errors.add(path, format!("`:{name}` is axum 0.7 syntax; axum 0.8 writes path parameters as `{{{name}}}`"));
            params.push(name.to_owned());
        } else if let Some(name) = segment.strip_prefix('*') {
            errors.add(path, format!("`*{name}` is axum 0.7 syntax; axum 0.8 writes wildcards as `{{*{name}}}`"));
            params.push(name.to_owned());
        } else if let Some(inner) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            let name = inner.trim_start_matches('*');
            if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
                errors.add(path, format!("`{segment}` is not a valid path parameter: write `{{name}}` or `{{*name}}`"));
            } else {
                if params.iter().any(|p| p == name) {
                    errors.add(
                        path,
                        format!("the path parameter `{name}` appears twice: give each parameter its own name"),
                    );
                }
                params.push(name.to_owned());
            }
        } else if segment.contains('{') || segment.contains('}') {
            errors.add(path, format!("`{segment}`: a path parameter must be a whole segment, like `/{{id}}`"));
        }
    }
    params
}

/// `T` of `Path<T>` / `Option<T>` / `Json<T>`.
fn inner_type(ty: &Type) -> Option<&Type> {
    let Type::Path(p) = ty else { return None };
    let syn::PathArguments::AngleBracketed(args) = &p.path.segments.last()?.arguments else { return None };
    args.args.iter().find_map(|a| match a {
        syn::GenericArgument::Type(t) => Some(t),
        _ => None,
    })
}

/// `E` of `Valid<E>`: the extractor that reads the request (the rules come after).
fn unwrap_valid(ty: &Type) -> &Type {
    match (last_segment(ty).as_deref(), inner_type(ty)) {
        (Some("Valid"), Some(inner)) => inner,
        _ => ty,
    }
}

/// Checks the `Path` argument against the path's parameters.
fn check_path_binding(
    params: &[String],
    args: &[(&syn::PatType, String)],
    func: &syn::ItemFn,
    path: &LitStr,
    errors: &mut Errors,
) -> Vec<(String, String)> {
    let path_args: Vec<&syn::PatType> = args.iter().filter(|(_, last)| last == "Path").map(|(a, _)| *a).collect();
    let Some(arg) = path_args.first() else {
        if !params.is_empty() {
            let list = params.iter().map(|p| format!("{{{p}}}")).collect::<Vec<_>>().join(", ");
            errors.add(
                &func.sig.ident,
                format!("the path has parameters ({list}) but the handler takes no `Path` argument: add `Path({}): Path<…>`", if params.len() == 1 { params[0].clone() } else { format!("({})", params.join(", ")) }),
            );
        }
        return Vec::new();
    };
    if path_args.len() > 1 {
        errors.add(&path_args[1].ty, "take the path parameters with one `Path` argument");
    }
    if params.is_empty() {
        errors.add(&arg.ty, format!("`Path` extracts path parameters, but {:?} has none: remove this argument or add `{{name}}` to the path", path.value()));
        return Vec::new();
    }
    let Some(inner) = inner_type(unwrap_valid(&arg.ty)) else { return Vec::new() };
    match inner {
        Type::Tuple(tuple) => {
            if tuple.elems.len() != params.len() {
                errors.add(
                    &arg.ty,
                    format!(
                        "the path has {} parameter{} ({}) but this `Path` takes a tuple of {}: make them match",
                        params.len(),
                        if params.len() == 1 { "" } else { "s" },
                        params.iter().map(|p| format!("{{{p}}}")).collect::<Vec<_>>().join(", "),
                        tuple.elems.len()
                    ),
                );
                return Vec::new();
            }
            params.iter().cloned().zip(tuple.elems.iter().map(type_name)).collect()
        }
        other => {
            let name = type_name(other);
            let scalar = matches!(
                last_segment(other).as_deref(),
                Some(
                    "String"
                        | "u8"
                        | "u16"
                        | "u32"
                        | "u64"
                        | "u128"
                        | "usize"
                        | "i8"
                        | "i16"
                        | "i32"
                        | "i64"
                        | "i128"
                        | "isize"
                        | "bool"
                        | "char"
                        | "Uuid"
                        | "f32"
                        | "f64"
                )
            );
            if scalar && params.len() > 1 {
                errors.add(
                    &arg.ty,
                    format!(
                        "the path has {} parameters but `Path<{name}>` takes one: use a tuple `Path<(…)>` or a struct",
                        params.len()
                    ),
                );
            }
            if scalar {
                vec![(params[0].clone(), name)]
            } else {
                // A struct or map: its fields name the parameters; serde checks them at run time.
                params.iter().map(|p| (p.clone(), format!("{name}.{p}"))).collect()
            }
        }
    }
}

pub(crate) fn expand(method: Option<&str>, attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let func: syn::ItemFn = syn::parse2(item)?;
    let mut errors = Errors::default();
    let args = match parse_args(method, attr) {
        Ok(a) => a,
        Err(e) => {
            return Ok({
                let e = e.into_compile_error();
                quote!(#e #func)
            })
        }
    };

    for (m, span) in &args.methods {
        if !METHODS.contains(&m.to_uppercase().as_str()) {
            errors
                .push(syn::Error::new(*span, format!("unknown HTTP method `{m}`: use one of {}", METHODS.join(", "))));
        }
    }
    if func.sig.asyncness.is_none() {
        errors.add(func.sig.fn_token, "route handlers must be `async fn`: add `async`");
    }
    if !func.sig.generics.params.is_empty() {
        errors.add(&func.sig.generics, "route handlers cannot be generic: the route needs one concrete handler");
    }
    let params = path_params(&args.path, &mut errors);

    let mut typed: Vec<(&syn::PatType, String)> = Vec::new();
    for input in &func.sig.inputs {
        match input {
            FnArg::Receiver(r) => errors.add(r, "route handlers are free functions: remove `self`"),
            FnArg::Typed(t) => typed.push((t, last_segment(unwrap_valid(&t.ty)).unwrap_or_default())),
        }
    }
    for (i, (arg, last)) in typed.iter().enumerate() {
        if BODY_EXTRACTORS.contains(&last.as_str()) && i + 1 != typed.len() {
            errors.add(
                &arg.ty,
                format!(
                    "`{last}` consumes the request body, so it must be the handler's last argument: move it to the end"
                ),
            );
        }
    }
    let bound = check_path_binding(&params, &typed, &func, &args.path, &mut errors);
    if let Err(e) = errors.finish() {
        let e = e.into_compile_error();
        return Ok(quote!(#e #func));
    }

    let name = &func.sig.ident;
    let vis = &func.vis;
    let path = &args.path;
    let methods: Vec<String> = args.methods.iter().map(|(m, _)| m.to_uppercase()).collect();
    let (summary, description) = summary_and_description(&func.attrs);
    let tags = &args.tags;
    let deprecated = func.attrs.iter().any(|a| a.path().is_ident("deprecated"));
    let openapi =
        if args.openapi { quote!(::std::option::Option::Some(describe)) } else { quote!(::std::option::Option::None) };
    let describe = if args.openapi { describe_fn(&typed, &func.sig.output, &args.errors) } else { quote!() };
    let body = typed
        .last()
        .filter(|(_, last)| BODY_EXTRACTORS.contains(&last.as_str()))
        .map(|(arg, last)| inner_type(unwrap_valid(&arg.ty)).map(type_name).unwrap_or_else(|| last.clone()));
    let body = match body {
        Some(b) => quote!(::std::option::Option::Some(#b)),
        None => quote!(::std::option::Option::None),
    };
    let auth = if !args.scopes.is_empty() || typed.iter().any(|(_, last)| last == "Auth") {
        quote!(::trestle::routing::AuthRequirement::Required)
    } else if typed
        .iter()
        .any(|(arg, last)| last == "Option" && inner_type(&arg.ty).and_then(last_segment).as_deref() == Some("Auth"))
    {
        quote!(::trestle::routing::AuthRequirement::Optional)
    } else {
        quote!(::trestle::routing::AuthRequirement::None)
    };
    let param_items = bound.iter().map(|(n, t)| quote!(::trestle::routing::Param { name: #n, ty: #t }));
    let scopes = &args.scopes;
    let rate_limit = match &args.rate_limit {
        Some(quota) => quote!(::std::option::Option::Some(#quota)),
        None => quote!(::std::option::Option::None),
    };

    let checks = type_checks(&func, &typed, args.state.as_ref());
    let inner_vis = inner_visibility(vis);
    let handler = if args.scopes.is_empty() {
        quote!(#inner_vis use super::#name as handler;)
    } else {
        let idents: Vec<_> = (0..typed.len()).map(|i| format_ident!("arg{i}")).collect();
        let types = typed.iter().map(|(a, _)| &a.ty);
        let output = &func.sig.output;
        quote_spanned! {name.span()=>
            /// The scopes the route declares, checked before the handler's own extractors.
            #inner_vis struct Scopes;
            impl ::trestle::__private::ScopeList for Scopes {
                const SCOPES: &'static [&'static str] = &[#(#scopes),*];
            }
            /// The handler, behind the scope check.
            #inner_vis async fn handler(_scopes: ::trestle::__private::RequireScopes<Scopes>, #(#idents: #types),*) #output {
                super::#name(#(#idents),*).await
            }
        }
    };

    Ok(quote! {
        #func

        #[doc(hidden)]
        #[allow(non_snake_case, unused_imports, deprecated, clippy::module_name_repetitions)]
        #vis mod #name {
            use super::*;

            /// The route's metadata.
            #inner_vis const ROUTE: ::trestle::routing::RouteInfo = ::trestle::routing::RouteInfo {
                methods: &[#(#methods),*],
                path: #path,
                // Inside this module of the same name, the module path is the handler's path.
                handler: ::core::module_path!(),
                params: &[#(#param_items),*],
                body: #body,
                auth: #auth,
                scopes: &[#(#scopes),*],
                summary: #summary,
                description: #description,
                tags: &[#(#tags),*],
                deprecated: #deprecated,
                rate_limit: #rate_limit,
                package: ::core::env!("CARGO_PKG_NAME"),
                version: ::core::env!("CARGO_PKG_VERSION"),
                openapi: #openapi,
            };

            #handler

            #describe

            #checks
        }
    })
}

/// The doc comment's first sentence (the summary, without its period) and the rest (the
/// description, paragraphs kept). The first sentence ends at the first ". " or at the end of the
/// first paragraph.
fn summary_and_description(attrs: &[syn::Attribute]) -> (String, String) {
    let mut lines = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident("doc")) {
        if let syn::Meta::NameValue(syn::MetaNameValue {
            value: syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }),
            ..
        }) = &attr.meta
        {
            lines.push(s.value().trim().to_owned());
        }
    }
    let text = lines.join("\n");
    let text = text.trim();
    let sentence = [text.find(". "), text.find(".\n")].into_iter().flatten().map(|i| i + 1);
    let end = sentence.chain(text.find("\n\n")).min().unwrap_or(text.len());
    let summary = text[..end].replace('\n', " ").trim_end_matches('.').trim().to_owned();
    (summary, text[end..].trim().to_owned())
}

/// The function the OpenAPI document calls to describe the route: each argument's
/// [`DescribeInput`], the return type's `DescribeOutput`, the route's `errors = [...]`. Each
/// call is spanned to its type, so an undescribable one is reported where it is written.
fn describe_fn(typed: &[(&syn::PatType, String)], output: &syn::ReturnType, errors: &[ErrorRef]) -> TokenStream {
    let openapi = quote!(::trestle::openapi);
    let mut calls = Vec::new();
    for (arg, _) in typed {
        let ty = &arg.ty;
        if mentions_impl_trait(ty) {
            calls.push(quote_spanned!(ty.span()=> ::core::compile_error!("an `impl Trait` argument cannot be described in the OpenAPI document: name its type, or leave the route out with `openapi = false`");));
            continue;
        }
        calls.push(quote_spanned!(ty.span()=> <#ty as #openapi::DescribeInput>::describe(op);));
    }
    match output {
        syn::ReturnType::Default => calls.push(quote!(<() as #openapi::DescribeOutput>::describe(op);)),
        syn::ReturnType::Type(_, ty) if mentions_impl_trait(ty) => calls.push(quote_spanned!(ty.span()=> ::core::compile_error!("`impl IntoResponse` cannot be described in the OpenAPI document: return a concrete type (`Json<T>`, `Created<Json<T>>`, `Result<T>`, …), or leave the route out with `openapi = false`");)),
        syn::ReturnType::Type(_, ty) => calls.push(quote_spanned!(ty.span()=> <#ty as #openapi::DescribeOutput>::describe(op);)),
    }
    for e in errors {
        calls.push(match e {
            // No description: the document gives the status's reason phrase.
            ErrorRef::Status(lit) => quote_spanned!(lit.span()=> op.problem(#lit, "");),
            ErrorRef::Type(path) => quote_spanned!(path.span()=> op.errors::<#path>();),
            ErrorRef::Variant(ty, variant) => {
                let name = variant.to_string();
                quote_spanned! {variant.span()=>
                    // The variant exists (checked here, at compile time).
                    let _ = |e: &#ty| ::core::matches!(e, #ty::#variant { .. });
                    op.error_variant::<#ty>(#name);
                }
            }
        });
    }
    quote! {
        /// Describes the route's operation for the OpenAPI document.
        pub(crate) fn describe(op: &mut #openapi::Operation<'_>) {
            #(#calls)*
        }
    }
}

/// What `axum::debug_handler` checks, spanned to the type at fault: each argument an extractor
/// (the last may read the body), the return type a response. Without them a mistake surfaces
/// as `Handler<_, _> is not satisfied` at `routes![…]`, naming nothing.
///
/// Extractors are checked against the state named by `state = T` on the attribute, else
/// against `UnnamedState`, which trestle's own extractors (`Db`, `Auth`, …) and every
/// state-independent one accept; `State<T>` arguments are then left to `routes![…]`. An app's
/// extractor tied to its own state type needs `state = AppState`.
fn type_checks(func: &syn::ItemFn, typed: &[(&syn::PatType, String)], state: Option<&Type>) -> TokenStream {
    let axum = quote!(::trestle::__private::axum);
    let named = state.is_some();
    let state = state.map(|t| quote!(#t)).unwrap_or_else(|| quote!(::trestle::__private::UnnamedState));
    let mut asserts = Vec::new();
    for (i, (arg, last)) in typed.iter().enumerate() {
        let ty = &arg.ty;
        // `State<T>` takes any part of the state (`T: FromRef<S>`): without the state's name
        // there is nothing to check it against.
        if mentions_impl_trait(ty) || (last == "State" && !named) {
            continue;
        }
        asserts.push(if i + 1 == typed.len() {
            quote_spanned!(ty.span()=> __trestle_last_argument::<#ty, __State, _>();)
        } else {
            quote_spanned!(ty.span()=> __trestle_argument::<#ty, __State>();)
        });
    }
    if let syn::ReturnType::Type(_, ty) = &func.sig.output {
        if !mentions_impl_trait(ty) {
            asserts.push(quote_spanned!(ty.span()=> __trestle_response::<#ty>();));
        }
    }
    quote! {
        /// Compile-time checks of the handler's types; never called.
        #[allow(dead_code, clippy::extra_unused_type_parameters)]
        fn __trestle_type_checks() {
            type __State = #state;
            fn __trestle_argument<T: #axum::extract::FromRequestParts<S>, S>() {}
            fn __trestle_last_argument<T: #axum::extract::FromRequest<S, M>, S, M>() {}
            fn __trestle_response<T: #axum::response::IntoResponse>() {}
            #(#asserts)*
        }
    }
}

/// Whether a type is or holds `impl Trait`, which cannot be named in a check.
fn mentions_impl_trait(ty: &Type) -> bool {
    fn any_impl(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|t| match t {
            proc_macro2::TokenTree::Ident(i) => i == "impl",
            proc_macro2::TokenTree::Group(g) => any_impl(g.stream()),
            _ => false,
        })
    }
    any_impl(quote!(#ty))
}

/// The visibility, inside the hidden module, that matches the handler's own visibility outside.
fn inner_visibility(vis: &syn::Visibility) -> TokenStream {
    match vis {
        syn::Visibility::Public(_) => quote!(pub),
        syn::Visibility::Inherited => quote!(pub(super)),
        syn::Visibility::Restricted(r) => {
            let path = &r.path;
            if path.is_ident("crate") || path.segments.first().is_some_and(|s| s.ident == "crate") {
                quote!(pub(in #path))
            } else if path.is_ident("self") {
                quote!(pub(super))
            } else {
                quote!(pub(in super::#path))
            }
        }
    }
}

/// `routes![a, b, handlers::c]`: a `Routes` of the annotated handlers.
pub(crate) fn expand_routes(input: TokenStream) -> syn::Result<TokenStream> {
    let paths = Punctuated::<syn::Path, Token![,]>::parse_terminated.parse2(input)?;
    let adds = paths.iter().map(|p| {
        quote_spanned! {p.span()=>
            .add(#p::ROUTE, ::trestle::__private::method_router(#p::ROUTE.methods, #p::handler))
        }
    });
    Ok(quote! {
        ::trestle::routing::Routes::new() #(#adds)*
    })
}
