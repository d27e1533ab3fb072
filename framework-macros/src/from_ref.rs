//! `#[derive(FromRef)]`: axum's derive of the same name, expanded against `::trestle::axum` so
//! an app needs no `axum` dependency of its own (axum's derive names `::axum`).

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Data, DeriveInput, Fields};

pub(crate) fn expand(input: DeriveInput) -> syn::Result<TokenStream> {
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "FromRef splits a state struct into its fields: derive it on a struct with named fields",
        ));
    };
    let Fields::Named(fields) = &data.fields else {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "FromRef needs named fields: each field's type becomes extractable with `State<FieldType>`",
        ));
    };
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &input.generics,
            "FromRef cannot be derived for a generic state: write the `FromRef` impls by hand",
        ));
    }
    let ident = &input.ident;
    let mut impls = Vec::new();
    for field in &fields.named {
        let mut skip = false;
        for attr in field.attrs.iter().filter(|a| a.path().is_ident("from_ref")) {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("skip") {
                    skip = true;
                    Ok(())
                } else {
                    Err(meta.error("unknown option: `#[from_ref(skip)]` is the only one"))
                }
            })?;
        }
        if skip {
            continue;
        }
        let (name, ty) = (&field.ident, &field.ty);
        impls.push(quote! {
            #[automatically_derived]
            impl ::trestle::axum::extract::FromRef<#ident> for #ty {
                fn from_ref(state: &#ident) -> Self {
                    ::core::clone::Clone::clone(&state.#name)
                }
            }
        });
    }
    Ok(quote!(#(#impls)*))
}
