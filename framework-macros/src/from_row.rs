//! `#[derive(FromRow)]`: sqlx's row mapping, expanded against `::trestle::sqlx` so an app needs
//! no `sqlx` dependency of its own (sqlx's derive names `::sqlx`, launchbadge/sqlx#1044).
//!
//! It reads sqlx's own attributes, so a struct using these moves between the two derives
//! unchanged: `#[sqlx(rename_all = "…")]` on the struct; `rename`, `default`, `flatten`, `skip`,
//! `try_from` and `json` (trestle feature `json`) on fields. sqlx's rarer options (struct-level
//! `default`, `transparent`, `json(nullable)`) are compile errors that say to use sqlx's derive.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Data, DeriveInput, Fields, LitStr};

use crate::attrs::Errors;

#[derive(Default)]
struct FieldAttrs {
    rename: Option<String>,
    default: bool,
    flatten: bool,
    skip: bool,
    json: bool,
    try_from: Option<syn::Type>,
}

fn field_attrs(attrs: &[syn::Attribute], errors: &mut Errors) -> FieldAttrs {
    let mut out = FieldAttrs::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("sqlx")) {
        let parsed = attr.parse_nested_meta(|meta| {
            let key = meta.path.get_ident().map(ToString::to_string).unwrap_or_default();
            match key.as_str() {
                "rename" => out.rename = Some(meta.value()?.parse::<LitStr>()?.value()),
                "default" => out.default = true,
                "flatten" => out.flatten = true,
                "skip" => out.skip = true,
                "json" => out.json = true,
                "try_from" => out.try_from = Some(meta.value()?.parse::<LitStr>()?.parse()?),
                "json_nullable" | "transparent" => return Err(meta.error(format!("`{key}` is not supported by trestle's FromRow: derive sqlx's own (`sqlx` as a dependency) for it"))),
                _ => return Err(meta.error(format!("unknown field option `{key}`: expected `rename = \"column\"`, `default`, `flatten`, `skip`, `json` or `try_from = \"Type\"`"))),
            }
            Ok(())
        });
        if let Err(e) = parsed {
            errors.push(e);
        }
    }
    out
}

/// The struct's `rename_all`, checked.
fn rename_all(attrs: &[syn::Attribute], errors: &mut Errors) -> Option<String> {
    let mut out = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("sqlx")) {
        let parsed = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("default") || meta.path.is_ident("transparent") || meta.path.is_ident("no_pg_array") {
                return Err(meta.error("this struct option of sqlx's FromRow is not supported by trestle's: derive sqlx's own (`sqlx` as a dependency) for it"));
            }
            if !meta.path.is_ident("rename_all") {
                return Err(meta.error("unknown struct option: expected `rename_all = \"snake_case\"` (or lowercase, UPPERCASE, camelCase, PascalCase, SCREAMING_SNAKE_CASE, kebab-case)"));
            }
            let rule: LitStr = meta.value()?.parse()?;
            if rename("x_y", &rule.value()).is_none() {
                return Err(syn::Error::new(rule.span(), format!("unknown rename_all rule {:?}: use snake_case, lowercase, UPPERCASE, camelCase, PascalCase, SCREAMING_SNAKE_CASE or kebab-case", rule.value())));
            }
            out = Some(rule.value());
            Ok(())
        });
        if let Err(e) = parsed {
            errors.push(e);
        }
    }
    out
}

/// `field` (a snake_case Rust name) as `rule` spells it.
fn rename(field: &str, rule: &str) -> Option<String> {
    let words = field.split('_').filter(|w| !w.is_empty());
    let capitalised = |w: &str| w[..1].to_uppercase() + &w[1..];
    Some(match rule {
        "snake_case" => field.to_owned(),
        // serde's rules for fields: a snake_case name is already lowercase, and UPPERCASE
        // keeps its underscores.
        "lowercase" => field.to_owned(),
        "UPPERCASE" => field.to_uppercase(),
        "SCREAMING_SNAKE_CASE" => field.to_uppercase(),
        "kebab-case" => field.replace('_', "-"),
        "PascalCase" => words.map(capitalised).collect(),
        "camelCase" => {
            let pascal: String = words.map(capitalised).collect();
            pascal[..1].to_lowercase() + &pascal[1..]
        }
        _ => return None,
    })
}

pub(crate) fn expand(input: DeriveInput) -> syn::Result<TokenStream> {
    let mut errors = Errors::default();
    let rule = rename_all(&input.attrs, &mut errors);
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new_spanned(&input.ident, "FromRow maps a row to a struct: derive it on a struct (for an enum column, derive `sqlx::Type` with sqlx itself)"));
    };
    let lifetime = syn::Lifetime::new("'__row", proc_macro2::Span::call_site());
    let mut bounds: Vec<TokenStream> = Vec::new();
    let mut reads: Vec<TokenStream> = Vec::new();
    let sqlx = quote!(::trestle::sqlx);
    for (index, field) in data.fields.iter().enumerate() {
        let attrs = field_attrs(&field.attrs, &mut errors);
        let ty = &field.ty;
        let column = match (&field.ident, &attrs.rename) {
            (_, Some(name)) => quote!(#name),
            (Some(ident), None) => {
                let name = ident.to_string().trim_start_matches("r#").to_owned();
                let name = rule.as_deref().and_then(|r| rename(&name, r)).unwrap_or(name);
                quote!(#name)
            }
            (None, None) => quote!(#index),
        };
        let value = if attrs.skip {
            quote!(::core::default::Default::default())
        } else if attrs.flatten {
            bounds.push(quote!(#ty: #sqlx::FromRow<#lifetime, R>));
            quote!(<#ty as #sqlx::FromRow<#lifetime, R>>::from_row(row)?)
        } else if attrs.json && attrs.try_from.is_some() {
            errors.add(&field.ty, "`json` and `try_from` cannot be combined: decode the JSON into the field's type, or convert with `try_from`");
            quote!(::core::default::Default::default())
        } else if attrs.json {
            bounds.push(
                quote!(#sqlx::types::Json<#ty>: #sqlx::Decode<#lifetime, R::Database> + #sqlx::Type<R::Database>),
            );
            read(&quote!(#sqlx::types::Json<#ty>), &column, attrs.default, quote!(.0))
        } else if let Some(source) = &attrs.try_from {
            bounds.push(quote!(#source: #sqlx::Decode<#lifetime, R::Database> + #sqlx::Type<R::Database>));
            let read = read(source, &column, attrs.default, quote!());
            quote!(<#ty as ::core::convert::TryFrom<#source>>::try_from(#read).map_err(|e| #sqlx::Error::ColumnDecode {
                index: ::std::string::ToString::to_string(&#column),
                source: ::std::boxed::Box::new(e),
            })?)
        } else {
            bounds.push(quote!(#ty: #sqlx::Decode<#lifetime, R::Database> + #sqlx::Type<R::Database>));
            read(ty, &column, attrs.default, quote!())
        };
        reads.push(match &field.ident {
            Some(ident) => quote!(#ident: #value),
            None => value,
        });
    }
    errors.finish()?;

    let ident = &input.ident;
    let (_, ty_generics, _) = input.generics.split_for_impl();
    let mut generics = input.generics.clone();
    // Lifetimes first: the row's, then the struct's own (each outlived by the row, so borrowed
    // fields decode from it), then `R` before the struct's type parameters.
    let own_lifetimes: Vec<syn::Lifetime> = generics.lifetimes().map(|l| l.lifetime.clone()).collect();
    let lifetimes = generics.lifetimes().count();
    generics.params.insert(lifetimes, syn::parse_quote!(R: #sqlx::Row));
    generics.params.insert(0, syn::parse_quote!(#lifetime));
    let (impl_generics, _, where_clause) = generics.split_for_impl();
    let mut predicates: Vec<TokenStream> =
        where_clause.map(|w| w.predicates.iter().map(|p| quote!(#p)).collect()).unwrap_or_default();
    predicates.extend(own_lifetimes.iter().map(|l| quote!(#lifetime: #l)));
    predicates.push(quote!(&#lifetime ::core::primitive::str: #sqlx::ColumnIndex<R>));
    predicates.push(quote!(::core::primitive::usize: #sqlx::ColumnIndex<R>));
    predicates.extend(bounds);
    let body = match &data.fields {
        Fields::Named(_) => quote!(#ident { #(#reads),* }),
        Fields::Unnamed(_) => quote!(#ident ( #(#reads),* )),
        Fields::Unit => quote!(#ident),
    };
    Ok(quote! {
        #[automatically_derived]
        impl #impl_generics #sqlx::FromRow<#lifetime, R> for #ident #ty_generics where #(#predicates),* {
            fn from_row(row: &#lifetime R) -> ::core::result::Result<Self, #sqlx::Error> {
                #[allow(unused_imports)]
                use #sqlx::Row as _;
                ::core::result::Result::Ok(#body)
            }
        }
    })
}

/// Reads one column as `ty`; with `default`, a missing column is `Default::default()`.
fn read(ty: &impl quote::ToTokens, column: &TokenStream, default: bool, suffix: TokenStream) -> TokenStream {
    let sqlx = quote!(::trestle::sqlx);
    if default {
        quote!(match row.try_get::<#ty, _>(#column) {
            ::core::result::Result::Ok(v) => v #suffix,
            ::core::result::Result::Err(#sqlx::Error::ColumnNotFound(_)) => ::core::default::Default::default(),
            ::core::result::Result::Err(e) => return ::core::result::Result::Err(e),
        })
    } else {
        quote!(row.try_get::<#ty, _>(#column)? #suffix)
    }
}

#[cfg(test)]
mod tests {
    use super::rename;

    #[test]
    fn renames_as_serde_does() {
        assert_eq!(rename("created_at", "camelCase").unwrap(), "createdAt");
        assert_eq!(rename("created_at", "PascalCase").unwrap(), "CreatedAt");
        assert_eq!(rename("created_at", "SCREAMING_SNAKE_CASE").unwrap(), "CREATED_AT");
        assert_eq!(rename("created_at", "kebab-case").unwrap(), "created-at");
        assert_eq!(rename("created_at", "lowercase").unwrap(), "created_at");
        assert_eq!(rename("created_at", "UPPERCASE").unwrap(), "CREATED_AT");
        assert!(rename("x", "Title Case").is_none());
    }
}
